"""Notices before anything is disabled (design.md §9): owners hear first, channels get a digest, and
exceptions remind their owners before they end.

`sweeper notify` sweeps like `plan` (nothing changes in any cloud), then:

- sends each identity in the warn window, or about to be disabled, one notice to its owner listing the
  credentials concerned (stage `warn`, or `final` for a disable), never twice for the same stage, and
  again only after the credential left the window (it was used, or is gone) and came back;
- marks as `cleared` the notices of credentials that left the window, so that the next one counts anew;
- reminds each exception's owner `exception_reminder_days` before it ends;
- sends every channel one digest of the run.

Every notice is journaled as an intent before it is sent and settled with its result after: a failed
delivery is tried again on the next run. `hold()` is the other half: with `required_notice_days`,
a disable whose owner has not had that much notice is held back as a warning.

Deliveries go through Apprise URLs. Secrets in them come from `{env:SWEEPER_*}` variables, are
remembered by `sweeper.kit.secrets` and shown masked everywhere.
"""

from __future__ import annotations

import os
import re
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sweeper.errors import ConfigError
from sweeper.kit.endpoints import TOKEN_PREFIX
from sweeper.kit.secrets import remember, scrub
from sweeper.model import Activity, CredentialKind, DecisionKind, ProviderStatus
from sweeper.records import Journal
from sweeper.results import Finding, RunResult
from sweeper.text import MESSAGE_CHARS, printable

OWNER = "owner"
STAGES = ("warn", "final", "notice")  # notice: a rule's `action = "notify"`, nothing will be disabled (#26)
CREDENTIAL_KINDS = tuple(k.value for k in CredentialKind)
DIGEST_LIMIT = 50  # upcoming disables and ownerless logins listed by name in a digest
_ENV = re.compile(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


# -- the gate ------------------------------------------------------------------------------------

def delivered_since(journal: Journal, key: tuple[str, ...]) -> date | None:
    """The day of the first owner notice delivered for this credential since it last left the window."""
    days = [date.fromisoformat(n["as_of"][:10]) for n in journal.notices(key)
            if n["transport"] == OWNER and n["state"] == "done" and n["stage"] in STAGES]
    return min(days) if days else None


def hold(findings: Sequence[Finding], journal: Journal | None, as_of: datetime, days: int) -> int:
    """`required_notice_days`: a disable whose owner notice was not delivered `days` days before
    `as_of` (its rule's `notice_days` instead, when it has them) is held back as a warning that says
    why and until when. Returns how many were held."""
    held = 0
    for f in findings:
        if f.decision.kind is not DecisionKind.DISABLE:
            continue
        need = days if f.decision.notice_days is None else f.decision.notice_days  # its rule's, if it says
        if not need:
            continue
        first = delivered_since(journal, f.ref.key) if journal is not None else None
        if first is not None and as_of.date() >= first + timedelta(days=need):
            continue
        setting = (f"required_notice_days = {need}" if f.decision.notice_days is None
                   else f"notice_days = {need} in rule {f.decision.rule!r}")
        why = (f"notice sent {first.isoformat()}, disabled on or after {(first + timedelta(days=need)).isoformat()}"
               if first is not None else f"no notice delivered yet ({setting})")
        f.decision = replace(f.decision, kind=DecisionKind.WARN, reason=f"{f.decision.reason}; {why}")
        f.held = True
        held += 1
    return held


# -- URLs and secrets -----------------------------------------------------------------------------

def expand(url: str, what: str) -> str:
    """`url` with each `{env:NAME}` replaced by that variable's value (remembered as a secret).
    Only SWEEPER_* variables may be named, like every variable that holds a secret."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if not name.startswith(TOKEN_PREFIX):
            raise ConfigError(f"{{env:{name}}}: variables holding secrets must be named {TOKEN_PREFIX}*", key=what)
        found = os.environ.get(name)
        if not found:
            raise ConfigError(f"{{env:{name}}}: the variable is not set or empty", key=what)
        remember(found)
        return found

    return _ENV.sub(value, url)


def masked(url: str) -> str:
    """A notification URL as people may see it: passwords, tokens and keys shown as ****."""
    try:
        import apprise

        plugin = apprise.Apprise.instantiate(url)
        if plugin is not None:
            return scrub(str(plugin.url(privacy=True)))
    except Exception:  # noqa: BLE001 - masking never fails; fall back to cutting the URL down
        pass
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{'****@' if parts.username or parts.password else ''}{host}/****"


def with_params(url: str, **params: str) -> str:
    """`url` with query parameters set (an existing one of the same name is replaced)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, safe="@/:"), parts.fragment))


