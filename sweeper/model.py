"""Provider-neutral model: identities, credentials, decisions, and the states of runs and actions.

Every datetime here is timezone-aware UTC. Adapters build `Identity` values; the policy turns each
credential into a `Decision`; the sweep (sweeper.sweep) turns decisions into findings
(sweeper.results) for the report, and the journal records runs and actions with their states.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Mapping, TypeVar

_T = TypeVar("_T")


class CredentialKind(StrEnum):
    CONSOLE_PASSWORD = "console_password"
    ACCESS_KEY = "access_key"
    ACCOUNT = "account"
    # machine identities (#17): each is the one credential of an identity of kind SERVICE
    ROLE = "role"  # an AWS IAM role: judged by RoleLastUsed
    SERVICE_PRINCIPAL = "service_principal"  # an Entra service principal: judged by its sign-in activity
    APP_CREDENTIAL = "app_credential"  # a client secret or certificate of an Entra application (report only)


# credential kinds whose report label carries the credential id (a person or app can hold several)
_LABELLED_BY_ID = frozenset({CredentialKind.ACCESS_KEY, CredentialKind.APP_CREDENTIAL})


class IdentityKind(StrEnum):
    MEMBER = "member"
    GUEST = "guest"
    SERVICE = "service"  # a machine identity: an IAM role, a service principal, an application
    ROOT = "root"


class Activity(StrEnum):
    SEEN = "seen"  # last_used is known
    NEVER = "never"  # provably never used: judged by creation date
    UNKNOWN = "unknown"  # cannot tell: never leads to a disable


class DecisionKind(StrEnum):
    DISABLE = "disable"
    WARN = "warn"
    EXCLUDED = "excluded"
    PROTECTED = "protected"
    UNKNOWN = "unknown"
    ACTIVE = "active"  # not a finding
    ALREADY_DISABLED = "already_disabled"  # not a finding; counted
    REMOVE = "remove"  # disabled by this sweeper, unused since, past remove_after_days: removed (opt-in)
    REPORT = "report"  # stale, but only reported: its credential is report-only (`Credential.report_only`)
    LEAVER = "leaver"  # its person left (#25): reported (people.leavers = report, or in the grace); not acted on
    ORPHAN = "orphan"  # with [people], an identity no key links to a person (#25): reported only

    @property
    def is_finding(self) -> bool:
        return self not in (DecisionKind.ACTIVE, DecisionKind.ALREADY_DISABLED)


class Action(StrEnum):
    DISABLE = "disable"
    ENABLE = "enable"
    REMOVE = "remove"  # delete what this sweeper disabled: the provider's reversible form where it has one
    UNDELETE = "undelete"  # restore's undo of a removal: back as it was removed (still disabled)


class ProviderStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"
    NOT_MEASURED = "not_measured"
    CAPPED = "capped"


class RunStatus(StrEnum):
    """A run's state in the journal."""

    RUNNING = "running"
    DONE = "done"
    PARTIAL = "partial"  # an action failed or a provider could not be listed
    STOPPED = "stopped"  # a safety stop (cap exceeded, not measured): nothing disabled there
    INTERRUPTED = "interrupted"  # its process went away before it finished


class ActionState(StrEnum):
    """An action's state in the journal: committed as `intent` before its API call, settled after."""

    INTENT = "intent"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # killed, and not seen to take effect when reconciled


def credential_label(kind: CredentialKind, credential_id: str) -> str:
    """The report's `credential` column: `access_key:<id>`, `app_credential:<key id>`, or the kind alone
    (`console_password`, `account`, `role`, `service_principal`)."""
    return f"{kind.value}:{credential_id}" if kind in _LABELLED_BY_ID else kind.value


def _check_aware(*values: datetime | None) -> None:
    for value in values:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} (timezone-aware UTC required)")


class _Factory:
    def __repr__(self) -> str:
        return "<factory>"  # as in the generated __init__'s signature


_FACTORY = _Factory()


