"""#15: the HTML report (`-f html`): one self-contained page, its charts, its table, and a real browser.

`population(n)` builds a run result of n findings the way a sweep does (the real policy judging
every credential of four scopes, the days since last use of each one counted for the histograms),
so that the size and the browser tests see a realistic report. `python -m tests.test_report_html N
FILE` writes one to look at.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sweeper import registry, report, report_html
from sweeper.cli import app
from sweeper.config import PolicySettings, ProviderSettings
from sweeper.model import (Activity, Credential, CredentialKind, DecisionKind, Identity, IdentityKind,
                           ProviderStatus)
from sweeper.policy import Thresholds, evaluate
from sweeper.results import Finding, FindingAction, RunResult, ScopeResult
from tests.fakes import FakeUser

NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)
AS_OF = "2026-11-21"
DIGEST = "9f" * 32
SCOPES = [("aws", "111122223333"), ("aws", "444455556666"), ("entra", "b0b0b0b0-0000-4000-8000-000000000001"),
          ("google_workspace", "C0bench01")]
runner = CliRunner()


def population(findings: int, seed: int = 15, in_use: int = 3) -> RunResult:
    """A plan over four scopes of three providers with `findings` findings (mostly disables, some
    warnings, unknowns and exclusions) among about `in_use` times as many credentials in use."""
    rnd = random.Random(seed)
    scopes = [ScopeResult(p, s, inactive_days=90, warn_days=14) for p, s in SCOPES]
    judge = {p: Thresholds.resolve(PolicySettings(exclude=["breakglass-*"]), ProviderSettings(), registry.info(p),
                                   name=p) for p, _ in SCOPES}
    i = 0
    while sum(len(s.findings) for s in scopes) < findings:
        i += 1
        sc = scopes[i % len(scopes)]
        login = (f"breakglass-{i}@example.com" if i % 97 == 0
                 else f"user{i:06d}.{rnd.choice(['ops', 'dev', 'fin', 'hr'])}@example.com")
        days = rnd.randint(0, 75) if rnd.random() < in_use / (in_use + 1) else rnd.randint(60, 700)
        cid = f"id-{i:08d}"
        kinds = ([(CredentialKind.CONSOLE_PASSWORD, cid),
                  (CredentialKind.ACCESS_KEY, "AKIA" + "".join(rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
                                                               for _ in range(16)))]
                 if sc.provider == "aws" else [(CredentialKind.ACCOUNT, cid)])
        creds = tuple(Credential(kind, c, True, Activity.UNKNOWN if i % 211 == 0 else Activity.SEEN,
                                 NOW - timedelta(days=900), NOW - timedelta(days=days + 7 * n))
                      for n, (kind, c) in enumerate(kinds))
        ident = Identity(sc.provider, sc.scope, cid, login, IdentityKind.GUEST if i % 53 == 0 else IdentityKind.MEMBER,
                         True, creds, display_name=f"User {i}")
        sc.identities += 1
        for cred in creds:
            sc.credentials += 1
            d = evaluate(ident, cred, judge[sc.provider], NOW)
            if d.days_inactive is not None:
                sc.ages[d.days_inactive] += 1
            if d.kind.is_finding and len([f for s in scopes for f in s.findings]) < findings:
                sc.findings.append(Finding(ident, cred, d, FindingAction.PLANNED if d.kind is DecisionKind.DISABLE
                                           else FindingAction.NONE))
    return RunResult("20261121T040000Z-1a2b3c", "plan", NOW, scopes, config_digest=DIGEST)


def unpack(page: str) -> dict:
    """The findings data a page carries, whatever its encoding."""
    found = re.search(r'<script type="application/json" id="findings" data-encoding="(\w+)">(.*?)</script>', page,
                      re.S)
    assert found, "no findings block"
    encoding, payload = found.groups()
    if encoding == "gzip":
        return json.loads(gzip.decompress(base64.b64decode(payload)))
    return json.loads(payload)


class Tags(HTMLParser):
    """Every element and attribute of a page, and the text of its scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.attrs: dict[str, set[str]] = {}
        self.ids: Counter[str] = Counter()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None
        self.comments = 0
        self.declarations: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attrs.setdefault(tag, set()).update(name for name, _ in attrs)
        self.ids.update(value for name, value in attrs if name == "id" and value)
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None

    def handle_comment(self, data: str) -> None:
        self.comments += 1

    def handle_decl(self, decl: str) -> None:
        self.declarations.append(decl)

    def handle_pi(self, data: str) -> None:
        self.declarations.append(data)


