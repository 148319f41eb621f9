"""The `sweeper` command line: thin commands over the engine, journal and reports.

This is the composition root: it reads the config and asks the registry for adapters by name.
Only the report goes to stdout; progress, prompts and messages go to stderr.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import sys
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, List, Optional, ParamSpec, TypeVar

import typer
from rich.console import Console
from typer.core import TyperGroup

from sweeper import __version__, files, registry
from sweeper.config import Config, load
from sweeper.errors import SweeperError, UsageError
from sweeper.results import ExitCode

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from sweeper.model import CredentialKind
    from sweeper.records import Journal
    from sweeper.results import RunResult
    from sweeper.sweep import Progress

P = ParamSpec("P")
R = TypeVar("R")

class _Commands(TyperGroup):
    """The commands, with help that reads like a Unix tool's: flags show no type, values show what
    they are (FILE, PROVIDER, DATE...) instead of `<str>` or `<list[str]>`."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        for param in command.params if command else ():
            typed = getattr(param, "type_descriptor", None) or getattr(param, "type", None)
            choices = [str(getattr(c, "value", c)) for c in getattr(typed, "choices", None) or ()]
            if getattr(param, "is_flag", False):
                param.metavar = ""
            elif choices:
                param.metavar = "[" + "|".join(choices) + "]"
            elif param.metavar is None:
                param.metavar = METAVARS.get(param.name or "", (param.name or "value").upper())
            if param.param_type_name == "argument":  # usage `RUN_ID` / `[PLAN.json]`, not `{RUN_ID}`; no `<str>`
                shown = param.metavar if param.required else f"[{param.metavar}]"
                setattr(param, "_usage_display_name", lambda shown=shown: shown)
                setattr(param, "display_type_rich", lambda ctx: None)
        return command


METAVARS = {"config": "FILE", "provider": "PROVIDER", "as_of": "DATE", "output": "FILE|URL", "journal_at": "PATH|URL",
            "plan_out": "FILE", "max_disable": "N", "run": "RUN_ID", "run_id": "RUN_ID", "since": "DATE",
            "limit": "N", "keep": "DIR", "mode": "MODE"}

app = typer.Typer(cls=_Commands, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="Find identities nobody has used for too long in AWS IAM, Entra ID and Google "
                       "Workspace, and disable them safely (dry run first, caps, undo).")
err_console = Console(stderr=True, highlight=False)


def say(text: str, label: str = "", style: str = "") -> None:
    """One message on stderr, shown as data: markup, emoji codes and control characters in it (a
    login, an API's error text) are never interpreted (`sweeper.text.terminal`). `label` goes first,
    in `style`."""
    from rich.text import Text

    from sweeper.text import MESSAGE_CHARS, terminal

    line = terminal(text, limit=MESSAGE_CHARS)
    err_console.print(Text.assemble((label, style), " ", line) if label else line, soft_wrap=True)


# table, then every registered renderer (json, csv, markdown and any plug-in's)
Format = Enum("Format", {name: name for name in ("table", *registry.renderer_names())}, type=str)  # type: ignore[misc]


class HistoryFormat(str, Enum):
    table = "table"
    json = "json"


ConfigOpt = typer.Option(None, "-c", "--config", help="Config file (default: $SWEEPER_CONFIG, then ./sweeper.toml).")
ProviderOpt = typer.Option(None, "-p", "--provider",
                           help=f"Only this provider ({', '.join(registry.names())}); repeatable.")
AsOfOpt = typer.Option(None, "--as-of", help="Judge as if now were this instant (ISO 8601; a date means 00:00 UTC).")
FormatOpt = typer.Option(Format["table"], "-f", "--format", help="Report format.")
OutOpt = typer.Option(None, "-o", "--output",
                      help="Write the report to this file instead of stdout; repeatable. A .json, .csv, .md or .html "
                           "file gets that format (NAME.ocsf.json gets ocsf), any other the -f format. Also s3://, "
                           "gs:// or az:// URLs (with the [journal] storage settings); {run_id} and {date} are "
                           "filled in.")
JournalOpt = typer.Option(None, "--journal", help="The journal: a file, or s3://, gs://, az:// (overrides "
                                                  "[journal] path).")
WideOpt = typer.Option(False, "--wide", help="Show the findings as one wide table with the reason as a column "
                                             "(default: one line per finding, the reason below it).")
SUFFIX_FORMATS = {".json": "json", ".csv": "csv", ".md": "markdown", ".markdown": "markdown"}


class SummaryMode(str, Enum):
    counts = "counts"
    full = "full"


SummaryOpt = typer.Option(SummaryMode.counts, "--summary",
                          help="What goes to $GITHUB_STEP_SUMMARY when it is set: counts (per provider and scope, "
                               "no identity named) or full (every finding, as -f markdown).")


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn errors into a one-line message and an exit code; never a traceback (SWEEPER_DEBUG=1 shows one)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except BrokenPipeError:  # `sweeper ... | head -1`: the reader has what it wanted
            quiet_stdout()
            raise typer.Exit(0) from None
        except SweeperError as err:
            say(str(err), "error:", "bold red")
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            say("interrupted")
            raise typer.Exit(130) from None
        except Exception as err:  # noqa: BLE001 - last resort: say what, not where
            if os.environ.get("SWEEPER_DEBUG"):
                raise
            say(f"{type(err).__name__}: {err}", "internal error:", "bold red")
            raise typer.Exit(1) from None

    return wrapper


