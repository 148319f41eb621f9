"""Opt-in removal for Entra (#13), through the Graph emulator and the CLI across simulated days: a user
this sweeper disabled and nobody used since is deleted `remove_after_days` later with `apply
--allow-remove`; Entra keeps it in deleted items for 30 days, and `restore` brings it back (still
disabled) while Graph still has it, and says plainly when it no longer does."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from providers.entra import emulator
from sweeper.journal import Journal
from sweeper.model import Action, CredentialKind, CredentialRef
from tests.providers.entra.support import running, sweep, tenant, user

DAY0 = datetime(2026, 6, 1, tzinfo=timezone.utc)  # day 0 + 40 is still in the past: no --allow-future-as-of
D = "lifecycle.example"
ADMIN_ROLE = "fe930be7-5e62-47db-91af-98c3a49a38b1"  # User Administrator


def day(n: int) -> str:
    return (DAY0 + timedelta(days=n)).date().isoformat()


def ago(days: float) -> datetime:
    return DAY0 - timedelta(days=days)


def _scenario() -> dict[str, Any]:
    return tenant([
        user(f"stale@{D}", created=ago(900), success=ago(200)),
        user(f"stale2@{D}", created=ago(900), success=ago(180)),
        user(f"stale3@{D}", created=ago(900), success=ago(160)),
        user(f"active@{D}", created=ago(900), success=ago(1)),
        user(f"off@{D}", created=ago(900), success=ago(300), enabled=False),  # someone else's decision
    ])


@pytest.fixture
def emu() -> Any:
    started = emulator.start(_scenario())
    yield started
    started.stop()


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emu: Any, *args: str, **keys: Any) -> Any:
    """`sweeper ARGS` with removal configured on the provider (remove_after_days = 30)."""
    return sweep(tmp_path, monkeypatch, emu, *args, **{"remove_after_days": 30, **keys})


def findings(result: Any) -> dict[str, dict[str, Any]]:
    assert result.stdout.lstrip().startswith("{"), result.output
    return {f["identity"]: f for f in json.loads(result.stdout)["findings"]}


def apply_day0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emu: Any) -> None:
    r = run(tmp_path, monkeypatch, emu, "apply", "--as-of", day(0), "--yes", "-f", "json")
    assert r.exit_code == 0, r.output
    assert {u for u, f in findings(r).items() if f["action"] == "disabled"} == {f"stale{n}@{D}" for n in ("", 2, 3)}


def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "sweeper.db")


def removal_run(tmp_path: Path) -> str:
    j = journal(tmp_path)
    try:
        return next(r.run_id for r in j.runs() if any(a.action is Action.REMOVE and a.state == "done"
                                                       for a in j.actions(r.run_id)))
    finally:
        j.close()


def test_disable_remove_and_restore_from_deleted_items(tmp_path, monkeypatch, emu) -> None:
    apply_day0(tmp_path, monkeypatch, emu)
    r = run(tmp_path, monkeypatch, emu, "plan", "--as-of", day(20), "-f", "json")
    assert r.exit_code == 0 and not any(f["decision"] == "remove" for f in findings(r).values())

    planned = findings(run(tmp_path, monkeypatch, emu, "plan", "--as-of", day(31), "-f", "json"))
    assert {u for u, f in planned.items() if f["decision"] == "remove"} == {f"stale{n}@{D}" for n in ("", 2, 3)}
    stale = planned[f"stale@{D}"]
    assert stale["action"] == "planned" and stale["irreversible"] is False
    assert "deleted items for 30 days" in stale["reason"] and "remove_after_days = 30" in stale["reason"]
    assert f"off@{D}" not in planned  # disabled by someone else: never removed

    r = run(tmp_path, monkeypatch, emu, "apply", "--as-of", day(31), "--yes", "-f", "json")
    assert r.exit_code == 0 and not emu.state.deletes, "the config alone removed users"

    r = run(tmp_path, monkeypatch, emu, "apply", "--as-of", day(31), "--yes", "--allow-remove", "-f", "json")
    assert r.exit_code == 0, r.output
    removed = findings(r)[f"stale@{D}"]
    assert removed["action"] == "removed"
    assert json.loads(r.stdout)["summary"]["removed"] == 3
    with pytest.raises(KeyError):
        emu.user(f"stale@{D}")
    item = emu.deleted(f"stale@{D}")
    assert item is not None and item["accountEnabled"] is False
    deleted_at = datetime.fromisoformat(item["deletedDateTime"].replace("Z", "+00:00"))
    until = (deleted_at + timedelta(days=30)).date().isoformat()  # read back from Graph's deleted item
    assert f"deleted into deleted items, restorable until {until}" in removed["reason"], removed["reason"]
    assert emu.enabled(f"off@{D}") is False and emu.enabled(f"active@{D}") is True

    restored = sweep(tmp_path, monkeypatch, emu, "restore", removal_run(tmp_path), "--yes")
    assert restored.exit_code == 0, restored.output
    assert "undeleted; still disabled" in restored.output
    for login in (f"stale{n}@{D}" for n in ("", 2, 3)):
        assert emu.user(login)["accountEnabled"] is False and emu.deleted(login) is None
    assert sum(emu.state.restores.values()) == 3
    # brought back by a person's decision (restore): never removed again
    later = findings(run(tmp_path, monkeypatch, emu, "apply", "--as-of", day(70), "--yes", "--allow-remove",
                         "-f", "json"))
    assert not any(f["decision"] == "remove" for f in later.values())
    assert sum(emu.state.deletes.values()) == 3


def test_restore_after_the_window_says_it_cannot(tmp_path, monkeypatch, emu) -> None:
    apply_day0(tmp_path, monkeypatch, emu)
    r = run(tmp_path, monkeypatch, emu, "apply", "--as-of", day(31), "--yes", "--allow-remove")
    assert r.exit_code == 0, r.output
    assert emu.purge(f"stale@{D}")  # its 30 days are over (or someone purged it)
    restored = sweep(tmp_path, monkeypatch, emu, "restore", removal_run(tmp_path), "--yes")
    assert restored.exit_code == 4, restored.output
    assert "past the 30-day deleted-items window (or purged)" in restored.output
    assert "Traceback" not in restored.output
    assert emu.user(f"stale2@{D}")["accountEnabled"] is False  # the others came back
    with pytest.raises(KeyError):
        emu.user(f"stale@{D}")


def test_re_enabled_used_or_made_an_admin_since_is_never_removed(tmp_path, monkeypatch, emu) -> None:
    apply_day0(tmp_path, monkeypatch, emu)
    # stale: someone enabled it, it signed in on day 10, and it was disabled again, with no run in between
    emu.state.update(emu.state.find(f"stale@{D}"), {"signInActivity": {
        "lastSuccessfulSignInDateTime": (DAY0 + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")}})
    # stale2: the helpdesk enables it, the next night sees that, and later it is disabled by hand
    emu.state.update(emu.state.find(f"stale2@{D}"), {"accountEnabled": True})
    seen = findings(run(tmp_path, monkeypatch, emu, "plan", "--as-of", day(5), "-f", "json"))
    assert "re-enabled since run" in seen[f"stale2@{D}"]["reason"]
    emu.state.update(emu.state.find(f"stale2@{D}"), {"accountEnabled": False})
    # stale3 stays as it was: the control
    r = run(tmp_path, monkeypatch, emu, "apply", "--as-of", day(40), "--yes", "--allow-remove", "-f", "json")
    assert r.exit_code == 0, r.output
    assert {u for u, f in findings(r).items() if f["action"] == "removed"} == {f"stale3@{D}"}
    assert emu.enabled(f"stale@{D}") is False and emu.enabled(f"stale2@{D}") is False


def test_a_user_given_a_directory_role_since_is_never_removed(tmp_path, monkeypatch, emu) -> None:
    apply_day0(tmp_path, monkeypatch, emu)
    emu.state.role_assignments.append({"principalId": emu.user(f"stale@{D}")["id"], "roleDefinitionId": ADMIN_ROLE})
    r = run(tmp_path, monkeypatch, emu, "apply", "--as-of", day(40), "--yes", "--allow-remove", "-f", "json")
    assert r.exit_code == 0, r.output
    assert {u for u, f in findings(r).items() if f["action"] == "removed"} == {f"stale2@{D}", f"stale3@{D}"}
    assert emu.enabled(f"stale@{D}") is False  # still there, still disabled


@pytest.mark.parametrize("landed", [False, True], ids=["killed-before-the-delete", "killed-after-the-delete"])
def test_a_removal_killed_between_intent_and_result_is_reconciled(tmp_path, monkeypatch, emu, landed) -> None:
    apply_day0(tmp_path, monkeypatch, emu)
    target = emu.user(f"stale@{D}")
    ref = CredentialRef("entra", emu.tenant_id, target["id"], f"stale@{D}", CredentialKind.ACCOUNT, target["id"])
    # what a run killed right after committing its intent leaves: the intent, and the delete done or not
    j = journal(tmp_path)
    j.start_run("20260702T020000Z-killed", "apply", day(31))
    j.intend("20260702T020000Z-killed", Action.REMOVE, [(ref, {"enabled": False}, False)])
    j.close()
    if landed:
        emu.state.delete(emu.state.find(f"stale@{D}"))

    r = run(tmp_path, monkeypatch, emu, "apply", "--as-of", day(32), "--yes", "--allow-remove", "-f", "json")
    assert r.exit_code == 0, r.output
    assert "reconciled 1 unfinished action(s) for entra" in r.stderr
    assert emu.state.deletes[target["id"]] == 1  # deleted once in all, by the killed run or by this one
    j = journal(tmp_path)
    states = [a.state for a in j.actions() if a.action is Action.REMOVE and a.ref.identity_id == target["id"]]
    j.close()
    assert states == (["done"] if landed else ["interrupted", "done"])


def test_without_the_permission_removal_fails_naming_it(tmp_path, monkeypatch, emu) -> None:
    apply_day0(tmp_path, monkeypatch, emu)
    emu.state.denied.add("delete")
    r = run(tmp_path, monkeypatch, emu, "apply", "--as-of", day(31), "--yes", "--allow-remove", "-f", "json")
    assert r.exit_code == 4, r.output
    failed = findings(r)[f"stale@{D}"]
    assert failed["action"] == "failed" and "User.DeleteRestore.All" in failed["error"]
    assert "Traceback" not in r.output and "emulator-secret-token" not in r.output
    assert emu.enabled(f"stale@{D}") is False


def test_undelete_asks_graph_whether_the_window_is_open(monkeypatch) -> None:
    """Seeded deleted items, straight through the adapter: one deleted 10 days ago comes back; one deleted
    31 days ago is gone (Graph purged it); one whose name was taken meanwhile cannot come back."""
    now = datetime.now(timezone.utc)

    def deleted(upn: str, days: float) -> dict[str, Any]:
        return {**user(upn, created=ago(900), enabled=False),
                "deletedDateTime": (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")}

    scn = tenant([user(f"taken@{D}", created=ago(10), success=ago(1))],
                 deleted_users=[deleted(f"recent@{D}", 10), deleted(f"old@{D}", 31), deleted(f"taken@{D}", 5)])
    with running(scn, monkeypatch) as (emu, adapter):
        [scope] = adapter.scopes()

        def ref(upn: str) -> CredentialRef:
            uid = next(u["id"] for u in scn["deleted_users"] if u["userPrincipalName"] == upn)
            return CredentialRef("entra", scope, uid, upn, CredentialKind.ACCOUNT, uid)

        assert adapter.refresh(ref(f"recent@{D}")) is None  # a deleted user reads as gone
        outcomes = {o.ref.login: o for o in adapter.apply(Action.UNDELETE, [ref(f"recent@{D}"), ref(f"old@{D}"),
                                                                              ref(f"taken@{D}")])}
        assert outcomes[f"recent@{D}"].ok and "still disabled" in (outcomes[f"recent@{D}"].note or "")
        back = adapter.refresh(ref(f"recent@{D}"))
        assert back is not None and back.enabled is False
        assert not outcomes[f"old@{D}"].ok
        assert "past the 30-day deleted-items window (or purged)" in (outcomes[f"old@{D}"].error or "")
        assert not outcomes[f"taken@{D}"].ok and "userPrincipalName" in (outcomes[f"taken@{D}"].error or "")
        # removing again what is already gone is done, not an error (a repeated DELETE answers 404)
        [again] = adapter.apply(Action.REMOVE, [ref(f"old@{D}")])
        assert again.ok and "already gone" in (again.note or "")


def test_permissions_and_check_name_the_removal_permission(monkeypatch) -> None:
    from providers.entra.adapter import EntraAdapter
    from providers.entra.settings import EntraSettings

    bound = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
    off = EntraAdapter.permissions("apply", EntraSettings(tenant_id=bound))
    on = EntraAdapter.permissions("apply", EntraSettings(tenant_id=bound, remove_after_days=30))
    by_kind = EntraAdapter.permissions("apply", EntraSettings(tenant_id=bound,
                                                              remove_after_days_by_kind={"account": 45}))
    assert "    User.DeleteRestore.All" in on and "    User.DeleteRestore.All" in by_kind
    assert "    User.DeleteRestore.All" not in off
    assert "With remove_after_days in [policy] (removal), the writer also needs User.DeleteRestore.All" in off
    assert "User.DeleteRestore.All" not in EntraAdapter.permissions("plan", EntraSettings(tenant_id=bound,
                                                                                          remove_after_days=30))
    with running(tenant([]), monkeypatch, remove_after_days=30) as (_, adapter):
        names = [c.name for c in adapter.check()]
    assert "delete and restore users (User.DeleteRestore.All)" in names


# -- the emulator's deleted items, in Graph's shapes (plain HTTP, no adapter) -----------------------

def _call(emu: Any, method: str, path: str, body: object = None) -> tuple[int, dict[str, Any]]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"{emu.endpoint}{path}", data=None if body is None else json.dumps(body).encode(),
                                 method=method, headers={"Authorization": f"Bearer {emu.token}",
                                                         "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_emulator_keeps_deleted_users_as_graph_does(emu) -> None:
    uid, upn = emu.user(f"stale@{D}")["id"], f"stale@{D}"
    other = emu.user(f"stale2@{D}")["id"]
    assert _call(emu, "DELETE", f"/users/{uid}") == (204, {})
    status, body = _call(emu, "GET", f"/users/{uid}")
    assert status == 404 and body["error"]["code"] == "Request_ResourceNotFound"
    status, body = _call(emu, "GET", "/users?$select=id")
    assert status == 200 and uid not in {u["id"] for u in body["value"]} and len(body["value"]) == 4
    status, body = _call(emu, "GET", f"/directory/deletedItems/{uid}?$select=id,userPrincipalName,deletedDateTime")
    assert status == 200 and body["@odata.type"] == "#microsoft.graph.user"
    assert body["userPrincipalName"] == upn and body["deletedDateTime"].endswith("Z")
    assert body["@odata.context"].endswith("$metadata#directoryObjects/$entity")
    status, body = _call(emu, "POST", "/$batch", {"requests": [{"id": "1", "method": "DELETE", "url": f"/users/{other}"}]})
    assert status == 200 and body["responses"][0]["status"] == 204
    status, body = _call(emu, "GET", "/directory/deletedItems/microsoft.graph.user?$select=id,userPrincipalName")
    assert status == 200 and {u["id"] for u in body["value"]} == {uid, other}
    status, body = _call(emu, "POST", f"/directory/deletedItems/{uid}/restore")
    assert status == 200 and body["id"] == uid and body["@odata.type"] == "#microsoft.graph.user"
    assert emu.user(upn)["accountEnabled"] is True and "deletedDateTime" not in emu.user(upn)  # as it was deleted
    for method, path in (("POST", f"/directory/deletedItems/{uid}/restore"), ("GET", f"/directory/deletedItems/{uid}"),
                         ("DELETE", "/users/no-such-user")):
        status, body = _call(emu, method, path)
        assert status == 404 and body["error"]["code"] == "Request_ResourceNotFound", (method, path)
    emu.state.denied.add("delete")
    for method, path in (("DELETE", f"/users/{uid}"), ("POST", f"/directory/deletedItems/{other}/restore")):
        status, body = _call(emu, method, path)
        assert status == 403 and body["error"]["code"] == "Authorization_RequestDenied", (method, path)
