"""A plan over many instances in worker processes (sweeper/workers.py, #16) against the real emulators
of tests/test_tenants.py: three Entra tenants (one failing, one capped) and two Google customers.

The process path must give the RunResult and report the in-process sweep gives, with the journal kept
in the parent (re-enable grace read and recorded through it); a worker that dies or raises costs its
own instances only, as failed scopes saying so; a binding mismatch still stops the run; a `[people]`
section keeps the sweep in one process; `[engine] processes` is validated.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pytest

from providers.emulator import Faults
from sweeper import registry, workers
from sweeper.config import Config, load, parse
from sweeper.errors import BindingError, ConfigError
from sweeper.journal_remote import open_journal
from sweeper.model import DecisionKind, ProviderStatus
from sweeper.records import Journal
from sweeper.results import RunResult
from sweeper.sweep import Progress, Sweep
from tests.test_tenants import AS_OF, TENANTS, Estate, report, sweeper
from tests.test_tenants import estate as estate  # noqa: F401 - the five emulator tenants, a fixture

pytestmark = pytest.mark.skipif(not workers.can_fork(), reason="worker processes are forked: Linux only")

WHEN = datetime.fromisoformat(AS_OF).replace(tzinfo=timezone.utc)
ALL = ["entra:contoso", "entra:fabrikam", "entra:northwind", "google_workspace:acme", "google_workspace:globex"]


def sweep_of(config: Config, journal: Journal | None = None, *, open_adapter: Callable[..., Any] = registry.create,
             describe: Callable[[str], Any] = registry.info, progress: Progress | None = None,
             providers: list[str] | None = None) -> Sweep:
    return Sweep(config, providers or list(config.providers), WHEN, "plan", journal, progress=progress or Progress(),
                 open_adapter=open_adapter, describe=describe)


def same_scopes(a: RunResult, b: RunResult) -> None:
    assert [(s.provider, s.scope, s.status) for s in a.scopes] == [(s.provider, s.scope, s.status) for s in b.scopes]
    for x, y in zip(a.scopes, b.scopes):
        assert x == y, x.provider  # every field: counts, findings and their decisions, notes, ages


def without_run(doc: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(doc, sort_keys=True).replace(doc["run_id"], "RUN")
    out: dict[str, Any] = json.loads(text)
    for key in ("generated_at", "duration_seconds", "started_at", "finished_at"):
        out.pop(key, None)
    return out


def test_two_workers_give_the_in_process_result_with_the_journal_in_the_parent(estate: Estate) -> None:
    """contoso's stale1 was disabled by an apply, then enabled again by a person: both plans see it
    in its grace period, and the first sighting is recorded once, in the parent's journal."""
    r = sweeper("apply", "-c", estate.path, "--as-of", AS_OF, "--yes", "-f", "json", "-p", "entra:contoso")
    assert r.exit_code == 0, r.output
    contoso = estate.entra["contoso"]
    contoso.state.update(contoso.state.find("contoso-stale1"), {"accountEnabled": True})  # a person re-enabled it
    config = load(str(estate.path))
    journal = open_journal(config.journal_location, config.journal)

    forked = workers.run(sweep_of(config, journal), processes=2)
    alone = sweep_of(config, journal).run()

    assert [s.provider for s in forked.scopes] == ALL
    same_scopes(forked, alone)
    assert forked.scopes[0].identities == 7 and forked.scopes[2].status is ProviderStatus.FAILED
    stale1 = next(f for f in forked.findings if f.identity.id == "contoso-stale1")
    assert stale1.decision.kind is DecisionKind.WARN and "grace until" in stale1.decision.reason
    disabled = next(a for a in journal.actions() if a.ref.identity_id == "contoso-stale1")
    assert journal.first_seen_enabled(journal.uid_of(disabled.id)) == WHEN.isoformat()  # written by the parent