def quiet_stdout() -> None:
    """Send what is left of stdout nowhere: its reader is gone (EPIPE), and Python's flush at exit
    must not fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def check_outputs(outputs: list[str] | None, plan_out: Path | None = None) -> None:
    """Refuse, before anything is listed, an output file whose folder does not exist (exit 2)."""
    from sweeper.store import is_remote

    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    named = [(f"-o {raw}", raw) for raw in outputs or [] if not is_remote(raw)]
    named += [(f"--plan-out {plan_out}", str(plan_out))] if plan_out is not None else []
    for flag, raw in named:
        folder = Path(raw.replace("{run_id}", "run").replace("{date}", stamp)).parent
        if not folder.exists():  # (a folder that cannot be written to is said after the run, run id and all)
            raise UsageError(f"{flag}: the folder {folder} does not exist (nothing was listed)")


def _config(path: str | None) -> Config:
    """Load and validate the config; what it allows that a person should know is said on every run."""
    cfg = load(path)
    for warning in cfg.warnings():
        say(f"warning: {warning}")
    return cfg


def parse_as_of(value: str | None, flag: str = "--as-of") -> datetime:
    """`--as-of`: ISO 8601 instant or date (00:00 UTC); naive times are UTC. None means the real now."""
    if value is None:
        return datetime.now(timezone.utc)
    text = value.strip()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(f"{flag} {value!r}: not an ISO 8601 date or time (e.g. 2026-11-21 or "
                         "2026-11-21T09:30:00Z)") from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def known(wanted: list[str]) -> list[str]:
    """The providers named with -p (kinds, or instances `kind:name`), each checked against the
    registry, without repeats."""
    for name in wanted:
        if registry.kind_of(name) not in registry.names():
            raise UsageError(f"-p {name}: unknown provider (known: {', '.join(registry.names())})")
    return list(dict.fromkeys(wanted))


def select(config: Config, wanted: list[str] | None) -> list[str]:
    """The providers to sweep: all configured, or those named with -p (each must be configured): a
    kind selects all its instances (`-p entra`), `kind:name` one (`-p entra:contoso`)."""
    if not wanted:
        return list(config.providers)
    chosen: list[str] = []
    for name in known(wanted):
        found = [p for p in config.providers if registry.matches(p, [name])]
        if not found:
            raise UsageError(f"-p {name}: not configured (or enabled = false) in {config.path} "
                             f"(configured: {', '.join(config.providers)})")
        chosen += found
    return list(dict.fromkeys(chosen))


def interactive() -> bool:
    """Whether a person can answer a prompt (stdin is a terminal)."""
    return sys.stdin.isatty()


class ReportConsole(Console):
    """stdout's console: a reader that went away (`| head -1`) is a BrokenPipeError for the command to
    end on normally (rich's own answer is exit 1)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        quiet_stdout()
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")


def stdout_console() -> Console:
    """The report console: terminal width on a terminal; when piped or captured, $COLUMNS (a
    number of at least 40), else a wide fixed width."""
    console = ReportConsole(highlight=False, soft_wrap=False)
    if console.is_terminal:
        return console
    columns = os.environ.get("COLUMNS", "")
    return ReportConsole(highlight=False, width=int(columns) if columns.isdigit() and int(columns) >= 40 else 200)


def emit(text: str) -> None:
    """Write a report to stdout."""
    sys.stdout.write(text)
    sys.stdout.flush()


def output_target(raw: str, run_id: str, config: Config | None) -> tuple[str, str]:
    """(where, suffix) for one -o value: placeholders filled; a URL is written through object storage."""
    filled = raw.replace("{run_id}", run_id).replace("{date}", datetime.now(timezone.utc).strftime("%Y-%m-%d"))
    suffixes = [s.lower() for s in Path(filled.rsplit("/", 1)[-1]).suffixes]
    # `findings.ocsf.json`: a format named before `.json` is the format, `.json` only says the file is JSON
    if (len(suffixes) > 1 and suffixes[-1] == ".json" and suffixes[-2] not in SUFFIX_FORMATS
            and suffixes[-2][1:] in registry.renderer_names()):
        return filled, suffixes[-2]
    return filled, suffixes[-1] if suffixes else ""


def emit_remote(text: str, url: str, config: Config | None) -> None:
    """Write a report object to s3://, gs:// or az:// with the [journal] storage settings."""
    from sweeper.store import open_store

    folder, _, name = url.rstrip("/").rpartition("/")
    if not name or folder.endswith(":/"):
        raise UsageError(f"-o {url}: name the report object (e.g. s3://bucket/reports/{{run_id}}.json)")
    open_store(folder, config.journal if config else None).put(name, text.encode("utf-8"))
    say(f"report written to {url}")


def _failure(err: BaseException) -> str:
    """Why a report could not be rendered or written, in a few words."""
    if isinstance(err, SweeperError):
        return str(err)
    if isinstance(err, OSError):
        return f"cannot write: {err.strerror or err}"
    if isinstance(err, UnicodeError):
        return f"cannot encode it: {err}"
    return f"{type(err).__name__}: {err}"


def scope_lines(result: RunResult) -> None:
    """One line on stderr per scope that failed, was capped or could not be measured, and the run's
    totals: what a person watching a CI log needs whatever the report's format and destination."""
    from sweeper import report

    for sc in result.scopes:
        if sc.status.value != "ok" or sc.removal_capped:
            where = f"{sc.provider} {sc.scope}".strip()
            say(f"{where}: {sc.status.value}" + (f": {sc.message}" if sc.message else ""),
                "error:" if sc.status.value == "failed" else "warning:",
                "bold red" if sc.status.value == "failed" else "yellow")
    say(f"run {result.run_id} ({result.mode}): {report.summary_line(result)}")


def _step_summary(path: str, result: RunResult, summary: SummaryMode, html_reports: list[str]) -> None:
    """Append the run to GitHub's step summary, within the 1 MiB GitHub shows (what the step wrote
    there before counts); `--summary full` is cut at a line with a note when it would not fit."""
    from sweeper import report
    from sweeper.text import markdown

    text = report.to_markdown(result) if summary is SummaryMode.full else report.to_markdown_counts(result)
    if html_reports:
        text += "\nThe HTML report: " + ", ".join(markdown(os.path.basename(p)) for p in html_reports) \
            + " (in this run's artifacts, when the workflow uploads it).\n"
    try:
        used = os.path.getsize(path)
    except OSError:
        used = 0
    text = report.fit_summary(text + "\n", report.STEP_SUMMARY_BYTES - used)
    if not text:
        say("warning: $GITHUB_STEP_SUMMARY is full (1 MiB): this run's summary is not added")
        return
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def _report(result: RunResult, fmt: Format, outputs: list[str] | None, config: Config | None = None,
            summary: SummaryMode = SummaryMode.counts, exit_on_findings: bool = False, wide: bool = False) -> int:
    """Render and write the run's reports; return the run's exit code.

    The run is in the journal already (its actions as they happened, its end before this is called):
    a report that cannot be rendered or written (a bad path, a full disk, an encoding) is said in one
    line, the others are still written, the run's summary and id are printed on stderr, and the exit
    code is 4 (2 for a path refused as unsafe), or the run's own safety stop or partial failure.
    """
    from sweeper import report
    from sweeper.store import is_remote

    failed: list[str] = []
    codes: list[int] = [ExitCode.OK]

    def attempt(what: str, write: Callable[[], None]) -> None:
        try:
            write()
        except BrokenPipeError:  # stdout's reader is gone (`| head`): not a failure of the run
            quiet_stdout()
        except Exception as err:  # noqa: BLE001 - a report never loses what the run did
            why = _failure(err)
            failed.append(why if why.startswith(what) else f"{what}: {why}")
            codes.append(err.exit_code if isinstance(err, SweeperError) else ExitCode.PARTIAL)

    to_terminal = not outputs and fmt is Format["table"]
    if not to_terminal:
        scope_lines(result)
    if not outputs:
        if fmt is Format["table"]:
            attempt("the report", lambda: report.to_table(result, stdout_console(), wide))
        else:
            attempt("the report", lambda: emit(report.render(result, fmt.value)))
    html_reports: list[str] = []
    for raw in outputs or []:
        where, suffix = output_target(raw, result.run_id, config)
        named = suffix[1:] if suffix[1:] in registry.renderer_names() else None

        def write(where: str = where, fmt_name: str = SUFFIX_FORMATS.get(suffix) or named or fmt.value) -> None:
            text = report.render(result, fmt_name, wide=wide)
            if is_remote(where):
                emit_remote(text, where, config)
            else:
                files.write_private(where, text, "report")
            if fmt_name == "html":
                html_reports.append(where)

        attempt(f"-o {where}", write)
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        try:  # a convenience: never the run's failure
            _step_summary(summary_path, result, summary, html_reports)
        except (OSError, UnicodeError) as err:
            say(f"warning: cannot append to $GITHUB_STEP_SUMMARY: {_failure(err)}")
    code = result.exit_code(exit_on_findings=exit_on_findings)
    if not failed:
        return code
    for line in failed:
        say(line, "error:", "bold red")
    if to_terminal:
        say(f"run {result.run_id} ({result.mode}): {report.summary_line(result)}")
    if result.mode == "apply":
        say(f"its actions are in the journal (sweeper history --run {result.run_id})")
    return max(*codes, code) if code in (ExitCode.STOPPED, ExitCode.PARTIAL) else max(codes)


def _progress() -> AbstractContextManager[Progress]:
    from sweeper.progress import make_progress

    return make_progress(err_console)


def future_as_of(when: datetime, allowed: bool) -> str | None:
    """Acting never happens earlier than the real clock would: a future --as-of needs the flag, and is
    then a warning recorded with the run."""
    now = datetime.now(timezone.utc)
    if when <= now + timedelta(minutes=1):
        return None
    stamp = when.isoformat().replace("+00:00", "Z")
    if not allowed:
        raise UsageError(f"--as-of {stamp} is in the future: acting as if it were later than it is would disable "
                         "credentials before their time (give --allow-future-as-of for demos and tests)")
    note = f"--as-of {stamp} is in the future (--allow-future-as-of)"
    say(f"warning: {note}")
    return note


def _sweep(config: Config, providers: list[str], as_of: datetime, mode: str, journal: Journal | None = None,
           plan_targets: set[tuple[str, ...]] | None = None, max_disable: int | None = None,
           plan_digest: str | None = None, note: str | None = None,
           then: Callable[[RunResult], None] | None = None, allow_remove: bool = False,
           only_scopes: dict[str, set[str]] | None = None) -> RunResult:
    from sweeper.errors import BindingError, JournalError
    from sweeper.model import RunStatus
    from sweeper.store import StoreDenied
    from sweeper import workers
    from sweeper.sweep import Sweep

    config.managed_index  # noqa: B018 - read the Terraform states now: a bad one stops the run before anything
    with _progress() as progress:
        sweep = Sweep(config, providers, as_of, mode, journal, plan_targets, max_disable, progress,
                      allow_remove=allow_remove, open_adapter=registry.create, describe=registry.info,
                      only_scopes=only_scopes)
        if journal:
            try:
                journal.start_run(sweep.run_id, mode, as_of, config.digest, plan_digest=plan_digest, note=note)
            except StoreDenied as err:
                if mode != "plan":
                    raise
                say(f"warning: this plan is not recorded in the journal ({err})")
                journal = sweep.journal = None
        try:
            found = _run_stoppable(sweep) if mode == "apply" else workers.run(sweep)  # plan: maybe in processes
        except BindingError:
            if journal:
                with contextlib.suppress(JournalError):
                    journal.finish_run(sweep.run_id, RunStatus.STOPPED)
            raise
        if found is None:  # interrupted, and changes were still under way after the grace period
            if journal:
                with contextlib.suppress(JournalError):
                    journal.finish_run(sweep.run_id, RunStatus.INTERRUPTED)
            say(f"run {sweep.run_id} interrupted with changes still under way; what was done is in the journal "
                f"(sweeper history --run {sweep.run_id}); `sweeper apply` again continues, "
                f"`sweeper restore {sweep.run_id}` undoes it")
            raise typer.Exit(130)
        result = found
        if then is not None:  # what the run goes on to do before its end is recorded (notify's deliveries)
            then(result)
    for glob in result.stale_patterns():
        say(f"warning: exclude pattern {glob!r} matched no login in this run (stale, or mistyped?)")
    if journal:
        try:
            journal.finish_run(result.run_id, RunStatus.INTERRUPTED if result.run_id in INTERRUPTED
                               else result.run_status())
        except JournalError as err:  # what was done is recorded action by action; the report still matters
            say(f"warning: cannot record the end of run {result.run_id}: {err}")
            result.journal_error = str(err)
    return result


STOP_GRACE_SECONDS = 5.0  # how long Ctrl-C waits for the changes under way before it leaves
INTERRUPTED: set[str] = set()  # runs stopped by Ctrl-C (their report is still written)


def _run_stoppable(sweep: Any) -> RunResult | None:
    """Run an apply sweep so that Ctrl-C stops new work at once (no new listing page, no new change),
    waits up to STOP_GRACE_SECONDS for the changes under way, and gives the result of what was done;
    None when changes were still under way after that (their intents are in the journal)."""
    import threading

    box: dict[str, Any] = {}
    done = threading.Event()  # (not Thread.join: a join that Ctrl-C interrupts can misreport the thread)

    def work() -> None:
        try:
            box["result"] = sweep.run()
        except BaseException as err:  # noqa: BLE001 - raised again in the main thread
            box["error"] = err
        finally:
            done.set()

    threading.Thread(target=work, name="sweep", daemon=True).start()
    try:
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        sweep.stop.set()
        INTERRUPTED.add(sweep.run_id)
        say(f"interrupted: no new change is started; waiting up to {STOP_GRACE_SECONDS:g} s for those under way")
        if not done.wait(STOP_GRACE_SECONDS):
            return None
    if "error" in box:
        raise box["error"]
    found: RunResult = box["result"]
    return found


def irreversible_text(provider: str, kind: CredentialKind) -> str | None:
    """What a provider says cannot be undone for a credential kind (its registry metadata)."""
    try:
        return registry.info(provider).irreversible.get(kind)
    except SweeperError:
        return None


def _journal(config: Config, override: str | None = None, *, new: bool = False, verify: bool = False) -> Journal:
    """The journal; `verify` refuses one whose hash chain is broken (apply, restore, history)."""
    from sweeper.errors import JournalError
    from sweeper.journal_remote import open_journal
    from sweeper.store import is_remote

    if override and not is_remote(override) and "://" in override:
        raise UsageError(f"--journal {override}: unknown storage scheme (use a file path, s3://, gs:// or az://)")
    where = override or config.journal_location
    journal = open_journal(where, config.journal, new=new)
    if verify:
        broken = journal.verify()
        if broken:
            raise JournalError(f"{journal.path}: the journal does not verify: {broken}; nothing is done on it "
                               "(see `sweeper history --verify`)")
    return journal


NewJournalOpt = typer.Option(False, "--new-journal", help="Start an empty journal where one existed and is missing.")


@app.command()
@guarded
def plan(config: Optional[str] = ConfigOpt, provider: Optional[List[str]] = ProviderOpt,
         as_of: Optional[str] = AsOfOpt, fmt: Format = FormatOpt, output: Optional[List[str]] = OutOpt,
         journal_at: Optional[str] = JournalOpt, new_journal: bool = NewJournalOpt,
         plan_out: Optional[Path] = typer.Option(None, "--plan-out", help="Write a plan file for `apply PLAN`."),
         exit_code: bool = typer.Option(False, "--exit-code", help="Exit 10 when something would be disabled."),
         summary: SummaryMode = SummaryOpt, wide: bool = WideOpt) -> None:
    """Report what would be disabled, changing nothing (the dry run).

    Example: sweeper plan -c sweeper.toml --as-of 2026-11-21 -f json -o report.json --plan-out plan.json
    """
    from sweeper import planfile
    from sweeper.errors import JournalError

    cfg = _config(config)
    providers = select(cfg, provider)
    when = parse_as_of(as_of)
    check_outputs(output, plan_out)
    try:
        journal: Journal | None = _journal(cfg, journal_at, new=new_journal)
    except JournalError as err:  # a plan changes nothing: it runs, and says what it cannot know
        say(f"warning: {err}")
        say("warning: this plan runs without the journal: it is not recorded, and what only the journal knows "
            "(notices given, accounts people re-enabled, removals due) is not taken into account; apply refuses "
            "until the journal opens")
        journal = None
    result = _sweep(cfg, providers, when, "plan", journal)
    if plan_out:
        planfile.write(str(plan_out), planfile.build(result, cfg, planfile.real_now()))
        say(f"plan written to {plan_out}")
    raise typer.Exit(_report(result, fmt, output, cfg, summary, exit_on_findings=exit_code, wide=wide))


@app.command()
@guarded
def notify(config: Optional[str] = ConfigOpt, provider: Optional[List[str]] = ProviderOpt,
           as_of: Optional[str] = AsOfOpt, fmt: Format = FormatOpt, output: Optional[List[str]] = OutOpt,
           journal_at: Optional[str] = JournalOpt, new_journal: bool = NewJournalOpt,
           preview: bool = typer.Option(False, "--preview", help="Show the notices and the digest that would be "
                                                                 "sent; send nothing."),
           shown_in_full: Optional[int] = typer.Option(None, "--preview-full", min=0, hidden=True,
                                                       help="With --preview: show this many notices whole, the rest "
                                                            "as one line each."),
           summary: SummaryMode = SummaryOpt) -> None:
    """Sweep like `plan` (nothing changes in any cloud), then tell owners what is in the warn window or
    about to be disabled, remind exception owners before their exceptions end, and send each channel
    a digest. Every notice is journaled; none is sent twice for the same stage.

    Example: sweeper notify -c sweeper.toml -f json -o notices.json
    """
    from sweeper.notify import Notifier

    cfg = _config(config)
    providers = select(cfg, provider)
    when = parse_as_of(as_of)
    check_outputs(output)
    journal = _journal(cfg, journal_at, new=new_journal)

    def show(text: str) -> None:
        from rich.text import Text

        from sweeper.text import printable

        err_console.print(Text(printable(text, None, newlines=True)), soft_wrap=True)

    def deliver(result: RunResult) -> None:
        Notifier(cfg, journal, result, preview=preview, show=show, shown_in_full=shown_in_full).run()

    result = _sweep(cfg, providers, when, "notify", journal, then=deliver)
    _notice_summary(result)
    raise typer.Exit(_report(result, fmt, output, cfg, summary))


def _notice_summary(result: RunResult) -> None:
    """One line per outcome on stderr: what was sent, what failed, who has no owner to notify."""
    from collections import Counter

    outcomes = Counter("sent" if n["result"] == "sent" else "preview" if n["result"] == "preview" else
                       "no owner" if n["result"] == "no owner to notify" else "failed" for n in result.notices)
    if not result.notices:
        say("notices: nothing to send")
        return
    say("notices: " + ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())))
    for n in result.notices:
        if n["result"] not in ("sent", "preview"):
            say(f"  {n['identity']}" + (f" -> {n['to']}" if n["to"] else "") + f": {n['result']}")


