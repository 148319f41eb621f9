"""One reader of provider timestamps: ISO 8601 with a zone in, aware UTC out.

Each provider writes "no such time" its own way (AWS `N/A`, Graph `0001-01-01T00:00:00Z`, Google the
Unix epoch); those forms are data passed in, not code. A time without a zone is refused, never
guessed: reading it as UTC or as local time could shift an account's last use by hours.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timezone


class Unreadable(ValueError):
    """A provider value we cannot read (a timestamp, a report's layout); the message shows it."""


class BadTime(Unreadable):
    """Neither a time with its zone nor one of the provider's "no such time" forms."""


def parse_utc(value: object, no_value: Collection[object] = (), *, floor: date | None = None) -> datetime | None:
    """`value` (ISO 8601 text, or a datetime) as an aware UTC datetime; None for "no such time".

    `no_value` holds the provider's forms of "no such time": text or None, compared with `value`
    before parsing (`N/A`, `""`), and aware datetimes, compared with the parsed instant (the epoch).
    A time written with a date before `floor`, whatever its offset, is "no such time" too (Graph's
    year 1). Raises BadTime for other types, text that does not parse, a time without a zone, or
    one outside the years UTC can hold.
    """
    if type(value) is str:  # the common case first: text, read once
        if value in no_value:
            return None
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise BadTime(value) from None
    elif value is None:
        if None in no_value:
            return None
        raise BadTime("None")
    elif isinstance(value, datetime):
        when = value
    else:
        raise BadTime(repr(value)[:60])
    if when.tzinfo is None or when.utcoffset() is None:
        raise BadTime(f"{value} (no time zone)")
    if floor is not None and when.date() < floor:
        return None
    if when in no_value:  # a sentinel instant (the epoch); text and None never equal a datetime
        return None
    try:
        return when.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise BadTime(f"{value} (out of range)") from None
