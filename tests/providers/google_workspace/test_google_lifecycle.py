"""#13 for Google Workspace: what this sweeper suspended and nobody missed is deleted (users.delete)
`remove_after_days` later, only with `apply --allow-remove`, and `restore` undeletes it
(users.undelete) into its org unit, still suspended, while Google keeps it (20 days, checked live).
Through the CLI and the adapter against the Directory emulator, across simulated days (--as-of)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

from providers.emulator import Request, Response
from providers.google_workspace import emulator
from providers.google_workspace.adapter import GoogleWorkspaceAdapter
from providers.google_workspace.emulator import ItemFaults
from providers.google_workspace.scenario import user
from providers.google_workspace.settings import GoogleSettings
from sweeper.cli import app
from sweeper.journal import Journal
from sweeper.model import Action, CredentialKind, CredentialRef

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)  # + 70 days is still in the past: no --allow-future-as-of
CUSTOMER = "C0life01"
TOKEN = "ya29.lifecycle-SECRET-token"
ENV = "SWEEPER_GOOGLE_TOKEN"
ROOT = Path(__file__).resolve().parents[3]
USERS = "/admin/directory/v1/users"
STALE = "stale@life.test"


def day(n: int) -> str:
    return (NOW + timedelta(days=n)).date().isoformat()


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def scenario(**extra: Any) -> dict[str, Any]:
    users = [user("101", "admin@life.test", created=ago(900), last_login=ago(1), isAdmin=True),
             user("102", STALE, created=ago(900), last_login=ago(200), orgUnitPath="/Sales"),
             user("103", "stale2@life.test", created=ago(900), last_login=ago(300)),
             user("104", "active@life.test", created=ago(900), last_login=ago(2)),
             user("105", "off@life.test", created=ago(900), last_login=ago(400), suspended=True)]  # by someone else
    return {"customer_id": CUSTOMER, "domain": "life.test", "token": TOKEN, "users": users, **extra}


@pytest.fixture
def emu(clean_env: pytest.MonkeyPatch) -> Iterator[emulator.DirectoryEmulator]:
    em = emulator.start(scenario())
    clean_env.setenv(ENV, TOKEN)
    yield em
    em.stop()


@pytest.fixture
def cfg(tmp_path: Path, emu: emulator.DirectoryEmulator) -> Path:
    path = tmp_path / "sweeper.toml"
    path.write_text("[policy]\ninactive_days = 90\nmax_disable = 100\nmax_disable_percent = 100\n"
                    "remove_after_days = 30\n"
                    f'[journal]\npath = "{tmp_path / "sweeper.db"}"\n' + emu.config_toml(activity_sources=[]))
    return path


def run(*args: Any) -> Any:
    return CliRunner().invoke(app, [str(a) for a in args])


def findings(r: Any) -> dict[str, dict[str, Any]]:
    assert r.stdout.lstrip().startswith("{"), r.output
    return {f["identity"]: f for f in json.loads(r.stdout)["findings"]}


def journal(cfg: Path) -> Journal:
    return Journal(cfg.parent / "sweeper.db")


def removals(cfg: Path, login: str = STALE) -> list[Any]:
    return [a for a in journal(cfg).actions() if a.action is Action.REMOVE and a.ref.login == login]


def removing_run(cfg: Path) -> str:
    [row] = [a for a in removals(cfg) if a.state == "done"]
    return row.run_id


def undeletes(em: emulator.DirectoryEmulator) -> int:
    return sum(em.directory.recycle.undeletes.values())


# --- the whole lifecycle ------------------------------------------------------------------------------

def test_suspend_then_delete_after_remove_after_days_then_undelete_into_its_org_unit(emu, cfg) -> None:
    r = run("apply", "-c", cfg, "--as-of", day(0), "--yes", "-f", "json")
    assert r.exit_code == 0, r.output
    assert emu.user(STALE)["suspended"] is True and emu.user("stale2@life.test")["suspended"] is True
    # before the window: nothing to remove
    early = findings(run("plan", "-c", cfg, "--as-of", day(20), "-f", "json"))
    assert not any(f["decision"] == "remove" for f in early.values())
    planned = findings(run("plan", "-c", cfg, "--as-of", day(31), "-f", "json"))
    assert planned[STALE]["decision"] == "remove" and planned[STALE]["action"] == "planned"
    assert "deletes the user (users.delete): Google keeps it 20 days" in planned[STALE]["reason"]
    assert "off@life.test" not in planned  # suspended by someone else: never removed
    # the config alone never deletes
    r = run("apply", "-c", cfg, "--as-of", day(31), "--yes", "-f", "json")
    assert r.exit_code == 0 and "apply needs --allow-remove" in findings(r)[STALE]["reason"]
    assert emu.user(STALE) is not None and not emu.directory.recycle.deletes
    r = run("apply", "-c", cfg, "--as-of", day(31), "--yes", "--allow-remove", "-f", "json")
    assert r.exit_code == 0, r.output
    assert findings(r)[STALE]["action"] == "removed" and json.loads(r.stdout)["summary"]["removed"] == 2
    assert emu.user(STALE) is None and emu.deleted_user(STALE)["deletionTime"]
    assert emu.directory.recycle.deletes == {"102": 1, "103": 1}
    assert emu.part_counts[f"DELETE {USERS}/{{userKey}}"] == 2  # one batch, a part per user
    [row] = [a for a in removals(cfg) if a.state == "done"]
    assert "deleted from org unit /Sales" in (row.error or "")  # the journal names where it was
    # gone from the next sweep; the one removed is not a finding any more
    assert STALE not in findings(run("plan", "-c", cfg, "--as-of", day(32), "-f", "json"))
    # restore brings it back where it was, still suspended
    r = run("restore", removing_run(cfg), "-c", cfg, "--yes")
    assert r.exit_code == 0, r.output
    assert "undeleted" in r.output
    back = emu.user(STALE)
    assert back["orgUnitPath"] == "/Sales" and back["suspended"] is True and "deletionTime" not in back
    assert emu.user("stale2@life.test")["orgUnitPath"] == "/" and undeletes(emu) == 2
    # and it is not deleted again: a person brought it back
    again = findings(run("plan", "-c", cfg, "--as-of", day(70), "-f", "json"))
    assert STALE not in again or again[STALE]["decision"] != "remove"


def test_after_the_purge_restore_says_it_cannot(emu, cfg) -> None:
    assert run("apply", "-c", cfg, "--as-of", day(0), "--yes").exit_code == 0
    assert run("apply", "-c", cfg, "--as-of", day(31), "--yes", "--allow-remove").exit_code == 0
    assert emu.purge(STALE) == ["102"]  # Google's 20 days are over for this one
    emu.reset_counts()
    r = run("restore", removing_run(cfg), "-c", cfg, "--yes")
    assert r.exit_code != 0, r.output
    assert "past the 20-day undelete window (or purged)" in r.output
    assert emu.user(STALE) is None and emu.user("stale2@life.test") is not None  # the other one came back
    assert emu.part_counts[f"POST {USERS}/{{userKey}}"] == 1  # no undelete was tried for the purged user
    assert emu.server.counts[f"GET {USERS}"] == 1  # the window, checked live: users.list(showDeleted=true)


def test_a_user_unsuspended_in_between_is_not_removed(emu, cfg) -> None:
    assert run("apply", "-c", cfg, "--as-of", day(0), "--yes").exit_code == 0
    emu.directory.find(STALE)["suspended"] = False  # the helpdesk brings it back; the next run sees that
    assert run("plan", "-c", cfg, "--as-of", day(5)).exit_code == 0
    emu.directory.find(STALE)["suspended"] = True  # and someone suspends it again by hand
    r = run("apply", "-c", cfg, "--as-of", day(40), "--yes", "--allow-remove", "-f", "json")
    assert r.exit_code == 0, r.output
    assert STALE not in findings(r) and emu.user(STALE) is not None
    assert emu.directory.recycle.deletes == {"103": 1}  # the other one, untouched by anybody, went


def test_one_still_unsuspended_is_no_candidate(emu, cfg) -> None:
    assert run("apply", "-c", cfg, "--as-of", day(0), "--yes").exit_code == 0
    emu.directory.find(STALE)["suspended"] = False
    r = run("apply", "-c", cfg, "--as-of", day(40), "--yes", "--allow-remove", "-f", "json")
    assert emu.user(STALE) is not None and "102" not in emu.directory.recycle.deletes
    assert findings(r).get(STALE, {}).get("decision") != "remove"


# --- killed between the intent and the delete ---------------------------------------------------------

class Gate:
    """Holds the first batch that carries users.delete: `before` it takes effect (then drops it), or
    `after` (its answer held), until released; the test kills the sweeper meanwhile. Later batches pass."""

    def __init__(self, em: emulator.DirectoryEmulator, when: str) -> None:
        self.reached, self.released = threading.Event(), threading.Event()
        served = em.server.app

        def app_(req: Request) -> Response:
            if self.reached.is_set() or not (req.method == "POST" and req.path == "/batch" and b"DELETE " in req.body):
                return served(req)
            answer = served(req) if when == "after" else Response(503, b"client gone", {})
            self.reached.set()
            self.released.wait(60)
            return answer

        em.server.app = app_


def killed_apply(cfg: Path, gate: Gate) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPER_", "AWS_", "GOOGLE_"))}
    env[ENV] = TOKEN
    proc = subprocess.Popen([sys.executable, "-m", "sweeper", "apply", "-c", str(cfg), "--as-of", day(31), "--yes",
                             "--allow-remove"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        assert gate.reached.wait(60), proc.stderr.read().decode() if proc.poll() is not None else "no delete"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stderr.close()
        gate.released.set()


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_removal_killed_between_intent_and_answer_is_reconciled(emu, cfg, when) -> None:
    assert run("apply", "-c", cfg, "--as-of", day(0), "--yes").exit_code == 0
    killed_apply(cfg, Gate(emu, when))
    assert [a.state for a in removals(cfg)] == ["intent"]
    assert (emu.user(STALE) is None) is (when == "after")
    r = run("apply", "-c", cfg, "--as-of", day(32), "--yes", "--allow-remove", "-f", "json")
    assert r.exit_code == 0, r.output
    assert "reconciled" in r.output
    states = [a.state for a in removals(cfg)]
    # landed: the intent is settled as done; dropped: settled as interrupted, then deleted now
    assert states == (["done"] if when == "after" else ["interrupted", "done"])
    assert emu.user(STALE) is None and emu.directory.recycle.deletes["102"] == 1  # deleted once, never twice


# --- the adapter over HTTP ----------------------------------------------------------------------------

@pytest.fixture
def adapter(emu) -> GoogleWorkspaceAdapter:
    a = GoogleWorkspaceAdapter(GoogleSettings(**emu.config(), activity_sources=[]), write=True)
    a.client.sleep = lambda seconds: None
    return a


def ref(uid: str, login: str) -> CredentialRef:
    return CredentialRef("google_workspace", CUSTOMER, uid, login, CredentialKind.ACCOUNT, uid)


STALE_REF = ref("102", STALE)


def test_refresh_says_a_deleted_user_is_gone(emu, adapter) -> None:
    assert adapter.refresh(STALE_REF) is not None
    [done] = adapter.apply(Action.REMOVE, [STALE_REF])
    assert done.ok and "deleted from org unit /Sales" in done.note
    assert adapter.refresh(STALE_REF) is None  # users.get: 412 "User is deleted."
    [again] = adapter.apply(Action.REMOVE, [STALE_REF])
    assert again.ok and again.note == "already deleted"
    assert adapter.refresh(ref("999", "ghost@life.test")) is None  # unknown: 404


def test_throttled_deletes_and_undeletes_are_sent_again(emu, adapter) -> None:
    refs = [STALE_REF, ref("103", "stale2@life.test")]
    emu.set_item_faults(ItemFaults(rate_429=1.0, max_per_user=1))
    assert all(o.ok for o in adapter.apply(Action.REMOVE, refs))
    assert emu.directory.recycle.deletes == {"102": 1, "103": 1}
    emu.set_item_faults(ItemFaults(rate_503=1.0, max_per_user=1))
    assert all(o.ok for o in adapter.apply(Action.UNDELETE, refs))
    assert emu.user(STALE)["orgUnitPath"] == "/Sales" and undeletes(emu) == 2


def test_an_undelete_whose_answer_was_lost_is_seen_to_have_landed(emu, adapter) -> None:
    adapter.apply(Action.REMOVE, [STALE_REF])
    served, lost = emu.server.app, []

    def app_(req: Request) -> Response:
        answer = served(req)
        if req.method == "POST" and req.path == "/batch" and b"/undelete" in req.body and not lost:
            lost.append(req)
            return Response(503, b"", {})  # it took effect; the answer never arrives
        return answer

    emu.server.app = app_
    [o] = adapter.apply(Action.UNDELETE, [STALE_REF])
    assert lost and o.ok and "an earlier attempt had landed" in o.note, o
    assert undeletes(emu) == 1 and emu.user(STALE)["orgUnitPath"] == "/Sales"


def test_undelete_errors_are_named(emu, adapter) -> None:
    emu.directory.recycle.org_units = {"/", "/Engineering"}  # /Sales was deleted meanwhile
    stale2 = ref("103", "stale2@life.test")
    adapter.apply(Action.REMOVE, [STALE_REF, stale2])
    # someone took stale2's address meanwhile
    taken = user("200", "stale2@life.test", created=NOW)
    emu.directory.users.append(taken)
    emu.directory.by_key.update({"200": taken, "stale2@life.test": taken})
    gone, clash = adapter.apply(Action.UNDELETE, [STALE_REF, stale2])
    assert not gone.ok and "cannot undelete into org unit /Sales" in gone.error and "INVALID_OU_ID" in gone.error
    assert not clash.ok and "now belongs to another user, alias or group" in clash.error and "409" in clash.error
    assert undeletes(emu) == 0


def test_a_delegated_admin_cannot_delete_a_super_admin(clean_env) -> None:
    clean_env.setenv(ENV, TOKEN)
    with emulator.start(scenario(delegated_admin=True)) as em:
        a = GoogleWorkspaceAdapter(GoogleSettings(**em.config(), activity_sources=[]), write=True)
        [o] = a.apply(Action.REMOVE, [ref("101", "admin@life.test")])
        assert not o.ok and "HTTP 403" in o.error and "Users > Delete" in o.error and TOKEN not in o.error
        assert em.user("admin@life.test") is not None


def test_apply_permissions_cover_delete_and_undelete() -> None:
    text = GoogleWorkspaceAdapter.permissions("apply")
    assert "users.delete" in text and "users.undelete" in text and "Users > Delete" in text
    assert "no other scope is needed" in text
    assert "users.delete" not in GoogleWorkspaceAdapter.permissions("plan")  # the reader never deletes


# --- the emulator, in the API's own shapes ------------------------------------------------------------

def call(em: emulator.DirectoryEmulator, method: str, path: str, body: object = None,
         token: str = TOKEN) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(em.endpoint + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def reason(answer: Any) -> tuple[str, str]:
    return answer["error"]["errors"][0]["reason"], answer["error"]["message"]


def test_emulator_soft_delete_list_undelete_and_purge(emu) -> None:
    assert call(emu, "DELETE", f"{USERS}/{STALE}") == (204, None)
    status, answer = call(emu, "GET", f"{USERS}/{STALE}")
    assert status == 412 and reason(answer) == ("conditionNotMet", "User is deleted.")
    assert call(emu, "DELETE", f"{USERS}/102")[0] == 412
    status, page = call(emu, "GET", f"{USERS}?customer=my_customer&maxResults=10")
    assert STALE not in [u["primaryEmail"] for u in page["users"]]
    status, page = call(emu, "GET", f"{USERS}?customer=my_customer&maxResults=10&showDeleted=true")
    [deleted] = page["users"]  # deleted users only, each with its deletionTime
    assert deleted["id"] == "102" and deleted["orgUnitPath"] == "/Sales" and deleted["customerId"] == CUSTOMER
    assert datetime.fromisoformat(deleted["deletionTime"].replace("Z", "+00:00"))
    # undelete takes the immutable id, not an address
    status, answer = call(emu, "POST", f"{USERS}/{STALE}/undelete", {"orgUnitPath": "/Sales"})
    assert status == 412 and reason(answer)[0] == "conditionNotMet"
    assert call(emu, "POST", f"{USERS}/102/undelete", {"orgUnitPath": "/Sales"}, token="nope")[0] == 401
    assert call(emu, "POST", f"{USERS}/102/undelete", {"orgUnitPath": "/Sales"}) == (204, None)
    assert call(emu, "GET", f"{USERS}/102")[1]["orgUnitPath"] == "/Sales"
    assert call(emu, "POST", f"{USERS}/102/undelete", {})[0] == 412  # not deleted any more
    # the window: a purge ends it, by user or by age
    call(emu, "DELETE", f"{USERS}/102")
    call(emu, "DELETE", f"{USERS}/103")
    assert emu.purge(now=datetime.now(timezone.utc) + timedelta(days=19)) == []
    assert sorted(emu.purge(now=datetime.now(timezone.utc) + timedelta(days=21))) == ["102", "103"]
    assert call(emu, "GET", f"{USERS}/102")[0] == 404
    status, answer = call(emu, "POST", f"{USERS}/102/undelete", {"orgUnitPath": "/"})
    assert status == 412 and call(emu, "GET", f"{USERS}?customer=my_customer&maxResults=10&showDeleted=true")[1] \
        .get("users") is None


def test_emulator_read_only_tokens_cannot_delete(clean_env) -> None:
    with emulator.start(scenario(readonly_tokens=["reader"])) as em:
        status, answer = call(em, "DELETE", f"{USERS}/{STALE}", token="reader")
        assert status == 403 and reason(answer)[0] == "insufficientPermissions" and em.user(STALE) is not None