def test_the_cli_report_is_the_same_with_processes_and_without(estate: Estate) -> None:
    text = estate.path.read_text()
    estate.path.write_text(text.replace("max_parallel = 3\n", "max_parallel = 3\nprocesses = 2\n"))
    forked = sweeper("plan", "-c", estate.path, "--as-of", AS_OF, "-f", "json")
    estate.path.write_text(text.replace("max_parallel = 3\n", "max_parallel = 3\nprocesses = 1\n"))
    alone = sweeper("plan", "-c", estate.path, "--as-of", AS_OF, "-f", "json")
    assert forked.exit_code == alone.exit_code == 4  # northwind failed, the others judged
    assert without_run(report(forked)) == without_run(report(alone))
    assert forked.stderr.replace(report(forked)["run_id"], "RUN") == alone.stderr.replace(report(alone)["run_id"],
                                                                                          "RUN")


def test_a_worker_that_dies_or_raises_costs_its_own_instances_only(estate: Estate) -> None:
    """fabrikam's worker is killed (SIGKILL) as it opens fabrikam; acme's sweep raises inside the worker.
    Both become failed scopes saying so; the other tenants are judged as in one process (max_parallel = 1:
    one instance at a time in each worker, so the killed one held fabrikam only)."""
    parent = os.getpid()

    def open_adapter(name: str, settings: Any, *, write: bool) -> Any:
        if name == "entra:fabrikam" and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return registry.create(name, settings, write=write)

    def describe(name: str) -> Any:
        if name == "google_workspace:acme" and os.getpid() != parent:
            raise RuntimeError("a bug in the worker")
        return registry.info(name)

    config = load(str(estate.write(max_parallel=1)))
    forked = workers.run(sweep_of(config, open_adapter=open_adapter, describe=describe), processes=2)
    alone = sweep_of(config).run()
    rows = {s.provider: s for s in forked.scopes}
    assert list(rows) == ALL
    assert rows["entra:fabrikam"].status is ProviderStatus.FAILED and not rows["entra:fabrikam"].findings
    assert "worker process sweeping it ended before it finished (killed by SIGKILL)" in str(
        rows["entra:fabrikam"].message)
    assert rows["google_workspace:acme"].status is ProviderStatus.FAILED
    assert rows["google_workspace:acme"].message == ("the worker process sweeping it failed: "
                                                     "internal error: RuntimeError: a bug in the worker")
    for x, y in zip(forked.scopes, alone.scopes):
        if x.provider not in ("entra:fabrikam", "google_workspace:acme"):
            assert x == y, x.provider


def test_every_worker_dead_the_rest_is_swept_in_the_parent(estate: Estate) -> None:
    parent = os.getpid()

    def open_adapter(name: str, settings: Any, *, write: bool) -> Any:
        if os.getpid() != parent:
            os._exit(7)
        return registry.create(name, settings, write=write)

    config = load(str(estate.write(max_parallel=1)))
    result = workers.run(sweep_of(config, open_adapter=open_adapter), processes=2)
    failed = [s for s in result.scopes if "exit code 7" in (s.message or "")]
    assert len(failed) == 2  # each worker took one instance (max_parallel = 1) and died with it
    judged = [s for s in result.scopes if s not in failed]
    assert [s.provider for s in result.scopes] == ALL and judged
    assert all("worker" not in (s.message or "") for s in judged)  # the rest: swept here, as in one process


def test_a_binding_mismatch_in_a_worker_stops_the_run(estate: Estate) -> None:
    path = estate.write(fabrikam={"tenant_id": "99999999-0000-4000-8000-000000000009"})
    config = load(str(path))
    with pytest.raises(BindingError) as forked:
        workers.run(sweep_of(config), processes=2)
    with pytest.raises(BindingError) as alone:
        sweep_of(config).run()
    assert str(forked.value) == str(alone.value) and "99999999-0000-4000-8000-000000000009" in str(forked.value)
    text = path.read_text()
    path.write_text(text.replace("max_parallel = 3\n", "max_parallel = 3\nprocesses = 2\n"))
    r = sweeper("plan", "-c", path, "--as-of", AS_OF, "-f", "json")
    assert r.exit_code == 2 and "99999999-0000-4000-8000-000000000009" in r.stderr and not r.stdout.strip()


