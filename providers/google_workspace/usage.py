"""Activity beyond lastLoginTime: the Admin SDK Reports API's user usage report, read and joined to users.

Pure functions and one accumulator, no I/O: the adapter fetches the pages, a `Reading` reads each report
and `Usage.judge()` gives each user, as it is mapped, the newest use either source knows of.

Names and values (admin.reports_v1 discovery document, the Reports API guides and parameter appendices):
the guides and older tools name the signals `accounts:last_login_time`, `gmail:last_imap_time`, ...
with a `datetimeValue` (RFC 3339); today's appendices name them `accounts:timestamp_last_login`,
`gmail:timestamp_last_imap`, ... typed integer, unit unstated. Both names are asked for (the API
ignores parameters it does not know) and both value kinds read; an integer's unit is read from its
magnitude. A value that cannot be placed makes that user's activity unknown, never old. The Gmail
signals cover only the 30 days before the report's date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sweeper.kit.times import BadTime, parse_utc
from sweeper.model import Activity

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
PACIFIC = timezone(timedelta(hours=-8))  # report dates are days in UTC-8 (the API reference)
GMAIL_WINDOW_DAYS = 30  # the Gmail signals of a report cover the 30 days before its date


@dataclass(frozen=True, slots=True)
class Signal:
    """One kind of use the report can show: its `activity_sources` key, application and names."""

    source: str
    app: str
    names: tuple[str, ...]  # the guides' name first, then the appendix's
    words: str  # what the use was, in a reason


SIGNALS = {s.source: s for s in (
    Signal("login", "accounts", ("accounts:last_login_time", "accounts:timestamp_last_login"), "sign-in"),
    Signal("sso", "accounts", ("accounts:last_sso_time", "accounts:timestamp_last_sso"), "SSO sign-in"),
    Signal("imap", "gmail", ("gmail:last_imap_time", "gmail:timestamp_last_imap"), "Gmail over IMAP"),
    Signal("pop", "gmail", ("gmail:last_pop_time", "gmail:timestamp_last_pop"), "Gmail over POP"),
    Signal("webmail", "gmail", ("gmail:last_webmail_time", "gmail:timestamp_last_webmail"), "Gmail on the web"),
    Signal("drive", "drive", ("drive:last_active_usage_time", "drive:timestamp_last_active_usage"), "Drive"),
)}
FIELDS = ("nextPageToken,warnings(code,message,data),"
          "usageReports(entity(customerId,profileId,userEmail,type),parameters)")
# An integer timestamp's unit, told by its magnitude: [low, high) -> divisor to seconds. Seconds cover
# 2001-5138, milliseconds and microseconds the same years; anything between or beyond is not placed.
_UNITS = ((10**9, 10**11, 1), (10**12, 10**14, 10**3), (10**15, 10**17, 10**6))


class ReportShape(ValueError):
    """A report page not in the documented shape; the message says what."""


def newest_likely(now: datetime) -> date:
    """The newest report date worth asking for: yesterday in the API's day (UTC-8)."""
    return now.astimezone(PACIFIC).date() - timedelta(days=1)


def day_end(day: date) -> datetime:
    """The instant the report day `day` (UTC-8) ends, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=PACIFIC).astimezone(timezone.utc) + timedelta(days=1)


def place(param: dict[str, Any], day: date, latest: datetime | None = None) -> datetime | None:
    """The instant a parameter holds; None for "no such use" (the epoch, 0, empty). Raises BadTime
    for a value that cannot be placed, including one later than the report's day could know
    (`latest`: a day after the day ends, computed once per report by the caller)."""
    if "datetimeValue" in param:
        try:
            when = parse_utc(param["datetimeValue"], ("", EPOCH))
        except BadTime:
            raise BadTime(f"{str(param['datetimeValue'])[:40]!r} is not a time") from None
    elif "intValue" in param:
        raw = param["intValue"]
        try:
            number = int(raw) if type(raw) in (int, str) else None
        except ValueError:
            number = None
        if number is None:
            raise BadTime(f"{str(raw)[:40]!r} is not an integer")
        if number == 0:
            return None
        unit = next((d for low, high, d in _UNITS if low <= number < high), None)
        if unit is None:
            raise BadTime(f"{number} is no timestamp in seconds, milliseconds or microseconds")
        when = datetime.fromtimestamp(number // unit, timezone.utc)
    else:
        kinds = sorted(k for k in param if k != "name")
        raise BadTime(f"has no time value ({', '.join(kinds) or 'no value at all'})")
    if latest is None:
        latest = day_end(day) + timedelta(days=1)
    if when is not None and when > latest:
        raise BadTime(f"{when.isoformat()} is later than a report of {day} can know")
    return when


@dataclass(slots=True)
class Use:
    """The newest use one user's reports show, and the first value that could not be placed."""

    when: datetime | None = None
    signal: Signal | None = None
    name: str = ""
    day: date | None = None
    unreadable: str | None = None

    def see(self, when: datetime, signal: Signal, name: str, day: date) -> None:
        if self.when is None or when > self.when:
            self.when, self.signal, self.name, self.day = when, signal, name, day


