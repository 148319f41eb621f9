"""Identities managed as code (#26 item 3): sweeper/managed.py against `terraform show -json` outputs.

The fixtures in tests/fixtures/terraform/ are in Terraform's JSON output format: root and child modules,
count and for_each instances, data sources, resources of other types, and secrets in plain text (as
`terraform show -json` prints them), which must never come out again. aws.json, entra.json and
google.json are written by hand; aws_terraform_1.11.json is what Terraform 1.11.4 (AWS provider
5.100.0) printed for a hand-written state of module.iam's user, for_each key and login profile, kept as
the check that the hand-written ones have the real shape.
"""

from __future__ import annotations

import gc
import json
import re
import shutil
import subprocess
import types
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from sweeper.errors import ConfigError
from sweeper.managed import ManagedBy, ManagedIndex, ManagedSettings
from sweeper.model import Activity, Credential, CredentialKind, Identity, IdentityKind

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "terraform"
DOC = Path(__file__).resolve().parent.parent / "docs" / "managed-as-code.md"
STATES = ("aws.json", "entra.json", "google.json", "aws_terraform_1.11.json")
ACCOUNT = "111122223333"  # the AWS account of aws.json
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
SENSITIVE = ("secret", "encrypted_secret", "ses_smtp_password_v4", "encrypted_ses_smtp_password_v4", "password",
             "encrypted_password", "key_fingerprint")


def index(*states: str, tags: dict[str, str] | None = None, base: Path = FIXTURES) -> ManagedIndex:
    return ManagedIndex.load(ManagedSettings(terraform_state=list(states), tags=tags or {}), base)


def password(identity_id: str) -> Credential:
    return Credential(CredentialKind.CONSOLE_PASSWORD, identity_id, True, Activity.NEVER, T0)


def key(key_id: str, created: datetime = T0) -> Credential:
    return Credential(CredentialKind.ACCESS_KEY, key_id, True, Activity.NEVER, created)


def account(identity_id: str) -> Credential:
    return Credential(CredentialKind.ACCOUNT, identity_id, True, Activity.NEVER, T0)


def aws_user(login: str, uid: str, *keys: Credential, scope: str = ACCOUNT, tags: dict[str, str] | None = None
             ) -> Identity:
    return Identity("aws", scope, uid, login, IdentityKind.MEMBER, True, (password(uid), *keys), T0,
                    tags=tags or {})


def user(provider: str, uid: str, login: str) -> Identity:
    return Identity(provider, "scope", uid, login, IdentityKind.MEMBER, True, (account(uid),), T0)


def address(found: ManagedBy | None) -> str | None:
    assert found is not None, "expected a match"
    return found.address


# --- what is read -------------------------------------------------------------------------------

def test_every_identity_resource_is_indexed_from_root_and_child_modules_and_nothing_else():
    # aws.json: 4 users, 3 keys and 2 login profiles across the root, module.iam and module.iam.module.people;
    # not its data sources, policy or attachment. entra.json: 3 users, not data.azuread_user.owner.
    assert len(index("aws.json")) == 9
    assert len(index("entra.json")) == 3
    assert len(index("google.json")) == 2
    assert len(index("aws.json", "entra.json", "google.json")) == 14


def test_the_output_of_terraform_itself_is_read():
    managed = index("aws_terraform_1.11.json")
    assert len(managed) == 3
    ci = aws_user("ci-runner", "AIDAI23HXD2O5EXAMPLE", key("AKIAI44QH8DHBEXAMPLE"))
    assert address(managed.lookup("aws", ci, ci.credentials[1])) == 'module.iam.aws_iam_access_key.ci["a"]'
    assert address(managed.lookup("aws", ci, ci.credentials[0])) == "module.iam.aws_iam_user_login_profile.ci"
    assert "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" in _secrets("aws_terraform_1.11.json")


def test_an_empty_state_and_older_or_newer_minor_format_versions_are_read(tmp_path):
    for n, version in enumerate(("0.1", "0.2", "1.0", "1.7")):
        (tmp_path / f"s{n}.json").write_text(json.dumps({"format_version": version, "terraform_version": "1.9.0"}))
    assert len(index(*(f"s{n}.json" for n in range(4)), base=tmp_path)) == 0


