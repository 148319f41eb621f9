"""Core invariants of one run (issue #28): one finding and one action per credential, and a cap that
counts like with like. Through the CLI over the registered fake provider."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from typer.testing import CliRunner

from sweeper.cli import app
from sweeper.model import Activity, Credential, CredentialKind
from sweeper.policy import Thresholds, cap_exceeded, evaluate, since_creation
from tests.fakes import FakeUser

NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)
runner = CliRunner()


def _run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def _config(tmp_path, policy: str = "max_disable_percent = 100") -> str:
    path = tmp_path / "sweeper.toml"
    path.write_text(f'[policy]\n{policy}\n[providers.fake]\ncloud = "default"\n')
    return str(path)


def test_a_credential_listed_twice_is_kept_with_a_reason(tmp_path, cloud) -> None:
    cloud.add(FakeUser("twice@example.com", NOW - timedelta(days=400), NOW - timedelta(days=900)))
    cloud.add(FakeUser("once@example.com", NOW - timedelta(days=400), NOW - timedelta(days=900)))
    cloud.listed_twice.add("twice@example.com")
    cfg = _config(tmp_path)
    r = _run("apply", "-c", cfg, "--as-of", "2026-11-21", "-f", "json", "--yes")
    assert r.exit_code == 0, r.output
    findings = json.loads(r.stdout)["findings"]
    refs = [(f["identity_id"], f["credential"]) for f in findings]
    assert len(refs) == len(set(refs)), "one finding per credential"
    twice = [f for f in findings if f["identity"] == "twice@example.com"]
    assert len(twice) == 1 and twice[0]["decision"] == "unknown" and twice[0]["action"] == "none"
    assert "more than once" in twice[0]["reason"] and "fail closed" in twice[0]["reason"]
    assert cloud.calls == [("disable", "once@example.com")]
    assert cloud.users["twice@example.com"].enabled


def test_every_credential_of_a_many_key_user_is_acted_on_once(tmp_path, cloud) -> None:
    cloud.add(FakeUser("keys@example.com", NOW - timedelta(days=400), NOW - timedelta(days=900), keys=2))
    r = _run("apply", "-c", _config(tmp_path), "--as-of", "2026-11-21", "-f", "json", "--yes")
    assert r.exit_code == 0, r.output
    creds = sorted(f["credential"] for f in json.loads(r.stdout)["findings"])
    assert creds == ["access_key:keys@example.com#k1", "access_key:keys@example.com#k2", "account"]
    assert sorted(cloud.calls) == [("disable", "keys@example.com")] * 3


def test_percent_cap_compares_identities_with_identities(tmp_path, cloud) -> None:
    cloud.add(FakeUser("stale@example.com", NOW - timedelta(days=400), NOW - timedelta(days=900), keys=2))
    for n in range(9):
        cloud.add(FakeUser(f"user{n}@example.com", NOW - timedelta(days=1), NOW - timedelta(days=900)))
    # one identity in ten loses three credentials: 10 % of identities, not 30 %
    r = _run("plan", "-c", _config(tmp_path, "max_disable_percent = 10"), "--as-of", "2026-11-21", "-f", "json")
    out = json.loads(r.stdout)
    assert r.exit_code == 0, r.output
    assert out["providers"][0]["status"] == "ok" and out["summary"]["disable"] == 3
    for n in range(9, 12):  # with a second stale identity the cap holds
        cloud.add(FakeUser(f"stale{n}@example.com", NOW - timedelta(days=400), NOW - timedelta(days=900)))
    r = _run("plan", "-c", _config(tmp_path, "max_disable_percent = 10"), "--as-of", "2026-11-21", "-f", "json")
    assert r.exit_code == 3 and "4 identities to disable exceed" in json.loads(r.stdout)["providers"][0]["message"]


def test_a_full_cap_can_never_be_exceeded_by_one_user_with_many_credentials() -> None:
    t = Thresholds(90, 14, max_disable=100, max_disable_percent=100)
    assert cap_exceeded(3, 1, t, affected=1) is None
    assert cap_exceeded(3, 1, t) is not None  # counted as credentials it would exceed: hence `affected`


def test_a_bound_before_creation_is_never_used() -> None:
    """Rule 11 in the core: 'used at most at D' with creation after D means never used since creation."""
    created = NOW - timedelta(days=10)
    bound = datetime(2023, 12, 1, tzinfo=timezone.utc)
    cred = Credential(CredentialKind.ACCOUNT, "u1", True, Activity.SEEN, created, bound, "at most 2023-12-01")
    fixed = since_creation(cred)
    assert fixed.activity is Activity.NEVER and fixed.last_used is None and fixed.created == created
    from sweeper.model import Identity, IdentityKind
    who = Identity("fake", "s", "u1", "u1", IdentityKind.MEMBER, True, (cred,), created)
    decision = evaluate(who, cred, Thresholds(90, 14), NOW)
    assert decision.kind.value == "active"  # 10 days old, never used: not a finding
    old = Credential(CredentialKind.ACCOUNT, "u1", True, Activity.SEEN, NOW - timedelta(days=200), bound)
    decision = evaluate(who, old, Thresholds(90, 14), NOW)
    assert decision.kind.value == "disable" and decision.days_inactive == 200
    assert "predates it" in decision.reason
    assert since_creation(Credential(CredentialKind.ACCOUNT, "u1", True, Activity.SEEN, created,
                                     created + timedelta(days=1))).activity is Activity.SEEN
