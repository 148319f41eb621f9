"""The journal in object storage through the CLI: plan, apply, history and restore from two
"machines" (two folders with their own config, one bucket), reports written to the bucket, the
lease refusing a second apply, and a store that fails mid-apply (nothing acted on without an intent).

moto's S3 server stands in for S3; the in-process memory store carries the injected faults.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from typer.testing import CliRunner

from stores.memory import MemoryStore
from sweeper.cli import app
from sweeper.journal_remote import RemoteJournal
from tests.fakes import FakeUser

NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)
runner = CliRunner()


def _seed(cloud, stale: int = 3) -> None:
    for n in range(stale):
        cloud.add(FakeUser(f"stale{n}@example.com", NOW - timedelta(days=200 + n), NOW - timedelta(days=900)))
    for n in range(6):
        cloud.add(FakeUser(f"user{n}@example.com", NOW - timedelta(days=n), NOW - timedelta(days=900)))


def _machine(folder: Path, journal: str, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sweeper.toml"
    path.write_text(f'[policy]\nmax_disable_percent = 100\n[journal]\npath = "{journal}"\n{extra}'
                    '[providers.fake]\ncloud = "default"\n')
    return path


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_every_machine_sees_every_run_and_restores_any(tmp_path, cloud, s3) -> None:
    _seed(cloud)
    url = f"s3://sweeper-journal/{uuid.uuid4().hex}/journal"
    night1 = _machine(tmp_path / "runner-1", url, s3.config_toml())
    r = run("apply", "-c", night1, "--as-of", "2026-11-21", "-f", "json", "--yes",
            "-o", "s3://sweeper-journal/reports/{run_id}.json")
    assert r.exit_code == 0, r.output
    run_id = r.output.split("reports/", 1)[1].split(".json", 1)[0]
    assert sorted(login for _, login in cloud.calls) == [f"stale{n}@example.com" for n in range(3)]
    assert not (tmp_path / "runner-1" / "sweeper.db").exists()  # nothing kept on the runner
    stored = s3.client().get_object(Bucket="sweeper-journal", Key=f"reports/{run_id}.json")["Body"].read()
    assert json.loads(stored)["run_id"] == run_id

    laptop = _machine(tmp_path / "laptop", url, s3.config_toml())
    r = run("history", "-c", laptop, "-f", "json")
    assert r.exit_code == 0, r.output
    [seen] = json.loads(r.stdout)["runs"]
    assert seen["run_id"] == run_id and seen["actions"]["done"] == 3
    r = run("restore", run_id, "-c", laptop)
    assert r.exit_code == 0, r.output
    assert all(u.enabled for u in cloud.users.values())

    night2 = _machine(tmp_path / "runner-2", url, s3.config_toml())
    r = run("history", "-c", night2, "-f", "json")
    assert [x["mode"] for x in json.loads(r.stdout)["runs"]] == ["restore", "apply"]


def test_journal_flag_overrides_the_config(tmp_path, cloud, s3) -> None:
    _seed(cloud, stale=1)
    cfg = _machine(tmp_path / "a", "local.db", s3.config_toml())
    url = f"s3://sweeper-journal/{uuid.uuid4().hex}/j"
    assert run("plan", "-c", cfg, "--journal", url, "--as-of", "2026-11-21").exit_code == 0
    assert not (tmp_path / "a" / "local.db").exists()
    r = run("history", "-c", cfg, "--journal", url, "-f", "json")
    assert [x["mode"] for x in json.loads(r.stdout)["runs"]] == ["plan"]
    r = run("history", "-c", cfg, "--journal", "ftp://x/y")
    assert r.exit_code == 2 and "unknown storage scheme" in r.output


def test_a_second_apply_is_refused_while_one_holds_the_lease(tmp_path, cloud) -> None:
    _seed(cloud)
    MemoryStore.reset()
    MemoryStore.make_bucket("j")
    url = f"memory://j/{uuid.uuid4().hex}"
    other = RemoteJournal(url)
    with other.exclusive():
        other.start_run("20261121T000000Z-abcdef", "apply", None)
        r = run("apply", "-c", _machine(tmp_path, url), "--as-of", "2026-11-21", "--yes")
    assert r.exit_code == 2, r.output
    assert "20261121T000000Z-abcdef" in r.output and "holds the journal" in r.output
    assert cloud.calls == []


def test_the_store_failing_mid_apply_acts_on_nothing_unrecorded(tmp_path, cloud) -> None:
    _seed(cloud, stale=5)
    MemoryStore.reset()
    MemoryStore.make_bucket("j")
    url = f"memory://j/{uuid.uuid4().hex}"
    cfg = _machine(tmp_path, url, "write_batch = 2\n")
    cfg.write_text(cfg.read_text().replace('[providers.fake]\ncloud = "default"\n',
                                           '[providers.fake]\ncloud = "default"\nbatch_size = 1\n'))
    # the first group of intents is stored and acted on; storing the second group fails
    original = MemoryStore.create
    intents = {"n": 0}

    def failing(self, name, data):
        if b'"t":"intent"' in data:
            intents["n"] += 1
            if intents["n"] == 2:
                MemoryStore.fail("create", "unavailable")
        return original(self, name, data)

    MemoryStore.create = failing
    try:
        r = run("apply", "-c", cfg, "--as-of", "2026-11-21", "-f", "json", "--yes")
    finally:
        MemoryStore.create = original
    assert r.exit_code == 4, r.output
    recorded = {a.ref.login for a in RemoteJournal(url).actions()}
    acted = {login for _, login in cloud.calls}
    assert acted and acted <= recorded, (acted, recorded)  # every call had its intent stored first
    assert len(acted) == 2


def test_bad_journal_settings_exit_2_naming_the_key(tmp_path, cloud) -> None:
    for extra, needle in [('', 'az:// needs azure_account_url or connection_string_env'),
                          ('endpoint_url = "http://10.0.0.5:9000"\n', "loopback")]:
        path = "az://c/p" if not extra else "s3://b/p"
        r = run("plan", "-c", _machine(tmp_path / uuid.uuid4().hex, path, extra))
        assert r.exit_code == 2 and needle in r.output and "journal" in r.output, r.output
    r = run("history", "-c", _machine(tmp_path / "m", "memory://no-such-bucket/x"))
    assert r.exit_code == 2 and "no-such-bucket" in r.output and "does not exist" in r.output