def test_empty_means_nothing_can_match():
    assert ManagedIndex().empty and len(ManagedIndex()) == 0
    assert ManagedIndex.load(ManagedSettings(), FIXTURES).empty
    assert not index(tags={"managed_by": "terraform"}).empty  # tags alone can match
    assert not index("aws.json").empty
    nobody = aws_user("deploy", "AIDAJQABLZS4A3QDU576Q", key("AKIAIOSFODNN7EXAMPLE"))
    assert ManagedIndex().lookup("aws", nobody, nobody.credentials[1]) is None


# --- AWS ---------------------------------------------------------------------------------------

def test_a_declared_access_key_is_managed_with_the_change_to_make():
    deploy = aws_user("deploy", "AIDAJQABLZS4A3QDU576Q", key("AKIAIOSFODNN7EXAMPLE"))
    found = index("aws.json").lookup("aws", deploy, deploy.credentials[1])
    assert found == ManagedBy("Terraform", "aws_iam_access_key.deploy", "state aws.json",
                              'set status = "Inactive" on aws_iam_access_key.deploy (or remove the resource) and apply')
    assert found.reason() == ("managed by Terraform at aws_iam_access_key.deploy; disabling would be reverted by "
                              'the next apply; set status = "Inactive" on aws_iam_access_key.deploy '
                              "(or remove the resource) and apply")


def test_a_for_each_key_in_a_child_module_is_found_by_its_id():
    ci = aws_user("ci-runner", "AIDAI23HXD2O5EXAMPLE", key("AKIAI44QH8DHBEXAMPLE"))
    assert address(index("aws.json").lookup("aws", ci, ci.credentials[1])) == 'module.iam.aws_iam_access_key.ci["a"]'


def test_a_key_made_by_hand_on_a_terraform_user_is_judged_normally():
    deploy = aws_user("deploy", "AIDAJQABLZS4A3QDU576Q", key("AKIAHANDMADEKEY00001"))
    managed = index("aws.json")
    assert managed.lookup("aws", deploy, deploy.credentials[1]) is None
    assert managed.lookup("aws", deploy, deploy.credentials[0]) is None  # no login profile declared either
    owner = managed.lookup_identity("aws", deploy)  # ... though the user itself is declared
    assert owner is not None and owner.address == "aws_iam_user.deploy"
    assert owner.fix == "remove the resources of its credentials, or aws_iam_user.deploy itself, and apply"


def test_a_key_whose_code_already_says_inactive_is_not_kept_from_a_disable():
    ci = aws_user("ci-runner", "AIDAI23HXD2O5EXAMPLE", key("AKIAZ2B7EXAMPLE0KEYB"))
    assert index("aws.json").lookup("aws", ci, ci.credentials[1]) is None  # disabling agrees with the code


def test_a_login_profile_manages_the_console_password_matched_case_insensitively():
    managed = index("aws.json")
    ci = aws_user("ci-runner", "AIDAI23HXD2O5EXAMPLE")  # declared as name = "CI-Runner"
    found = managed.lookup("aws", ci, ci.credentials[0])
    assert address(found) == "module.iam.aws_iam_user_login_profile.ci"
    assert found.fix == "remove module.iam.aws_iam_user_login_profile.ci from the code and apply"
    alice = aws_user("ALICE", "AIDAALICEEXAMPLE00001")
    assert address(managed.lookup("aws", alice, alice.credentials[0])) == \
        "module.iam.module.people.aws_iam_user_login_profile.person[0]"


def test_a_count_user_without_a_login_profile_is_managed_but_not_its_password():
    managed = index("aws.json")
    bob = aws_user("bob", "AIDABOBEXAMPLE0000002")
    assert managed.lookup("aws", bob, bob.credentials[0]) is None
    assert address(managed.lookup_identity("aws", bob)) == "module.iam.module.people.aws_iam_user.person[1]"


def test_names_match_only_in_the_account_the_state_is_for():
    managed = index("aws.json")
    elsewhere = aws_user("ci-runner", "AIDAOTHERACCOUNT00001", scope="999999999999")
    assert managed.lookup("aws", elsewhere, elsewhere.credentials[0]) is None
    assert managed.lookup_identity("aws", elsewhere) is None
    by_id = aws_user("deploy-renamed", "AIDAJQABLZS4A3QDU576Q")  # unique_id is exact whatever the name
    assert address(managed.lookup_identity("aws", by_id)) == "aws_iam_user.deploy"


