"""A read-only probe of each permission the AWS adapter needs (`policy` says which), and of the binding."""

from __future__ import annotations

import functools
from typing import Any, Callable

from providers.aws_iam import pages
from providers.aws_iam.accounts import Accounts
from providers.aws_iam.policy import ROLE_WRITE, WRITE
from providers.aws_iam.roles import DENY_POLICY
from providers.aws_iam.errors import BOTO_ERRORS, AUTH_CODES, DENIED_CODES, LIMIT, code_of
from sweeper.errors import ProviderError
from sweeper.kit.secrets import scrub
from sweeper.model import CheckResult

# Answers that prove the caller was allowed to ask (the object just is not there).
_ALLOWED_ANYWAY = frozenset(("NoSuchEntity", "ReportNotPresent", "ReportInProgress", "ReportExpired"))


def _probe(name: str, call: Callable[[], Any], detail: str) -> tuple[CheckResult, Any]:
    try:
        answer = call()
    except ProviderError as err:
        return CheckResult(name, False, str(err)), None
    except BOTO_ERRORS as err:
        code = code_of(err)
        if code in _ALLOWED_ANYWAY:
            return CheckResult(name, True, f"{detail} (answered {code})"), None
        if code in DENIED_CODES:
            return CheckResult(name, False, f"denied: add {name} to the sweeper's policy"), None
        if code in AUTH_CODES:
            return CheckResult(name, False, f"credentials rejected ({code})"), None
        return CheckResult(name, None, f"could not tell: {code or type(err).__name__}: "
                                       f"{scrub(str(err), LIMIT)}"), None
    return CheckResult(name, True, detail), answer


def check(accounts: Accounts) -> list[CheckResult]:
    """Probe each permission without changing anything: in the caller's account, or with `accounts`
    the role of every listed account and the reads through the first one assumed."""
    results = []
    who, caller = _probe("sts:GetCallerIdentity", accounts.caller, "credentials accepted")
    results.append(who)
    if caller is None:
        return results
    scope = caller["Account"]
    results.append(_bound("account_id", accounts.settings.account_id, scope, "sts:GetCallerIdentity"))
    if accounts.settings.accounts:
        listed = _probe_listed(accounts)
        reached = [account for account, result in listed.items() if result.ok]
        # the reads are probed in the first account whose role was assumed: every role has the same policy
        return [*results, *listed.values(), *(_probe_iam(accounts, reached[0]) if reached else [])]
    results.extend(_probe_iam(accounts, scope))
    if accounts.settings.organization is not None:
        results.extend(_probe_organization(accounts, scope))
    return results


def _probe_listed(accounts: Accounts) -> dict[str, CheckResult]:
    """AssumeRole (and its binding) in each listed account: one result each, by account id."""
    out = {}
    for entry in accounts.settings.accounts or ():
        reach = functools.partial(accounts.client, entry.id, "iam")
        out[entry.id] = _probe(f"sts:AssumeRole {entry.id}", reach, f"assumed the listed role, in account {entry.id}")[0]
    return out


