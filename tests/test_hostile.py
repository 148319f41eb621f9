"""#14: strings a cloud hands us are data in every output, reports are safe to open, and an output
failure never loses what `apply` did.

A hostile corpus (markup, ANSI escapes, NUL and other control characters, right-to-left overrides,
lone surrogates, emoji, 100 kB values, Markdown, HTML and spreadsheet formulas, logins differing only
by case or by look-alike characters) goes through every format and command over the fake provider
(and a provider of this file, `hostile`, whose own texts are hostile: its principal, its checks and
its errors), and through the Graph emulator. Hypothesis throws generated strings at every renderer.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sweeper import registry, report, report_html
from sweeper.cli import app
from sweeper.errors import AuthError, ProviderError
from sweeper.model import (Action, Activity, CheckResult, Credential, CredentialKind, CredentialRef, Decision,
                           DecisionKind, Identity, IdentityKind, Outcome, Principal, ProviderStatus)
from sweeper.results import Finding, FindingAction, RunResult, ScopeResult
from sweeper.text import SHOWN_CHARS, csv_cell, markdown, printable
from tests import fakes
from tests.fakes import FakeAdapter, FakeCloud, FakeUser
from tests.test_report_html import assert_inert as html_is_inert
from tests.test_report_html import unpack as unpack_html

NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)
AS_OF = "2026-11-21"
runner = CliRunner()
BIG = 100_000

# -- the corpus ------------------------------------------------------------------------------------

NAMED: dict[str, str] = {
    "markup-close": "[/]",
    "markup-style": "[bold red]admin[/bold red]",
    "markup-link": "[link=https://evil.example]click[/link]",
    "emoji-code": ":warning: :red_circle:",
    "ansi-colour": "\x1b[31mred\x1b[0m",
    "ansi-clear": "\x1b[2J\x1b[H",
    "osc-title": "\x1b]0;pwned\x07",
    "osc-link": "\x1b]8;;https://evil.example\x1b\\here\x1b]8;;\x1b\\",
    "c1-csi": "\x9b31mred",
    "nul": "a\x00b",
    "bell-backspace-del": "\x07\x08\x7f",
    "newlines": "line1\nline2\r\nerror: forged",
    "tab": "\tindented",
    "rtl-override": "\u202etxt.exe",
    "bidi-isolate": "\u2066admin\u2069",
    "zero-width": "adm\u200bin",
    "lone-high-surrogate": "x\ud800y",
    "lone-low-surrogate": "\udfff",
    "emoji": "😀 👨\u200d👩\u200d👧 🇫🇷",
    "combining": "e\u0301\u0301\u0301\u0301",
    "line-separator": "a\u2028b\u2029c",
    "markdown-pipe": "a|b|c",
    "markdown-code": "`rm -rf /`",
    "markdown-link": "[click](https://evil.example)",
    "markdown-image": "![x](https://evil.example/x.png)",
    "html": "<script>alert(1)</script>",
    "html-entity": "&lt;b&gt;",
    "markdown-emphasis": "**bold** _it_ ~~no~~ $x^2$",
    "formula-equals": "=HYPERLINK(\"https://evil.example\",\"x\")",
    "formula-plus": "+1+2",
    "formula-minus": "-2+3",
    "formula-at": "@SUM(A1:A2)",
    "formula-dde": "=cmd|' /C calc'!A0",
    "formula-fullwidth": "\uff1d1+1",
    "big": "A" * BIG,
    "big-escapes": "\x1b" * (BIG // 2),
    "big-brackets": "[" * BIG,
}
# look-alikes of the exclude pattern `breakglass-*`, and a literal match differing only by case
LOOK_ALIKES = ["breakglass\u201001@example.com", "bre\u0430kglass-02@example.com", "break\u200bglass-03@example.com",
               "\uff42reakglass-04@example.com"]
CASE_MATCH = "BreakGlass-05@example.com"
HOSTILE_ERROR = "\x1b[2J[bold]denied[/] <b>|x|</b>\nerror: forged line \u202e"
SCOPE = "tenant [/] \x1b[31m|`<i>"  # a scope name cannot be a lone surrogate: every action records it


def no_terminal_escapes(text: str) -> None:
    """Nothing in `text` a terminal would act on: every character printable, or a line break."""
    bad = {ch for ch in text if not ch.isprintable() and ch != "\n"}
    assert not bad, sorted(map(hex, map(ord, bad)))


def markdown_is_inert(text: str, columns: dict[int, int] | None = None) -> None:
    """No raw HTML, links, code or control characters; table rows keep their column count."""
    no_terminal_escapes(text)
    assert "<" not in text and ">" not in text.replace("&gt;", "")
    for line in text.splitlines():
        if line.startswith("|"):  # the rows (the title and totals are ours)
            assert not re.search(r"(?<!\\)[`\[\]$*~]", line), re.search(r".{0,20}(?<!\\)[`\[\]$*~].{0,20}", line)
            for run in re.finditer("_+", line):  # an underscore emphasises at a word's edge only
                before, after = line[run.start() - 1:run.start()], line[run.end():run.end() + 1]
                assert before == "\\" or before.isalnum() and after.isalnum(), line[run.start() - 20:run.end() + 20]
            cells = len(re.split(r"(?<!\\)\|", line)) - 2
            if columns is not None:
                assert cells in columns, (cells, line[:200])


def csv_is_inert(text: str) -> list[dict[str, str]]:
    no_terminal_escapes(text.replace("\r", ""))
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\uff1d")), cell[:80]
            assert len(cell) < SHOWN_CHARS * 7, len(cell)
    return rows


# -- a provider whose own texts are hostile ---------------------------------------------------------

class HostileAdapter(FakeAdapter):
    """The fake provider, with a hostile principal, hostile check results and hostile errors."""

    name = "hostile"

    def whoami(self) -> Principal:
        if self.cloud.reject_auth:
            raise AuthError("hostile", "whoami", HOSTILE_ERROR)
        return Principal("hostile", "bot", f"bot {HOSTILE_ERROR}")

    def _identity(self, user: FakeUser) -> Identity:
        return replace(super()._identity(user), provider="hostile")

    def list_identities(self, scope: str) -> Any:
        if self.cloud.fail_listing_after is not None:
            raise ProviderError("hostile", "list users", HOSTILE_ERROR)
        return super().list_identities(scope)

    def apply(self, action: Action, refs: Sequence[CredentialRef]) -> list[Outcome]:
        return [o if o.ok else replace(o, error=HOSTILE_ERROR) for o in super().apply(action, refs)]

    def check(self) -> list[CheckResult]:
        return [CheckResult(f"list {NAMED['markup-style']}", True, HOSTILE_ERROR),
                CheckResult("disable", None, NAMED["osc-link"]), CheckResult("[/]", False, NAMED["big-brackets"])]


@pytest.fixture(scope="module", autouse=True)
def _hostile_provider():
    registry.register("hostile", "tests.fakes:FakeSettings", "tests.test_hostile:HostileAdapter")
    yield
    registry.unregister("hostile")


@pytest.fixture
def hostile_cloud():
    c = FakeCloud(scope=SCOPE)
    fakes.CLOUDS["hostile"] = c
    yield c
    fakes.CLOUDS.pop("hostile", None)


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def seed(cloud: FakeCloud) -> dict[str, str]:
    """Every named string as a stale login (owner a hostile address), a fresh one, and an activity note;
    the look-alikes and the case match of the exclude pattern. Returns the stale logins by name."""
    cloud.scope = SCOPE
    logins = {}
    for name, value in NAMED.items():
        logins[name] = value
        cloud.add(FakeUser(value, ago(200), ago(900), owner=f"{value[:50]}@example.com"))
        cloud.add(FakeUser(f"fresh {value}", ago(1), ago(900)))
        cloud.add(FakeUser(f"odd {name}", None, ago(900), activity=Activity.UNKNOWN, note=value))
    cloud.add(FakeUser(NAMED["markup-close"] + "-warned", ago(80), ago(900), owner=NAMED["ansi-clear"]))
    for login in [*LOOK_ALIKES, CASE_MATCH]:
        cloud.add(FakeUser(login, ago(300), ago(900)))
    return logins


def config(tmp_path: Path, provider: str = "fake", cloud: str = "default", extra: str = "") -> Path:
    path = tmp_path / "sweeper.toml"
    soon = (datetime.now(timezone.utc) + timedelta(days=3)).date().isoformat()
    path.write_text('[policy]\nmax_disable_percent = 100\nmax_disable = 1000\nexclude = ["breakglass-*"]\n'
                    f'[journal]\npath = "{tmp_path / "sweeper.db"}"\n'
                    '[notify]\nchannels = ["json://127.0.0.1:9/digest"]\n'
                    '[[exceptions]]\nmatch = "svc-\\u001b[2J*"\nreason = "[/] \\u202e kept <b>|x|</b>"\n'
                    f'owner = "own\\u001b]0;t\\u0007er@example.com"\nexpires = {soon}\n'
                    f'[providers.{provider}]\ncloud = "{cloud}"\n' + extra)
    return path


def run(*args: object, env: dict[str, str] | None = None):
    r = runner.invoke(app, [str(a) for a in args], env=env)
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output[-3000:]
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r


# -- named cases through every command and format ---------------------------------------------------

def test_the_markup_error_reproducer_renders_as_text(tmp_path, cloud) -> None:
    """A value `[/]` (a Graph sign-in time, here a login and an activity note) made the table raise
    rich's MarkupError; now it is shown as it is."""
    cloud.add(FakeUser("[/]", None, ago(900), activity=Activity.UNKNOWN, note="unparseable time '[/]'"))
    cloud.add(FakeUser("[bold]x[/bold]", ago(200), ago(900)))
    cloud.add(FakeUser("fresh@example.com", ago(1), ago(900)))
    r = run("plan", "-c", config(tmp_path), "--as-of", AS_OF)
    assert r.exit_code == 0, r.output
    assert "unparseable time '[/]'" in r.stdout and "[bold]x[/bold]" in r.stdout