def _slot_init(cls: type[_T]) -> type[_T]:
    """Give a frozen, slotted dataclass an __init__ that stores each field through its slot rather than
    through object.__setattr__, as the generated one does: half the cost, for the models adapters make
    per identity (a sweep of 100,000 users makes 200,000). The same parameters, defaults, default
    factories and __post_init__ (tests/test_model.py compares them); a class with other kinds of
    fields (init=False, kw_only, InitVar) keeps the generated __init__."""
    own = fields(cls)  # type: ignore[arg-type]
    if any(not f.init or f.kw_only is True for f in own) or cls.__init__.__code__.co_argcount != len(own) + 1:
        return cls
    params, body = [], []
    names: dict[str, Any] = {"_FACTORY": _FACTORY}
    for f in own:
        names[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is not MISSING:
            names[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not MISSING:
            names[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_FACTORY")
            body.append(f"if {f.name} is _FACTORY: {f.name} = _factory_{f.name}()")
        else:
            params.append(f.name)
        body.append(f"_set_{f.name}(self, {f.name})")
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    made: dict[str, Any] = {}
    exec(f"def __init__(self, {', '.join(params)}):\n" + "".join(f"    {line}\n" for line in body), names, made)
    made["__init__"].__qualname__ = f"{cls.__qualname__}.__init__"
    made["__init__"].__annotations__ = {**{f.name: f.type for f in own}, "return": None}
    setattr(cls, "__init__", made["__init__"])
    return cls


@_slot_init
@dataclass(frozen=True, slots=True)
class Credential:
    """One thing that can sign in: a console password, an access key or a whole account.

    `credential_id` is the AccessKeyId for keys and the identity id for passwords and accounts.
    `activity_note` explains the activity state when it is not plain (why UNKNOWN, what was seen).
    `irreversible` marks credentials whose disable cannot be undone (a deleted console password).
    `protected_by` is a reason set by the adapter when this credential must never be touched
    (for example the access key the sweeper itself runs as).
    `report_only` says why a stale credential is only reported, never acted on (a switch such as
    `role_action = "report"`, or no undo exists): its decision is REPORT instead of DISABLE, and
    it gets no warning, since nothing will happen to it. `expires` is when it stops working by
    itself (an application secret's endDateTime): an expired credential is reported as such.
    """

    kind: CredentialKind
    credential_id: str
    enabled: bool
    activity: Activity
    created: datetime | None = None
    last_used: datetime | None = None
    activity_note: str | None = None
    irreversible: bool = False
    protected_by: str | None = None
    report_only: str | None = None
    expires: datetime | None = None

    def __post_init__(self) -> None:
        _check_aware(self.created, self.last_used, self.expires)
        if self.activity is Activity.SEEN and self.last_used is None:
            raise ValueError("activity SEEN needs last_used")

    @property
    def label(self) -> str:
        return credential_label(self.kind, self.credential_id)


@dataclass(frozen=True, slots=True)
class Departure:
    """How an account in a source of truth ended (#25, people across clouds): `state` is "disabled",
    "suspended", "archived" or "deleted"; `since` is when, as the provider records it (None: not known).
    With `before` True, `since` is only a bound: the provider's records (an audit log's retention) reach
    back to `since` and the account was already in that state then. `note` says where the date comes from
    or why it is missing."""

    state: str
    since: datetime | None = None
    before: bool = False
    note: str | None = None

    def __post_init__(self) -> None:
        _check_aware(self.since)

    @property
    def since_text(self) -> str:
        if self.since is None:
            return "since a date not known"
        return f"since {'before ' if self.before else ''}{self.since.date().isoformat()}"


@_slot_init
@dataclass(frozen=True, slots=True)
class Identity:
    """A user in one provider scope (AWS account, Entra tenant, Google customer).

    `excluded_by` and `protected_by` are reasons the adapter found in provider data (a tag, a group,
    an org unit, a directory role); login-glob exclusions and the root account are judged by the core.
    `privileged` says why the identity holds administrative power (its directory role, super admin):
    such an identity is usually also `protected_by` that reason, and only a rule written for
    privileged identities (`match.privileged = true`) judges it instead (#26).
    `exclusion_unknown` says why the adapter cannot tell whether a configured exclusion applies (a
    record without its org unit): such an identity is kept, never disabled. `owner` is the address
    its notices go to (Entra mail or UPN, Google primaryEmail, an AWS owner tag).
    """

    provider: str
    scope: str
    id: str
    login: str
    kind: IdentityKind
    enabled: bool
    credentials: tuple[Credential, ...]
    created: datetime | None = None
    display_name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    org_unit: str | None = None
    excluded_by: str | None = None
    protected_by: str | None = None
    exclusion_unknown: str | None = None  # the data an exclusion needs is missing: never disabled
    owner: str | None = None  # where a notice to this identity's owner goes (an email address), if known
    privileged: str | None = None  # why it is privileged (a directory role, super admin), for rules (#26)
    emails: tuple[str, ...] = ()  # other addresses it is known by, besides login and owner (#25)
    departure: Departure | None = None  # how it ended, when a people source was asked (#25)

    def __post_init__(self) -> None:
        _check_aware(self.created)


@dataclass(frozen=True, slots=True)
class CredentialRef:
    """Enough to find one credential again: what the journal and plan files store."""

    provider: str
    scope: str
    identity_id: str
    login: str
    kind: CredentialKind
    credential_id: str

    @classmethod
    def of(cls, identity: Identity, credential: Credential) -> CredentialRef:
        return cls(identity.provider, identity.scope, identity.id, identity.login,
                   credential.kind, credential.credential_id)

    @property
    def label(self) -> str:
        return credential_label(self.kind, self.credential_id)

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.provider, self.scope, self.identity_id, self.kind.value, self.credential_id)


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy says about one credential, and why, in words a person can read."""

    kind: DecisionKind
    reason: str
    threshold_days: int
    days_inactive: int | None = None
    risk: str = "none"  # high | medium | low | none
    controls: tuple[str, ...] = ()
    rule: str | None = None  # the name of the `[[rules]]` entry it was judged under (None: the defaults)
    notify_only: bool = False  # its rule's action is `notify`: its owner hears of it, nothing is disabled
    notice_days: int | None = None  # its rule's notice_days: required notice before a disable, in days
    person: str | None = None  # the person it belongs to, with `[people]` (#25)
    leaver: str | None = None  # its person left: how and since when ("disabled in entra since 2026-11-03")
    used_after_leaving: bool = False  # used after its person left: the strongest compromise signal


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one disable/enable call. `note` says what happened when it is not plain.

    `uncertain` (with ok False): the call was made but whether it took effect could not be told (an
    answer that could not be read, and the state not readable after it). The journal records it as
    `interrupted`, which restore checks live, rather than `failed`, which it never undoes."""

    ref: CredentialRef
    ok: bool
    error: str | None = None
    note: str | None = None
    uncertain: bool = False


@dataclass(frozen=True, slots=True)
class Principal:
    """Who the adapter runs as (for `check` and self-protection)."""

    provider: str
    id: str
    display: str
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One probed permission for `sweeper check`. `ok` None means it could not be probed safely."""

    name: str
    ok: bool | None
    detail: str = ""
