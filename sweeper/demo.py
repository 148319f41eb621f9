"""`sweeper demo`: a full sweep against the bundled local emulators, no cloud account needed.

It starts moto's server for AWS and the project's Graph and Directory emulators on free loopback ports,
seeds the demo organisation (providers/demo.py), writes a config for them, and runs the real commands
through the real adapters. Everything lives in a temporary folder unless `--keep DIR`.
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console

from sweeper.errors import SweeperError

CONFIG = """\
# Written by `sweeper demo`: the emulators below live only while the demo runs.
[policy]
inactive_days = 90
warn_days = 14
max_disable = 25
max_disable_percent = 35
exclude = ["breakglass-*"]

[journal]
path = "sweeper.db"

[providers.aws]
endpoint_url = "{aws}"
region = "us-east-1"
console_inactive_days = 45
exclude_tags = {{ "sweeper:exempt" = "true" }}

[providers.entra]
tenant_id = "{tenant}"
endpoint = "{entra}"
auth = "access_token"
token_env = "SWEEPER_ENTRA_TOKEN"
guest_inactive_days = 30

[providers.google_workspace]
customer = "my_customer"
endpoint = "{google}"
auth = "access_token"
token_env = "SWEEPER_GOOGLE_TOKEN"
exclude_org_units = ["/Service Accounts"]
"""


def _run(console: Console, title: str, args: list[str]) -> int:
    from typer.main import get_command

    from sweeper.cli import app

    console.rule(f"[bold]$ sweeper {' '.join(args)}[/]  — {title}")
    code = get_command(app).main(args, prog_name="sweeper", standalone_mode=False)
    return int(code or 0)


def _start(stack: ExitStack, now: datetime) -> dict[str, str]:
    try:
        import moto  # noqa: F401  (the AWS emulator is moto's server)
    except ImportError:
        raise SweeperError("the demo needs moto's server: pip install 'identity-sweeper[demo]'") from None
    from providers import demo
    from providers.aws_iam import emulator as aws_emulator
    from providers.entra import emulator as graph_emulator
    from providers.google_workspace import emulator as directory_emulator

    aws = aws_emulator.start(demo.aws(now))
    stack.callback(aws.stop)
    graph = graph_emulator.start(demo.entra(now))
    stack.callback(graph.stop)
    directory = directory_emulator.start(demo.google_workspace(now))
    stack.callback(directory.stop)
    env = {**aws.caller_env(), "SWEEPER_ENTRA_TOKEN": demo.ENTRA_TOKEN, "SWEEPER_GOOGLE_TOKEN": demo.GOOGLE_TOKEN}
    return {"aws": aws.endpoint_url, "entra": graph.endpoint, "google": directory.endpoint,
            "tenant": demo.TENANT, **{f"env:{k}": v for k, v in env.items()}}


def _environment(stack: ExitStack, values: dict[str, str]) -> None:
    """Point this process's credential chains at the emulators, and put everything back afterwards."""
    saved = dict(os.environ)
    stack.callback(os.environ.update, saved)  # callbacks run last in, first out: clear, then put back
    stack.callback(os.environ.clear)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
                 "SWEEPER_CONFIG", "GITHUB_STEP_SUMMARY"):
        os.environ.pop(name, None)
    os.environ.update({k[4:]: v for k, v in values.items() if k.startswith("env:")})


def run_demo(apply: bool, keep: Path | None) -> int:
    console = Console(highlight=False)
    started = time.monotonic()
    now = datetime.now(timezone.utc)
    with ExitStack() as stack:
        if keep:
            folder = keep.resolve()
            folder.mkdir(parents=True, exist_ok=True)
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sweeper-demo-")))
        console.print("[bold]identity-sweeper demo[/]: starting local emulators of AWS IAM (moto), "
                      "Microsoft Graph and the Google Directory API on 127.0.0.1 ...")
        endpoints = _start(stack, now)
        _environment(stack, endpoints)
        config = folder / "sweeper.toml"
        config.write_text(CONFIG.format(**{k: v for k, v in endpoints.items() if not k.startswith("env:")}))
        cfg = ["-c", str(config)]
        code = _run(console, "the dry run: what would be disabled, and why", ["plan", *cfg])
        if code not in (0, 10):
            return code
        if apply:
            code = _run(console, "disable, journaling every change", ["apply", *cfg, "--yes"])
            if code:
                return code
            from sweeper.config import load
            from sweeper.journal import Journal

            journal = Journal(load(str(config)).journal_path)
            run_id = next(r.run_id for r in journal.runs() if r.mode == "apply")
            journal.close()
            _run(console, "the journal", ["history", *cfg])
            code = _run(console, "undo that run", ["restore", run_id, *cfg])
            if code:
                return code
            _run(console, "after the restore: the same findings again", ["plan", *cfg, "-f", "markdown"])
        where = f"files kept in {folder}" if keep else "emulators stopped, temporary files removed"
        console.rule()
        console.print(f"demo finished in {time.monotonic() - started:.1f} s; {where}."
                      + ("" if apply else "  Next: sweeper demo --apply"))
    return 0