def test_the_error_printer_shows_error_text_as_data(tmp_path, cloud) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[providers.fake]\ncloud = "default"\n"unknown_[/]key\\u001b[2J" = 1\n')
    r = run("plan", "-c", path)
    assert r.exit_code == 2 and r.output.startswith("error: ") and "unknown_[/]key\\x1b[2J" in r.output, r.output
    r = run("plan", "-c", config(tmp_path), "-p", "[bold]x[/bold]")
    assert r.exit_code == 2 and "-p [bold]x[/bold]: unknown provider" in r.output, r.output


def test_plan_in_every_format(tmp_path, cloud, monkeypatch) -> None:
    logins = seed(cloud)
    cfg = config(tmp_path)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    outs = {fmt: tmp_path / f"report.{ext}" for fmt, ext in (("json", "json"), ("csv", "csv"), ("markdown", "md"),
                                                             ("table", "txt"), ("html", "html"))}
    r = run("plan", "-c", cfg, "--as-of", AS_OF, "-f", "table", *[a for p in outs.values() for a in ("-o", p)],
            "--summary", "full")
    assert r.exit_code == 0, r.output
    no_terminal_escapes(r.output)

    rep = json.loads(outs["json"].read_text(encoding="ascii"))  # the JSON keeps the exact values
    by = {f["identity"]: f for f in rep["findings"]}
    for name, login in logins.items():
        if "surrogate" in name:
            assert by[login]["decision"] == "unknown" and "lone surrogate" in by[login]["reason"]
        else:
            assert by[login]["decision"] == "disable", name
    assert by[f"odd big"]["reason"].count("A") >= BIG
    assert {f["scope"] for f in rep["findings"]} == {SCOPE}

    table = outs["table"].read_text()
    no_terminal_escapes(table)
    assert "[bold red]admin[/bold red]" in table and "\\x1b[31mred\\x1b[0m" in table and "\\u202etxt.exe" in table
    assert ":warning: :red_circle:" in table  # not turned into emoji
    assert "characters in all" in table.replace("\n", " ").replace("│", " ")

    for text in (outs["markdown"].read_text(), summary.read_text()):
        markdown_is_inert(text, columns={6, 8})
        assert "&lt;script&gt;" in text and "a\\|b\\|c" in text and "\\[click\\](https://evil.example)" in text
        assert f"({BIG} characters in all)" in text

    rows = csv_is_inert(outs["csv"].read_text(encoding="utf-8"))
    cells = {row["identity"] for row in rows}
    assert "'=cmd|' /C calc'!A0" in cells and "'+1+2" in cells and "'-2+3" in cells and "'@SUM(A1:A2)" in cells
    assert "'\\tindented" in cells and "'\uff1d1+1" in cells and "x\\ud800y" in cells
    assert f"{'A' * SHOWN_CHARS}… ({BIG} characters in all)" in cells

    page = outs["html"].read_text(encoding="utf-8")
    html_is_inert(page)  # no element, attribute or script but the template's and the charts'
    shown = {row[2] for row in unpack_html(page)["r"]}  # what the page's script shows, as text
    assert {printable(login) for login in logins.values()} <= shown
    assert "<script>alert(1)</script>" in shown and "\\u202etxt.exe" in shown and "x\\ud800y" in shown
    assert "tenant [/] \\x1b[31m|`&lt;i&gt;" in page  # the scope, in its card


