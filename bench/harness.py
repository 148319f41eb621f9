"""The measuring side: emulator processes, configs a user would write, and measured child processes.

Each measured command runs as a child of this process and is reaped with `os.wait4`, whose rusage is
that child's own: CPU time (user + system) and peak RSS (ru_maxrss). The emulators are separate
processes (bench/serve.py), so their work is in neither figure; their counters say how many
requests the child made.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from providers.emulator import toml_value

ROOT = Path(__file__).resolve().parent.parent
PY = Path(sys.executable)


class Emulator:
    """One provider's emulator process (bench/serve.py); `counts()` reads its request counters."""

    def __init__(self, provider: str, n: int, *, accounts: int = 1, stale_every: int = 100,
                 latency_ms: float = 0, tenants: int = 0, extra: tuple[str, ...] = ()) -> None:
        self.provider, self.n, self.accounts = provider, n, accounts
        cmd = [str(PY), str(ROOT / "bench" / "serve.py"), provider, str(n), "--accounts", str(accounts),
               "--stale-every", str(stale_every), "--latency-ms", str(latency_ms), "--tenants", str(tenants), *extra]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            self.proc.kill()
            raise RuntimeError(f"emulator {provider} {n} did not start (exit {self.proc.wait()})")
        hello = json.loads(line)
        self.section: str = hello["section"]  # the [providers.x] section the emulator serves
        self.config: dict[str, Any] = hello["config"]
        self.env: dict[str, str] = hello["env"]
        self.seed_s: float = hello["seed_s"]

    @property
    def identities(self) -> int:
        return self.n * self.accounts

    def _ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def counts(self) -> dict[str, Any]:
        return self._ask("counts")

    def reset(self) -> None:
        self._ask("reset")

    def latency(self, ms: float) -> None:
        self._ask(f"latency {ms:g}")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")  # type: ignore[union-attr]
                self.proc.stdin.flush()  # type: ignore[union-attr]
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def workload_arguments(ap: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The arguments that describe one emulated tenant, shared by serve.py and profile.py."""
    ap.add_argument("provider", choices=("graph", "google", "aws"))
    ap.add_argument("n", type=int)
    ap.add_argument("--accounts", type=int, default=1)
    ap.add_argument("--latency-ms", type=float, default=0)
    return ap


def _table(name: str, values: dict[str, Any]) -> list[str]:
    lines = [f"[{name}]"]
    nested = []
    for key, value in values.items():
        if isinstance(value, dict):
            nested.append((f"{name}.{key}", value))
        else:
            lines.append(f"{key} = {toml_value(value)}")
    for sub, sub_values in nested:
        lines += ["", *_table(sub, sub_values)]
    return lines


def write_config(folder: Path, emulators: list[Emulator]) -> Path:
    """A sweeper.toml pointing at the emulators, with caps high enough that plans are not capped."""
    lines = _table("policy", {"inactive_days": 90, "warn_days": 14, "max_disable": 1_000_000,
                              "max_disable_percent": 100})
    lines += ["", *_table("journal", {"path": str(folder / "sweeper.db")})]
    for emu in emulators:
        lines += ["", *_table(f"providers.{emu.section}", emu.config)]
    path = folder / "sweeper.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def child_env(emulators: list[Emulator]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SWEEPER_", "GOOGLE_", "AZURE_"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    for emu in emulators:
        env.update(emu.env)
    return env


@dataclass
class Measured:
    """One measured child process."""

    wall_s: float
    cpu_s: float
    rss_mb: float
    exit_code: int
    stderr: str = ""
    stdout: str = ""
    helper_cpu_s: float = 0.0  # CPU the emulators spent serving this run
    others_share: float = 0.0  # share of the machine other processes used meanwhile (0..1)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)  # provider -> emulator counts
    report: dict[str, Any] | None = None


def _busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores, /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _cpu_of(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes `pids` have used so far (Linux /proc; else 0)."""
    total = 0.0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


def measure(cmd: list[str], env: dict[str, str], *, timeout: float = 900, helpers: list[int] = ()) -> Measured:
    """Run `cmd` to completion; wall time, the child's own CPU time and peak RSS (os.wait4).

    `others_share` is the part of the machine (all cores, over the run) that neither the child, nor
    the `helpers` (emulator pids), nor this process used: other work disturbing the wall time.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy0, helpers0, self0 = _busy_cpu_s(), _cpu_of(list(helpers)), time.process_time()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=env, cwd=ROOT)
        timer = threading.Timer(timeout, proc.kill)  # a bounded run: killed, and its exit code says so
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        helper_cpu = _cpu_of(list(helpers)) - helpers0
        busy = _busy_cpu_s() - busy0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")[-4000:]
        stderr = err.read().decode("utf-8", "replace")[-4000:]
    cpu = usage.ru_utime + usage.ru_stime
    others = max(0.0, busy - cpu - helper_cpu - (time.process_time() - self0))
    return Measured(wall, cpu, usage.ru_maxrss / 1024, proc.returncode, stderr, stdout=stdout,
                    helper_cpu_s=helper_cpu, others_share=others / (wall * (os.cpu_count() or 1)))


def sweeper_cmd(mode: str, config: Path, output: Path, *, max_disable: int | None = None) -> list[str]:
    from bench.scenarios import AS_OF

    cmd = [str(PY), "-m", "sweeper", mode, "-c", str(config), "--as-of", AS_OF, "-f", "json", "-o", str(output)]
    if mode == "apply":
        cmd += ["--yes"] + (["--max-disable", str(max_disable)] if max_disable is not None else [])
    return cmd


def run_sweeper(mode: str, emulators: list[Emulator], folder: Path, *, max_disable: int | None = None,
                timeout: float = 900) -> Measured:
    """One measured `sweeper plan|apply` against the emulators; counters reset before, read after."""
    config = write_config(folder, emulators)
    output = folder / f"{mode}-report.json"
    output.unlink(missing_ok=True)
    for emu in emulators:
        emu.reset()
    result = measure(sweeper_cmd(mode, config, output, max_disable=max_disable), child_env(emulators),
                     timeout=timeout, helpers=[emu.proc.pid for emu in emulators])
    result.requests = {emu.provider: emu.counts() for emu in emulators}
    if output.exists():
        result.report = json.loads(output.read_text(encoding="utf-8"))
    return result


def run_baseline(emu: Emulator, timeout: float = 1800) -> Measured:
    """The per-identity script (bench/baseline.py) against one emulator, measured the same way."""
    emu.reset()
    cmd = [str(PY), str(ROOT / "bench" / "baseline.py"), emu.provider, json.dumps(emu.config)]
    result = measure(cmd, child_env([emu]), timeout=timeout, helpers=[emu.proc.pid])
    result.requests = {emu.provider: emu.counts()}
    return result


def machine() -> dict[str, Any]:
    """Cores, CPU model, memory and Python: what the figures were measured on."""
    model, memory = platform.processor(), 0.0
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        memory = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal")) / 2**20
    except (OSError, StopIteration, ValueError):
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_gb": round(memory, 1),
            "python": platform.python_version(), "platform": platform.platform()}
