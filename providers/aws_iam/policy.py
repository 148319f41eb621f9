"""The sweeper's IAM policies by mode, and the session policies it passes to every AssumeRole.

Modes (`sweeper permissions -p aws --for MODE`):
- "plan": the identity a plan, check or notify job runs as. Read only, sts:GetCallerIdentity included.
- "apply": plan plus the two write actions (UpdateAccessKey, DeleteLoginProfile), and DeleteAccessKey in a
  statement of its own for opt-in removal (#13).
- Roles (#17) are listed from the same GetAccountAuthorizationDetails pages: nothing more to read for them
  by default (`role_action = "report"`). With `role_action = "deny"` the plan policy adds GetRole and
  GetRolePolicy (a candidate role is re-read live) and apply PutRolePolicy and DeleteRolePolicy (the deny
  policy attached, and deleted by restore), on roles only; the session policies follow the same switch. It is always there: the adapter cannot see `[policy]
  remove_after_days`, and the session policies must allow it wherever removal may be configured.
- "org-member": the role in each member account (`organization.role_name`, default IdentitySweeper) or
  each listed account (`accounts`): its permissions policy and its trust policy, as one JSON object.
Organization statements appear only with `[providers.aws.organization]`, and are limited to the
organization by an `aws:ResourceOrgID` condition (`organization.org_id`, else a placeholder to replace).
With `accounts`, the identity the sweeper runs as may assume exactly the listed roles, and nothing in
the organization.

Every AssumeRole passes a session policy (`session_policy`): the role's session can do only what the
sweeper does in the mode the adapter was opened in, whatever the role itself may do. A plan job that
assumes an administrator role still cannot write.
"""

from __future__ import annotations

import json
from typing import Any

from providers.aws_iam.settings import AwsSettings, OrganizationSettings

VERSION = "2012-10-17"
READ = ["iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:GetAccountAuthorizationDetails",
        "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:GetUser", "iam:GetLoginProfile"]
WRITE = ["iam:UpdateAccessKey", "iam:DeleteLoginProfile"]
REMOVE = ["iam:DeleteAccessKey"]  # opt-in removal (remove_after_days with apply --allow-remove)
ROLE_READ = ["iam:GetRole", "iam:GetRolePolicy"]  # role_action = "deny": a candidate role re-read live
ROLE_WRITE = ["iam:PutRolePolicy", "iam:DeleteRolePolicy"]  # role_action = "deny": the deny policy, and restore
WHOAMI = ["sts:GetCallerIdentity"]
ORG_READ = ["organizations:DescribeOrganization", "organizations:ListAccounts"]
# SetSourceIdentity: every AssumeRole carries the run id as its SourceIdentity
ASSUME = ["sts:AssumeRole", "sts:SetSourceIdentity"]
ORG_PLACEHOLDER = "o-EXAMPLE"
MANAGEMENT_PLACEHOLDER = "MANAGEMENT-ACCOUNT-ID"
SWEEPER_PLACEHOLDER = "SWEEPER-ACCOUNT-ID"  # the account the sweeper runs in, when account_id is not set
EXTERNAL_ID_PLACEHOLDER = "EXTERNAL-ID-OF-THE-ACCOUNT"  # each listed account's own external_id, never printed
SESSION_PREFIX = "identity-sweeper"
MODES = ("plan", "apply", "org-member")
PACKED_LIMIT = 2048  # characters of an inline session policy (sts:AssumeRole `Policy`)


def partition(region: str) -> str:
    """The ARN partition of a region (aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b)."""
    for prefix, name in (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-isob-", "aws-iso-b"),
                         ("us-iso-", "aws-iso")):
        if region.startswith(prefix):
            return name
    return "aws"


def _statement(sid: str, actions: list[str], resource: str | list[str], condition: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    out: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource}
    if condition:
        out["Condition"] = condition
    return out


def _in_org(org: OrganizationSettings) -> dict[str, Any]:
    return {"StringEquals": {"aws:ResourceOrgID": org.org_id or ORG_PLACEHOLDER}}


def listed_roles(settings: AwsSettings, arn_partition: str) -> list[str]:
    """The role ARNs of the listed accounts (`accounts`), in their order."""
    return [entry.role(arn_partition) for entry in settings.accounts or ()]