def test_counts_summary_names_nobody_and_escapes_the_scope(tmp_path, cloud, monkeypatch) -> None:
    seed(cloud)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert run("plan", "-c", config(tmp_path), "--as-of", AS_OF, "-f", "json").exit_code == 0
    text = summary.read_text()
    markdown_is_inert(text, columns={10})
    assert r"| tenant \[/\] \\x1b\[31m\|\`&lt;i&gt; |" in text and "rm -rf" not in text


def test_apply_history_restore_and_notify_over_the_corpus(tmp_path, cloud) -> None:
    logins = seed(cloud)
    cfg = config(tmp_path)
    r = run("notify", "-c", cfg, "--as-of", AS_OF, "--preview", "-f", "json")
    assert r.exit_code == 0, r.output[-2000:]
    no_terminal_escapes(r.output)
    assert "\\x1b[2J\\x1b[H" in r.output and "line1\\nline2\\r\\nerror: forged" in r.output
    assert "[/] \\u202e kept <b>|x|</b>" in r.output  # the exception's reminder: plain text, shown as data

    r = run("apply", "-c", cfg, "--as-of", AS_OF, "--yes")
    assert r.exit_code == 0, r.output[-2000:]
    no_terminal_escapes(r.output)
    disabled = {login for login, u in cloud.users.items() if not u.enabled}
    assert disabled == {v for k, v in logins.items() if "surrogate" not in k}  # never a look-alike
    assert all(cloud.users[login].enabled for login in [*LOOK_ALIKES, CASE_MATCH])
    [(run_id,)] = sqlite3.connect(tmp_path / "sweeper.db").execute(
        "SELECT run_id FROM runs WHERE mode = 'apply'").fetchall()

    for args in ([], ["--run", run_id]):
        r = run("history", "-c", cfg, *args)
        assert r.exit_code == 0, r.output[-2000:]
        no_terminal_escapes(r.output)
    assert "\\u202etxt.exe" in r.output and "[bold red]admin[/bold red]" in r.output
    r = run("history", "-c", cfg, "--run", run_id, "-f", "json")
    assert {a["identity"] for a in json.loads(r.stdout)["actions"]} == disabled

    r = run("restore", run_id, "-c", cfg, "--dry-run")
    assert r.exit_code == 0, r.output[-2000:]
    no_terminal_escapes(r.output)
    r = run("restore", run_id, "-c", cfg, "--yes")
    assert r.exit_code == 0, r.output[-2000:]
    no_terminal_escapes(r.output)
    assert all(u.enabled for u in cloud.users.values() if u.login in disabled)