@app.command()
@guarded
def apply(plan_file: Optional[Path] = typer.Argument(None, metavar="PLAN.json",
                                                     help="Act only on what this plan names."),
          config: Optional[str] = ConfigOpt, provider: Optional[List[str]] = ProviderOpt,
          as_of: Optional[str] = AsOfOpt, fmt: Format = FormatOpt, output: Optional[List[str]] = OutOpt,
          journal_at: Optional[str] = JournalOpt, new_journal: bool = NewJournalOpt,
          max_disable: Optional[int] = typer.Option(None, "--max-disable", min=0,
                                                    help="Raise the per-scope safety cap to N for this run."),
          yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
          reapply: bool = typer.Option(False, "--reapply", help="Apply a plan file the journal says was applied."),
          allow_future_as_of: bool = typer.Option(False, "--allow-future-as-of",
                                                  help="Let --as-of lie in the future (demos, tests): recorded."),
          allow_remove: bool = typer.Option(False, "--allow-remove",
                                            help="Also remove what remove_after_days says is due (the config alone "
                                                 "never removes)."),
          summary: SummaryMode = SummaryOpt, wide: bool = WideOpt) -> None:
    """Disable inactive credentials, recording every change in the journal.

    With PLAN.json it disables only what the plan names and a fresh read still finds inactive; without
    it, it plans and applies in one go (the scheduled-job form). On a terminal it asks first unless --yes:
    without a plan file it sweeps first, shows what it would disable, and acts only on what it showed.
    A plan file opens only the providers it names.

    Example: sweeper apply plan.json -c sweeper.toml --yes
    """
    from sweeper import planfile
    from sweeper.reconcile import reconcile

    cfg = _config(config)
    providers = select(cfg, provider)
    when = parse_as_of(as_of)
    check_outputs(output)
    plan = planfile.load(str(plan_file), cfg, planfile.real_now(), cfg.policy.plan_max_age_hours) \
        if plan_file else None
    targets = planfile.targets(plan, str(plan_file)) if plan is not None else None
    if targets is not None:  # a plan opens the providers it names, and no other
        named = {t[0] for t in targets}
        missing = sorted(named - set(cfg.providers))
        if missing:
            raise UsageError(f"{plan_file}: names provider(s) not configured in {cfg.path}: {', '.join(missing)}")
        providers = [p for p in providers if p in named]
    only_scopes: dict[str, set[str]] | None = None
    if targets is not None:  # ... and lists only the scopes it names
        only_scopes = {}
        for key in targets:
            only_scopes.setdefault(key[0], set()).add(key[1])
    note = future_as_of(when, allow_future_as_of)
    if interactive() and not yes:
        also = " and remove what remove_after_days says is due" if allow_remove else ""
        if targets is None:  # sweep first, show, ask, then act only on what was shown
            targets = _preview(cfg, providers, when, _journal(cfg, journal_at, new=new_journal), allow_remove,
                               max_disable)
            if not targets:
                say("nothing to disable; nothing changed")
                raise typer.Exit(0)
            question = f"Disable these {len(targets)} credential(s){also}, each checked live first?"
        else:
            question = f"Disable the {len(targets)} target(s) in {plan_file}{also}?"
        if not typer.confirm(question, default=False, err=True):
            say("nothing changed")
            raise typer.Exit(0)
    journal = _journal(cfg, journal_at, new=new_journal, verify=True)
    with journal.exclusive():
        digest = planfile.digest_of(plan) if plan is not None else None
        used = journal.plan_applied(digest) if digest else None
        if used and not reapply:
            raise UsageError(f"{plan_file}: this plan was applied already by run {used}; plans are single-use "
                             "(make a new plan, or give --reapply to apply it again)")
        killed = [r.run_id for r in journal.runs() if r.status == "running"]  # (the lock is ours: none runs now)
        for message in reconcile(cfg, journal, "", providers, open_adapter=registry.create):
            say(message)
        if killed:
            say(f"run(s) {', '.join(killed)} ended without finishing (killed?) and are now marked interrupted; "
                "what each did is undone only by its own restore: "
                + "; ".join(f"sweeper restore {k}" for k in killed), "warning:", "yellow")
        result = _sweep(cfg, providers, when, "apply", journal, targets, max_disable, plan_digest=digest,
                        note=note, allow_remove=allow_remove, only_scopes=only_scopes)
    if killed:
        say(f"to undo this run and the interrupted one(s) before it: "
            + "; ".join(f"sweeper restore {k}" for k in [result.run_id, *killed]))
    code = _report(result, fmt, output, cfg, summary, wide=wide)
    if result.run_id in INTERRUPTED:
        again = f"`sweeper apply {plan_file} --reapply`" if plan_file else "`sweeper apply`"
        say(f"run {result.run_id} was interrupted: what it did is in the report and the journal; {again} "
            f"continues (each credential is judged again), `sweeper restore {result.run_id}` undoes it")
        raise typer.Exit(130)
    raise typer.Exit(code)


