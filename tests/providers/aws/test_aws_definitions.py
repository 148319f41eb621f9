"""#14.5 for AWS: the moto-based emulator answers, and the adapter asks and reads, only what botocore's
service models define (IAM: GetAccountAuthorizationDetails, ListAccessKeys, GetAccessKeyLastUsed,
GetLoginProfile, Generate/GetCredentialReport, ListUsers, ListUserTags, GetUser, UpdateAccessKey,
DeleteLoginProfile, and for roles GetRole, GetRolePolicy, PutRolePolicy, DeleteRolePolicy; STS and Organizations for the accounts), through tests/providers/aws/definitions.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest
from botocore.parsers import QueryParser

from providers.aws_iam import emulator, pages, scenarios
from providers.aws_iam.adapter import AwsIamAdapter
from providers.aws_iam.emulator import Exchange
from providers.aws_iam.settings import AwsSettings
from sweeper.model import Action, CredentialKind, CredentialRef
from tests.providers.aws import definitions as d

NOW = scenarios.DEFAULT_NOW
HOME = scenarios.MANAGEMENT
PACKAGE = Path(pages.__file__).parent
IAM_READS = {"GetAccountAuthorizationDetails", "ListAccessKeys", "GetAccessKeyLastUsed", "GetLoginProfile",
             "GenerateCredentialReport", "GetCredentialReport", "ListUsers", "ListUserTags", "GetUser"}


def _settings(emu: emulator.AwsEmulator, **extra: Any) -> AwsSettings:
    return AwsSettings.model_validate({**emu.config(), "report_poll_seconds": 0.01, "report_timeout_seconds": 5,
                                       "max_attempts": 1, **extra})


def sweep(emu: emulator.AwsEmulator, **settings: Any) -> None:
    """What the adapter does to accounts: bind, list every scope, check, refresh every credential,
    disable a key and a password, enable the key again."""
    adapter = AwsIamAdapter(_settings(emu, **settings), write=True)
    found = {}
    for scope in adapter.scopes():
        if scope != scenarios.UNASSUMABLE:  # its AssumeRole is refused: nothing to read there
            found.update({(scope, i.login): i for i in adapter.list_identities(scope)})
    assert adapter.check()
    for identity in found.values():
        for cred in identity.credentials:
            adapter.refresh(CredentialRef.of(identity, cred))
    mixed, console = found[(HOME, "mixed-keys")], found[(HOME, "console-stale")]
    key = CredentialRef.of(mixed, mixed.credentials[-1])
    password = CredentialRef.of(console, next(c for c in console.credentials
                                              if c.kind is CredentialKind.CONSOLE_PASSWORD))
    assert all(o.ok for o in adapter.apply(Action.DISABLE, [key, password]))
    live = adapter.refresh(key)
    assert live is not None
    real = CredentialRef(key.provider, key.scope, key.identity_id, key.login, key.kind, live.credential_id)
    assert all(o.ok for o in adapter.apply(Action.ENABLE, [real]))
    vendor = found[(HOME, "vendor-audit")]  # a role denied and enabled again (#17)
    role = CredentialRef.of(vendor, vendor.credentials[0])
    assert adapter.apply(Action.DISABLE, [role])[0].ok and adapter.apply(Action.ENABLE, [role])[0].ok
    adapter.close()


def the_rest(emu: emulator.AwsEmulator) -> None:
    """The IAM reads the adapter does not make, asked as a client would (they are in the brief)."""
    env = emu.caller_env()
    iam = boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                region_name=emulator.REGION).client("iam", endpoint_url=emu.endpoint_url)
    names = [u["UserName"] for u in iam.list_users(MaxItems=1000)["Users"]]
    assert "exempt-tagged" in names
    assert iam.list_user_tags(UserName="exempt-tagged")["Tags"]
    iam.list_user_tags(UserName="no-credentials")


@pytest.fixture
def recorded(start_emulator: Callable[[dict[str, Any]], emulator.AwsEmulator]) -> list[Exchange]:
    scenario = scenarios.organization(NOW)
    scenario["accounts"][HOME]["roles"] = scenarios.with_roles(NOW)["accounts"][HOME]["roles"]
    emu = start_emulator(scenario)
    emu.exchanges = []
    sweep(emu, organization={"max_parallel": 2}, role_action="deny")
    the_rest(emu)
    return emu.exchanges


def test_every_request_is_in_the_models(recorded: list[Exchange]) -> None:
    assert [p for ex in recorded for p in d.request_problems(ex)] == []
    seen = {ex.action for ex in recorded}
    assert IAM_READS | {"UpdateAccessKey", "DeleteLoginProfile", "GetCallerIdentity", "AssumeRole",
                        "ListAccounts", "GetRole", "GetRolePolicy", "PutRolePolicy", "DeleteRolePolicy"} <= seen, sorted(seen)


def test_every_answer_is_in_the_models(recorded: list[Exchange]) -> None:
    assert [p for ex in recorded for p in d.answer_problems(ex)] == []
    assert sum(1 for ex in recorded if ex.status == 200) > 20


def test_the_fast_page_parser_reads_what_botocore_reads(recorded: list[Exchange]) -> None:
    """pages.parse_page reads GetAccountAuthorizationDetails' XML itself; on the emulator's pages it
    must give what botocore's model-driven parser gives for the fields it takes."""
    bodies = [ex.body for ex in recorded if ex.action == "GetAccountAuthorizationDetails" and ex.status == 200]
    assert bodies
    shape = d.operation("iam", "GetAccountAuthorizationDetails").output_shape  # type: ignore[union-attr]
    for body in bodies:
        ours = pages.parse_page(body)
        theirs = QueryParser().parse({"body": body, "headers": {}, "status_code": 200}, shape)
        assert ours["IsTruncated"] == theirs["IsTruncated"] and ours["Marker"] == theirs.get("Marker")
        fields = ("UserName", "UserId", "Arn", "Tags", "GroupList")
        assert [{k: u[k] for k in fields} for u in ours["Users"]] == \
            [{k: u.get(k, []) for k in fields} for u in theirs["UserDetailList"]]
        assert [u["CreateDate"] for u in ours["Users"]] == [u["CreateDate"] for u in theirs["UserDetailList"]]
        fields = ("RoleName", "RoleId", "Arn", "Path", "CreateDate", "Tags")
        assert [({k: r[k] for k in fields}, r["RoleLastUsed"].get("LastUsedDate")) for r in ours["Roles"]] == \
            [({k: r.get(k, []) for k in fields}, r.get("RoleLastUsed", {}).get("LastUsedDate"))
             for r in theirs.get("RoleDetailList", [])]
        assert [[p["PolicyName"] for p in r["RolePolicyList"]] for r in ours["Roles"]] == \
            [[p["PolicyName"] for p in r.get("RolePolicyList", [])] for r in theirs.get("RoleDetailList", [])]
    assert any(page["Roles"] for page in map(pages.parse_page, bodies))