def statements(write: bool, settings: AwsSettings, arn_partition: str, *, conditions: bool = True
               ) -> list[dict[str, Any]]:
    """What the identity the sweeper runs as may do: reads, writes when `write`, organization reads
    and the member role when [organization] is set, the listed roles with `accounts`. Without
    `conditions` (a session policy) the listed roles are `*`: a session policy only narrows what the
    role's own policy allows, and the exact list outgrows the 2048 characters AWS takes for it at a
    few dozen accounts."""
    if settings.accounts:  # every listed account is read and written through its role, none directly
        roles = listed_roles(settings, arn_partition) if conditions else "*"
        return [_statement("SweeperWhoAmI", WHOAMI, "*"), _statement("SweeperAssumeAccountRoles", ASSUME, roles)]
    account = settings.account_id or "*"
    out = [_statement("SweeperReadIam", READ, "*"), _statement("SweeperWhoAmI", WHOAMI, "*")]
    out += _role_statements(False, settings, f"arn:{arn_partition}:iam::{account}:role/*")
    if write:
        out.append(_statement("SweeperDisableCredentials", WRITE, f"arn:{arn_partition}:iam::{account}:user/*"))
        out.append(_statement("SweeperRemoveAccessKeys", REMOVE, f"arn:{arn_partition}:iam::{account}:user/*"))
        out += _role_statements(True, settings, f"arn:{arn_partition}:iam::{account}:role/*")
    org = settings.organization
    if org is not None:
        condition = _in_org(org) if conditions else None
        out.append(_statement("SweeperReadOrganization", ORG_READ, "*", condition))
        out.append(_statement("SweeperAssumeMemberRole", ASSUME,
                              f"arn:{arn_partition}:iam::*:role/{org.role_name}", condition))
    return out


def _role_statements(write: bool, settings: AwsSettings | None, resource: str) -> list[dict[str, Any]]:
    """The role reads (`write` False) or writes (True) that `role_action = "deny"` needs; none otherwise."""
    if settings is None or not settings.denies_roles:
        return []
    if write:
        return [_statement("SweeperDenyRoles", ROLE_WRITE, resource)]
    return [_statement("SweeperReadRoles", ROLE_READ, resource)]


def member_statements(write: bool, arn_partition: str, settings: AwsSettings | None = None) -> list[dict[str, Any]]:
    """What the role in a member account may do (the role statements as `settings` switch them)."""
    roles = f"arn:{arn_partition}:iam::*:role/*"
    out = [_statement("SweeperReadIam", READ, "*"), _statement("SweeperWhoAmI", WHOAMI, "*"),
           *_role_statements(False, settings, roles)]
    if write:
        out.append(_statement("SweeperDisableCredentials", WRITE, f"arn:{arn_partition}:iam::*:user/*"))
        out.append(_statement("SweeperRemoveAccessKeys", REMOVE, f"arn:{arn_partition}:iam::*:user/*"))
        out += _role_statements(True, settings, roles)
    return out


def trust_policy(settings: AwsSettings, arn_partition: str) -> dict[str, Any]:
    """Who may assume the member role: the sweeper's identity (role_arn, else the management account),
    only from inside the organization, only under the sweeper's session names, and with the run id
    as source identity (sts:SetSourceIdentity)."""
    if settings.accounts:
        return _listed_trust_policy(settings, arn_partition)
    org = settings.organization or OrganizationSettings.model_validate({})
    if settings.role_arn:
        principal = settings.role_arn
    else:
        account = org.management_account_id or settings.account_id or MANAGEMENT_PLACEHOLDER
        principal = f"arn:{arn_partition}:iam::{account}:root"
    equals: dict[str, str] = {"aws:PrincipalOrgID": org.org_id or ORG_PLACEHOLDER}
    if org.external_id:
        equals["sts:ExternalId"] = org.external_id
    condition = {"StringEquals": equals, "StringLike": {"sts:RoleSessionName": f"{SESSION_PREFIX}-*"}}
    return {"Version": VERSION, "Statement": [{"Sid": "TrustTheSweeper", "Effect": "Allow",
                                               "Principal": {"AWS": principal}, "Action": ASSUME,
                                               "Condition": condition}]}


def _listed_trust_policy(settings: AwsSettings, arn_partition: str) -> dict[str, Any]:
    """Who may assume a listed account's role: the sweeper's identity (role_arn, else its account),
    only under the sweeper's session names; with the account's external_id when it has one (a
    placeholder: the ids differ by account and are not printed)."""
    account = settings.account_id or SWEEPER_PLACEHOLDER
    principal = settings.role_arn or f"arn:{arn_partition}:iam::{account}:root"
    condition: dict[str, Any] = {"StringLike": {"sts:RoleSessionName": f"{SESSION_PREFIX}-*"}}
    if any(entry.external_id for entry in settings.accounts or ()):
        condition["StringEquals"] = {"sts:ExternalId": EXTERNAL_ID_PLACEHOLDER}
    return {"Version": VERSION, "Statement": [{"Sid": "TrustTheSweeper", "Effect": "Allow",
                                               "Principal": {"AWS": principal}, "Action": ASSUME,
                                               "Condition": condition}]}