def test_a_credential_report_key_slot_is_matched_by_user_and_creation_second():
    managed = index("aws.json")
    slot = key("access_key_1", datetime(2024, 2, 1, 12, 0, 5, tzinfo=timezone.utc))
    ci = aws_user("ci-runner", "AIDAI23HXD2O5EXAMPLE", slot)
    assert address(managed.lookup("aws", ci, slot)) == 'module.iam.aws_iam_access_key.ci["a"]'
    other_second = key("access_key_2", datetime(2024, 2, 1, 12, 0, 7, tzinfo=timezone.utc))
    assert managed.lookup("aws", ci, other_second) is None
    elsewhere = aws_user("ci-runner", "AIDAOTHERACCOUNT00001", slot, scope="999999999999")
    assert managed.lookup("aws", elsewhere, slot) is None
    # a real id is exact: a hand-made key created in the same second is not taken for the declared one
    assert managed.lookup("aws", ci, key("AKIAHANDMADEKEY00001", slot.created)) is None


# --- Entra and Google ---------------------------------------------------------------------------

def test_an_azuread_user_is_found_by_object_id_or_by_upn_case_insensitively():
    managed = index("entra.json")
    svc = user("entra", "3f9a5b7e-2c41-4d8a-9b6e-0c5f1d2e7a44", "renamed@contoso.onmicrosoft.com")
    found = managed.lookup("entra", svc, svc.credentials[0])
    assert address(found) == "azuread_user.svc_reporting"
    assert found.fix == "set account_enabled = false on azuread_user.svc_reporting and apply"
    jane = user("entra", "00000000-0000-0000-0000-000000000000", "JANE.DOE@contoso.com")
    assert address(managed.lookup("entra", jane, jane.credentials[0])) == \
        'module.staff.azuread_user.this["jane.doe@contoso.com"]'


def test_a_data_source_and_an_object_id_in_another_case_are_not_managed():
    managed = index("entra.json")
    owner = user("entra", "5d0c7e21-8f3a-4b6c-a1d2-e3f4a5b6c7d8", "priya.raman@contoso.com")  # data.azuread_user
    assert managed.lookup("entra", owner, owner.credentials[0]) is None
    upper = user("entra", "3F9A5B7E-2C41-4D8A-9B6E-0C5F1D2E7A44", "someone@contoso.com")
    assert managed.lookup("entra", upper, upper.credentials[0]) is None


def test_an_azuread_id_of_the_form_users_slash_object_id_names_the_same_user(tmp_path):
    state = {"format_version": "1.0", "values": {"root_module": {"resources": [
        {"address": "azuread_user.x", "mode": "managed", "type": "azuread_user", "name": "x",
         "provider_name": "registry.terraform.io/hashicorp/azuread",
         "values": {"id": "/users/11111111-2222-3333-4444-555555555555", "user_principal_name": "x@contoso.com"}}]}}}
    (tmp_path / "s.json").write_text(json.dumps(state))
    x = user("entra", "11111111-2222-3333-4444-555555555555", "other@contoso.com")
    assert address(index("s.json", base=tmp_path).lookup("entra", x, x.credentials[0])) == "azuread_user.x"


def test_a_google_user_is_found_by_id_or_by_primary_email_case_insensitively():
    managed = index("google.json")
    angela = user("google_workspace", "117654321098765432109", "angela@renamed.example.com")
    assert address(managed.lookup("google_workspace", angela, angela.credentials[0])) == \
        "googleworkspace_user.contractor[1]"
    dwight = user("google_workspace", "999", "dwight.schrute@EXAMPLE.com")
    found = managed.lookup("google_workspace", dwight, dwight.credentials[0])
    assert address(found) == "googleworkspace_user.contractor[0]"
    assert found.fix == "set suspended = true on googleworkspace_user.contractor[0] and apply"
    stranger = user("google_workspace", "10345678901234567890", "stranger@example.com")  # an id one digit short
    assert managed.lookup("google_workspace", stranger, stranger.credentials[0]) is None