def parse(page: str) -> Tags:
    tags = Tags()
    tags.feed(page)
    tags.close()
    return tags


# The elements and attributes the template and matplotlib's SVG make: anything else came from data.
HTML_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "dl", "div", "dt", "dd",
             "code", "p", "ul", "li", "b", "main", "section", "small", "span", "figure", "figcaption", "label",
             "select", "option", "input", "noscript", "table", "thead", "tbody", "tr", "th", "td", "footer", "script"}
SVG_TAGS = {"svg", "defs", "g", "path", "use", "clippath", "rect", "text", "pattern"}
ATTRIBUTES = {"lang", "charset", "http-equiv", "content", "name", "class", "title", "id", "value", "type",
              "placeholder", "data-key", "tabindex", "colspan", "data-encoding",
              # SVG (matplotlib)
              "xmlns", "xmlns:xlink", "viewbox", "role", "aria-label", "d", "style", "clip-path", "xlink:href", "x",
              "y", "width", "height", "transform", "patternunits", "fill"}


def assert_inert(page: str) -> Tags:
    """Only the template's and the charts' elements and attributes; one data block that is JSON or
    base64 and one script, the template's own, allowed by the policy's hash."""
    tags = parse(page)
    assert set(tags.tags) <= HTML_TAGS | SVG_TAGS, set(tags.tags) - HTML_TAGS - SVG_TAGS
    extra = {f"{tag}[{a}]" for tag, names in tags.attrs.items() for a in names if a not in ATTRIBUTES}
    assert not extra, extra
    assert tags.comments == 0 and tags.declarations == ["DOCTYPE html"], tags.declarations
    assert tags.tags["script"] == 2 and tags.tags["style"] == 1
    (data_attrs, data), (code_attrs, code) = tags.scripts
    assert data_attrs == {"type": "application/json", "id": "findings", "data-encoding": data_attrs["data-encoding"]}
    assert code_attrs == {}
    if data_attrs["data-encoding"] == "gzip":
        assert re.fullmatch(r"[A-Za-z0-9+/=]+", data)
    else:
        json.loads(data)
        assert "<" not in data and ">" not in data and "&" not in data and "\u2028" not in data
    assert code == SCRIPT, "the page's script is the template's"
    assert f"script-src '{report_html._csp_hash(code)}'" in page
    return tags


def _template_script() -> str:
    page = report_html.render_html(RunResult("r", "plan", NOW), charts=False)
    return parse(page).scripts[1][1]


SCRIPT = _template_script()


# -- the page -------------------------------------------------------------------------------------------

def test_ten_thousand_findings_fit_in_one_megabyte(tmp_path) -> None:
    result = population(10_000)
    page = report.render(result, "html")
    size = len(page.encode("utf-8"))
    print(f"\nHTML report of 10,000 findings: {size:,} bytes")
    assert size < 1_000_000, size
    data = unpack(page)
    ordered = report._ordered(result)
    assert len(data["r"]) == 10_000 and [r[2] for r in data["r"]] == [f.identity.login for f in ordered]
    first = report.finding_json(ordered[0])
    row = data["r"][0]
    assert (data["p"][row[0]][0], data["s"][row[1]], row[4], row[5], row[6], row[7], row[11]) == (
        first["provider"], first["scope"], first["credential"], first["decision"], first["days_inactive"],
        first["threshold_days"], first["reason"])
    assert_inert(page)
    (tmp_path / "report.html").write_text(page)