# -- delivery -------------------------------------------------------------------------------------

class Transport(Protocol):
    def send(self, url: str, title: str, body: str, *, html: bool) -> str | None:
        """Deliver one message; None when delivered, else why not (no secret in it)."""
        ...


class AppriseTransport:
    """Apprise, with its log captured so that a failure can be told in one line."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def send(self, url: str, title: str, body: str, *, html: bool) -> str | None:
        import apprise

        timed = with_params(url, cto=f"{min(self.timeout, 30):g}", rto=f"{self.timeout:g}")
        sender = apprise.Apprise()
        if not sender.add(timed):
            return f"not a usable notification URL: {masked(url)}"
        fmt = apprise.NotifyFormat.HTML if html else apprise.NotifyFormat.TEXT
        with apprise.LogCapture(level=apprise.logging.WARNING, fmt="%(message)s") as log:
            try:
                ok = sender.notify(body=body, title=title, body_format=fmt)
            except Exception as err:  # noqa: BLE001 - a plug-in's own failure is a failed delivery
                return scrub(f"{type(err).__name__}: {err}", 300)
            said = log.getvalue().strip().splitlines()
        if ok:
            return None
        return scrub("; ".join(said[-2:]) or "delivery failed", 300)


class Templates:
    """The shipped notice, digest and reminder templates, each replaceable by a file of the same name
    in the configured folder."""

    def __init__(self, folder: str | None = None) -> None:
        from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined, select_autoescape

        loaders: list[Any] = [PackageLoader("sweeper", "templates")]
        if folder:
            if not Path(folder).is_dir():
                raise ConfigError(f"{folder!r} is not a folder", key="notify.templates")
            loaders.insert(0, FileSystemLoader(folder))
        self.env = Environment(loader=ChoiceLoader(loaders), autoescape=select_autoescape(["html", "html.j2"]),
                               undefined=StrictUndefined, keep_trailing_newline=True, finalize=_as_data)

    def render(self, name: str, **values: Any) -> str:
        from jinja2 import TemplateError

        try:
            return self.env.get_template(name).render(**values)
        except TemplateError as err:
            raise ConfigError(f"template {name}: {err}", key="notify.templates") from None


def _as_data(value: Any) -> Any:
    """What a template shows of a value: a string printable (control characters, right-to-left
    overrides and line breaks in a login shown escaped) and cut when very long; HTML escaping
    follows in .html templates. Markup a template marked safe is its own."""
    from markupsafe import Markup

    return printable(value, MESSAGE_CHARS) if isinstance(value, str) and not isinstance(value, Markup) else value


# -- the run --------------------------------------------------------------------------------------

def _used(f: Finding) -> str:
    c = f.credential
    if c.activity is Activity.SEEN and c.last_used is not None:
        return f"last used {c.last_used.date().isoformat()}"
    if c.created is not None:
        return f"never used (created {c.created.date().isoformat()})"
    return "no use on record"


def _noticed(f: Finding) -> bool:
    """Whether the owner hears of this finding: a warning, a disable, or a rule's notify-only finding."""
    return f.decision.kind in (DecisionKind.WARN, DecisionKind.DISABLE) or f.decision.notify_only


def _reaches(f: Finding) -> date | None:
    c = f.credential
    since = c.last_used if c.activity is Activity.SEEN else c.created
    return (since + timedelta(days=f.decision.threshold_days)).date() if since is not None else None


