"""An in-memory cloud and a real, registered adapter over it, for testing the core end to end.

`FakeCloud` holds users; `FakeAdapter` implements the Adapter protocol against it and is registered
as provider "fake" by tests/conftest.py. Faults are set on the cloud: a listing that breaks part-way,
an apply that fails for some logins, or a crash (a BaseException, like a kill) after the change.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Iterator, Sequence

from sweeper.config import ProviderSettings
from sweeper.errors import AuthError, BindingError, NotMeasured, ProviderError
from sweeper.model import (Action, Activity, CheckResult, Credential, CredentialKind, CredentialRef, Departure,
                           Identity, IdentityKind, Outcome, Principal)


class Crash(BaseException):
    """Stands for the process being killed: nothing in the tool catches it."""


@dataclass
class FakeUser:
    login: str
    last_used: datetime | None
    created: datetime | None
    enabled: bool = True
    activity: Activity | None = None  # default: SEEN if last_used else NEVER
    kind: IdentityKind = IdentityKind.MEMBER
    protected_by: str | None = None
    excluded_by: str | None = None
    note: str | None = None
    keys: int = 0  # access keys besides the account, each judged like the account, ids "<login>#kN"
    owner: str | None = None  # the owner's address; default: the login when it is an address ("" for none)
    emails: tuple[str, ...] = ()  # other addresses (#25)
    tags: dict[str, str] = field(default_factory=dict)
    departure: Departure | None = None  # given only after want_departures (#25 people sources)


@dataclass
class FakeCloud:
    users: dict[str, FakeUser] = field(default_factory=dict)
    scope: str = "fake-tenant"
    calls: list[tuple[str, str]] = field(default_factory=list)  # (action, login) per change made
    fail_listing_after: int | None = None
    not_measured: bool = False
    fail_apply_for: set[str] = field(default_factory=set)
    crash_after_change: set[str] = field(default_factory=set)  # crash once the change is made
    crash_before_change: set[str] = field(default_factory=set)
    refresh_override: dict[str, datetime] = field(default_factory=dict)  # live last use differs
    reject_auth: bool = False  # every call answers 401, as a provider does for revoked credentials
    listed_twice: set[str] = field(default_factory=set)  # logins whose account credential is listed twice
    disabled_keys: set[str] = field(default_factory=set)
    credentials_for: str | None = None  # the tenant the credentials reach, when not `scope`: scopes() refuses
    yielded_twice: set[str] = field(default_factory=set)  # logins whose identity the listing yields twice
    listings: int = 0  # list_identities() calls
    deleted: dict[str, FakeUser] = field(default_factory=dict)  # removed users, recoverable until purged
    departures_since: datetime | None = None  # want_departures was called with this (#25)
    fail_deleted: bool = False  # list_deleted raises
    removed_keys: set[str] = field(default_factory=set)  # deleted access keys (gone for good)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, user: FakeUser) -> FakeUser:
        self.users[user.login] = user
        return user

    def purge(self, login: str) -> None:
        """A removed user's recovery window ends (as Entra's 30 days, Google's 20 do)."""
        self.deleted.pop(login, None)


CLOUDS: dict[str, FakeCloud] = {}


class FakeSettings(ProviderSettings):
    cloud: str = "default"
    guest_inactive_days: int | None = None
    batch_size: int = 2

    def kind_overrides(self) -> dict[str, int]:
        return {"guest": self.guest_inactive_days} if self.guest_inactive_days else {}


