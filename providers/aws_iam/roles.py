"""IAM roles as machine identities: one `role` credential each, judged by RoleLastUsed (#17).

Roles come with the GetAccountAuthorizationDetails pages the adapter reads for users (Filter `Role`):
RoleLastUsed, CreateDate, Path, Tags and the inline policies are all on the page, so listing costs
nothing per role. IAM reports a role's last use for the trailing 400 days only; a role with no
LastUsedDate is judged by its creation date, like a never-used key.

"Disabled" is an inline policy named `identity-sweeper-disabled` that denies everything: a role
carrying it (with exactly that document) is already disabled; enable deletes that one policy and
nothing else. A policy of that name with another document is not the sweeper's: the role is then
never touched. The role can still be assumed while denied, so a RoleLastUsed after the deny is not
taken as use of the role (see `_activity`).

Never touched: service-linked roles (path /aws-service-role/: skipped, counted), roles of IAM
Identity Center (path /aws-reserved/sso.amazonaws.com/: it manages them), and the roles the sweeper
runs as or assumes (`Shield`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping
from urllib.parse import unquote

from providers.aws_iam.errors import BOTO_ERRORS, PROVIDER, code_of, translate
from providers.aws_iam.report import ABSENT
from providers.aws_iam.settings import ROLE_TRACKING_DAYS, AwsSettings
from sweeper.errors import DataError
from sweeper.kit.times import Unreadable, parse_utc
from sweeper.model import Action, Activity, Credential, CredentialKind, CredentialRef, Outcome

DENY_POLICY = "identity-sweeper-disabled"
DENY_DOCUMENT = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
SERVICE_LINKED = "/aws-service-role/"
IDENTITY_CENTER = "/aws-reserved/sso.amazonaws.com/"
REPORT_ONLY = 'role_action = "report"'
NOT_TRACKED = (f"no use on record: IAM reports role use for the trailing {ROLE_TRACKING_DAYS} days only, "
               "so it is judged by its creation date")
BY_AWS = "a service-linked role (path /aws-service-role/): AWS manages it"
BY_IDENTITY_CENTER = ("an IAM Identity Center role (path /aws-reserved/sso.amazonaws.com/): change its access "
                      "through the permission set")
FOREIGN = (f"it has an inline policy named {DENY_POLICY} that is not the sweeper's deny-all: left alone (rename "
           "that policy to let the sweeper act on this role)")

# what the deny policy document may hold besides its three fixed members
_SID = frozenset(("Sid",))


def is_deny_all(document: Any) -> bool:
    """Whether an inline policy document is the sweeper's deny-all: botocore's dict, or the text AWS
    sends (URL-encoded JSON) or stores. Anything else, and anything unreadable, is not."""
    if isinstance(document, str):
        text = document.strip()
        try:
            document = json.loads(text if text.startswith("{") else unquote(text))
        except ValueError:
            return False
    if not isinstance(document, Mapping):
        return False
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        return False
    return all(isinstance(s, Mapping) and s.get("Effect") == "Deny" and s.get("Action") in ("*", ["*"])
               and s.get("Resource") in ("*", ["*"]) and set(s) - {"Effect", "Action", "Resource"} <= _SID
               for s in statements)


@dataclass(frozen=True, slots=True)
class Role:
    """One role as the sweeper needs it, from a RoleDetail (listing) or GetRole plus GetRolePolicy."""

    name: str
    role_id: str
    arn: str
    path: str
    created: datetime | None
    last_used: datetime | None
    tags: Mapping[str, str] = field(default_factory=dict)
    deny: str = "absent"  # absent | ours | foreign: the inline policy named DENY_POLICY
    unreadable: str | None = None  # a date that did not parse: its activity is unknown

    @property
    def service_linked(self) -> bool:
        return self.path.startswith(SERVICE_LINKED)

    @classmethod
    def of(cls, detail: Mapping[str, Any], deny: str | None = None) -> "Role":
        """From a RoleDetail (policies in its RolePolicyList) or a GetRole Role (`deny` given)."""
        name = detail.get("RoleName")
        if not name:
            raise DataError(PROVIDER, "list roles", "a role without RoleName")
        bad = None
        try:
            created = parse_utc(detail.get("CreateDate"), ABSENT)
        except Unreadable as err:
            created, bad = None, f"CreateDate {err}"
        try:
            last_used = parse_utc((detail.get("RoleLastUsed") or {}).get("LastUsedDate"), ABSENT)
        except Unreadable as err:
            last_used, bad = None, f"RoleLastUsed {err}"
        if deny is None:
            policies = {p.get("PolicyName"): p.get("PolicyDocument") for p in detail.get("RolePolicyList") or ()}
            deny = policy_state(DENY_POLICY in policies, policies.get(DENY_POLICY))
        return cls(str(name), str(detail.get("RoleId") or name), str(detail.get("Arn") or ""),
                   str(detail.get("Path") or "/"), created, last_used,
                   {t["Key"]: t.get("Value") or "" for t in detail.get("Tags") or () if t.get("Key")}, deny, bad)


def policy_state(present: bool, document: Any) -> str:
    """absent | ours | foreign, for the inline policy named DENY_POLICY."""
    if not present:
        return "absent"
    return "ours" if is_deny_all(document) else "foreign"


def credential(role: Role, report_only: str | None) -> Credential:
    """The role's one credential: disabled while it carries the sweeper's deny-all policy."""
    activity, used, note = _activity(role)
    return Credential(CredentialKind.ROLE, role.role_id, role.deny != "ours", activity, role.created, used, note,
                      report_only=report_only)


def _activity(role: Role) -> tuple[Activity, datetime | None, str | None]:
    if role.unreadable:
        return Activity.UNKNOWN, None, f"unreadable {role.unreadable}"
    if role.deny == "ours" and role.last_used is not None:
        # a denied role can still be assumed: a LastUsedDate after the deny is an attempt, not use
        return Activity.UNKNOWN, None, (f"RoleLastUsed {role.last_used.date().isoformat()} under the deny-all "
                                        "policy: a denied role can still be assumed, so this is not use")
    if role.last_used is not None:
        return Activity.SEEN, role.last_used, None
    if role.created is None:
        return Activity.UNKNOWN, None, "no RoleLastUsed and no CreateDate"
    return Activity.NEVER, None, NOT_TRACKED


# -- who the sweeper is ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Shield:
    """The roles the sweeper runs as or assumes, by account ("*": any) and path+name, case-insensitive
    as IAM compares role names; `names` are roles known by name only (an assumed-role session's ARN
    carries no path)."""

    paths: Mapping[tuple[str, str], str]
    names: Mapping[tuple[str, str], str]

    @classmethod
    def of(cls, settings: AwsSettings, partition: str, callers: list[str]) -> "Shield":
        """From the config (role_arn, the organization's role_name, the listed accounts' roles) and the
        ARNs the sweeper runs as (`callers`: sts:GetCallerIdentity answers)."""
        paths: dict[tuple[str, str], str] = {}
        names: dict[tuple[str, str], str] = {}
        if settings.role_arn and ":role/" in settings.role_arn:
            account, resource = _split(settings.role_arn)
            paths[(account, resource)] = f"the sweeper assumes this role (role_arn {settings.role_arn})"
        if settings.organization is not None:
            paths[("*", settings.organization.role_name.casefold())] = (
                f"the sweeper assumes this role in member accounts (organization.role_name "
                f"{settings.organization.role_name})")
        for entry in settings.accounts or ():
            account, resource = _split(entry.role(partition))
            paths[(account, resource)] = f"the sweeper assumes this role (account {entry.id} in accounts)"
        for arn in callers:
            if ":assumed-role/" in arn:  # arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION
                account = arn.split(":")[4]
                name = arn.split(":assumed-role/", 1)[1].split("/", 1)[0]
                names[(account, name.casefold())] = "the sweeper runs as this role"
            elif ":role/" in arn:
                paths[_split(arn)] = "the sweeper runs as this role"
        return cls(paths, names)

    def reason(self, scope: str, role: Role) -> str | None:
        resource = _split(role.arn)[1] if ":role/" in role.arn else (role.path + role.name).lstrip("/").casefold()
        for account in (scope, "*"):
            found = self.paths.get((account, resource))
            if found:
                return found
        return self.names.get((scope, role.name.casefold()))


def _split(arn: str) -> tuple[str, str]:
    """(account, path/name in lower case) of a role ARN."""
    parts = arn.split(":", 5)
    return parts[4], parts[5].split("role/", 1)[1].casefold()


# -- live ------------------------------------------------------------------------------------------------

class _Gone(Exception):
    pass


def _call(operation: str, permission: str, fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except BOTO_ERRORS as err:
        if code_of(err) == "NoSuchEntity":
            raise _Gone() from err
        raise translate(err, operation, permission) from err


def live(iam: Any, ref: CredentialRef) -> Role | None:
    """The role of `ref` now (GetRole, GetRolePolicy), or None when it is gone or is another role of
    the same name (deleted and re-created since it was judged)."""
    try:
        found = _call(f"get role {ref.login}", "iam:GetRole", iam.get_role, RoleName=ref.login)["Role"]
    except _Gone:
        return None
    if found.get("RoleId") not in (None, ref.credential_id):
        return None
    try:
        policy = _call(f"get policy {DENY_POLICY} of role {ref.login}", "iam:GetRolePolicy", iam.get_role_policy,
                       RoleName=ref.login, PolicyName=DENY_POLICY)
        deny = policy_state(True, policy.get("PolicyDocument"))
    except _Gone:
        deny = "absent"
    return Role.of(found, deny)


def apply_one(iam: Any, action: Action, ref: CredentialRef, guard: Callable[[Role], str | None]) -> Outcome:
    """Deny (put the deny-all policy) or enable (delete exactly that policy) one role, after reading it
    live: a role that is gone, another role now, or carrying a foreign policy of that name is not
    touched, nor denied when `guard(role)` gives a reason (service-linked, the sweeper's own)."""
    role = live(iam, ref)
    if role is None:
        if action is Action.DISABLE:
            return Outcome(ref, True, note="already removed (the role no longer exists)")
        return Outcome(ref, False, "the role no longer exists (or is another role of the same name now)")
    if role.deny == "foreign":
        return Outcome(ref, False, FOREIGN)
    if action is Action.ENABLE:
        if role.deny == "absent":
            return Outcome(ref, True, note=f"already enabled (no {DENY_POLICY} policy)")
        if not _write(iam.delete_role_policy, f"delete policy {DENY_POLICY} of role {ref.login}",
                      "iam:DeleteRolePolicy", RoleName=ref.login, PolicyName=DENY_POLICY):
            return Outcome(ref, True, note=f"already enabled ({DENY_POLICY} deleted meanwhile)")
        return Outcome(ref, True, note=f"inline policy {DENY_POLICY} deleted")
    protected = guard(role)
    if protected:
        return Outcome(ref, False, f"refusing to deny role {ref.login}: {protected}")
    if role.deny == "ours":
        return Outcome(ref, True, note="already denied")
    if not _write(iam.put_role_policy, f"put policy {DENY_POLICY} on role {ref.login}", "iam:PutRolePolicy",
                  RoleName=ref.login, PolicyName=DENY_POLICY, PolicyDocument=json.dumps(DENY_DOCUMENT)):
        return Outcome(ref, True, note="already removed (the role was deleted meanwhile)")
    return Outcome(ref, True, note=f"inline deny-all policy {DENY_POLICY} attached")


def _write(fn: Any, operation: str, permission: str, **kwargs: Any) -> bool:
    """Make one write; False when its role (or policy) is gone (NoSuchEntity)."""
    try:
        fn(**kwargs)
    except BOTO_ERRORS as err:
        if code_of(err) == "NoSuchEntity":
            return False
        raise translate(err, operation, permission) from err
    return True
