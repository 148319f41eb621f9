"""Issue #14 item 5 for Graph: the emulator and the adapter checked against the real API's definition.

msgraph-sdk ships Graph's v1.0 metadata as generated models (`User`, `SignInActivity`, `Organization`,
the role assignment and eligibility types); each model's `get_field_deserializers()` names every JSON
property and the reader for its type. These tests fail when the emulator answers with a property name
or a JSON type the definition does not have, and when the adapter `$select`s or `$expand`s a property
the definition does not know. The adapter is run against the emulator first and every query it sent is
checked, so a new request is covered without editing this file (an unmapped path fails it).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph.generated.models.application import Application
from msgraph.generated.models.directory_object import DirectoryObject
from msgraph.generated.models.organization import Organization
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.models.sign_in_activity import SignInActivity
from msgraph.generated.models.unified_role_assignment import UnifiedRoleAssignment
from msgraph.generated.models.unified_role_eligibility_schedule_instance import UnifiedRoleEligibilityScheduleInstance
from msgraph.generated.models.user import User

from providers.entra import emulator, scenario
from providers.entra.scenario import NO_SIGN_IN, user
from sweeper.model import CredentialRef
from tests.providers.entra.support import listing, running

UTC = timezone.utc
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "entra" / "users_pre_2018.json"
JSON_TYPES = {"get_str_value": (str,), "get_bool_value": (bool,), "get_int_value": (int,),
              "get_float_value": (int, float), "get_datetime_value": (str,), "get_date_value": (str,),
              "get_time_value": (str,), "get_timedelta_value": (str,), "get_uuid_value": (str,),
              "get_bytes_value": (str,), "get_enum_value": (str,)}
# the model of what each path answers (a single entity, or a collection of them)
MODELS = {"/v1.0/users": User, "/v1.0/users/{id}": User, "/v1.0/organization": Organization,
          "/v1.0/roleManagement/directory/roleAssignments": UnifiedRoleAssignment,
          "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances": UnifiedRoleEligibilityScheduleInstance,
          "/v1.0/groups/{id}/transitiveMembers": DirectoryObject,
          "/v1.0/servicePrincipals": ServicePrincipal, "/v1.0/servicePrincipals/{id}": ServicePrincipal,
          "/v1.0/applications": Application, "/v1.0/applications/{id}": Application}
# Served by Graph although msgraph-sdk's v1.0 metadata lacks it: practitioners' tools select and filter
# servicePrincipals on createdDateTime; the adapter reads it to judge a never-used service principal by age
# and treats it as absent (activity UNKNOWN) when Graph leaves it out.
UNDECLARED = {ServicePrincipal: frozenset({"createdDateTime"})}
# The two beta reports (#17): msgraph-sdk is v1.0 only, so their property names are taken from the beta
# reference pages (servicePrincipalSignInActivity, appCredentialSignInActivity, signInActivity).
_SIGN_IN = frozenset({"lastSignInDateTime", "lastSignInRequestId", "lastSuccessfulSignInDateTime",
                      "lastSuccessfulSignInRequestId", "lastNonInteractiveSignInDateTime",
                      "lastNonInteractiveSignInRequestId"})
BETA = {"/beta/reports/servicePrincipalSignInActivities": (frozenset({
            "id", "appId", "lastSignInActivity", "delegatedClientSignInActivity", "delegatedResourceSignInActivity",
            "applicationAuthenticationClientSignInActivity", "applicationAuthenticationResourceSignInActivity"}),
            "Activity"),
        "/beta/reports/appCredentialSignInActivities": (frozenset({
            "id", "appId", "appObjectId", "createdDateTime", "credentialOrigin", "expirationDateTime", "keyId",
            "keyType", "keyUsage", "resourceId", "servicePrincipalObjectId", "signInActivity"}), "signInActivity")}
# a directory object's derived type, as `@odata.type` names it in an expanded collection (owners, members)
DERIVED = {"#microsoft.graph.user": User, "#microsoft.graph.servicePrincipal": ServicePrincipal}


@cache
def definition(model: type) -> dict[str, tuple[str, type | None]]:
    """JSON property name -> (the SDK reader that parses it, the nested model or enum it reads into)."""
    out: dict[str, tuple[str, type | None]] = {}
    for name, read in model().get_field_deserializers().items():
        [reader] = [n for n in read.__code__.co_names if n.startswith("get_")]
        nested = [c.cell_contents for c in read.__closure__ or () if isinstance(c.cell_contents, type)]
        out[name] = (reader, nested[0] if nested else None)
    return out


def problems(value: Any, model: type, where: str) -> list[str]:
    """What in `value` (a JSON object) the definition of `model` does not have: names and JSON types."""
    if not isinstance(value, dict):
        return [f"{where}: {type(value).__name__} where {model.__name__} is an object"]
    if model is DirectoryObject and value.get("@odata.type") in DERIVED:
        model = DERIVED[value["@odata.type"]]
    known = definition(model)
    found = []
    for key, item in value.items():
        if key in UNDECLARED.get(model, ()):
            continue
        if key not in known:
            found.append(f"{where}.{key}: {model.__name__} has no such property")
        elif item is not None:
            found += _typed(item, *known[key], f"{where}.{key}")
    return found


def _typed(item: Any, reader: str, nested: type | None, where: str) -> list[str]:
    if reader == "get_object_value":
        return problems(item, nested, where)
    if reader.startswith("get_collection_of_"):
        if not isinstance(item, list):
            return [f"{where}: {type(item).__name__} where the definition has a collection"]
        each = {"get_collection_of_object_values": "get_object_value",
                "get_collection_of_enum_values": "get_enum_value"}.get(reader, "get_str_value")
        return [p for n, x in enumerate(item) for p in _typed(x, each, nested, f"{where}[{n}]")]
    types = JSON_TYPES[reader]
    if not isinstance(item, types) or (bool not in types and isinstance(item, bool)):
        return [f"{where}: JSON {type(item).__name__} where the definition reads {reader[4:-6]}"]
    if reader == "get_enum_value" and nested is not None and item not in {e.value for e in nested}:
        return [f"{where}: {item!r} is not a {nested.__name__}"]
    if reader == "get_datetime_value" and item != "":  # "" is what Graph's own examples show for "none"
        try:
            parsed = JsonParseNode(item).get_datetime_value()
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            return [f"{where}: {item!r} is not a DateTimeOffset"]
    return []


def test_the_check_finds_a_wrong_name_and_a_wrong_type():
    """The cross-check is not vacuous: each kind of drift it exists for is caught."""
    assert problems({"id": "x", "lastLogin": "2024-01-01T00:00:00Z"}, User, "u") == \
        ["u.lastLogin: User has no such property"]
    assert problems({"accountEnabled": "true"}, User, "u") == \
        ["u.accountEnabled: JSON str where the definition reads bool"]
    assert problems({"signInActivity": {"lastSignInDateTime": 1716192000}}, User, "u") == \
        ["u.signInActivity.lastSignInDateTime: JSON int where the definition reads datetime"]
    assert problems({"signInActivity": {"lastSignIn": "x"}}, User, "u") == \
        ["u.signInActivity.lastSignIn: SignInActivity has no such property"]
    assert problems({"businessPhones": "555"}, User, "u") == \
        ["u.businessPhones: str where the definition has a collection"]
    assert problems({"createdDateTime": "2024-05-01"}, User, "u") == \
        ["u.createdDateTime: '2024-05-01' is not a DateTimeOffset"]
    assert problems({"signInActivity": {"lastSignInDateTime": "", "lastSignInRequestId": None}}, User, "u") == []
    assert definition(User)["signInActivity"] == ("get_object_value", SignInActivity)


def every_user_shape() -> list[dict[str, Any]]:
    """Each form `scenario.user` writes, a generated tenant, the demo and the real-shape fixture."""
    t = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    forms: list[Any] = [t, None, "", NO_SIGN_IN, "2025-05-20T08:30:00.1234567Z"]
    users = [user(f"f{n}-{m}@example.test", created=t, success=a, interactive=b, non_interactive=a)
             for n, a in enumerate(forms) for m, b in enumerate(forms)]
    users += [user("never@example.test", created=None, sign_in=False),
              user("guest_x.test#EXT#@example.test", user_type="Guest", external_state="PendingAcceptance",
                   sign_in=False),
              user("accepted_x.test#EXT#@example.test", user_type="Guest", external_state="Accepted", success=t),
              user("synced@example.test", synced=True, success=t), user("nomail@example.test", mail=None),
              user("empty-activity@example.test")]
    users += scenario.generate(200, seed=5)["users"] + scenario.demo()["users"]
    users += json.loads(FIXTURE.read_text(encoding="utf-8"))["value"]
    return [u for u in users if u["userPrincipalName"] != "odd@contoso.test"]  # the demo's deliberate junk


def _machines() -> dict[str, Any]:
    """Service principals, an application with a secret and a certificate, and both reports' rows (#17)."""
    t = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    sps = [scenario.service_principal("integration", created=t, owners=("u-alice",)),
           scenario.service_principal("vendor-app", owner_org="0e1d2c3b-4a59-6877-8695-a4b3c2d1e0f9"),
           scenario.service_principal("Office 365 Exchange Online", owner_org=scenario.FIRST_PARTY)]
    app = scenario.application("integration", app_id=sps[0]["appId"], created=t, owners=("u-alice", sps[1]["id"]),
                                secrets=(scenario.secret("7c2f1c5e-0d4b-4a57-9a0e-6a1f3b2c9d10", start=t, end=t),),
                                certificates=(scenario.certificate("0b8e5a2d-3f61-4c7e-8d29-1e4a6b7c8d90", start=t,
                                                                   end=datetime(2030, 1, 1, tzinfo=UTC)),))
    return {"service_principals": sps, "applications": [app],
            "sp_sign_in_activities": [scenario.sp_activity(sps[0]["appId"], delegatedClientSignInActivity=t,
                                                           applicationAuthenticationClientSignInActivity=None)],
            "app_credential_sign_in_activities": [scenario.credential_activity(
                "0b8e5a2d-3f61-4c7e-8d29-1e4a6b7c8d90", app["appId"], app["id"], t, key_type="certificate")]}