# -- what the adapter's code reads -----------------------------------------------------------------------

GENERIC = {"Error", "Code", "Message", "ResponseMetadata", "HTTPStatusCode"}  # botocore's, for every answer
# the IAM policy grammar (a policy document's elements): roles.py reads the deny policy's document
POLICY_GRAMMAR = {"Version", "Statement", "Sid", "Effect", "Action", "Resource"}


def names_read() -> dict[str, set[str]]:
    """API-looking names (CapitalWords) the adapter subscripts, .get()s or passes as keywords, by file.
    The policy documents (policy.py) and the emulator are not API reads."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name in ("policy.py", "emulator.py", "emulator_fidelity.py", "scenarios.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            name = None
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                name = node.slice.value
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                    and node.args and isinstance(node.args[0], ast.Constant):
                name = node.args[0].value
            elif isinstance(node, ast.keyword):
                name = node.arg
            if isinstance(name, str) and re.fullmatch(r"[A-Z][A-Za-z]+", name):
                found.setdefault(name, set()).add(path.name)
    return found


def member_names() -> set[str]:
    names = set()
    for service in ("iam", "sts", "organizations"):
        m = d.model(service)
        for shape_name in m.shape_names:
            shape = m.shape_for(shape_name)
            names |= set(getattr(shape, "members", {}))
    return names


def test_every_name_the_adapter_reads_is_a_member_in_the_models() -> None:
    read = names_read()
    assert {"AccessKeyLastUsed", "LastUsedDate", "PasswordLastUsed", "UserDetailList", "Content"} <= set(read)
    known = member_names() | GENERIC | POLICY_GRAMMAR | {pages.USERS, pages.ROLES}
    assert {name: sorted(files) for name, files in read.items() if name not in known} == {}


# -- the checks can fail -----------------------------------------------------------------------------------

def _page(inner: str) -> bytes:
    return (f'<GetAccountAuthorizationDetailsResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
            f"<GetAccountAuthorizationDetailsResult>{inner}</GetAccountAuthorizationDetailsResult>"
            "</GetAccountAuthorizationDetailsResponse>").encode()


@pytest.mark.parametrize("exchange, says", [
    (Exchange("iam", "GetAccountAuthorizationDetails", {"MaxItems": "1001"}, False, 200, b""), "outside [1, 1000]"),
    (Exchange("iam", "GetAccountAuthorizationDetails", {"Filter.member.1": "Users"}, False, 200, b""), "not one of"),
    (Exchange("iam", "GetAccountAuthorizationDetails", {"PageSize": "5"}, False, 200, b""), "no parameter 'PageSize'"),
    (Exchange("iam", "UpdateAccessKey", {"AccessKeyId": "AKIAXXXXXXXXXXXXXXXX", "Status": "Disabled"}, False, 200, b""),
     "'Disabled' is not one of"),
    (Exchange("iam", "ListAccessKeys", {"Username": "bob"}, False, 200, b""), "no parameter 'Username'"),
    (Exchange("iam", "GetAccessKeyLastUsed", {}, False, 200, b""), "required AccessKeyId missing"),
    (Exchange("iam", "ListUserKeys", {}, False, 200, b""), "no such operation"),
])
def test_a_request_the_model_does_not_know_is_found(exchange: Exchange, says: str) -> None:
    problems = d.request_problems(exchange)
    assert any(says in p for p in problems), problems


@pytest.mark.parametrize("inner, says", [
    ("<UserDetailList><member><UserName>a</UserName><LastLogin>2020-01-01T00:00:00Z</LastLogin></member>"
     "</UserDetailList>", "UserDetailList[0]/LastLogin: no such member of UserDetail"),
    ("<UserDetailList><member><CreateDate>None</CreateDate></member></UserDetailList>", "is not a timestamp"),
    ("<IsTruncated>yes</IsTruncated>", "is not a boolean"),
    ("<Users><member><UserName>a</UserName></member></Users>", "Users: no such member"),
    ("<UserDetailList><user><UserName>a</UserName></user></UserDetailList>", "not a list item (member)"),
])
def test_an_answer_the_model_does_not_define_is_found(inner: str, says: str) -> None:
    problems = d.answer_problems(Exchange("iam", "GetAccountAuthorizationDetails", {}, False, 200, _page(inner)))
    assert any(says in p for p in problems), problems
