"""`sweeper demo`: a full sweep against the bundled local emulators, no cloud account needed.

It starts each provider's emulator (providers/emulator.py: moto's server for AWS, the project's Graph
and Directory emulators) on free loopback ports, seeds the demo organisation (providers/demo.py),
writes a config from what the emulators say reaches them, and runs the real commands through the
real adapters. Everything lives in a temporary folder unless `--keep DIR`.

`sweeper demo --serve` starts the same emulators and organisation and keeps them running until Ctrl-C:
it prints a ready sweeper.toml (also written to the folder) and the environment variables that point the
credential chains at the emulators, so that your own config and commands can be tried against them.
"""

from __future__ import annotations

import os
import shlex
import signal
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rich.console import Console

from sweeper.errors import SweeperError

POLICY = """\
# Written by `sweeper demo`: the emulators below live only while the demo runs.
[policy]
inactive_days = 90
warn_days = 14
max_disable = 25
max_disable_percent = 35
exclude = ["breakglass-*"]
remove_after_days = 30        # opt-in: what this sweeper disabled and nobody missed goes 30 days later

[journal]
path = "sweeper.db"
"""


def _run(console: Console, title: str, args: list[str]) -> int:
    from typer.main import get_command

    from sweeper.cli import app

    console.rule(f"[bold]$ sweeper {' '.join(args)}[/]  — {title}")
    code = get_command(app).main(args, prog_name="sweeper", standalone_mode=False)
    return int(code or 0)


def _start(stack: ExitStack, now: datetime) -> tuple[str, dict[str, str]]:
    """Start every provider's emulator: the config that reaches them, and the environment they need."""
    from providers import demo, emulator

    sections, env = [POLICY], {}
    for provider, (scenario, settings) in demo.organisation(now).items():
        try:
            emu = stack.enter_context(emulator.start(provider, scenario))
        except ImportError as err:  # moto's server is an optional dependency
            raise SweeperError(f"the demo needs {err.name or 'an emulator dependency'} for {provider}: "
                               "pip install 'identity-sweeper[demo]'") from None
        sections.append(emu.config_toml(**settings))
        env.update(emu.env())
    return "\n".join(sections), env


def _environment(stack: ExitStack, env: dict[str, str]) -> None:
    """Point this process's credential chains at the emulators, and put everything back afterwards."""
    saved = dict(os.environ)

    def restore() -> None:
        os.environ.clear()
        os.environ.update(saved)

    stack.callback(restore)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
                 "SWEEPER_CONFIG", "GITHUB_STEP_SUMMARY"):
        os.environ.pop(name, None)
    os.environ.update(env)


def _folder(stack: ExitStack, keep: Path | None) -> Path:
    """Where the demo's files go: `--keep DIR`, else a temporary folder removed at the end."""
    if keep:
        folder = keep.resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sweeper-demo-")))


def _report_page(folder: Path, keep: Path | None) -> Path:
    """Where the demo's HTML report goes: the kept folder, else a folder of its own that outlives the
    demo's temporary one (so that it can still be opened afterwards)."""
    return (folder if keep else Path(tempfile.mkdtemp(prefix="sweeper-demo-report-"))) / "report.html"


def run_demo(apply: bool, keep: Path | None) -> int:
    console = Console(highlight=False)
    started = time.monotonic()
    now = datetime.now(timezone.utc)
    with ExitStack() as stack:
        folder = _folder(stack, keep)
        console.print("[bold]identity-sweeper demo[/]: starting local emulators of AWS IAM (moto), "
                      "Microsoft Graph and the Google Directory API on 127.0.0.1 ...")
        text, env = _start(stack, now)
        _environment(stack, env)
        config = folder / "sweeper.toml"
        config.write_text(text)
        cfg = ["-c", str(config)]
        code = _run(console, "the dry run: what would be disabled, and why", ["plan", *cfg])
        if code not in (0, 10):
            return code
        page = _report_page(folder, keep)
        _run(console, "the same dry run as one HTML page to open in a browser: charts, a table to sort and filter",
             ["plan", *cfg, "-o", str(page)])
        _run(console, "the notices owners would get first (a preview: nothing is sent)",
             ["notify", *cfg, "--preview", "--preview-full", "2", "-o", str(folder / "notices.json")])
        if apply:
            code = _run(console, "disable, journaling every change", ["apply", *cfg, "--yes"])
            if code:
                return code
            from sweeper.config import load
            from sweeper.journal import Journal

            journal = Journal(load(str(config)).journal_path)
            run_id = next(r.run_id for r in journal.runs() if r.mode == "apply")
            journal.close()
            later = (now + timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")
            code = _run(console, "31 days later: what stayed disabled and unused is removed (opt-in: "
                                 "remove_after_days and --allow-remove)",
                        ["apply", *cfg, "--yes", "--allow-remove", "--as-of", later, "--allow-future-as-of"])
            if code not in (0, 3):
                return code
            journal = Journal(load(str(config)).journal_path)
            removal_id = next((r.run_id for r in journal.runs() if r.mode == "apply" and r.run_id != run_id), None)
            journal.close()
            _run(console, "the journal", ["history", *cfg])
            if removal_id:
                code = _run(console, "undo the removals: undeleted where the provider keeps them, the rest said",
                            ["restore", removal_id, *cfg, "--yes"])
                if code not in (0, 4):
                    return code
            code = _run(console, "undo the first run: re-enable what it disabled", ["restore", run_id, *cfg, "--yes"])
            if code:
                return code
            _run(console, "after the restore: what was restored is in its grace period, not disabled again", ["plan", *cfg, "-f", "markdown"])
        where = f"files kept in {folder}" if keep else "emulators stopped, temporary files removed"
        console.rule()
        console.print(f"demo finished in {time.monotonic() - started:.1f} s; {where}."
                      + ("" if apply else "  Next: sweeper demo --apply"))
        if page.exists():
            console.print(f"The dry run's HTML report (open it in a browser): {page}", soft_wrap=True, markup=False)
    return 0


def run_serve(keep: Path | None) -> int:
    """Start the emulators with the demo organisation and keep them up until Ctrl-C (or SIGTERM).

    Prints the config (written to FOLDER/sweeper.toml) and the `export` lines to paste into a shell.
    """
    console = Console(highlight=False)
    now = datetime.now(timezone.utc)
    with ExitStack() as stack:
        folder = _folder(stack, keep)
        text, env = _start(stack, now)
        config = folder / "sweeper.toml"
        journal_line = f"path = {_toml_string(str(folder / 'sweeper.db'))}"
        text = text.replace('path = "sweeper.db"', journal_line, 1)
        config.write_text(text)
        print(f"# sweeper.toml (written to {config}); edit a copy of it, or point yours at the same endpoints")
        print(text.rstrip("\n"))
        print("# environment: paste these into another shell, then run e.g.")
        print(f"#   sweeper plan -c {shlex.quote(str(config))}")
        for name, value in sorted(env.items()):
            print(f"export {name}={shlex.quote(value)}")
        print(f"export SWEEPER_CONFIG={shlex.quote(str(config))}")
        print("# emulators ready; Ctrl-C stops them" + ("" if keep else " and removes the folder"), flush=True)
        stop = {"asked": False}

        def ask(signum: int, frame: object) -> None:
            stop["asked"] = True

        previous = signal.signal(signal.SIGTERM, ask)
        try:
            while not stop["asked"]:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
        console.print("emulators stopped" + (f"; files kept in {folder}" if keep else ", temporary files removed"))
    return 0


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