def test_look_alikes_of_an_exclusion_are_kept_for_review(tmp_path, cloud) -> None:
    seed(cloud)
    r = run("plan", "-c", config(tmp_path), "--as-of", AS_OF, "-f", "json")
    by = {f["identity"]: f for f in json.loads(r.stdout)["findings"]}
    assert by[CASE_MATCH]["decision"] == "excluded"
    for login in LOOK_ALIKES:
        assert by[login]["decision"] == "unknown" and "kept for review" in by[login]["reason"], login


def test_plan_targets_match_exactly_not_by_case_or_look(tmp_path, cloud) -> None:
    """A plan names what it found; logins that differ from a target only by case or by a look-alike
    letter are other accounts, and `apply PLAN` leaves them alone even when they are stale too."""
    cloud.add(FakeUser("case@example.com", ago(200), ago(900)))
    twins = ["CASE@example.com", "c\u0430se@example.com", "case@example.com\u200b"]
    for login in twins:
        cloud.add(FakeUser(login, ago(1), ago(900)))
    cloud.add(FakeUser("fresh@example.com", ago(1), ago(900)))
    cfg = config(tmp_path)
    r = run("plan", "-c", cfg, "--as-of", AS_OF, "--plan-out", tmp_path / "plan.json")
    assert r.exit_code == 0, r.output
    for login in twins:  # they go stale after the plan
        cloud.users[login].last_used = ago(300)
    r = run("apply", tmp_path / "plan.json", "-c", cfg, "--as-of", AS_OF, "--yes", "-f", "json")
    assert r.exit_code == 0, r.output
    assert [f["identity"] for f in json.loads(r.stdout)["findings"] if f["action"] == "disabled"] == ["case@example.com"]
    assert cloud.calls == [("disable", "case@example.com")]