def test_progress_is_drawn_from_the_workers_listings(estate: Estate) -> None:
    class Recorder(Progress):
        def __init__(self) -> None:
            self.counts: dict[str, int] = {}

        def listing(self, provider: str, scope: str) -> Callable[[int], None]:
            key = f"{provider} {scope}"
            self.counts[key] = 0

            def advance(n: int) -> None:
                self.counts[key] += n

            return advance

    seen = Recorder()
    result = workers.run(sweep_of(load(str(estate.path)), progress=seen), processes=2)
    listed = {f"{s.provider} {s.scope}": s.identities + s.machines for s in result.scopes
              if s.status is not ProviderStatus.FAILED}
    assert listed and {k: seen.counts[k] for k in listed} == listed
    assert f"entra:northwind {TENANTS['northwind']}" in seen.counts  # its listing started, then failed


def test_when_workers_are_used(estate: Estate) -> None:
    config = load(str(estate.path))
    engine = config.engine
    assert engine.processes == "auto"
    auto = replace(config, engine=engine.model_copy(update={"processes": "auto"}))
    assert workers.processes_for(auto, ALL) == 1  # 5 instances: fewer than 2 × AUTO_PER_PROCESS
    many = [f"entra:t{i}" for i in range(16)]
    assert workers.processes_for(auto, many) == min(workers.usable_cpus(), 4)  # one per 4, one per CPU
    assert workers.processes_for(auto, many * 5) == min(workers.usable_cpus(), workers.AUTO_MAX)
    three = replace(config, engine=engine.model_copy(update={"processes": 3}))
    assert workers.processes_for(three, ALL) == 3
    assert workers.processes_for(three, ALL[:2]) == 2  # never more workers than instances
    assert workers.processes_for(three, ALL[:1]) == 1
    assert workers.processes_for(three, ALL, mode="apply") == 1  # acting stays in one process
    # linking people (#25) needs every identity in one process: a [people] section keeps the sweep here
    object.__setattr__(three, "people", {"sources": ["entra:contoso"]})
    assert workers.processes_for(three, ALL) == 1


@pytest.mark.parametrize("value", ["0", "65", '"2"', '"many"', "true", "1.5", "-1"])
def test_engine_processes_is_validated(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(f"[engine]\nprocesses = {value}\n[providers.entra]\ntenant_id = \"{TENANTS['contoso']}\"\n", "s.toml")
    assert "s.toml" in str(err.value) and "engine" in str(err.value) and "processes" in str(err.value)
    assert 'whole number from 1 to 64 or "auto"' in str(err.value)


def test_engine_processes_accepts_auto_and_numbers(estate: Estate) -> None:
    for value, expected in (('"auto"', "auto"), ("1", 1), ("2", 2), ("64", 64)):
        text = estate.path.read_text().replace("max_parallel = 3\n", f"max_parallel = 3\nprocesses = {value}\n")
        assert parse(text, "s.toml").engine.processes == expected
    bad = estate.path.read_text().replace("max_parallel = 3\n", "max_parallel = 3\nprocesses = 0\n")
    estate.path.write_text(bad)
    r = sweeper("plan", "-c", estate.path, "--as-of", AS_OF)
    assert r.exit_code == 2 and "engine: processes must be a whole number" in r.stderr


def test_ctrl_c_stops_the_workers(estate: Estate) -> None:
    """Ctrl-C (SIGINT to the terminal's process group) while the workers list slow tenants: the run
    ends at once with 130, and no worker is left behind."""
    for emu in estate.entra.values():
        emu.faults = Faults(latency_ms=20000, only=("GET /v1.0/users",))
    text = estate.path.read_text().replace("max_parallel = 3\n", "max_parallel = 3\nprocesses = 2\n")
    estate.path.write_text(text)
    proc = subprocess.Popen([sys.executable, "-m", "sweeper", "plan", "-c", str(estate.path), "--as-of", AS_OF],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True)
    try:
        deadline = time.monotonic() + 60
        children: list[int] = []
        while len(children) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            children = [int(c) for task in Path(f"/proc/{proc.pid}/task").iterdir()
                        for c in (task / "children").read_text().split()]
        assert len(children) == 2, proc.communicate(timeout=5)
        time.sleep(1.0)  # the workers at work (a users page takes 20 s here)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not any(Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
                   for pid in children)