SHOWN_TARGETS = 10  # targets listed before the one-shot apply's question; the rest are counted


def _preview(config: Config, providers: list[str], as_of: datetime, journal: Journal, allow_remove: bool,
             max_disable: int | None = None) -> set[tuple[str, ...]]:
    """The one-shot apply's look before it asks: a plan-mode sweep (it reads, records nothing), its
    counts per provider and its first targets on stderr; the keys of what it would disable (and
    remove, with --allow-remove), which the apply then acts on and on nothing else."""
    from collections import Counter

    from sweeper.model import DecisionKind
    from sweeper.results import FindingAction
    from sweeper.sweep import Sweep

    config.managed_index  # noqa: B018 - the Terraform states, read before anything
    with _progress() as progress:
        result = Sweep(config, providers, as_of, "plan", journal, None, max_disable, progress,
                       open_adapter=registry.create, describe=registry.info).run()
    kinds = (DecisionKind.DISABLE, DecisionKind.REMOVE) if allow_remove else (DecisionKind.DISABLE,)
    chosen = [f for f in result.findings if f.action == FindingAction.PLANNED and f.decision.kind in kinds]
    for sc in result.scopes:
        if sc.status.value != "ok":
            say(f"{sc.provider} {sc.scope}: {sc.status.value}" + (f": {sc.message}" if sc.message else "")
                + "; nothing there will be done", "warning:", "yellow")
    per = Counter(f.identity.provider for f in chosen)
    say("would disable: " + (", ".join(f"{n} in {p}" for p, n in sorted(per.items())) or "nothing"))
    for f in sorted(chosen, key=lambda f: (f.identity.provider, f.identity.login.casefold()))[:SHOWN_TARGETS]:
        days = f"{f.decision.days_inactive} days" if f.decision.days_inactive is not None else "never used"
        say(f"  {f.identity.provider} {f.identity.scope} {f.identity.login} {f.credential.label} "
            f"({f.decision.kind.value}, {days}; threshold {f.decision.threshold_days})")
    if len(chosen) > SHOWN_TARGETS:
        say(f"  ... and {len(chosen) - SHOWN_TARGETS} more (sweeper plan shows them all)")
    return {f.ref.key for f in chosen}