def test_a_small_report_carries_its_findings_as_readable_json() -> None:
    result = population(40)
    data = unpack(page := report.render(result, "html"))
    assert 'data-encoding="json"' in page and len(data["r"]) == 40
    assert [p[1] for p in data["p"]] == ["AWS IAM", "Microsoft Entra ID", "Google Workspace"]
    assert {r[5] for r in data["r"]} <= {k.value for k in DecisionKind}


def test_the_page_loads_nothing_from_elsewhere() -> None:
    page = report.render(population(200), "html")
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert policy and policy.group(1).startswith("default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-")
    assert "'unsafe-inline'" not in policy.group(1).split("script-src")[1].split(";")[0]
    urls = set(re.findall(r"(?:https?:)?//[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls  # namespaces, not loads
    assert not re.search(r"<(?:link|img|iframe|object|embed)\b|@import|\bsrc=", page)
    assert set(re.findall(r'url\(([^)]*)\)', page)) <= {f"#{i}" for i in parse(page).ids}  # in-page references
    assert not re.search(r'href="(?!#)', page)


def test_header_and_a_card_per_scope_with_its_status_and_message() -> None:
    result = population(30)
    result.scopes[1].status, result.scopes[1].message = ProviderStatus.FAILED, "listing failed after 3 identities"
    result.scopes[1].findings = []
    result.scopes[2].status, result.scopes[2].message = ProviderStatus.CAPPED, "12 disables exceed max_disable = 10"
    result.scopes[3].status, result.scopes[3].message = ProviderStatus.NOT_MEASURED, "no activity data"
    page = report.render(result, "html")
    assert "<h1>identity-sweeper plan</h1>" in page and "2026-11-21T00:00:00Z" in page
    assert "20261121T040000Z-1a2b3c" in page and DIGEST in page
    cards = re.findall(r'<section class="card s-(\w+)">(.*?)</section>', page, re.S)
    assert [c[0] for c in cards] == ["ok", "failed", "capped", "not_measured"]
    assert "listing failed after 3 identities" in cards[1][1] and "max_disable = 10" in cards[2][1]
    assert "not measured" in cards[3][1] and "no activity data" in cards[3][1]
    first = Counter(f.decision.kind.value for f in result.scopes[0].findings)
    assert f'<span class="k k-disable">{first["disable"]} disable</span>' in cards[0][1]
    totals = report.summary(result)
    assert f'<li class="x-disable"><b>{totals["disable"]}</b>to disable</li>' in page


def test_charts_are_inline_svg_with_unique_ids_and_the_counts() -> None:
    result = population(300)
    page = report.render(result, "html")
    tags = assert_inert(page)
    assert tags.tags["svg"] == 4  # decisions, and one histogram per provider
    assert not [i for i, n in tags.ids.items() if n > 1], "an id used twice"
    for ref in re.findall(r'(?:url\(#|href="#)([^")]+)', page):
        assert tags.ids[ref] == 1, ref  # every reference resolves, to its own chart's element
    body = page[page.index("<body>"):]
    assert "<?xml" not in body and "DOCTYPE svg" not in body and "<metadata>" not in body
    assert "currentColor" in body and report_html._INK not in body  # text and axes follow the page's colour
    svgs = re.findall(r"<svg .*?</svg>", page, re.S)
    decisions = svgs[0]
    per_provider = Counter((f.identity.provider, f.decision.kind.value) for f in result.findings)
    labels = re.findall(r"<text [^>]*>\s*([^<]*?)\s*</text>", decisions)
    for (provider, kind), n in per_provider.items():
        if n >= 12:  # big enough to carry its count
            assert str(n) in labels, (provider, kind, n, labels)
    totals = Counter(f.identity.provider for f in result.findings)
    assert {str(n) for n in totals.values()} <= set(labels)
    assert "AWS IAM" in labels and "Google Workspace" in labels and "disable" in labels
    histogram = svgs[1]
    assert "over the threshold (90 days)" in histogram and "warning window (14 days)" in histogram
    assert "in use" in histogram
    known = sum(sum(sc.ages.values()) for sc in result.scopes if sc.provider == "aws")
    assert f"{known} credentials with a known last use" in page
    assert "; threshold 90 days, warned from 76 days" in page


def test_without_matplotlib_the_report_says_how_to_get_charts(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    result = population(50)
    page = report.render(result, "html")
    assert "<svg" not in page and "install identity-sweeper[html] for charts" in page
    assert len(unpack(page)["r"]) == 50
    assert_inert(page)


def test_an_empty_run_renders() -> None:
    page = report.render(RunResult("20261121T040000Z-000000", "apply", NOW, [ScopeResult("fake", "s")]), "html")
    assert unpack(page) == {"p": [], "s": [], "r": []}
    assert "No credential with a known last use to chart." in page and "<b>0</b>failed" in page
    assert_inert(page)


# -- through the CLI ---------------------------------------------------------------------------------------

@pytest.fixture
def cfg(tmp_path, cloud):
    for n in range(3):
        cloud.add(FakeUser(f"stale{n}@example.com", NOW - timedelta(days=200 + n), NOW - timedelta(days=900)))
    for n in range(20):
        cloud.add(FakeUser(f"user{n}@example.com", NOW - timedelta(days=n % 30), NOW - timedelta(days=900)))
    cloud.add(FakeUser("warned@example.com", NOW - timedelta(days=80), NOW - timedelta(days=900)))
    path = tmp_path / "sweeper.toml"
    path.write_text(f'[policy]\nmax_disable_percent = 50\n[journal]\npath = "{tmp_path / "j.db"}"\n'
                    '[providers.fake]\ncloud = "default"\n')
    return path


def test_plan_and_apply_write_html(cfg, tmp_path) -> None:
    by_suffix, by_format = tmp_path / "report.html", tmp_path / "report.out"
    r = runner.invoke(app, ["plan", "-c", str(cfg), "--as-of", AS_OF, "-o", str(by_suffix),
                            "-f", "html", "-o", str(by_format)])
    assert r.exit_code == 0 and r.stdout == "", r.output
    for path in (by_suffix, by_format):
        page = path.read_text(encoding="utf-8")
        assert_inert(page)
        assert {r[2]: r[5] for r in unpack(page)["r"]} == {"stale0@example.com": "disable", "stale1@example.com":
                                                          "disable", "stale2@example.com": "disable",
                                                          "warned@example.com": "warn"}
        assert re.search(r"config digest</dt><dd><code [^>]*>[0-9a-f]{64}</code>", page)
        assert "24 credentials with a known last use; threshold 90 days" in page  # every credential judged
    assert oct(by_suffix.stat().st_mode & 0o777) == "0o600"
    r = runner.invoke(app, ["apply", "-c", str(cfg), "--as-of", AS_OF, "--yes", "-o", str(tmp_path / "apply.html")])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "apply.html").read_text()
    assert "<h1>identity-sweeper apply</h1>" in page and "<b>3</b>disabled" in page
    assert sorted(r[9] for r in unpack(page)["r"]) == ["disabled", "disabled", "disabled", "none"]
    r = runner.invoke(app, ["plan", "-c", str(cfg), "--as-of", AS_OF, "-f", "html"])
    assert r.exit_code == 0 and r.stdout.startswith("<!DOCTYPE html>"), r.output[-500:]


# -- in a real browser ---------------------------------------------------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0",
                  "--virtual-time-budget=30000"]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("Debian's chromium is not installed: `python3 dev.py test` installs it when run as root with "
                    "apt-get; otherwise apt-get install chromium")
    return found


def browse(chromium: str, page: Path, tmp: Path, *, fragment: str = "", dark: bool = False,
           screenshot: Path | None = None, pdf: Path | None = None) -> tuple[str, list[str]]:
    """The page's DOM after its script ran (or a screenshot or PDF), and what it wrote to the console."""
    what = ([f"--screenshot={screenshot}", "--window-size=1400,1800", "--hide-scrollbars"] if screenshot
            else [f"--print-to-pdf={pdf}", "--no-pdf-header-footer"] if pdf else ["--dump-dom"])
    cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}",
           f"--blink-settings=preferredColorScheme={0 if dark else 1}", *what, page.as_uri() + fragment]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp)})
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