def test_resources_match_only_their_own_provider():
    managed = index("aws.json", "entra.json", "google.json")
    jane = user("google_workspace", "8c2e4f60-1a3b-4c5d-9e7f-a0b1c2d3e4f5", "jane.doe@contoso.com")
    assert managed.lookup("google_workspace", jane, jane.credentials[0]) is None
    deploy = user("entra", "AIDAJQABLZS4A3QDU576Q", "deploy")
    assert managed.lookup("entra", deploy, deploy.credentials[0]) is None


def test_a_service_principal_is_not_matched_by_an_azuread_user():
    sp = Identity("entra", "t", "3f9a5b7e-2c41-4d8a-9b6e-0c5f1d2e7a44", "svc-reporting@contoso.onmicrosoft.com",
                  IdentityKind.SERVICE, True, (Credential(CredentialKind.SERVICE_PRINCIPAL, "sp", True,
                                                          Activity.NEVER, T0),), T0)
    assert index("entra.json").lookup("entra", sp, sp.credentials[0]) is None


# --- tags ----------------------------------------------------------------------------------------

def test_a_tag_manages_the_identity_and_every_credential_with_its_value_matched_case_insensitively():
    managed = index(tags={"managed_by": "Terraform"})
    tagged = aws_user("legacy", "AIDALEGACY", key("AKIALEGACYKEY0000001"), tags={"Managed_By": " terraform "})
    found = [managed.lookup("aws", tagged, c) for c in tagged.credentials]
    assert all(f is not None and f.tool == "terraform" and f.address is None for f in found)
    assert found[0].source == "tag Managed_By= terraform "
    assert found[1].reason() == ("managed by terraform (tag Managed_By= terraform ); disabling would be reverted by "
                                 'the next apply; in the code that manages it, set the access key\'s status to '
                                 '"Inactive" (or remove the key), and apply')
    assert "remove the console password" in found[0].fix
    assert managed.lookup_identity("aws", tagged) is not None
    other = aws_user("legacy", "AIDALEGACY", tags={"managed_by": "pulumi"})
    assert managed.lookup("aws", other, other.credentials[0]) is None


def test_a_star_tag_matches_any_value_and_the_tool_is_the_value_as_written():
    managed = index(tags={"iac": "*"})
    pulumi = aws_user("p", "AIDAP", tags={"iac": "Pulumi"})
    assert managed.lookup("aws", pulumi, pulumi.credentials[0]).tool == "Pulumi"
    flagged = aws_user("f", "AIDAF", tags={"iac": "true"})  # a flag, not a tool's name
    assert managed.lookup("aws", flagged, flagged.credentials[0]).reason().startswith("managed by code (tag iac=true)")
    assert managed.lookup("aws", aws_user("n", "AIDAN"), password("AIDAN")) is None


def test_a_declared_resource_wins_over_a_tag_as_it_names_the_address():
    managed = index("aws.json", tags={"managed_by": "terraform"})
    ci = aws_user("CI-Runner", "AIDAI23HXD2O5EXAMPLE", key("AKIAI44QH8DHBEXAMPLE"), tags={"managed_by": "terraform"})
    assert address(managed.lookup("aws", ci, ci.credentials[1])) == 'module.iam.aws_iam_access_key.ci["a"]'
    hand_made = key("AKIAHANDMADEKEY00002")  # not declared, but the user's tag says the whole user is code
    assert managed.lookup("aws", ci, hand_made).source == "tag managed_by=terraform"


def test_tags_work_for_every_provider_with_the_fix_in_its_words():
    managed = index(tags={"managed_by": "terraform"})
    for kind, words in (("entra", "account_enabled = false"), ("google_workspace", "suspended = true")):
        tagged = Identity(kind, "s", "id", "u@example.com", IdentityKind.MEMBER, True, (account("id"),), T0,
                          tags={"managed_by": "terraform"})
        assert words in managed.lookup(kind, tagged, tagged.credentials[0]).fix


# --- settings and paths --------------------------------------------------------------------------