@app.command()
@guarded
def restore(run_id: str = typer.Argument(..., help="The run whose changes to undo (see `sweeper history`)."),
            config: Optional[str] = ConfigOpt,
            provider: Optional[List[str]] = typer.Option(None, "-p", "--provider", help="Only this provider."),
            journal_at: Optional[str] = JournalOpt, new_journal: bool = NewJournalOpt,
            dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be re-enabled."),
            yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
            force: bool = typer.Option(False, "--force", help="Restore a run older than restore_max_age_days."),
            fmt: HistoryFormat = typer.Option(HistoryFormat.table, "-f", "--format", help="Output format.")) -> None:
    """Re-enable what one apply run disabled (keys Active, accounts enabled, users unsuspended).

    Each credential is checked first: what was enabled, used or changed since the run is left alone
    ("changed since the run; not restored"). Deleted console passwords cannot be restored; they are
    listed as such. On a terminal it shows what it will re-enable and asks, unless --yes.

    Example: sweeper restore 20261121T040000Z-1a2b3c --dry-run
    """
    from rich.table import Table

    from sweeper.reconcile import reconcile
    from sweeper.restore import restore as do_restore
    from sweeper.text import terminal

    cfg = _config(config)
    provider = known(provider) if provider else None
    journal = _journal(cfg, journal_at, new=new_journal, verify=True)
    if interactive() and not yes and not dry_run:
        _, preview = do_restore(cfg, journal, run_id, provider, dry_run=True, force=force,
                                open_adapter=registry.create, irreversible=irreversible_text)
        todo = [i for i in preview if i.result.startswith("would")]
        for item in todo:
            say(f"  {item.row.ref.provider} {item.row.ref.scope} {item.row.ref.login} {item.row.ref.label}")
        if not typer.confirm(f"Re-enable these {len(todo)} credential(s), each checked first?", default=False,
                             err=True):
            say("nothing changed")
            raise typer.Exit(0)
    with journal.exclusive():
        for message in reconcile(cfg, journal, "", provider, open_adapter=registry.create):
            say(message)
        restore_id, items = do_restore(cfg, journal, run_id, provider, dry_run, force, open_adapter=registry.create,
                                       irreversible=irreversible_text)
    code = 4 if any(i.result == "failed" for i in items) else 0
    if fmt is HistoryFormat.json:
        from collections import Counter

        emit(json.dumps({"restores": run_id, "run_id": restore_id, "dry_run": dry_run,
                         "results": dict(Counter(i.result for i in items)),
                         "items": [{"provider": i.row.ref.provider, "scope": i.row.ref.scope,
                                    "identity": i.row.ref.login, "identity_id": i.row.ref.identity_id,
                                    "credential": i.row.ref.label, "kind": i.row.ref.kind.value,
                                    "undoes": i.row.action.value, "result": i.result, "detail": i.detail}
                                   for i in items]}, indent=2) + "\n")
        raise typer.Exit(code)
    table = Table(title=terminal(f"restore of {run_id}" + (f" (run {restore_id})" if restore_id else "")
                                 + (" — dry run" if dry_run else "")), title_justify="left")
    for col in ("provider", "scope", "identity", "credential", "result", "detail"):
        table.add_column(col, overflow="fold")
    for item in items:
        table.add_row(*map(terminal, (item.row.ref.provider, item.row.ref.scope, item.row.ref.login,
                                      item.row.ref.label, item.result, item.detail)))
    stdout_console().print(table if items else terminal(f"run {run_id} disabled nothing that can be restored"))
    raise typer.Exit(code)