def _probe_iam(accounts: Accounts, scope: str) -> list[CheckResult]:
    """The IAM reads in account `scope`, and the writes named (never tried)."""
    results = []
    try:
        iam = accounts.client(scope, "iam")
    except ProviderError as err:
        return [CheckResult("iam", False, str(err))]
    results.append(_probe("iam:GenerateCredentialReport", iam.generate_credential_report,
                          "may start a credential report (reads only)")[0])
    results.append(_probe("iam:GetCredentialReport", iam.get_credential_report, "readable")[0])
    details, page = _probe("iam:GetAccountAuthorizationDetails", lambda: iam.get_account_authorization_details(
        Filter=["User"], MaxItems=1), "readable")
    results.append(details)
    user = accounts.caller_user(scope) or next(
        (u["UserName"] for u in (page or {}).get("UserDetailList", [])), None)
    if user is None:
        for name in ("iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:GetUser", "iam:GetLoginProfile"):
            results.append(CheckResult(name, None, "no IAM user to probe with"))
    else:
        keys, listed = _probe("iam:ListAccessKeys", lambda: iam.list_access_keys(UserName=user),
                              f"readable (user {user})")
        results.append(keys)
        key_ids = [k["AccessKeyId"] for k in (listed or {}).get("AccessKeyMetadata", [])]
        if key_ids:
            results.append(_probe("iam:GetAccessKeyLastUsed",
                                  lambda: iam.get_access_key_last_used(AccessKeyId=key_ids[0]),
                                  f"readable (user {user})")[0])
        else:
            results.append(CheckResult("iam:GetAccessKeyLastUsed", None, f"{user} has no access key"))
        results.append(_probe("iam:GetUser", lambda: iam.get_user(UserName=user), f"readable (user {user})")[0])
        results.append(_probe("iam:GetLoginProfile", lambda: iam.get_login_profile(UserName=user),
                              f"readable (user {user})")[0])
    denies = accounts.settings.denies_roles
    if denies:  # role_action = "deny": the live re-read of a candidate role
        results.extend(_probe_roles(accounts, iam, scope))
    for name in (*WRITE, *(ROLE_WRITE if denies else ())):
        results.append(CheckResult(name, None, "not probed: it cannot be tried without changing "
                                               "something; grant it as `sweeper permissions -p aws --for apply` "
                                               "shows"))
    return results


def _probe_roles(accounts: Accounts, iam: Any, scope: str) -> list[CheckResult]:
    """iam:GetRole and iam:GetRolePolicy on a role of `scope`: the sweeper's own when it runs as one
    there, else the first listed (the deny policy is only asked for: it need not exist)."""
    caller = accounts.caller()
    role = None
    if caller["Account"] == scope and ":assumed-role/" in caller["Arn"]:
        role = caller["Arn"].split(":assumed-role/", 1)[1].split("/", 1)[0]
    if role is None:
        _, page = _probe("iam:GetAccountAuthorizationDetails",
                         lambda: iam.get_account_authorization_details(Filter=["Role"], MaxItems=1), "readable")
        found = (page or {}).get(pages.ROLES) or (page or {}).get("RoleDetailList") or []
        role = next((r["RoleName"] for r in found if r.get("RoleName")), None)
    if role is None:
        return [CheckResult(name, None, "no IAM role to probe with") for name in ("iam:GetRole", "iam:GetRolePolicy")]
    return [_probe("iam:GetRole", lambda: iam.get_role(RoleName=role), f"readable (role {role})")[0],
            _probe("iam:GetRolePolicy", lambda: iam.get_role_policy(RoleName=role, PolicyName=DENY_POLICY),
                   f"readable (role {role})")[0]]


def _bound(key: str, configured: str | None, actual: str, source: str) -> CheckResult:
    """The binding of one setting: as configured, a mismatch, or not set (which is said)."""
    name = f"binding {key}"
    if configured is None:
        return CheckResult(name, None, f"not set: {source} says {actual}; set {key} = \"{actual}\" to bind "
                                       "the sweep to it")
    if configured != actual:
        return CheckResult(name, False, f"MISMATCH: configured {configured}, {source} says {actual}")
    return CheckResult(name, True, f"{actual}, as configured ({source})")


def _probe_organization(accounts: Accounts, home: str) -> list[CheckResult]:
    org = accounts.settings.organization
    assert org is not None  # only called with [organization]
    described, found = _probe("organizations:DescribeOrganization", accounts.organization, "readable")
    out = [described]
    if found is not None:
        out.append(_bound("organization.management_account_id", org.management_account_id,
                          found["MasterAccountId"], "DescribeOrganization"))
        out.append(_bound("organization.org_id", org.org_id, found["Id"], "DescribeOrganization"))
    listed, scopes = _probe("organizations:ListAccounts", accounts.scopes, "readable")
    if scopes is None:
        return [*out, listed]
    members = [s for s in scopes if s != home]
    listed = CheckResult(listed.name, True, f"{len(scopes)} account(s) to sweep")
    if not members:
        return [*out, listed, CheckResult("sts:AssumeRole", None, "no member account to probe")]
    assumed, _ = _probe("sts:AssumeRole", lambda: accounts.client(members[0], "iam"),
                        f"assumed the member role in {members[0]}")
    return [*out, listed, assumed]