def test_a_providers_own_texts_are_data(tmp_path, hostile_cloud) -> None:
    """The principal, the checks, an API's error messages and a binding mismatch, shown by `check`,
    in a failed scope's message and in a failed action."""
    seed(hostile_cloud)
    cfg = config(tmp_path, "hostile", "hostile")
    r = run("check", "-c", cfg)
    assert r.exit_code == 4, r.output
    no_terminal_escapes(r.output)
    assert "[bold]denied[/]" in r.output and "\\x1b[2J" in r.output and "characters in all" in r.output.replace(
        "\n", " ").replace("│", " ")
    hostile_cloud.credentials_for = "other \x1b[2J [/]"
    r = run("check", "-c", cfg)
    assert r.exit_code == 2 and "MISMATCH" in r.output, r.output
    no_terminal_escapes(r.output)
    hostile_cloud.credentials_for = None
    hostile_cloud.reject_auth = True
    r = run("check", "-c", cfg)
    assert r.exit_code == 4 and "FAILED" in r.output and "[bold]denied[/]" in r.output, r.output
    no_terminal_escapes(r.output)
    hostile_cloud.reject_auth = False

    hostile_cloud.fail_apply_for = {NAMED["html"], NAMED["markup-close"]}
    r = run("apply", "-c", cfg, "--as-of", AS_OF, "--yes", "-f", "markdown")
    assert r.exit_code == 4, r.output[-2000:]
    markdown_is_inert(r.stdout)
    assert r.stdout.count("&lt;b&gt;\\|x\\|&lt;/b&gt;") >= 2
    r = run("apply", "-c", cfg, "--as-of", AS_OF, "--yes")
    assert r.exit_code == 4
    no_terminal_escapes(r.output)
    assert "[bold]denied[/]" in r.output
    r = run("history", "-c", cfg, "--run", json.loads(run("history", "-c", cfg, "-f", "json").stdout)["runs"][0]["run_id"])
    no_terminal_escapes(r.output)
    assert "[bold]denied[/]" in r.output

    hostile_cloud.fail_listing_after = 0
    r = run("plan", "-c", cfg, "--as-of", AS_OF)
    assert r.exit_code == 4 and "[bold]denied[/]" in r.output, r.output
    no_terminal_escapes(r.output)
    r = run("plan", "-c", cfg, "--as-of", AS_OF, "-f", "csv")
    assert r.exit_code == 4


# -- the spreadsheet rule --------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1", "\uff1d1", "=", "-"])
def test_a_cell_a_spreadsheet_would_compute_is_neutralised(value) -> None:
    assert str(csv_cell(value)).startswith("'")


@pytest.mark.parametrize("value", ["alice@example.com", "1-2", " =1", "'quoted", "", "a=b"])
def test_an_ordinary_cell_is_left_alone(value) -> None:
    assert csv_cell(value) == value
    assert csv_cell(42) == 42 and csv_cell(None) is None


def test_json_keeps_what_csv_neutralises(tmp_path, cloud) -> None:
    cloud.add(FakeUser("=SUM(1)", ago(200), ago(900)))
    cloud.add(FakeUser("fresh", ago(1), ago(900)))
    cfg = config(tmp_path)
    assert json.loads(run("plan", "-c", cfg, "--as-of", AS_OF, "-f", "json").stdout)["findings"][0][
        "identity"] == "=SUM(1)"
    [row] = list(csv.DictReader(io.StringIO(run("plan", "-c", cfg, "--as-of", AS_OF, "-f", "csv").stdout)))
    assert row["identity"] == "'=SUM(1)" and row["identity_id"] == "'=SUM(1)"