class RunMode(str, Enum):
    plan = "plan"
    apply = "apply"
    restore = "restore"
    notify = "notify"


HISTORY_ROWS = 30  # the table's default; json lists every run unless --limit


@app.command()
@guarded
def history(config: Optional[str] = ConfigOpt,
            run: Optional[str] = typer.Option(None, "--run", help="Show one run and its actions."),
            verify: bool = typer.Option(False, "--verify", help="Check the journal's hash chain (and HMAC) only."),
            mode: Optional[RunMode] = typer.Option(None, "--mode", help="Only runs of this mode."),
            since: Optional[str] = typer.Option(None, "--since", help="Only runs started on or after this instant "
                                                                      "(ISO 8601), or this many days back (7d)."),
            limit: Optional[int] = typer.Option(None, "--limit", min=0,
                                                help=f"At most N runs, newest first (table default {HISTORY_ROWS}; "
                                                     "0: all)."),
            journal_at: Optional[str] = JournalOpt, new_journal: bool = NewJournalOpt,
            fmt: HistoryFormat = typer.Option(HistoryFormat.table, "-f", "--format", help="Output format.")) -> None:
    """List past runs, newest first, with their action counts; --run shows one run's actions.

    Example: sweeper history --mode apply --since 30d
    """
    from rich.table import Table

    from sweeper.model import ActionState
    from sweeper.text import terminal

    cfg = _config(config)
    if verify:
        journal = _journal(cfg, journal_at, new=new_journal)
        broken = journal.verify()
        if broken:
            say(f"{journal.path}: does not verify: {broken}")
            raise typer.Exit(2)
        keyed = " and HMAC" if os.environ.get("SWEEPER_JOURNAL_KEY") else ""
        sys.stdout.write(f"{journal.path}: hash chain{keyed} verified; every run and action is as recorded\n")
        return
    after = _since(since) if since else None
    journal = _journal(cfg, journal_at, new=new_journal, verify=True)
    shown = limit if limit is not None else (HISTORY_ROWS if fmt is HistoryFormat.table and not run else 0)
    runs = journal.runs(run, mode=mode.value if mode else None, since=after, limit=shown + 1 if shown else None)
    more = bool(shown) and len(runs) > shown
    runs = runs[:shown] if shown else runs
    if run and not runs:
        raise UsageError(f"--run {run}: no such run in {journal.path}")
    actions = journal.actions(run) if run else []

    def failed(state: str) -> bool:
        return state in (ActionState.FAILED, ActionState.INTERRUPTED)

    if fmt is HistoryFormat.json:
        out: dict[str, Any] = {"runs": [r.as_json() for r in runs]}
        if run:
            out["run"] = journal.run_details(run)  # who, from where, with which config and plan
            out["actions"] = [{"provider": a.ref.provider, "scope": a.ref.scope, "identity": a.ref.login,
                               "identity_id": a.ref.identity_id, "credential": a.ref.label,
                               "action": a.action.value, "state": a.state,
                               "error": a.error if failed(a.state) else None,
                               "detail": None if failed(a.state) else a.error,
                               "reason": a.before.get("reason"), "irreversible": a.irreversible,
                               "updated": a.updated} for a in actions]
        emit(json.dumps(out, indent=2) + "\n")
        return
    console = stdout_console()
    table = Table(title=terminal(f"runs in {journal.path}"), title_justify="left")
    for col in ("run_id", "mode", "as of", "started", "status", "providers", "by", "done", "failed", "pending"):
        table.add_column(col, overflow="fold")
    for r in runs:
        table.add_row(*map(terminal, (r.run_id, r.mode + (f" of {r.restores}" if r.restores else ""),
                                      (r.as_of or "")[:10], r.started, r.status, ", ".join(r.providers), r.by,
                                      r.done, r.failed, r.pending)))
    console.print(table)
    if more:
        say("older runs not shown: --limit 0 shows them all (or --since, --mode to narrow)")
    if actions:
        detail = Table(title=terminal(f"actions of {run}"), title_justify="left")
        for col in ("provider", "scope", "identity", "credential", "action", "state", "detail"):
            detail.add_column(col, overflow="fold")
        for a in actions:
            detail.add_row(*map(terminal, (a.ref.provider, a.ref.scope, a.ref.login, a.ref.label, a.action.value,
                                           a.state, a.error)))
        console.print(detail)