def warned_apps(page: dict[str, Any], apps: set[str]) -> list[str]:
    """The applications among `apps` that a page's warnings say have no full data for its date
    (DATA_NOT_AVAILABLE, PARTIAL_DATA_AVAILABLE). A warning naming no application covers them all."""
    warnings = page.get("warnings") or []
    if not isinstance(warnings, list):
        raise ReportShape("warnings is not a list")
    found: list[str] = []
    for warning in warnings:
        if not isinstance(warning, dict):
            raise ReportShape("a warning is not an object")
        data = warning.get("data")
        data = data if isinstance(data, list) else []
        named = {d.get("value") for d in data if isinstance(d, dict) and d.get("key") == "application"}
        found += sorted(apps & named if named else apps)
    return sorted(set(found))


class Reading:
    """One report being read: its pages' uses, kept apart until the whole report is read."""

    def __init__(self, usage: "Usage", day: date) -> None:
        self.usage, self.day = usage, day
        self.latest = day_end(day) + timedelta(days=1)
        self.by_id: dict[str, Use] = {}
        self.by_email: dict[str, Use] = {}

    def page(self, page: dict[str, Any]) -> None:
        entries = page.get("usageReports", [])
        if not isinstance(entries, list):
            raise ReportShape("usageReports is not a list")
        for entry in entries:
            self._entry(entry)

    def _entry(self, entry: object) -> None:
        entity = entry.get("entity") if isinstance(entry, dict) else None
        params = entry.get("parameters", []) if isinstance(entry, dict) else None
        if not isinstance(entity, dict) or not isinstance(params, list):
            raise ReportShape("a usage report entry has no entity or its parameters are not a list")
        customer = entity.get("customerId")
        if customer is not None and customer != self.usage.scope:
            raise ReportShape(f"an entry belongs to customer {str(customer)[:40]!r}, not {self.usage.scope}")
        pid, email = entity.get("profileId"), entity.get("userEmail")
        if isinstance(pid, str) and pid:
            use = self.by_id.setdefault(pid, Use())
        elif isinstance(email, str) and email:
            use = self.by_email.setdefault(email.casefold(), Use())
        else:
            return  # nobody to join it to
        for param in params:
            signal = self.usage.by_name.get(str(param.get("name"))) if isinstance(param, dict) else None
            if signal is None:
                continue
            name = param["name"]
            try:
                when = place(param, self.day, self.latest)
            except BadTime as err:
                if use.unreadable is None:
                    use.unreadable = f"{name} {err} (usage report of {self.day})"
                continue
            if when is not None:
                use.see(when, signal, name, self.day)

    def done(self) -> None:
        """The whole report was read: its uses count."""
        for mine, theirs in ((self.by_id, self.usage.by_id), (self.by_email, self.usage.by_email)):
            for key, use in mine.items():
                have = theirs.get(key)
                if have is None:
                    theirs[key] = use
                    continue
                if use.when is not None and use.signal is not None and use.day is not None:
                    have.see(use.when, use.signal, use.name, use.day)
                have.unreadable = have.unreadable or use.unreadable
        u = self.usage
        u.days.append(self.day)
        u.horizon = day_end(max(u.days))
        u.nothing_newer = f"lastLoginTime; nothing newer in the usage report of {u.days[0]}"
        u.not_in = f"lastLoginTime; not in the usage report of {u.days[0]}"


class Usage:
    """The usage reports read for one scope: per user the newest use of the selected signals."""

    def __init__(self, sources: list[str], scope: str) -> None:
        self.signals = [SIGNALS[s] for s in sources]
        self.scope = scope
        self.by_name = {name: s for s in self.signals for name in s.names}
        self.apps = {s.app for s in self.signals}
        self.by_id: dict[str, Use] = {}
        self.by_email: dict[str, Use] = {}  # entries without a profileId only
        self.days: list[date] = []  # the report dates read, newest first
        self.newer = 0  # identities whose last use came from a report
        self.horizon = EPOCH  # the latest instant any report read could speak of
        self.nothing_newer = self.not_in = "lastLoginTime"

    @property
    def parameters(self) -> str:
        return ",".join(self.by_name)

    def reading(self, day: date) -> "Reading":
        """A report dated `day`, read page by page; nothing counts until `Reading.done()`."""
        return Reading(self, day)

    def judge(self, uid: str, login: str, activity: Activity, last_used: datetime | None,
              note: str | None) -> tuple[Activity, datetime | None, str | None]:
        """One user's (activity, last use, note) from lastLoginTime, made the newest of it and the reports'.

        Unknown stays unknown. A report value that could not be placed makes the activity unknown,
        unless lastLoginTime is already later than anything the reports could say."""
        if activity is Activity.UNKNOWN:
            return activity, last_used, note
        use = self.by_id.get(uid) or self.by_email.get(login.casefold())
        known = last_used if activity is Activity.SEEN else None
        if use is not None and use.unreadable and (known is None or known < self.horizon):
            return Activity.UNKNOWN, None, f"{use.unreadable}; a use it may show is not known"
        if use is not None and use.when is not None and use.signal is not None and (known is None or use.when > known):
            self.newer += 1
            return Activity.SEEN, use.when, f"{use.signal.words}: {use.name} in the usage report of {use.day}"
        if activity is Activity.SEEN:
            return activity, last_used, self.nothing_newer if use is not None else self.not_in
        return activity, last_used, note