def test_ocsf_keeps_the_exact_values(tmp_path, cloud) -> None:
    """`-f ocsf` is JSON: every provider string is there exactly as the JSON report has it (ASCII, escaped)."""
    logins = seed(cloud)
    r = run("plan", "-c", config(tmp_path), "--as-of", AS_OF, "-o", tmp_path / "r.ocsf.json", "-o", tmp_path / "r.json")
    assert r.exit_code == 0, r.output
    events = json.loads((tmp_path / "r.ocsf.json").read_text(encoding="ascii"))
    findings = json.loads((tmp_path / "r.json").read_text(encoding="ascii"))["findings"]
    assert len(events) == len(findings) and {e["resources"][0]["name"] for e in events} >= set(logins.values())
    for event, f in zip(events, findings):
        user = event["evidences"][0]["user"]
        assert (user["name"], user["uid"], event["cloud"]["account"]["uid"]) == (f["identity"], f["identity_id"], SCOPE)
        assert event["message"] == event["finding_info"]["desc"] == f["reason"]
        assert event["finding_info"]["title"].endswith(f": {f['identity']}")

# -- an output failure never loses what apply did ------------------------------------------------------

def test_an_unwritable_report_after_apply_says_the_run_and_exits_4(tmp_path, cloud) -> None:
    for n in range(3):
        cloud.add(FakeUser(f"stale{n}@example.com", ago(200), ago(900)))
    cloud.add(FakeUser("fresh@example.com", ago(1), ago(900)))
    cfg = config(tmp_path)
    (tmp_path / "a-file").write_text("")
    good = tmp_path / "good.json"
    r = run("apply", "-c", cfg, "--as-of", AS_OF, "--yes", "-o", tmp_path / "a-file" / "report.json",
            "-o", good)
    assert r.exit_code == 4, r.output
    db = sqlite3.connect(tmp_path / "sweeper.db")
    [(run_id, status)] = db.execute("SELECT run_id, status FROM runs WHERE mode = 'apply'").fetchall()
    assert status == "done"  # settled before any report was written
    assert db.execute("SELECT count(*) FROM actions WHERE state = 'done'").fetchone()[0] == 3
    assert sum(not u.enabled for u in cloud.users.values()) == 3
    assert f"-o {tmp_path / 'a-file' / 'report.json'}: cannot write" in r.output
    assert f"run {run_id} (apply): 4 identities" in r.output and "3 disabled, 0 failed" in r.output
    assert json.loads(good.read_text())["summary"]["disabled"] == 3  # the other report is still written
    assert "Traceback" not in r.output


@pytest.fixture
def odd_renderers():
    """Plug-in renderers (registered as a plug-in would be): one that breaks, one that returns text no
    file can hold (a lone surrogate)."""
    def broken(result: RunResult) -> str:
        raise RuntimeError("renderer bug [/]")

    registry.register_renderer("broken", broken)
    registry.register_renderer("unencodable", lambda result: "x\ud800y")
    yield
    for name in ("broken", "unencodable"):
        registry._extra["renderers"].pop(name, None)


def test_a_report_that_cannot_be_rendered_or_encoded_is_a_failed_report(tmp_path, cloud, odd_renderers) -> None:
    cloud.add(FakeUser("stale@example.com", ago(200), ago(900)))
    cloud.add(FakeUser("fresh@example.com", ago(1), ago(900)))
    r = run("apply", "-c", config(tmp_path), "--as-of", AS_OF, "--yes", "-o", tmp_path / "r.broken",
            "-o", tmp_path / "r.unencodable", "-o", tmp_path / "r.json")
    assert r.exit_code == 4, r.output
    assert "RuntimeError: renderer bug [/]" in r.output and "cannot encode it" in r.output
    assert not (tmp_path / "r.broken").exists() and not (tmp_path / "r.unencodable").exists()
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["disabled"] == 1
    assert "(apply): 2 identities" in r.output and not cloud.users["stale@example.com"].enabled