def _since(value: str) -> str:
    """`--since`: an ISO 8601 instant or date, or `Nd` days back; as the journal writes its times."""
    import re

    days = re.fullmatch(r"(\d{1,5})d", value.strip())
    when = datetime.now(timezone.utc) - timedelta(days=int(days[1])) if days else parse_as_of(value, "--since")
    return when.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@app.command()
@guarded
def check(config: Optional[str] = ConfigOpt, provider: Optional[List[str]] = ProviderOpt) -> None:
    """Validate the config, then probe each provider's access and permissions (changes nothing).

    Example: sweeper check -c sweeper.toml
    """
    from rich.table import Table

    from sweeper.actions import close_quietly, describe_failure
    from sweeper.errors import BindingError
    from sweeper.text import terminal

    def ok() -> Any:
        return terminal("ok", "green")

    def failure() -> Any:
        return terminal("FAILED", "bold red")

    from sweeper.rules import problems

    cfg = _config(config)
    say(f"config {cfg.path}: ok ({', '.join(cfg.providers)})"
        + (f"; {len(cfg.rules)} rule(s)" if cfg.rules else ""))
    table = Table(title="access and permissions", title_justify="left")
    for col in ("provider", "check", "result", "detail"):
        table.add_column(col, overflow="fold")
    for problem in problems(cfg.rules, cfg.policy.inactive_days, cfg.policy.never_used_days):
        table.add_row("config", "rules", terminal("REVIEW", "yellow"), terminal(problem))
    from sweeper.people import review

    failed = False
    for what, good, detail in review(cfg):
        table.add_row("config", what, ok() if good else terminal("REVIEW", "yellow") if good is None else failure(),
                      terminal(detail))
        failed |= good is False
    mismatch = False
    for name in select(cfg, provider):
        try:
            adapter = registry.create(name, cfg.providers[name], write=False)
            try:
                me = adapter.whoami()
                table.add_row(name, "identity", ok(), terminal(me.display))
                try:  # the binding first: a mismatch means nothing else is worth probing
                    bound = adapter.scopes()
                except BindingError as err:
                    table.add_row(name, "binding", terminal("MISMATCH", "bold red"), terminal(err.detail))
                    mismatch = True
                    continue
                table.add_row(name, "binding", ok(), terminal(", ".join(bound) or "(no scope)"))
                for r in adapter.check():
                    table.add_row(name, terminal(r.name), ok() if r.ok else terminal("not probed", "yellow")
                                  if r.ok is None else failure(), terminal(r.detail))
                    failed |= r.ok is False
            finally:
                close_quietly(adapter)
        except Exception as err:  # noqa: BLE001
            table.add_row(name, "access", failure(), terminal(describe_failure(err)))
            failed = True
    stdout_console().print(table)
    raise typer.Exit(2 if mismatch else 4 if failed else 0)


