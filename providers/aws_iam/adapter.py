"""AWS IAM adapter: users with console passwords and access keys, and roles, one scope per account.

Listing costs, per account, the credential-report calls plus ceil((users + roles) / 1000)
GetAccountAuthorizationDetails pages; nothing per user or role. The report has no key ids, so keys
are listed as `access_key_1`/`access_key_2` and `refresh()` resolves the real AccessKeyId live.
Roles (`roles = true`, the default) are machine identities with one `role` credential each
(providers.aws_iam.roles).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any, Iterator, Sequence

from providers.aws_iam import lifecycle, pages, policy, probe, roles, transport
from providers.aws_iam.accounts import Accounts
from providers.aws_iam.errors import BOTO_ERRORS, PROVIDER, THROTTLE_CODES, code_of, translate
from providers.aws_iam.keys import TIED, key_now, password_now, resolve, Placement
from providers.aws_iam.report import ABSENT, ROOT_LOGIN, KeySlot, Report
from providers.aws_iam.roles import Role, Shield
from providers.aws_iam.settings import ROLE_TRACKING_DAYS, AwsSettings
from sweeper.errors import AuthError, DataError, ProviderError, ThrottledError
from sweeper.kit.bounds import Listing
from sweeper.kit.times import Unreadable, parse_utc
from sweeper.model import (Action, Activity, CheckResult, Credential, CredentialKind, CredentialRef, Identity,
                           IdentityKind, Outcome, Principal)

PAGE_SIZE = 1000  # GetAccountAuthorizationDetails' maximum
# Report states and errors that mean "not ready yet, ask again later".
_REPORT_WAIT = frozenset(("ReportInProgress", "ReportNotPresent", "ReportExpired", "LimitExceeded",
                          "LimitExceededException", "ServiceUnavailable", *THROTTLE_CODES))
SELF_USER = "the sweeper runs as this IAM user"
SELF_KEY = "the sweeper runs with this access key"


def _administrator(user: dict[str, Any]) -> str | None:
    """Why an IAM user is privileged, for `[[rules]]` (#26): the AWS managed AdministratorAccess policy
    attached to it directly (through a group it is not seen here: the group's policies are not read)."""
    for attached in user.get("AttachedManagedPolicies") or ():
        arn = attached.get("PolicyArn") if isinstance(attached, dict) else None
        if isinstance(arn, str) and arn.endswith(":iam::aws:policy/AdministratorAccess"):
            return "AdministratorAccess attached"
    return None


class AwsIamAdapter:
    """The `aws` provider. See `sweeper.adapter.Adapter` for the contract."""

    name = "aws"
    batch_size = 1
    listing_is_live = False  # the credential report can be 4 h old and names key slots, not key ids
    groups_listed = True  # each user's GroupList (group names) comes with its authorization details (#26 rules)

    def __init__(self, settings: AwsSettings, *, write: bool) -> None:
        self.settings = settings
        self.write = write
        self.max_parallel = settings.parallel  # accounts listed at once
        self.accounts = Accounts(settings, write=write)
        self._irreversible = settings.console_action != "report"
        self._lock = threading.Lock()
        self._slots: dict[tuple[str, str], tuple[KeySlot, ...]] = {}  # (scope, user id): report slots
        self._placed: dict[tuple[str, str], Placement] = {}  # (scope, user id): slot -> live key id
        self._user_locks: dict[tuple[str, str], threading.Lock] = {}
        self._root: dict[str, tuple[Credential, ...]] = {}
        self._password_set: dict[tuple[str, str], datetime] = {}  # report's password_last_changed
        self._shield: Shield | None = None  # the roles the sweeper runs as or assumes
        self._role_counts: dict[str, dict[str, int]] = {}  # scope -> what its listing skipped or could not see
        self._role_report_only = roles.REPORT_ONLY if settings.role_action == "report" else None

    # -- describe ---------------------------------------------------------------------------
    def whoami(self) -> Principal:
        caller = self.accounts.caller()
        return Principal(PROVIDER, caller["Arn"], caller["Arn"], caller["Account"])

    def scopes(self) -> list[str]:
        """The accounts to sweep (the listed ones, or the organization's), once the credentials are
        bound to the configured account (and organization): a mismatch raises BindingError before
        anything is listed. A listed account's role is bound when its account is first reached."""
        return self.accounts.scopes()

    def set_run_id(self, run_id: str) -> None:
        """Role sessions are named after the run (RoleSessionName, SourceIdentity)."""
        self.accounts.set_run_id(run_id)

    def check(self) -> list[CheckResult]:
        return probe.check(self.accounts)

    @classmethod
    def permissions(cls, mode: str = "apply", settings: AwsSettings | None = None) -> str:
        """The IAM policy for `mode` ("plan", "apply", "org-member"), shaped by `settings`."""
        return policy.text(mode, settings)

    @classmethod
    def permission_pages(cls) -> list[tuple[str, str, str, AwsSettings | None]]:
        """What docs/aws.md shows: (heading, what it is for, mode, settings) per policy."""
        return policy.pages()

    def close(self) -> None:
        self.accounts.forget()

    # -- list ---------------------------------------------------------------------------------
    def list_identities(self, scope: str) -> Iterator[Identity]:
        """Every user of account `scope`, the root row first. Reaching the account happens now."""
        iam = pages.install(self.accounts.client(scope, "iam"))  # idempotent: one hook per client
        return self._identities(scope, iam)

    def _identities(self, scope: str, iam: Any) -> Iterator[Identity]:
        # one deadline for the whole account: the report's wait, its download and every page
        listing = self.settings.listing(PROVIDER, f"list account {scope}")
        try:
            report = Report(self._credential_report(iam, scope, listing))
            rows = report.by_login()
        except Unreadable as err:
            raise DataError(PROVIDER, f"credential report of {scope}", str(err)) from err
        me = self.accounts.caller_user(scope)
        shield = self.shield() if self.settings.roles else None
        root = rows.pop(ROOT_LOGIN, None)
        if root is not None:
            yield self._root_identity(scope, report, root)
        seen: set[tuple[str, str]] = set()
        counts = {"service_linked": 0, "untracked": 0}
        for kind, detail in self._details(iam, scope, listing):
            name = detail["RoleName"] if kind == "role" else detail["UserName"]
            if (kind, name) in seen:  # never judged twice, never merged
                raise DataError(PROVIDER, f"list {kind}s of {scope}", f"{kind} {name!r} was listed twice")
            seen.add((kind, name))
            if kind == "role":
                role = Role.of(detail)
                if role.service_linked:  # AWS manages these: never judged, only counted
                    counts["service_linked"] += 1
                    continue
                identity = self._role_identity(scope, role, shield)
                cred = identity.credentials[0]
                counts["untracked"] += cred.enabled and cred.activity is Activity.NEVER
                yield identity
                continue
            fields = rows.pop(name, None)
            yield self._identity(scope, report, detail, fields, me)
        if self.settings.roles:
            with self._lock:
                self._role_counts[scope] = counts
        # Rows left over are users deleted since the report was generated: nothing to sweep.

    def _identity(self, scope: str, report: Report, user: dict[str, Any], fields: str | None,
                  me: str | None) -> Identity:
        login = user["UserName"]
        user_id = user.get("UserId") or user.get("Arn") or login
        created = parse_utc(user.get("CreateDate"), ABSENT)
        tags = {t["Key"]: t["Value"] for t in user.get("Tags") or ()}
        creds: tuple[Credential, ...] = ()
        if fields is not None:  # a user newer than the report has no report row yet
            row = report.row(fields, user_id, irreversible=self._irreversible)
            creds = row.credentials
            if row.slots or creds[0].enabled:
                with self._lock:
                    if row.slots:
                        self._slots[(scope, user_id)] = row.slots
                    if creds[0].enabled and creds[0].created is not None:
                        self._password_set[(scope, user_id)] = creds[0].created
        return Identity(self.name, scope, user_id, login, IdentityKind.MEMBER, True, creds, created,
                        tags=tags, groups=tuple(user.get("GroupList") or ()), privileged=_administrator(user),
                        excluded_by=self._excluded_by(tags),
                        protected_by=SELF_USER if login == me else None, owner=self._owner(tags))

    def _role_identity(self, scope: str, role: Role, shield: Shield | None) -> Identity:
        """A role: an identity of kind SERVICE with its one `role` credential."""
        protected = (shield.reason(scope, role) if shield is not None else None) or self._managed(role)
        return Identity(self.name, scope, role.role_id, role.name, IdentityKind.SERVICE, True,
                        (roles.credential(role, self._role_report_only),), role.created, tags=dict(role.tags),
                        excluded_by=self._excluded_by(dict(role.tags)), protected_by=protected,
                        owner=self._owner(dict(role.tags)))

    @staticmethod
    def _managed(role: Role) -> str | None:
        """Why a role is not the sweeper's to deny whoever it belongs to, or None."""
        if role.service_linked:
            return roles.BY_AWS
        if role.path.startswith(roles.IDENTITY_CENTER):
            return roles.BY_IDENTITY_CENTER
        if role.deny == "foreign":
            return roles.FOREIGN
        return None

    def shield(self) -> Shield:
        """The roles the sweeper runs as or assumes (config and sts:GetCallerIdentity), read once."""
        with self._lock:
            if self._shield is not None:
                return self._shield
        caller = self.accounts.caller()["Arn"]
        origin = self.accounts.origin()
        made = Shield.of(self.settings, caller.split(":")[1], [caller, *([origin] if origin else [])])
        with self._lock:
            self._shield = made
            return made

    def scope_notes(self, scope: str) -> list[str]:
        """What the role listing of `scope` skipped or could not see, in counts (nothing is left out unsaid)."""
        with self._lock:
            counts = self._role_counts.pop(scope, None)
        if not counts:
            return []
        notes = []
        if counts["service_linked"]:
            notes.append(f"{counts['service_linked']} service-linked role(s) skipped (path {roles.SERVICE_LINKED}): "
                         "AWS manages them; never judged or touched")
        if counts["untracked"]:
            notes.append(f"{counts['untracked']} role(s) with no RoleLastUsed judged by their creation date: IAM "
                         f"reports role use for the trailing {ROLE_TRACKING_DAYS} days only")
        return notes

    def _root_identity(self, scope: str, report: Report, fields: str) -> Identity:
        arn = f"arn:aws:iam::{scope}:root"
        row = report.row(fields, arn, irreversible=self._irreversible)
        with self._lock:
            self._root[scope] = row.credentials
        return Identity(self.name, scope, arn, ROOT_LOGIN, IdentityKind.ROOT, True, row.credentials,
                        row.created, protected_by="the AWS account root user")

    def _owner(self, tags: dict[str, str]) -> str | None:
        """Where the user's notices go: the first of `owner_tags` whose value is an address."""
        for key in self.settings.owner_tags:
            value = tags.get(key, "").strip()
            if "@" in value and " " not in value:
                return value
        return None

    def _excluded_by(self, tags: dict[str, str]) -> str | None:
        for key, value in self.settings.exclude_tags.items():
            # values compare as people write them: "True", "true " and "TRUE" all exempt (fails closed)
            if key in tags and (value == "*" or tags[key].strip().casefold() == value.strip().casefold()):
                return f"tag {key}={tags[key]}"
        return None

    def _details(self, iam: Any, scope: str, listing: Listing) -> Iterator[tuple[str, dict[str, Any]]]:
        """("user" | "role", detail) from GetAccountAuthorizationDetails (roles with `roles = true`), one
        page of up to 1000 items at a time; a Marker seen twice fails the listing (it would never end)."""
        wanted = ["User", "Role"] if self.settings.roles else ["User"]
        what = "users and roles" if self.settings.roles else "users"
        kwargs: dict[str, Any] = {"Filter": wanted, "MaxItems": PAGE_SIZE}
        while True:
            try:
                with transport.within(listing):
                    page = iam.get_account_authorization_details(**kwargs)
            except BOTO_ERRORS as err:
                raise translate(err, f"list {what} of {scope}", "iam:GetAccountAuthorizationDetails") from err
            except ValueError as err:  # a timestamp botocore's parser could not read (it raises it as it is)
                raise DataError(PROVIDER, f"list {what} of {scope}", f"unreadable answer: {err}") from err
            for user in page.get(pages.USERS, page.get("UserDetailList")) or ():
                if not user.get("UserName"):
                    raise DataError(PROVIDER, f"list users of {scope}", "a user without UserName")
                yield "user", user
            for role in (page.get(pages.ROLES, page.get("RoleDetailList")) or ()) if self.settings.roles else ():
                if not role.get("RoleName"):
                    raise DataError(PROVIDER, f"list roles of {scope}", "a role without RoleName")
                yield "role", role
            if not page.get("IsTruncated"):
                return
            if not page.get("Marker"):
                raise DataError(PROVIDER, f"list {what} of {scope}", "IsTruncated without a Marker")
            listing.page(page["Marker"])
            kwargs["Marker"] = page["Marker"]

    def _credential_report(self, iam: Any, scope: str, listing: Listing) -> bytes:
        """Generate (or reuse, if < 4 h old) and download the report, waiting with bounded backoff,
        at most report_timeout_seconds and never past the listing's deadline."""
        timeout = self.settings.report_timeout_seconds
        deadline = time.monotonic() + timeout
        delay = self.settings.report_poll_seconds
        operation, waited_for = f"credential report of {scope}", ""
        while True:
            action = "iam:GenerateCredentialReport"
            try:
                with transport.within(listing):
                    state = iam.generate_credential_report().get("State")
                    if state == "COMPLETE":
                        action = "iam:GetCredentialReport"
                        content: bytes = iam.get_credential_report()["Content"]
                        listing.size(len(content))
                        return content
                waited_for = f"report state {state}"
            except BOTO_ERRORS as err:
                if code_of(err) not in _REPORT_WAIT:
                    raise translate(err, operation, action) from err
                waited_for = code_of(err)
            remaining = min(deadline - time.monotonic(), listing.remaining())
            if remaining <= 0:
                kind = ThrottledError if waited_for in THROTTLE_CODES else ProviderError
                raise kind(PROVIDER, operation, f"not complete after {timeout:g} s (last answer: "
                                                f"{waited_for}); raise report_timeout_seconds or retry later")
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 30.0)

    # -- refresh ------------------------------------------------------------------------------
    def refresh(self, ref: CredentialRef) -> Credential | None:
        """Read one credential live. Provisional key ids (`access_key_N`) resolve to the real one."""
        if ref.login == ROOT_LOGIN:  # root keys and password are not reachable through IAM user calls
            with self._lock:
                creds = self._root.get(ref.scope, ())
            return next((c for c in creds if c.kind is ref.kind and c.credential_id == ref.credential_id),
                        None)
        iam = self.accounts.client(ref.scope, "iam")
        if ref.kind is CredentialKind.ROLE:
            return self._role_now(iam, ref)
        if ref.kind is CredentialKind.ACCESS_KEY:
            if ref.credential_id.startswith("access_key_"):
                cred = self._slot_key(iam, ref)
            else:
                cred = key_now(iam, ref, ref.credential_id)
            if cred is not None and cred.credential_id == self.accounts.caller_key_id():
                cred = _protect(cred, SELF_KEY)
            return cred
        if ref.kind is CredentialKind.CONSOLE_PASSWORD:
            with self._lock:
                set_hint = self._password_set.get((ref.scope, ref.identity_id))
            return password_now(iam, ref, self._irreversible, set_hint)
        return None

    def _role_now(self, iam: Any, ref: CredentialRef) -> Credential | None:
        """The role of `ref` read live (GetRole, GetRolePolicy), protected as the listing would."""
        role = roles.live(iam, ref)
        if role is None:
            return None
        cred = roles.credential(role, self._role_report_only)
        protected = self._guard(ref.scope, role)
        return _protect(cred, protected) if protected else cred

    def _guard(self, scope: str, role: Role) -> str | None:
        """Why `role` must never be denied (service-linked, managed, the sweeper's own), or None."""
        return self._managed(role) or self.shield().reason(scope, role)

    def _slot_key(self, iam: Any, ref: CredentialRef) -> Credential | None:
        """The live key behind report slot `ref` (`access_key_N`). Both slots of a user are placed
        together, once per run, so two slots never resolve to the same key."""
        user = (ref.scope, ref.identity_id)
        with self._lock:
            slots = self._slots.get(user, ())
            lock = self._user_locks.setdefault(user, threading.Lock())
        number = int(ref.credential_id.rpartition("_")[2] or 0)
        if not any(s.slot == number for s in slots):
            raise DataError(PROVIDER, f"refresh {ref.login} {ref.credential_id}",
                            "a provisional key reference from another run: list the account first")
        with lock:
            placed, keys = self._placed.get(user), None
            if placed is None:
                resolved = resolve(iam, ref, slots)
                if resolved is None:
                    return None
                placed, keys = resolved
                self._placed[user] = placed
        key_id = placed.keys.get(number)
        if key_id is None:
            return None  # no live key fits the report's slot: rotated away since the report
        return key_now(iam, ref, key_id, keys, TIED if number in placed.tied else None)

    # -- apply --------------------------------------------------------------------------------
    def apply(self, action: Action, refs: Sequence[CredentialRef]) -> list[Outcome]:
        if not self.write:  # built for plan/check: refuse rather than change anything
            raise ProviderError(PROVIDER, f"{action} credentials", "this adapter was opened read-only")
        return [self._apply_one(action, ref) for ref in refs]

    def _apply_one(self, action: Action, ref: CredentialRef) -> Outcome:
        try:
            if ref.kind is CredentialKind.ROLE:
                return self._apply_role(action, ref)
            if action in (Action.REMOVE, Action.UNDELETE):  # opt-in removal (#13): providers.aws_iam.lifecycle
                return lifecycle.apply_one(self.accounts.client(ref.scope, "iam"), action, ref,
                                           self.accounts.caller_key_id())
            if ref.kind is CredentialKind.ACCESS_KEY:
                return self._apply_key(action, ref)
            if ref.kind is CredentialKind.CONSOLE_PASSWORD:
                return self._apply_password(action, ref)
            return Outcome(ref, False, f"{ref.kind} is not an AWS credential")
        except AuthError:
            raise  # nothing can be attempted with rejected credentials
        except ProviderError as err:
            return Outcome(ref, False, str(err))

    def _apply_role(self, action: Action, ref: CredentialRef) -> Outcome:
        """Deny a role (the inline deny-all policy) or enable it (that policy deleted). Enabling works
        whatever role_action says now, so that a run that denied roles can always be restored."""
        if action not in (Action.DISABLE, Action.ENABLE):
            return Outcome(ref, False, f"roles are never removed ({action})")
        if action is Action.DISABLE and not self.settings.denies_roles:
            why = roles.REPORT_ONLY if self.settings.roles else "roles = false"
            return Outcome(ref, False, f"{why}: not denied")
        return roles.apply_one(self.accounts.client(ref.scope, "iam"), action, ref,
                               lambda role: self._guard(ref.scope, role))

    def _apply_key(self, action: Action, ref: CredentialRef) -> Outcome:
        key_id = ref.credential_id
        if key_id.startswith("access_key_"):  # resolve the report slot to the real key first
            current = self.refresh(ref)
            if current is None:
                if action is Action.DISABLE:
                    return Outcome(ref, True, note="already removed")
                return Outcome(ref, False, "the access key no longer exists")
            key_id = current.credential_id
        if key_id == self.accounts.caller_key_id() and action is Action.DISABLE:
            return Outcome(ref, False, "refusing to disable the access key the sweeper runs with")
        status = "Inactive" if action is Action.DISABLE else "Active"
        iam = self.accounts.client(ref.scope, "iam")
        try:
            iam.update_access_key(UserName=ref.login, AccessKeyId=key_id, Status=status)
        except BOTO_ERRORS as err:
            if code_of(err) == "NoSuchEntity" and action is Action.DISABLE:
                return Outcome(ref, True, note="already removed")
            raise translate(err, f"set {ref.login} {key_id} {status}", "iam:UpdateAccessKey") from err
        return Outcome(ref, True, note=f"access key {key_id} {status}")

    def _apply_password(self, action: Action, ref: CredentialRef) -> Outcome:
        if action is Action.ENABLE:
            return Outcome(ref, False, "a deleted console password cannot be restored: set a new one "
                                       "with CreateLoginProfile (aws iam create-login-profile)")
        if self.settings.console_action == "report":
            return Outcome(ref, False, "console_action = report: not deleted")
        iam = self.accounts.client(ref.scope, "iam")
        try:  # by name only, so first make sure the name still belongs to the user that was judged
            user = iam.get_user(UserName=ref.login)["User"]
        except BOTO_ERRORS as err:
            if code_of(err) == "NoSuchEntity":
                return Outcome(ref, True, note="already removed (the user no longer exists)")
            raise translate(err, f"get user {ref.login}", "iam:GetUser") from err
        if user.get("UserId") not in (None, ref.identity_id) and ref.identity_id != ref.login:
            return Outcome(ref, False, f"{ref.login} is now another user (UserId {user.get('UserId')}, judged "
                                       f"{ref.identity_id}): deleted and re-created since; not touched")
        try:
            iam.delete_login_profile(UserName=ref.login)
        except BOTO_ERRORS as err:
            if code_of(err) == "NoSuchEntity":
                return Outcome(ref, True, note="already removed")
            raise translate(err, f"delete login profile of {ref.login}", "iam:DeleteLoginProfile") from err
        return Outcome(ref, True, note="console password deleted (irreversible)")


def _protect(cred: Credential, reason: str) -> Credential:
    return Credential(cred.kind, cred.credential_id, cred.enabled, cred.activity, cred.created,
                      cred.last_used, cred.activity_note, cred.irreversible, reason, cred.report_only, cred.expires)