def document(mode: str, settings: AwsSettings | None = None) -> dict[str, Any]:
    """The policy for `mode` as a JSON-able dict. Raises ValueError for another mode."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (AWS knows {', '.join(MODES)})")
    settings = settings if settings is not None else AwsSettings.model_validate({})
    arn_partition = partition(settings.region)
    if mode == "org-member" and settings.accounts:
        return {"Roles": listed_roles(settings, arn_partition),
                "PermissionsPolicy": {"Version": VERSION,
                                      "Statement": member_statements(True, arn_partition, settings)},
                "AssumeRolePolicyDocument": trust_policy(settings, arn_partition)}
    if mode == "org-member":
        org = settings.organization or OrganizationSettings.model_validate({})
        return {"RoleName": org.role_name,
                "PermissionsPolicy": {"Version": VERSION,
                                      "Statement": member_statements(True, arn_partition, settings)},
                "AssumeRolePolicyDocument": trust_policy(settings, arn_partition)}
    return {"Version": VERSION, "Statement": statements(mode == "apply", settings, arn_partition)}


def text(mode: str, settings: AwsSettings | None = None) -> str:
    return json.dumps(document(mode, settings), indent=2)


def session_policy(write: bool, settings: AwsSettings, arn_partition: str, *, member: bool) -> str:
    """The inline session policy of an AssumeRole: the member role's actions (`member`), or those of
    the identity the sweeper runs as (role_arn); writes only for an adapter opened to write."""
    chosen = (member_statements(write, arn_partition, settings) if member
              else statements(write, settings, arn_partition, conditions=False))
    for s in chosen:
        del s["Sid"]
    packed = json.dumps({"Version": VERSION, "Statement": chosen}, separators=(",", ":"))
    if len(packed) > PACKED_LIMIT:  # AWS refuses longer session policies; say so before asking
        raise ValueError(f"the session policy is {len(packed)} characters, over the {PACKED_LIMIT} AWS allows")
    return packed


_EXAMPLE: dict[str, Any] = {"organization": {}}  # shows the placeholders to replace: o-EXAMPLE, MANAGEMENT-ACCOUNT-ID

_PLAN = """For the identity the plan job runs as, and `sweeper check` and `notify`: it only reads (the
credential report, the users' and roles' authorization details, and for each candidate its keys, their
last use and its login profile). `sweeper permissions -p aws --for plan`"""

_APPLY = """For the identity of the apply job only: the plan policy plus `iam:UpdateAccessKey` (a key is set
Inactive; `restore` sets it Active again) and `iam:DeleteLoginProfile` (a console password is deleted:
irreversible). With `account_id` set, the writes are limited to that account's users.