def test_stdout_that_cannot_encode_the_report_is_a_failed_report(tmp_path) -> None:
    """A terminal or pipe in ASCII and a login with an emoji: the CSV cannot be written to stdout."""
    cfg = config(tmp_path)
    code = ("import sys; from sweeper import registry; from tests import fakes;"
            "from datetime import datetime, timedelta, timezone;"
            "registry.register('fake', 'tests.fakes:FakeSettings', 'tests.fakes:FakeAdapter');"
            "c = fakes.FakeCloud(); fakes.CLOUDS['default'] = c; now = datetime(2026, 11, 21, tzinfo=timezone.utc);"
            "c.add(fakes.FakeUser('stale\U0001f600@example.com', now - timedelta(days=200), now - timedelta(days=900)));"
            "c.add(fakes.FakeUser('fresh@example.com', now, now - timedelta(days=900)));"
            "from sweeper.cli import app; sys.argv = ['sweeper', *sys.argv[1:]];"
            "code = 0\ntry:\n    app()\nexcept SystemExit as e:\n    code = e.code\n"
            "print('DISABLED', [u.login.encode('unicode_escape').decode() for u in c.users.values() if not u.enabled], "
            "file=sys.stderr); sys.exit(code)")
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    env.pop("GITHUB_STEP_SUMMARY", None)
    p = subprocess.run([sys.executable, "-c", code, "apply", "-c", str(cfg), "--as-of", AS_OF, "--yes", "-f", "csv"],
                       capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parent.parent,
                       timeout=120)
    assert p.returncode == 4, p.stderr
    assert "Traceback" not in p.stderr and "the report: cannot encode it" in p.stderr, p.stderr
    assert re.search(r"run \d{8}T\d{6}Z-[0-9a-f]{6} \(apply\): 2 identities.*1 disabled, 0 failed", p.stderr)
    assert "DISABLED ['stale\\\\U0001f600@example.com']" in p.stderr, p.stderr


# -- generated strings through every renderer -----------------------------------------------------------

HOSTILE_CHARS = st.one_of(
    st.characters(),  # any code point hypothesis likes, control and format characters included
    st.sampled_from(list("[]/|`<>&*_~$()!=+-@\t\r\n\x00\x1b\x9b\u202e\u2066\u200b\u2028")),
    st.integers(0xD800, 0xDFFF).map(chr),  # lone surrogates
)
HOSTILE_TEXT = st.one_of(st.text(HOSTILE_CHARS, max_size=40),  # the named cases, long ones shorter (the CLI tests
                         st.sampled_from([v[:SHOWN_CHARS + 50] for v in NAMED.values()]))  # have them whole)


def result_of(values: list[str]) -> RunResult:
    scope = ScopeResult("fake", values[0], ProviderStatus.OK, message=values[-1])
    for n, value in enumerate(values):
        cred = Credential(CredentialKind.ACCESS_KEY, value, True, Activity.SEEN, ago(900), ago(200), value)
        ident = Identity("fake", values[0], f"{n}{value}", value, IdentityKind.MEMBER, True, (cred,),
                         display_name=value)
        scope.findings.append(Finding(ident, cred, Decision(DecisionKind.DISABLE, value, 90, 200, "high", (value,)),
                                      FindingAction.FAILED, error=value))
    res = RunResult("20261121T000000Z-abcdef", "apply", NOW, [scope])
    return res


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(HOSTILE_TEXT, min_size=1, max_size=6))
def test_generated_strings_never_break_a_renderer(values: list[str]) -> None:
    res = result_of(values)
    exact = json.loads(report.render(res, "json"))
    as_json = [json.loads(json.dumps(f.identity.login)) for f in report._ordered(res)]  # (a surrogate pair
    assert [f["identity"] for f in exact["findings"]] == as_json  # written as two code points reads back as one)
    assert exact["providers"][0]["scope"] == json.loads(json.dumps(values[0]))
    markdown_is_inert(report.render(res, "markdown"), columns={6, 8})
    markdown_is_inert(report.to_markdown_counts(res), columns={12})
    rows = csv_is_inert(report.render(res, "csv"))
    assert len(rows) == len(values)
    table = report.render(res, "table", width=120)
    no_terminal_escapes(table)
    page = report_html.render_html(res, charts=False)
    html_is_inert(page)
    assert [row[2] for row in unpack_html(page)["r"]] == [printable(f.identity.login) for f in report._ordered(res)]
    for value in values:
        shown = printable(value, None)
        assert printable(shown, None) == shown  # escaping is stable: what is shown shows as itself
        assert markdown(value).count("\n") == 0


@settings(max_examples=100, deadline=None, database=None)
@given(HOSTILE_TEXT)
def test_generated_strings_never_break_a_message(value: str) -> None:
    from sweeper.cli import err_console, say

    with err_console.capture() as captured:
        say(value, "error:", "bold red")
        say(f"warning: {value}")
    text = captured.get()
    no_terminal_escapes(text)
    assert text.startswith("error: ")