def shown_rows(dom: str) -> list[list[str]]:
    """The table rows the script built that are not hidden, as the text of their cells."""
    body = dom[dom.index('<tbody id="rows">'):]
    body = body[:body.index("</tbody>")]
    rows = re.findall(r"<tr( hidden=\"\")?>(.*?)</tr>", body, re.S)
    return [[re.sub(r"<[^>]+>", " ", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for hidden, row in rows if not hidden]


def test_the_report_in_chromium(chromium, tmp_path) -> None:
    result = population(300)
    page = tmp_path / "report.html"
    page.write_text(report.render(result, "html"), encoding="utf-8")
    dom, console = browse(chromium, page, tmp_path)
    assert not console, console  # no error, and no load the policy refused (each would be said there)
    assert 'data-ready="300"' in dom and 'data-shown="300"' in dom
    rows = shown_rows(dom)
    assert len(rows) == 300 and rows[0][1].startswith(report._ordered(result)[0].identity.login)
    assert dom.count("<svg") == 4
    warned = [f for f in result.findings if f.decision.kind is DecisionKind.WARN]
    dom, console = browse(chromium, page, tmp_path, fragment="#d=warn&p=aws")
    rows = shown_rows(dom)
    aws_warned = [f for f in warned if f.identity.provider == "aws"]
    assert not console and len(rows) == len(aws_warned) > 0 and {r[3] for r in rows} == {"warn"}
    assert f"{len(aws_warned)} of 300 findings shown" in dom
    login = report._ordered(result)[5].identity.login
    dom, _ = browse(chromium, page, tmp_path, fragment=f"#q={login.upper()}")
    assert [r[1].split()[0] for r in shown_rows(dom)] == [f.identity.login for f in report._ordered(result)
                                                          if f.identity.login == login]
    for dark in (False, True):
        shot = tmp_path / f"report-{'dark' if dark else 'light'}.png"
        browse(chromium, page, tmp_path, dark=dark, screenshot=shot)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
    pdf = tmp_path / "report.pdf"
    browse(chromium, page, tmp_path, pdf=pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 50_000


def test_ten_thousand_findings_in_chromium(chromium, tmp_path) -> None:
    result = population(10_000)
    page = tmp_path / "report.html"
    page.write_text(report.render(result, "html"), encoding="utf-8")
    assert 'data-encoding="gzip"' in page.read_text()
    unknown = sum(f.decision.kind is DecisionKind.UNKNOWN for f in result.findings)
    dom, console = browse(chromium, page, tmp_path, fragment="#d=unknown")
    assert not console, console
    assert 'data-ready="10000"' in dom and f'data-shown="{unknown}"' in dom
    assert {r[3] for r in shown_rows(dom)} == {"unknown"} and len(shown_rows(dom)) == unknown


def test_hostile_strings_stay_text_in_chromium(chromium, tmp_path) -> None:
    """The hostile corpus (tests/test_hostile.py) as logins, reasons, errors and the scope: after the
    page's script built the table, no element or attribute came from them, and no script ran but ours."""
    from tests.test_hostile import NAMED, result_of

    result = result_of([v[:600] for v in NAMED.values()])
    page = tmp_path / "report.html"
    page.write_text(report.render(result, "html"), encoding="utf-8")
    dom, console = browse(chromium, page, tmp_path)
    assert not console, console  # `<script>alert(1)</script>` ran nowhere: no error, nothing refused
    assert f'data-ready="{len(NAMED)}"' in dom
    body = dom[dom.index('<tbody id="rows">'):dom.index("</tbody>")]
    built = parse(body)
    assert set(built.tags) == {"tbody", "tr", "td", "br", "small", "span", "div"}, set(built.tags)
    assert {a for names in built.attrs.values() for a in names} <= {"id", "class"}
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "\\u202etxt.exe" in body


if __name__ == "__main__":  # python -m tests.test_report_html N FILE: a report of N findings to look at
    Path(sys.argv[2]).write_text(report.render(population(int(sys.argv[1])), "html"), encoding="utf-8")
