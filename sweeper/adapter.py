"""The adapter contract: what every cloud adapter does, and nothing more.

An adapter lists identities with their activity data, flips one credential, and describes itself.
It makes no policy decision. It never turns a failure into an empty answer: an adapter that cannot
list raises a `ProviderError` (or a subclass), and the engine marks that provider `failed`.
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol, Sequence, runtime_checkable

from sweeper.model import Action, CheckResult, Credential, CredentialRef, Identity, Outcome, Principal


PERMISSION_MODES = ("plan", "apply", "org-member")


@runtime_checkable
class Adapter(Protocol):
    """One cloud. Built by the registry as `AdapterClass(settings, write=bool)`.

    `settings` is the provider's validated settings model. `write` is False for `plan`/`check`:
    an adapter then asks for read-only scopes where the cloud has them.

    `name` is the provider's name (`entra`). For a named instance the registry sets it on the
    adapter, after building it, to the instance's name (`entra:contoso`); identities are made with
    `provider=self.name`. An adapter that gives its kind instead still works: the engine relabels
    each identity with the instance's name, at the cost of a copy of each.

    Contract, checked by the suite in `sweeper.testing.contract` against every adapter's emulator:

    - `scopes()` returns the scopes to sweep (AWS account ids, the Entra tenant id, the Google
      customer id). A scope that cannot be reached raises; it is never silently left out. It binds
      the credentials to the configured tenant, account or customer: when they reach another one it
      raises `BindingError` naming both, and the whole run stops before anything is listed.
    - `list_identities(scope)` yields every identity of that scope, one pass, paged. If any page
      fails, the iterator raises `ProviderError`: a partial listing is never passed off as whole.
      A malformed record becomes an identity whose credential is `Activity.UNKNOWN` with a note.
    - `Activity.UNKNOWN` means the adapter cannot tell when the credential was last used; the
      core never disables it. `Activity.NEVER` means provably never used (judged by `created`).
    - `refresh(ref)` re-reads one credential live. It returns the current credential, or None when it
      no longer exists. The returned `credential_id` may differ from the ref's when the listing could
      only give a provisional id. The engine calls it for every disable or warn candidate when
      `listing_is_live` is False (AWS: the credential report can be hours old and has no key ids),
      and always when reconciling an interrupted run or restoring one.
    - `apply(action, refs)` disables or enables up to `batch_size` credentials and returns one
      `Outcome` per ref, in any order. A credential already in the wanted state is `ok`.
      It raises only when nothing could be attempted (for example authentication failed). An
      outcome it cannot tell (sent, but neither the answer nor the state afterwards readable) is
      `uncertain`: journaled `interrupted`, never `failed`, so that restore checks it live.
    - `whoami()` names the principal the adapter runs as; `check()` probes each needed permission
      without changing anything (the binding among them); `permissions(mode, settings)` is the
      least-privilege policy as text for one of `PERMISSION_MODES` ("plan": read only, for plan,
      check and notify; "apply": what acting adds; "org-member": what a member account's role needs,
      for providers with member accounts), shaped by the settings when given (None: the defaults).
      An unknown or unsupported mode raises ValueError saying so.

    Optional: `scope_notes(scope) -> list[str]`, asked after a complete listing of that scope, gives
    what a person reading the report must know about it (for example a protection that could not be
    loaded, so the listing went on without it); each note goes into the scope's message. Raising
    there fails the scope like a failed listing.

    Optional, for an undo that needs more than the ref: `journaled(records)`, called by `restore` before
    `apply(Action.ENABLE, ...)` with each disable's journaled detail (its `Outcome.note`) by ref key
    (`CredentialRef.key`; None when the journal holds none, e.g. an interrupted disable). GitHub records
    a removed member's role and teams in that note and re-invites with them.

    Optional, for `[[rules]]` that match on groups (#26): `groups_listed = True` when every identity
    already carries its groups (`Identity.groups`, as the provider names them), or
    `want_groups(groups)`, called before listing with the groups the rules name, after which the
    identities that are members carry those names. With neither, the report says that such rules
    match no identity of that provider.

    Optional, for a provider named in `[people] sources` (#25, leavers): `want_departures(since)`,
    called before listing, after which every disabled, suspended or archived account that
    `list_identities` yields carries `Identity.departure` (its state and, read from the provider's
    audit records back to `since` where it has them, when it entered that state; an account already
    in that state before the records reach is `Departure(state, since=<earliest record>, before=True)`;
    a date that cannot be read is `since=None` with a `note` saying why, and the scope's notes say so
    too). And `list_deleted(scope)`: the accounts deleted but still recoverable (Entra's deleted
    items, Google's deleted users), each an `Identity` with `enabled=False`, no credentials, and
    `departure=Departure("deleted", <deletion time>)`; asked only for sources, never judged. Both
    read only. Identities carry their other addresses in `Identity.emails` for linking.
    """

    name: str
    batch_size: int  # refs per apply() call
    max_parallel: int  # scopes listed at once, apply() calls at once
    listing_is_live: bool  # list_identities reads current state: candidates need no refresh()

    def whoami(self) -> Principal: ...

    def scopes(self) -> list[str]: ...

    def list_identities(self, scope: str) -> Iterator[Identity]: ...

    def refresh(self, ref: CredentialRef) -> Credential | None: ...

    def apply(self, action: Action, refs: Sequence[CredentialRef]) -> list[Outcome]: ...

    def check(self) -> list[CheckResult]: ...

    @classmethod
    def permissions(cls, mode: str = "apply", settings: Any = None) -> str: ...

    def close(self) -> None: ...