@settings(max_examples=50, deadline=None, database=None)
@given(st.lists(HOSTILE_TEXT, min_size=1, max_size=6))
def test_generated_strings_round_trip_through_ocsf(values: list[str]) -> None:
    res = result_of(values)
    events = json.loads(report.render(res, "ocsf"))
    exact = [json.loads(json.dumps(f.identity.login)) for f in report._ordered(res)]  # (as the JSON report test)
    assert [e["resources"][0]["name"] for e in events] == exact
    assert [e["status_detail"] for e in events] == exact and [e["message"] for e in events] == exact
    assert [e["unmapped"]["compliance"][0]["control"] for e in events] == exact
    assert {e["cloud"]["account"]["uid"] for e in events} == {json.loads(json.dumps(values[0]))}

# -- through a real emulator: the Graph emulator and the Entra adapter, over HTTP ---------------------------

@pytest.mark.entra
def test_the_corpus_through_the_graph_emulator(tmp_path, monkeypatch) -> None:
    """The reproducer as it happens: Graph answers `lastSuccessfulSignInDateTime: "[/]"`; and hostile
    user principal names and display names (one with a lone surrogate, which JSON can carry), through
    plan, apply, history and restore."""
    from providers.emulator import emulator_class
    from tests.providers.entra.support import tenant, user

    hostile = {"ansi": "\x1b[31m[/]\u202e-ansi@example.test", "markdown": "a|b`c`<i>[x](y)@example.test",
               "formula": "=cmd|' /C calc'!A0@example.test", "surrogate": "sur\ud800rogate@example.test",
               "look-alike": "breakglass\u201001@example.test"}
    users = [user("reproducer@example.test", created=ago(900), success="[/]")]
    users += [user(upn, id=f"00000000-0000-4000-8000-00000000000{n}", created=ago(900), success=ago(300))
              for n, upn in enumerate(hostile.values())]
    users += [user(f"staff{n}@example.test", created=ago(900), success=ago(1)) for n in range(8)]
    for u in users:
        u["displayName"] = NAMED["markup-style"] + NAMED["osc-link"]
    with emulator_class("entra")(tenant(users)) as emu:
        for name, value in emu.env().items():
            monkeypatch.setenv(name, value)
        cfg = tmp_path / "sweeper.toml"
        cfg.write_text('[policy]\nmax_disable_percent = 100\nexclude = ["breakglass-*"]\n'
                       f'[journal]\npath = "{tmp_path / "sweeper.db"}"\n' + emu.config_toml(skip_role_holders=False))
        r = run("plan", "-c", cfg, "--as-of", AS_OF)  # the table: where rich raised MarkupError
        assert r.exit_code == 0, r.output[-3000:]
        no_terminal_escapes(r.output)
        assert "lastSuccessfulSignInDateTime does not parse: [/]" in r.output
        r = run("plan", "-c", cfg, "--as-of", AS_OF, "-o", tmp_path / "r.md", "-o", tmp_path / "r.csv",
                "-o", tmp_path / "r.json")
        assert r.exit_code == 0, r.output[-3000:]
        by = {f["identity"]: f for f in json.loads((tmp_path / "r.json").read_text())["findings"]}
        assert by["reproducer@example.test"]["decision"] == "unknown"
        assert {login: by[login]["decision"] for login in hostile.values()} == {
            hostile["ansi"]: "disable", hostile["markdown"]: "disable", hostile["formula"]: "disable",
            hostile["surrogate"]: "unknown", hostile["look-alike"]: "unknown"}
        markdown_is_inert((tmp_path / "r.md").read_text(), columns={6, 8})
        rows = csv_is_inert((tmp_path / "r.csv").read_text())
        assert "'=cmd|' /C calc'!A0@example.test" in {row["identity"] for row in rows}

        r = run("apply", "-c", cfg, "--as-of", AS_OF, "--yes")
        assert r.exit_code == 0, r.output[-3000:]
        no_terminal_escapes(r.output)
        [(run_id,)] = sqlite3.connect(tmp_path / "sweeper.db").execute(
            "SELECT run_id FROM runs WHERE mode = 'apply'").fetchall()
        r = run("history", "-c", cfg, "--run", run_id)
        no_terminal_escapes(r.output)
        assert "\\x1b[31m[/]\\u202e-ansi@example.test" in r.output.replace("\n", "").replace("│", "").replace(" ", "")
        r = run("restore", run_id, "-c", cfg, "--yes")
        assert r.exit_code == 0, r.output[-3000:]
        no_terminal_escapes(r.output)
        assert r.output.count("restored") >= 3