class FakeAdapter:
    name = "fake"
    max_parallel = 2
    listing_is_live = False  # so that the engine's live check of candidates is exercised

    def __init__(self, settings: FakeSettings, *, write: bool) -> None:
        self.cloud = CLOUDS[settings.cloud]
        self.write = write
        self.batch_size = settings.batch_size

    def whoami(self) -> Principal:
        return Principal("fake", "sweeper-bot", "sweeper-bot (fake)")

    def scopes(self) -> list[str]:
        if self.cloud.credentials_for not in (None, self.cloud.scope):
            raise BindingError("fake", "tenant", self.cloud.scope, str(self.cloud.credentials_for))
        return [self.cloud.scope]

    def _credential(self, user: FakeUser, last_used: datetime | None = None, key: str | None = None) -> Credential:
        last_used = last_used or user.last_used
        activity = user.activity or (Activity.SEEN if last_used else Activity.NEVER)
        if key is not None:
            return Credential(CredentialKind.ACCESS_KEY, key, key not in self.cloud.disabled_keys, activity,
                              user.created, last_used if activity is Activity.SEEN else None, user.note)
        return Credential(CredentialKind.ACCOUNT, user.login, user.enabled, activity, user.created,
                          last_used if activity is Activity.SEEN else None, user.note)

    def _identity(self, user: FakeUser) -> Identity:
        creds = [self._credential(user)] * (2 if user.login in self.cloud.listed_twice else 1)
        creds += [self._credential(user, key=f"{user.login}#k{n}") for n in range(1, user.keys + 1)
                  if f"{user.login}#k{n}" not in self.cloud.removed_keys]
        return Identity("fake", self.cloud.scope, user.login, user.login, user.kind, user.enabled,
                        tuple(creds), user.created, protected_by=user.protected_by,
                        excluded_by=user.excluded_by,
                        owner=(user.login if "@" in user.login else None) if user.owner is None else user.owner or None,
                        emails=user.emails, tags=user.tags,
                        departure=user.departure if self.cloud.departures_since is not None else None)

    def want_departures(self, since: datetime) -> None:
        self.cloud.departures_since = since

    def list_deleted(self, scope: str) -> Iterator[Identity]:
        if self.cloud.fail_deleted:
            raise ProviderError("fake", "list deleted users", "403 forbidden")
        for user in self.cloud.deleted.values():
            yield replace(self._identity(user), enabled=False, credentials=(),
                          departure=user.departure or Departure("deleted", None))

    def list_identities(self, scope: str) -> Iterator[Identity]:
        if self.cloud.reject_auth:
            raise AuthError("fake", "list users", "401: the token was rejected")
        if self.cloud.not_measured:
            raise NotMeasured("fake", "list users", "activity data needs a licence")
        self.cloud.listings += 1
        for n, user in enumerate(list(self.cloud.users.values())):
            if self.cloud.fail_listing_after is not None and n >= self.cloud.fail_listing_after:
                raise ProviderError("fake", "list users", "connection dropped on page 2")
            yield self._identity(user)
            if user.login in self.cloud.yielded_twice:
                yield self._identity(user)

    def refresh(self, ref: CredentialRef) -> Credential | None:
        user = self.cloud.users.get(ref.identity_id)
        if user is None or ref.credential_id in self.cloud.removed_keys:
            return None
        key = ref.credential_id if ref.kind is CredentialKind.ACCESS_KEY else None
        return self._credential(user, self.cloud.refresh_override.get(user.login), key)

    def apply(self, action: Action, refs: Sequence[CredentialRef]) -> list[Outcome]:
        if not self.write:
            raise ProviderError("fake", f"{action} users", "this adapter was opened read-only")
        out = []
        for ref in refs:
            if action in (Action.REMOVE, Action.UNDELETE):
                out.append(self._lifecycle(action, ref))
                continue
            user = self.cloud.users.get(ref.identity_id)
            if user is None:
                out.append(Outcome(ref, False, "user not found"))
                continue
            if ref.login in self.cloud.crash_before_change:
                self.cloud.crash_before_change.discard(ref.login)
                raise Crash(f"killed before changing {ref.login}")
            if ref.login in self.cloud.fail_apply_for:
                out.append(Outcome(ref, False, "403 forbidden"))
                continue
            with self.cloud.lock:
                if ref.kind is CredentialKind.ACCESS_KEY:
                    (self.cloud.disabled_keys.add if action is Action.DISABLE
                     else self.cloud.disabled_keys.discard)(ref.credential_id)
                else:
                    user.enabled = action is Action.ENABLE
                self.cloud.calls.append((action.value, ref.login))
            if ref.login in self.cloud.crash_after_change:
                self.cloud.crash_after_change.discard(ref.login)
                raise Crash(f"killed after changing {ref.login}")
            out.append(Outcome(ref, True))
        return out

    def _lifecycle(self, action: Action, ref: CredentialRef) -> Outcome:
        if ref.login in self.cloud.crash_before_change:
            self.cloud.crash_before_change.discard(ref.login)
            raise Crash(f"killed before {action.value} {ref.login}")
        with self.cloud.lock:
            if action is Action.REMOVE and ref.kind is CredentialKind.ACCESS_KEY:
                self.cloud.removed_keys.add(ref.credential_id)
            elif action is Action.REMOVE:
                user = self.cloud.users.pop(ref.identity_id, None)
                if user is None:
                    return Outcome(ref, True, note="already gone")
                self.cloud.deleted[ref.identity_id] = user
            else:
                user = self.cloud.deleted.pop(ref.identity_id, None)
                if user is None:
                    return Outcome(ref, False, "not in deleted users: past the 30-day recovery window")
                self.cloud.users[ref.identity_id] = user
            self.cloud.calls.append((action.value, ref.login))
        if ref.login in self.cloud.crash_after_change:
            self.cloud.crash_after_change.discard(ref.login)
            raise Crash(f"killed after {action.value} {ref.login}")
        return Outcome(ref, True)

    def check(self) -> list[CheckResult]:
        return [CheckResult("list users", True, "fake"), CheckResult("disable users", None, "not probeable")]

    @classmethod
    def permissions(cls, mode: str = "apply", settings: FakeSettings | None = None) -> str:
        if mode not in ("plan", "apply"):
            raise ValueError(f"the fake provider has no {mode!r} policy")
        return f"fake provider ({mode}): reads users" + (", and disables them" if mode == "apply" else "")

    def close(self) -> None:
        pass


class FakeAdapter2(FakeAdapter):
    """A second fake provider, so that one provider's failure can be seen beside another's success."""

    name = "fake2"

    def __init__(self, settings: FakeSettings, *, write: bool) -> None:
        super().__init__(settings, write=write)

    def _identity(self, user: FakeUser) -> Identity:
        return replace(super()._identity(user), provider="fake2")


class LegacyAdapter(FakeAdapter):
    """A provider written before permissions had modes: one policy, no arguments."""

    name = "legacy"

    @classmethod
    def permissions(cls) -> str:  # type: ignore[override]
        return "legacy provider: one policy for everything"
