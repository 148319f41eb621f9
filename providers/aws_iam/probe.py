"""What the AWS adapter needs (the least-privilege policy) and a read-only probe of each permission."""

from __future__ import annotations

import json
from typing import Any, Callable

from providers.aws_iam.accounts import Accounts
from providers.aws_iam.errors import BOTO_ERRORS, AUTH_CODES, DENIED_CODES, LIMIT, code_of
from sweeper.errors import ProviderError
from sweeper.kit.secrets import scrub
from sweeper.model import CheckResult

READ = ["iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:GetAccountAuthorizationDetails",
        "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:GetUser", "iam:GetLoginProfile"]
WRITE = ["iam:UpdateAccessKey", "iam:DeleteLoginProfile"]
# Answers that prove the caller was allowed to ask (the object just is not there).
_ALLOWED_ANYWAY = frozenset(("NoSuchEntity", "ReportNotPresent", "ReportInProgress", "ReportExpired"))


def policy_json() -> str:
    """The IAM policy for the identity the sweeper runs as (and for the member-account role).

    sts:GetCallerIdentity needs no permission. The organization statement is needed only in the
    management account, with [providers.aws.organization]; change the role name if yours differs.
    """
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "SweeperReadIam", "Effect": "Allow", "Action": READ, "Resource": "*"},
        {"Sid": "SweeperDisableCredentials", "Effect": "Allow", "Action": WRITE,
         "Resource": "arn:aws:iam::*:user/*"},
        {"Sid": "SweeperListOrganizationAccounts", "Effect": "Allow",
         "Action": ["organizations:ListAccounts"], "Resource": "*"},
        {"Sid": "SweeperAssumeMemberRole", "Effect": "Allow", "Action": ["sts:AssumeRole"],
         "Resource": "arn:aws:iam::*:role/OrganizationAccountAccessRole"},
    ]}
    return json.dumps(policy, indent=2)


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
    """Probe each permission in the caller's account without changing anything."""
    results = []
    who, caller = _probe("sts:GetCallerIdentity", accounts.caller, "credentials accepted")
    results.append(who)
    if caller is None:
        return results
    scope = caller["Account"]
    try:
        iam = accounts.client(scope, "iam")
    except ProviderError as err:
        return [*results, CheckResult("iam", False, str(err))]
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
    for name in WRITE:
        results.append(CheckResult(name, None, "not probed: it cannot be tried without changing "
                                               "something; grant it as `sweeper permissions -p aws` shows"))
    if accounts.settings.organization is not None:
        results.extend(_probe_organization(accounts, scope))
    return results


def _probe_organization(accounts: Accounts, home: str) -> list[CheckResult]:
    listed, scopes = _probe("organizations:ListAccounts", accounts.scopes, "readable")
    if scopes is None:
        return [listed]
    members = [s for s in scopes if s != home]
    listed = CheckResult(listed.name, True, f"{len(scopes)} account(s) to sweep")
    if not members:
        return [listed, CheckResult("sts:AssumeRole", None, "no member account to probe")]
    assumed, _ = _probe("sts:AssumeRole", lambda: accounts.client(members[0], "iam"),
                        f"assumed the member role in {members[0]}")
    return [listed, assumed]