def _tenant() -> dict[str, Any]:
    demo = scenario.demo()
    return {**demo, "users": every_user_shape(), "groups": {**demo["groups"], "g-excluded": ["u-alice"]},
            **_machines()}


def _get(emu: emulator.GraphEmulator, url: str) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {emu.token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _template(path: str) -> str:
    parts = path.split("/")
    if len(parts) == 4 and parts[2] in ("users", "servicePrincipals", "applications"):
        parts[3] = "{id}"
    if len(parts) == 5 and parts[2] == "groups":
        parts[3] = "{id}"
    return "/".join(parts)


@pytest.fixture(scope="module")
def asked():
    """The emulator, and every GET the adapter sent while it checked, listed and refreshed the tenant."""
    with pytest.MonkeyPatch.context() as mp, \
            running(_tenant(), mp, exclude_groups=["g-excluded"]) as (emu, adapter):
        adapter.check()
        found = listing(adapter)
        adapter.refresh(CredentialRef.of(found["alice@contoso.test"], found["alice@contoso.test"].credentials[0]))
        gets = sorted({(path, query) for method, path, query in emu.app.asked if method == "GET"})
        yield emu, [(path, dict(query)) for path, query in gets if "$skiptoken" not in dict(query)]


def _names(option: str) -> list[str]:
    """The top-level names of a $select or $expand, nested options (`owners($select=id,mail)`) left out."""
    names, depth, current = [], 0, ""
    for ch in option + ",":
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            names.append(current.split("(")[0].strip())
            current = ""
        elif depth == 0 and ch != ")":
            current += ch
    return [n for n in names if n]


def test_every_path_the_adapter_reads_has_a_definition(asked):
    _, gets = asked
    paths = {_template(path) for path, _ in gets}
    assert paths <= set(MODELS) | set(BETA), paths - set(MODELS) - set(BETA)
    # the token names its tenant: no /organization; single objects are read only by refresh, of a user here
    assert set(MODELS) - {"/v1.0/organization", "/v1.0/servicePrincipals/{id}", "/v1.0/applications/{id}"} <= paths
    assert set(BETA) <= paths


def test_the_beta_reports_answer_only_their_reference_properties(asked):
    emu, gets = asked
    checked = 0
    for path, query in gets:
        if path not in BETA:
            continue
        names, nested = BETA[path]
        assert "$select" not in query  # every record is read: the newest of them is the last use
        url = f"{emu.server.base_url}{path}?" + "&".join(f"{k}={urllib.parse.quote(v)}" for k, v in query.items())
        status, body = _get(emu, url)
        assert status == 200, body
        for row in body["value"]:
            assert set(row) <= names, set(row) - names
            for key, record in row.items():
                if key.endswith(nested) and record is not None:
                    assert set(record) <= _SIGN_IN, (key, set(record) - _SIGN_IN)
            checked += 1
    assert checked >= 2


def test_the_adapter_selects_and_expands_only_properties_the_definition_has(asked):
    _, gets = asked
    for path, query in gets:
        if path in BETA:
            continue  # checked against the beta reference below
        model = MODELS[_template(path)]
        known = set(definition(model)) | UNDECLARED.get(model, frozenset())
        for key in ("$select", "$expand"):
            names = _names(query.get(key, ""))
            assert set(names) <= known, (path, key, set(names) - known)


def test_the_emulator_answers_the_adapter_only_in_the_definition(asked):
    emu, gets = asked
    checked = 0
    for path, query in gets:
        if path in BETA:
            continue
        model = MODELS[_template(path)]
        url = f"{emu.server.base_url}{path}?" + "&".join(f"{k}={urllib.parse.quote(v, safe=',$')}"
                                                         for k, v in query.items())
        while url:
            status, body = _get(emu, url)
            assert status == 200, (url, body)
            entities = body["value"] if "value" in body else [body]
            for n, entity in enumerate(entities):
                entity = {k: v for k, v in entity.items() if k != "@odata.context"}
                assert problems(entity, model, f"{path}[{n}]") == []
                checked += 1
            url = body.get("@odata.nextLink")
    assert checked > len(every_user_shape())  # every user, and the roles, groups and tenant besides


def test_users_without_select_are_the_documented_default_set(asked):
    emu, _ = asked
    status, body = _get(emu, f"{emu.endpoint}/users?$top=999")
    assert status == 200
    for n, entity in enumerate(body["value"]):
        assert list(entity) == list(emulator.USER_DEFAULT)
        assert problems(entity, User, f"users[{n}]") == []
    assert set(emulator.USER_PROPERTIES) <= set(definition(User))


def test_a_select_the_definition_does_not_know_is_refused(asked):
    emu, _ = asked
    assert "lastLogin" not in definition(User)
    status, body = _get(emu, f"{emu.endpoint}/users?$select=id,lastLogin")
    assert status == 400 and "lastLogin" in body["error"]["message"]