class Notifier:
    """One `notify` run over a sweep's result. `preview` renders what would be sent and sends nothing."""

    def __init__(self, config: Any, journal: Journal | None, result: RunResult, *,
                 transport: Transport | None = None, preview: bool = False,
                 show: Callable[[str], None] = lambda text: None, shown_in_full: int | None = None) -> None:
        self.settings = config.notify
        self.exceptions = config.exceptions
        self.journal = journal
        self.result = result
        self.today = result.as_of.date()
        self.preview = preview
        self.show = show
        self.shown_in_full = shown_in_full  # preview: notices shown whole, then one line each (None: all)
        self.shown = 0
        self.transport = transport or AppriseTransport(self.settings.timeout_seconds)
        self.templates = Templates(self.settings.templates)
        self.sent = self.failed = self.skipped = 0
        self.ownerless: list[str] = []
        self.failures: list[str] = []
        self._lock = threading.Lock()

    def run(self) -> None:
        self._owner_notices()
        if not self.preview:
            self._clear()
        self._reminders()
        self._digest()

    # owner notices

    def _stage(self, f: Finding) -> str:
        if f.decision.notify_only:
            return "notice"
        return "final" if f.decision.kind is DecisionKind.DISABLE or f.held else "warn"

    def _due(self, f: Finding, stage: str) -> date:
        days = self.settings.required_notice_days
        if stage == "final":
            first = delivered_since(self.journal, f.ref.key) if self.journal is not None else None
            return max(self.today, (first or self.today) + timedelta(days=days))
        reach = _reaches(f) or self.today
        return max(reach, self.today + timedelta(days=days))

    def _pending(self, f: Finding, stage: str) -> bool:
        """Whether this credential still needs a notice of `stage` (a final one also covers a warning)."""
        if self.journal is None:
            return True
        given = {n["stage"] for n in self.journal.notices(f.ref.key) if n["transport"] == OWNER and n["state"] == "done"}
        return not (stage in given or stage == "warn" and "final" in given)

    def _owner_notices(self) -> None:
        by_identity: dict[tuple[str, str, str], list[Finding]] = defaultdict(list)
        jobs: list[tuple[Any, list[tuple[Finding, str]]]] = []
        for f in self.result.findings:
            if _noticed(f):
                by_identity[(f.identity.provider, f.identity.scope, f.identity.id)].append(f)
        for findings in by_identity.values():
            identity = findings[0].identity
            wanted = [(f, self._stage(f)) for f in findings]
            todo = [(f, stage) for f, stage in wanted if self._pending(f, stage)]
            self.skipped += len(wanted) - len(todo)
            if not todo:
                continue
            if not identity.owner:
                self.ownerless.append(f"{identity.provider} {identity.login}")
                self._note(identity.login, None, "no owner to notify")
                continue
            jobs.append((identity, todo))
        if self.preview or not self.settings.owner_url:
            for identity, todo in jobs:
                self._send_owner(identity, todo)
            return
        # deliveries side by side (each is a connection and a round trip); the journal is thread-safe
        with ThreadPoolExecutor(self.settings.max_parallel, thread_name_prefix="notify") as pool:
            list(pool.map(lambda job: self._send_owner(*job), jobs))
        done = len(self.result.notices) - len(jobs)
        self.result.notices[done:] = sorted(self.result.notices[done:], key=lambda n: (n["identity"], n["to"] or ""))

    def _send_owner(self, identity: Any, todo: list[tuple[Finding, str]]) -> None:
        stages = {s for _, s in todo}
        stage = "final" if "final" in stages else "warn" if "warn" in stages else "notice"
        credentials: list[dict[str, Any]] = [{"label": f.credential.label, "used": _used(f), "threshold_days": f.decision.threshold_days,
                        "due": self._due(f, s).isoformat(), "stage": s} for f, s in todo]
        values = {"stage": stage, "login": identity.login, "display_name": identity.display_name,
                  "provider": identity.provider, "provider_name": _display(identity.provider),
                  "scope": identity.scope, "credentials": credentials, "run_id": self.result.run_id,
                  "due": min(c["due"] for c in credentials)}
        login = printable(identity.login)
        title = (f"Action needed: your {values['provider_name']} access {login} is about to be disabled"
                 if stage == "final" else f"Your {values['provider_name']} access {login} will be "
                 "disabled if it stays unused" if stage == "warn" else
                 f"Your {values['provider_name']} access {login} has not been used for a long time")
        url = self.settings.owner_url
        html = bool(url) and urlsplit(url or "").scheme.startswith("mailto")
        body = self.templates.render("notice.html.j2" if html else "notice.txt.j2", **values)
        if self.preview:
            self.shown += 1
            if self.shown_in_full is None or self.shown <= self.shown_in_full:
                self.show(f"--- to {printable(identity.owner)} ({stage}) ---\n{title}\n\n"
                          f"{self.templates.render('notice.txt.j2', **values)}")
            else:
                self.show(f"--- to {printable(identity.owner)} ({stage}): "
                          f"{printable(', '.join(c['label'] for c in credentials))}")
            self._note(identity.login, identity.owner, "preview", stage=stage, count=len(todo))
            return
        if not url:
            self._note(identity.login, identity.owner, "not sent: [notify] owner_url is not set", stage=stage)
            return
        items = [{"provider": f.identity.provider, "scope": f.identity.scope, "identity_id": f.identity.id,
                  "login": f.identity.login, "kind": f.credential.kind.value, "credential_id": f.credential.credential_id,
                  "stage": s, "transport": OWNER, "recipient": identity.owner, "as_of": self.today.isoformat()}
                 for f, s in todo]
        error = self._deliver(items, url, "notify.owner_url", title, body, html=html, to=identity.owner)
        for f, _ in todo if error else ():
            f.decision = replace(f.decision, reason=f"{f.decision.reason}; owner notice failed: {error}")
        with self._lock:
            if error:
                self.failed += 1
                self.failures.append(f"owner notice to {identity.owner} for {identity.login}: {error}")
            else:
                self.sent += 1
            self._note(identity.login, identity.owner, error or "sent", stage=stage, count=len(todo))

    def _deliver(self, items: list[dict[str, Any]], url: str, key: str, title: str, body: str, *,
                 html: bool = False, to: str | None = None) -> str | None:
        """Journal `items` as intents, send one message to `url` (config key `key`; `to` added as the
        recipient), settle the intents with the result. None when delivered, else why not."""
        uids = self.journal.record_notices(self.result.run_id, items) if self.journal is not None else []
        try:
            target = expand(url, key)
            error = self.transport.send(with_params(target, to=to) if to else target, title, body, html=html)
        except ConfigError as err:
            error = str(err)
        if self.journal is not None:
            self.journal.settle_notices([(uid, "failed" if error else "done", error) for uid in uids])
        return error

    def _note(self, login: str, to: str | None, state: str, *, stage: str = "", count: int = 0) -> None:
        self.result.notices.append({"identity": login, "to": to, "stage": stage or None, "credentials": count,
                                    "result": state})

    # leaving the window

    def _clear(self) -> None:
        """Notices of credentials no longer in the window (used again, disabled or gone) are cleared."""
        if self.journal is None:
            return
        listed = {(s.provider, s.scope) for s in self.result.scopes if s.status is ProviderStatus.OK}
        current = {f.ref.key for f in self.result.findings if _noticed(f)}
        open_keys: dict[tuple[str, ...], dict[str, Any]] = {}
        for n in self.journal.notices():
            key = (n["provider"], n["scope"], n["identity_id"], n["kind"], n["credential_id"])
            if n["kind"] not in CREDENTIAL_KINDS or (key[0], key[1]) not in listed:
                continue
            if n["stage"] == "cleared":
                open_keys.pop(key, None)
            elif n["stage"] in STAGES:
                open_keys[key] = n
        gone = [(key, n) for key, n in open_keys.items() if key not in current]
        if not gone:
            return
        items = [{"provider": k[0], "scope": k[1], "identity_id": k[2], "login": n["login"], "kind": k[3],
                  "credential_id": k[4], "stage": "cleared", "transport": "", "recipient": None,
                  "as_of": self.today.isoformat()} for k, n in gone]
        uids = self.journal.record_notices(self.result.run_id, items)
        self.journal.settle_notices([(uid, "done", None) for uid in uids])

    # exceptions

    def _reminders(self) -> None:
        days = self.settings.exception_reminder_days
        for entry in self.exceptions:
            left = (entry.expires - self.today).days
            if not 0 <= left <= days:
                continue
            label = f"exception {entry.match!r}" + (f" ({entry.provider})" if entry.provider else "")
            if not entry.owner:
                self._note(label, None, f"no owner to remind (ends {entry.expires.isoformat()})", stage="reminder")
                continue
            key = (entry.provider or "*", "", entry.match, "exception", entry.expires.isoformat())
            if self.journal is not None and any(n["state"] == "done" for n in self.journal.notices(key)):
                continue
            values = {"match": entry.match, "provider": entry.provider, "reason": entry.reason, "ticket": entry.ticket,
                      "expires": entry.expires.isoformat(), "run_id": self.result.run_id}
            title = f"identity-sweeper exception {printable(entry.match)} ends on {entry.expires.isoformat()}"
            body = self.templates.render("reminder.txt.j2", **values)
            if self.preview:
                self.show(f"--- to {printable(entry.owner)} (reminder) ---\n{title}\n\n{body}")
                self._note(label, entry.owner, "preview", stage="reminder")
                continue
            if not self.settings.owner_url:
                self._note(label, entry.owner, "not sent: [notify] owner_url is not set", stage="reminder")
                continue
            item = {"provider": key[0], "scope": "", "identity_id": entry.match, "login": entry.match,
                    "kind": "exception", "credential_id": key[4], "stage": "reminder", "transport": OWNER,
                    "recipient": entry.owner, "as_of": self.today.isoformat()}
            error = self._deliver([item], self.settings.owner_url, "notify.owner_url", title, body, to=entry.owner)
            if error:
                self.failures.append(f"reminder to {entry.owner} for {label}: {error}")
            self._note(label, entry.owner, error or "sent", stage="reminder")

    # the digest

    def digest_text(self) -> str:
        scopes = []
        for s in self.result.scopes:
            kinds = [f.decision.kind for f in s.findings]
            scopes.append({"provider": s.provider, "scope": s.scope, "status": s.status.value,
                           "identities": s.identities, "disable": kinds.count(DecisionKind.DISABLE),
                           "warn": kinds.count(DecisionKind.WARN), "message": s.message})
        upcoming = sorted(({"provider": f.identity.provider, "login": f.identity.login, "credential": f.credential.label,
                            "due": self._due(f, "final").isoformat()}
                           for f in self.result.findings if f.decision.kind is DecisionKind.DISABLE or f.held),
                          key=lambda u: (u["due"], u["provider"], u["login"]))
        failures = [f"{s.provider} {s.scope}: {s.message}" for s in self.result.scopes
                    if s.status is ProviderStatus.FAILED] + self.failures
        # people across clouds (#25): credentials used after their person left come first, then leavers
        leaving = sorted(({"provider": f.identity.provider, "login": f.identity.login, "credential": f.credential.label,
                           "person": f.decision.person or "", "left": f.decision.leaver or "",
                           "used": f.credential.last_used.date().isoformat() if f.credential.last_used else "",
                           "after": f.decision.used_after_leaving, "action": str(f.action)}
                          for f in self.result.findings if f.decision.leaver),
                         key=lambda u: (not u["after"], u["person"], u["provider"], u["login"]))
        report = self.settings.report_url
        if report:
            report = report.replace("{run_id}", self.result.run_id).replace("{date}", self.today.isoformat())
        return self.templates.render("digest.txt.j2", run_id=self.result.run_id, as_of=self.today.isoformat(),
                                     report_url=report, scopes=scopes, upcoming=upcoming, failures=failures,
                                     used_after=[u for u in leaving if u["after"]],
                                     leavers=[u for u in leaving if not u["after"]],
                                     ownerless=self.ownerless, sent=self.sent, failed=self.failed,
                                     skipped=self.skipped, limit=DIGEST_LIMIT)

    def _digest(self) -> None:
        channels = self.settings.channels
        if self.preview:
            self.show(f"--- digest to {len(channels)} channel(s) ---\n{self.digest_text()}")
            return
        if not channels:
            return
        title = f"identity-sweeper: {self.result.run_id}"
        body = self.digest_text()
        errors = []
        for n, url in enumerate(channels):
            shown = masked(url)
            item = {"provider": "", "scope": "", "identity_id": self.result.run_id, "login": "",
                    "kind": "digest", "credential_id": shown, "stage": "digest", "transport": "channel",
                    "recipient": shown, "as_of": self.today.isoformat()}
            error = self._deliver([item], url, f"notify.channels[{n}]", title, body)
            self._note("digest", shown, error or "sent", stage="digest")
            errors.append(error)
        self.result.channels_failed = all(errors)


def _display(provider: str) -> str:
    from sweeper.report import display_name

    return display_name(provider)