def test_settings_defaults_and_validation():
    s = ManagedSettings()
    assert (s.tags, s.terraform_state, s.action) == ({}, [], "report")
    assert ManagedSettings(action="act").action == "act"
    for bad in ({"action": "disable"}, {"tags": {"": "terraform"}}, {"tags": {"managed_by": " "}},
                {"terraform_state": [""]}, {"terraform_state": "state.json"}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            ManagedSettings(**bad)


def test_paths_are_relative_to_the_config_folder_or_absolute(tmp_path):
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "prod.json").write_text((FIXTURES / "google.json").read_text())
    relative = index("infra/prod.json", base=tmp_path)
    dwight = user("google_workspace", "103456789012345678901", "x")
    assert relative.lookup("google_workspace", dwight, dwight.credentials[0]).source == "state infra/prod.json"
    assert len(index(str(tmp_path / "infra" / "prod.json"), base=Path("/nonexistent"))) == 2


# --- bad files -----------------------------------------------------------------------------------

def _state(resources, **top):
    return json.dumps({"format_version": "1.0", "terraform_version": "1.9.8",
                       "values": {"root_module": {"resources": resources}}, **top})


def _key(**values):
    return {"address": "aws_iam_access_key.k", "mode": "managed", "type": "aws_iam_access_key", "name": "k",
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "values": {"id": "AKIAEXAMPLEKEY000001", "user": "u", "status": "Active",
                       "secret": "SuperSecretValue/DoNotLeak0123456789abcd", **values}}