@app.command()
@guarded
def explain(identity: str = typer.Argument(..., metavar="IDENTITY",
                                           help="A login (any case), an identity id, or a credential id such as an "
                                                "access key id."),
            config: Optional[str] = ConfigOpt, provider: Optional[List[str]] = ProviderOpt,
            as_of: Optional[str] = AsOfOpt) -> None:
    """Show why the policy judges one identity as it does: every input date, each rule in order (matched,
    not matched and why, not reached) and the decision with its reason. Lists read-only; changes nothing.

    Example: sweeper explain alice@example.com -c sweeper.toml -p entra
    """
    from sweeper import explain as ex, report
    from sweeper.actions import close_quietly, describe_failure
    from sweeper.policy import Thresholds
    from sweeper.sweep import want_groups
    from sweeper.text import terminal

    cfg = _config(config)
    providers = select(cfg, provider)
    when = parse_as_of(as_of)
    cfg.managed_index  # noqa: B018 - a bad Terraform state is a config error, said before anything is listed
    found, failed = 0, False
    out = stdout_console()
    for name in providers:
        settings = cfg.providers[name]
        try:
            adapter = registry.create(name, settings, write=False)
        except Exception as err:  # noqa: BLE001 - one provider's failure is said, the others still searched
            say(f"{name}: {describe_failure(err)}", "error:", "bold red")
            failed = True
            continue
        try:
            t = Thresholds.resolve(cfg.policy, settings, registry.info(name), cfg.exceptions, name, cfg.rules,
                                   cfg.managed_index, cfg.managed.action if cfg.managed else "report")
            unread = want_groups(adapter, t)
            for scope, ident in ex.find(adapter, adapter.scopes(), identity):
                found += 1
                out.print(terminal(f"{report.display_name(name)} {scope} (as of {when.isoformat()})", "bold"))
                for line in ex.explain_identity(t, cfg.rules, ex.provider_of(name, ident), when):
                    out.print(terminal(line))
                if unread:
                    out.print(terminal(f"note: {unread}"))
                if not getattr(adapter, "listing_is_live", True):
                    out.print(terminal("note: this provider's listing can be hours old: a plan re-reads a "
                                       "candidate live before it is disabled"))
                if cfg.people is not None:
                    out.print(terminal("note: explain judges the identity alone; whose it is and whether that person "
                                       "left ([people]) is in `sweeper plan` (its findings' person and leaver)"))
                out.print("")
        except Exception as err:  # noqa: BLE001
            say(f"{name}: {describe_failure(err)}", "error:", "bold red")
            failed = True
        finally:
            close_quietly(adapter)
    if not found:
        say(f"no identity matches {identity!r} in {', '.join(providers)}"
            + (" (and a provider could not be searched)" if failed else ""), "error:", "bold red")
        raise typer.Exit(4 if failed else 2)
    raise typer.Exit(4 if failed else 0)


class PermissionMode(str, Enum):
    plan = "plan"
    apply = "apply"
    org_member = "org-member"


@app.command()
@guarded
def permissions(provider: Optional[List[str]] = typer.Option(None, "-p", "--provider",
                                                             help="Only this provider."),
                for_: PermissionMode = typer.Option(
                    PermissionMode.apply, "--for",
                    help="plan: read only (plan, check, notify); apply: what acting needs; org-member: the "
                         "role each AWS member account needs."),
                config: Optional[str] = typer.Option(
                    None, "-c", "--config", help="Shape the policies by this config (e.g. AWS [organization])."),
                storage: Optional[str] = typer.Option(None, "--storage",
                                                      help="Instead: what a journal in s3, gs or az needs, by mode.")) -> None:
    """Print the least-privilege permissions each provider needs for one mode (or, with --storage, the
    journal's bucket). Give the plan job the `--for plan` identity and only the apply job the writer.

    Example: sweeper permissions -p aws --for plan > sweeper-plan-policy.json
    """
    if storage is not None:
        from sweeper.store import PERMISSIONS

        text = PERMISSIONS.get(storage.removesuffix("://"))
        if text is None:
            raise UsageError(f"--storage {storage}: unknown (known: {', '.join(PERMISSIONS)})")
        sys.stdout.write(text.rstrip("\n") + "\n")
        return
    cfg = _config(config) if config else None
    names = select(cfg, provider) if cfg else known(provider) if provider else registry.names()
    texts: list[tuple[str, str]] = []
    for name in names:
        settings = cfg.providers.get(name) if cfg else None
        try:
            texts.append((name, registry.permissions(name, for_.value, settings)))
        except ValueError as err:
            if provider:  # asked for by name: say why there is nothing
                raise UsageError(f"--for {for_.value} -p {name}: {err}") from None
    for i, (name, text) in enumerate(texts):
        if len(texts) > 1:
            sys.stdout.write(("\n" if i else "") + f"# {name}\n")
        sys.stdout.write(text.rstrip("\n") + "\n")


@app.command()
@guarded
def demo(apply_: bool = typer.Option(False, "--apply", help="Also apply, show history, and restore."),
         keep: Optional[Path] = typer.Option(None, "--keep", help="Keep the demo's files in this folder."),
         serve: bool = typer.Option(False, "--serve", help="Keep the emulators running until Ctrl-C; print a "
                                                           "ready sweeper.toml and the env vars.")) -> None:
    """Run a full sweep against the bundled local emulators; no cloud account needed.

    Example: sweeper demo --apply
    """
    from sweeper.demo import run_demo, run_serve

    raise typer.Exit(run_serve(keep) if serve else run_demo(apply_, keep))


def version_callback(value: bool) -> None:
    if value:
        print(f"identity-sweeper {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True,
                                      help="Show the version."),
         verbose: bool = typer.Option(False, "--verbose",
                                      help="Also show the cloud SDKs' own log warnings on stderr.")) -> None:
    """Find identities nobody has used for too long, and disable them safely."""
    quiet_libraries(verbose)


LIBRARY_LOGGERS = ("azure", "msal", "google", "googleapiclient", "botocore", "boto3", "urllib3")


def quiet_libraries(verbose: bool) -> None:
    """The cloud SDKs' logging and Python warnings (the Azure SDK's many lines on a failed credential)
    are shown only with --verbose: the sweeper says what failed in its own one line per scope."""
    import logging
    import warnings

    root_logger = logging.getLogger()
    ours = [h for h in root_logger.handlers if getattr(h, "sweeper", False)]
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else logging.CRITICAL)
    if verbose:
        if not ours:
            handler = logging.StreamHandler(sys.stderr)
            handler.sweeper = True  # type: ignore[attr-defined]
            handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
            root_logger.addHandler(handler)
        return
    for old in ours:  # (a second run in one process, as in tests)
        root_logger.removeHandler(old)
    if not any(isinstance(h, logging.NullHandler) for h in root_logger.handlers):
        root_logger.addHandler(logging.NullHandler())  # no lastResort handler printing WARNING lines
    warnings.filterwarnings("ignore", module=r"(azure|msal|google|googleapiclient|botocore|boto3|urllib3)\b")


def main() -> None:
    app(prog_name="sweeper")