`SweeperRemoveAccessKeys` is for opt-in removal only: with `remove_after_days` (in `[policy]` or
`[providers.aws]`) and `apply --allow-remove`, an access key that this sweeper deactivated and that stayed
inactive and unused that many days more is deleted with `iam:DeleteAccessKey`, by its key id read live
right before. That is irreversible (the key id is gone): `plan` marks it, and `restore` says it cannot
bring it back. The sweeper never removes anything without both the config and the flag; if you will
never configure removal, you may leave this statement out (a removal would then fail, naming the
permission). The session policies the sweeper passes to AssumeRole always allow it for apply.
`sweeper permissions -p aws --for apply`"""

_ORG = """With `[providers.aws.organization]`, the identity in the management account (or a delegated
administrator account) also reads the organization (`DescribeOrganization`, `ListAccounts`) and assumes
the member role. Both statements are limited to your organization by `aws:ResourceOrgID`: set
`organization.org_id` and `sweeper permissions -p aws --for {mode} -c sweeper.toml` writes it in;
here it is the placeholder `o-EXAMPLE`."""

_MEMBER = """Create the role `IdentitySweeper` (or your `organization.role_name`) in every member account,
for example with a CloudFormation StackSet, with `PermissionsPolicy` as its permissions and
`AssumeRolePolicyDocument` as its trust policy. Do not use `OrganizationAccountAccessRole`: AWS creates
it with AdministratorAccess. The trust policy names the sweeper's identity (`role_arn`, else the
management account: replace `MANAGEMENT-ACCOUNT-ID`), your organization (`aws:PrincipalOrgID`) and
the sweeper's session names, and it must allow `sts:SetSourceIdentity`: every AssumeRole carries the
run id as `SourceIdentity` and `RoleSessionName` (`identity-sweeper-<run id>`), so CloudTrail in the
member account ties each call to the run that made it. The role holds the write actions for the
apply job (`iam:DeleteAccessKey` for opt-in removal only: see Apply); the plan job assumes the same role with a session policy that allows only the reads, so it
cannot write through it. For a stricter split, give the plan job its own role without the
`SweeperDisableCredentials` and `SweeperRemoveAccessKeys` statements (its config's `role_name`).
`sweeper permissions -p aws --for org-member -c sweeper.toml`"""


# shows both forms of an entry: role_name (here the default) and role_arn, one with an external_id
_LISTED_EXAMPLE: dict[str, Any] = {"account_id": "123456789012", "accounts": [
    {"id": "210987654321"},
    {"id": "345678901234", "role_arn": "arn:aws:iam::345678901234:role/audit/IdentitySweeper",
     "external_id": "example-external-id"}]}

_LISTED = """With `accounts` (instead of an organization), the identity the job runs as only finds out who it is
and assumes the role of each listed account, and only those: `SweeperAssumeAccountRoles` names them one
by one (the role ARN given, else `role_name`, default `IdentitySweeper`, in the listed account). It
reads and writes nothing itself, not even in its own account unless that account is listed (then
through its role too), so the plan and the apply job need the same policy; what each may do in an
account is decided by the session policy it passes to AssumeRole (reads only for plan).
`sweeper permissions -p aws --for plan -c sweeper.toml`"""

_LISTED_ROLE = """Create the role in each listed account (its ARN is in `Roles`) with `PermissionsPolicy` as its
permissions and `AssumeRolePolicyDocument` as its trust policy. The trust policy names the sweeper's
identity (`role_arn`, else its `account_id`: replace `SWEEPER-ACCOUNT-ID` if it is not set) and the
sweeper's session names, and allows `sts:SetSourceIdentity` (the run id, as in an organization). An
account listed with an `external_id` needs that id in its own trust policy: replace
`EXTERNAL-ID-OF-THE-ACCOUNT` (the sweeper never prints it). Every run checks that each role session's
`sts:GetCallerIdentity` is the listed account: a role in another account fails that account, naming
both. The plan job assumes the same role with a read-only session policy.
`sweeper permissions -p aws --for org-member -c sweeper.toml`"""


_ROLES = """Roles are listed and judged by default (`roles = true`) from the authorization-detail pages the plan
policy already reads: with the default `role_action = "report"` a stale role is only reported, and no
permission is added. With `role_action = "deny"` a stale role gets an inline policy named
`identity-sweeper-disabled` that denies every action (`{"Effect": "Deny", "Action": "*", "Resource": "*"}`),
and `restore` deletes exactly that policy, leaving the role's other policies as they were. Then the plan
job also needs `SweeperReadRoles` (`iam:GetRole` and `iam:GetRolePolicy`: each candidate role is read
again live before it is judged), and the apply job `SweeperDenyRoles` too (`iam:PutRolePolicy`,
`iam:DeleteRolePolicy`); the session policies the sweeper passes to AssumeRole allow them only then, and
the member role of `--for org-member` carries them only then. A restore of roles therefore runs with
`role_action = "deny"` in its config. With `account_id` set, both are limited to that account's roles.
`sweeper permissions -p aws --for apply -c sweeper.toml`"""

_DENY_EXAMPLE: dict[str, Any] = {"role_action": "deny"}


def pages() -> list[tuple[str, str, str, AwsSettings | None]]:
    """docs/aws.md: (heading, what the policy is for, mode, settings) per policy shown."""
    org = AwsSettings.model_validate(_EXAMPLE)
    listed = AwsSettings.model_validate(_LISTED_EXAMPLE)
    return [("Plan, check and notify (read only)", _PLAN, "plan", None),
            ("Apply", _APPLY, "apply", None),
            ('Apply with role_action = "deny"', _ROLES, "apply", AwsSettings.model_validate(_DENY_EXAMPLE)),
            ("Plan with an organization", _ORG.format(mode="plan"), "plan", org),
            ("Apply with an organization", _ORG.format(mode="apply"), "apply", org),
            ("The role in each member account", _MEMBER, "org-member", org),
            ("With a list of accounts", _LISTED, "plan", listed),
            ("The role in each listed account", _LISTED_ROLE, "org-member", listed)]