BAD = {
    "not_json": ('{"format_version": "1.0", "values": {"root_module": {"resour', None, "is not JSON: "),
    "empty": ("  \n", None, "is empty"),
    "not_utf8": (b'{"format_version": "1.0", "x": "\xff\xfe"}', None, "does not decode as UTF-8"),
    "top_level_list": ("[]", None, "the top level is a list"),
    "no_format_version": ('{"values": {}}', "format_version", "has no format_version"),
    "numeric_format_version": ('{"format_version": 1.0}', "format_version", "format_version is a number"),
    "future_format": ('{"format_version": "2.0", "values": {}}', "format_version", "'2.0' is not one this"),
    "garbled_format": ('{"format_version": "one"}', "format_version", "'one' is not one this"),
    "raw_tfstate": (json.dumps({"version": 4, "terraform_version": "1.9.8", "serial": 7, "lineage": "3e1c",
                                "outputs": {}, "resources": []}), None, "raw state file"),
    "plan": (json.dumps({"format_version": "1.2", "planned_values": {}, "resource_changes": []}), None,
             "this is a plan"),
    "values_list": ('{"format_version": "1.0", "values": []}', "values", "values is a list"),
    "resources_object": ('{"format_version": "1.0", "values": {"root_module": {"resources": {}}}}',
                         "values.root_module.resources", "resources is an object, expected a list"),
    "child_modules_string": ('{"format_version": "1.0", "values": {"root_module": {"child_modules": "x"}}}',
                             "values.root_module.child_modules", "child_modules is a string"),
    "child_module_null_entry": ('{"format_version": "1.0", "values": {"root_module": {"child_modules": [null]}}}',
                                "values.root_module.child_modules[0]", "a module is null"),
    "resource_string": (_state(["aws_iam_user.x"]), "values.root_module.resources[0]", "a resource is a string"),
    "no_type": (_state([{"address": "x", "mode": "managed"}]), "values.root_module.resources[0]",
                "mode and type must be strings"),
    "no_address": (_state([{**_key(), "address": None}]), "values.root_module.resources[0].address",
                   "address is missing"),
    "values_null": (_state([{**_key(), "values": None}]), "values.root_module.resources[0].values",
                    "values is null"),
    "key_id_number": (_state([_key(id=12345)]), "values.root_module.resources[0].values.id",
                      "id is a number, expected a string"),
    "key_without_user": (_state([_key(user=None)]), "values.root_module.resources[0].values.user",
                         "user is missing or empty"),
    "bad_create_date": (_state([_key(create_date="last tuesday")]),
                        "values.root_module.resources[0].values.create_date", "not an RFC 3339 time"),
    "deep_key_id_list": (json.dumps({"format_version": "1.0", "values": {"root_module": {"child_modules": [
        {"address": "module.iam", "child_modules": [{"address": "module.iam.module.ci", "resources": [
            _key(), {**_key(id=["AKIA"]), "address": "module.iam.module.ci.aws_iam_access_key.k[1]"}]}]}]}}}),
        "values.root_module.child_modules[0].child_modules[0].resources[1].values.id", "id is a list"),
    "azuread_without_ids": (_state([{"address": "azuread_user.x", "mode": "managed", "type": "azuread_user",
                                     "values": {"password": "SuperSecretValue/DoNotLeak0123456789abcd"}}]),
                            "values.root_module.resources[0].values", "neither object_id, id nor"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_state_is_a_config_error_naming_the_file_and_where(tmp_path, name):
    text, where, message = BAD[name]
    (tmp_path / "infra").mkdir()
    target = tmp_path / "infra" / "prod.json"
    target.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as caught:
        index("google.json", "infra/prod.json", base=_with_google(tmp_path))
    err = caught.value
    assert err.path == "infra/prod.json" and err.key == where and err.exit_code == 2
    assert message in str(err) and str(err).startswith("infra/prod.json: ")
    assert "managed_as_code.terraform_state[1]" in str(err)  # which entry of the config it came from
    assert "SuperSecretValue" not in str(err)


def _with_google(folder: Path) -> Path:
    (folder / "google.json").write_text((FIXTURES / "google.json").read_text())
    return folder


def test_a_missing_or_unreadable_file_is_a_config_error_naming_it(tmp_path):
    with pytest.raises(ConfigError) as caught:
        index("state/missing.json", base=tmp_path)
    assert caught.value.path == "state/missing.json" and "cannot read it" in str(caught.value)
    assert str(tmp_path / "state" / "missing.json") in str(caught.value)  # where it looked
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(ConfigError, match="folder.json: cannot read it"):
        index("folder.json", base=tmp_path)


# --- secrets -------------------------------------------------------------------------------------

def _secrets(*names: str) -> set[str]:
    """Every sensitive value in the fixtures, found the way a reader of the file would."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in SENSITIVE and isinstance(v, str) and v:
                    found.add(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    for name in names:
        walk(json.loads((FIXTURES / name).read_text()))
    return found


def _reachable_strings(root: object) -> list[str]:
    """Every string reachable from `root` through the garbage collector's references (frames included)."""
    seen, out, stack = set(), [], [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (type, types.ModuleType, types.FunctionType, types.CodeType)):
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            out.append(obj)
        elif isinstance(obj, bytes):
            out.append(obj.decode("utf-8", "replace"))
        else:
            stack.extend(gc.get_referents(obj))
    return out


def test_no_secret_from_the_state_is_kept_or_reaches_a_reason():
    names = STATES
    secrets = _secrets(*names)
    assert len(secrets) >= 8 and "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" in secrets
    managed = index(*names)
    kept = "\n".join(_reachable_strings(managed))
    assert "AKIAI44QH8DHBEXAMPLE" in kept  # the walk does see what the index holds: ids, not secrets
    identities = [aws_user("deploy", "AIDAJQABLZS4A3QDU576Q", key("AKIAIOSFODNN7EXAMPLE")),
                  aws_user("ci-runner", "AIDAI23HXD2O5EXAMPLE", key("AKIAI44QH8DHBEXAMPLE")),
                  aws_user("alice", "AIDAALICEEXAMPLE00001")]
    said = [repr(managed)]
    for who in identities:
        for c in who.credentials:
            found = managed.lookup("aws", who, c)
            said += [repr(found), found.reason()] if found else []
    for kind, uid, login in (("entra", "3f9a5b7e-2c41-4d8a-9b6e-0c5f1d2e7a44", "x"),
                             ("entra", "8c2e4f60-1a3b-4c5d-9e7f-a0b1c2d3e4f5", "x"),
                             ("google_workspace", "103456789012345678901", "x")):
        who = user(kind, uid, login)
        found = managed.lookup(kind, who, who.credentials[0])
        said += [repr(found), found.reason()]
    assert len(said) > 8
    for secret in secrets:
        assert secret not in kept, "a secret is still held by the index"
        assert not any(secret in s for s in said), "a secret reached a reason"


def test_no_secret_is_held_by_a_config_error_or_its_traceback(tmp_path):
    secret = "SuperSecretValue/DoNotLeak0123456789abcd"
    for n, text in enumerate((_state([_key(), _key(id=[1])]),  # bad shape after a secret was read
                              _state([_key()])[:-3])):  # not JSON: JSONDecodeError.doc would be the whole text
        (tmp_path / f"s{n}.json").write_text(text)
        with pytest.raises(ConfigError) as caught:
            index(f"s{n}.json", base=tmp_path)
        err = caught.value
        assert err.__context__ is None and err.__cause__ is None
        assert secret not in str(err) and secret not in repr(err)
        assert not any(secret in s for s in _reachable_strings(err)), "the error keeps the state alive"


# --- size ---------------------------------------------------------------------------------------

def big_state(n: int) -> str:
    """A state of `n` access keys, users and login profiles spread over modules (the benchmark's input)."""
    modules = []
    for m in range(n // 1000):
        resources = []
        for i in range(1000):
            name = f"user{m:03d}x{i:04d}"
            kind = ("aws_iam_user", "aws_iam_access_key", "aws_iam_user_login_profile")[i % 3]
            values = {"aws_iam_user": {"name": name, "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
                                       "unique_id": f"AIDA{m:03d}{i:013d}", "force_destroy": False, "path": "/",
                                       "tags": {"team": "x"}, "tags_all": {"team": "x"}},
                      "aws_iam_access_key": {"id": f"AKIA{m:03d}{i:013d}", "user": name, "status": "Active",
                                             "create_date": "2024-02-01T12:00:05Z", "secret": "s" * 40,
                                             "ses_smtp_password_v4": "p" * 44, "encrypted_secret": None},
                      "aws_iam_user_login_profile": {"user": name, "password": "q" * 20, "password_length": 20,
                                                     "password_reset_required": True}}[kind]
            resources.append({"address": f"module.m{m}.{kind}.this[{i}]", "mode": "managed", "type": kind,
                              "name": "this", "index": i, "provider_name": "registry.terraform.io/hashicorp/aws",
                              "schema_version": 0, "values": values, "sensitive_values": {}})
        modules.append({"address": f"module.m{m}", "resources": resources})
    return json.dumps({"format_version": "1.0", "terraform_version": "1.9.8",
                       "values": {"root_module": {"child_modules": modules}}})


def test_a_state_of_50k_resources_is_indexed_whole(tmp_path):
    (tmp_path / "big.json").write_text(big_state(50_000))
    managed = index("big.json", base=tmp_path)
    assert len(managed) == 50_000
    last = aws_user("USER049X0997", "AIDA0490000000000997", key("AKIA0490000000000997"))
    assert address(managed.lookup("aws", last, last.credentials[1])) == "module.m49.aws_iam_access_key.this[997]"
    profiled = aws_user("user049x0998", "AIDA0490000000000998")
    assert address(managed.lookup("aws", profiled, profiled.credentials[0])) == \
        "module.m49.aws_iam_user_login_profile.this[998]"


# --- the documentation ---------------------------------------------------------------------------

def test_the_docs_jq_filter_keeps_everything_matched_on_and_no_secret(tmp_path):
    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed")
    (tmp_path / "managed-state.jq").write_text(re.search(r"```jq\n(.*?)```", DOC.read_text(), re.S).group(1))
    for name in STATES:
        slim = subprocess.run([jq, "-c", "-f", str(tmp_path / "managed-state.jq"), str(FIXTURES / name)],
                              capture_output=True, text=True, check=True, timeout=30).stdout
        assert not any(secret in slim for secret in _secrets(name)), name
        (tmp_path / name).write_text(slim)
    full, slim = index(*STATES), index(*STATES, base=tmp_path)
    assert len(slim) == len(full) and slim._by == full._by  # the same resources, matched the same way


def test_the_docs_example_reasons_are_what_the_code_says():
    blocks = [" ".join(b.split()) for b in re.findall(r"```\n(managed by .*?)```", DOC.read_text(), re.S)]
    ci = aws_user("ci-runner", "AIDAI23HXD2O5EXAMPLE", key("AKIAI44QH8DHBEXAMPLE"), tags={"managed_by": "terraform"})
    by_state = index("aws.json").lookup("aws", ci, ci.credentials[1])
    by_tag = index(tags={"managed_by": "terraform"}).lookup("aws", ci, ci.credentials[1])
    assert blocks == [by_state.reason(), by_tag.reason()]
