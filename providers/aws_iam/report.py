"""The IAM credential report: CSV rows into neutral credentials. Pure functions, no boto3.

Every value form the report uses is handled: ISO 8601 dates, `N/A` (no such credential, or a key
never used), `no_information` (a password never used, or not since tracking began),
`not_supported` (the root row and some moto columns), and booleans in either case: the IAM User Guide
writes `TRUE`/`FALSE`, the reports AWS serves (as recorded by Cloud Custodian's tests) `true`/`false`.
A value we cannot read makes that credential UNKNOWN with a note; it never crashes the listing and
never reads as "never used".
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timezone

from sweeper.kit.times import Unreadable, parse_utc
from sweeper.model import Activity, Credential, CredentialKind

ROOT_LOGIN = "<root_account>"
# AWS began recording password use on 2014-10-20 and access-key use on 2015-04-22: "never" for
# older credentials means "not since then", which is as inactive as any threshold cares about.
PASSWORD_TRACKING_SINCE = datetime(2014, 10, 20, tzinfo=timezone.utc)
KEY_TRACKING_SINCE = datetime(2015, 4, 22, tzinfo=timezone.utc)

REQUIRED = ("user", "arn", "user_creation_time", "password_enabled", "password_last_used",
            "password_last_changed", "access_key_1_active", "access_key_1_last_rotated",
            "access_key_1_last_used_date", "access_key_2_active", "access_key_2_last_rotated",
            "access_key_2_last_used_date")
NO_VALUE = frozenset(("N/A", "no_information", "not_supported", ""))  # the report's "no such time"
ABSENT = (None,)  # an API answer without the field (botocore hands over aware datetimes)


def flag(value: str) -> bool | None:
    """A report boolean, `true`/`false` in any case (`TRUE` in the IAM User Guide); None otherwise."""
    folded = value.lower()
    return True if folded == "true" else False if folded == "false" else None


def parse_when(value: str) -> datetime | None:
    """An ISO 8601 report date as aware UTC; None for N/A, no_information, not_supported, "".

    Raises Unreadable (sweeper.kit.times.BadTime) for anything else, a time without a zone included."""
    return parse_utc(value, NO_VALUE)


@dataclass(frozen=True, slots=True)
class KeySlot:
    """What the report says about one access-key slot: enough for refresh() to find the key."""

    slot: int
    last_rotated: datetime | None
    last_used: datetime | None
    active: bool | None = None  # access_key_N_active; None when the report's value is unreadable


@dataclass(frozen=True, slots=True)
class Row:
    """One report row: the user name, its ARN, creation time and its credentials."""

    login: str
    arn: str
    created: datetime | None
    credentials: tuple[Credential, ...]
    slots: tuple[KeySlot, ...]


class Report:
    """A credential report's CSV. Raises `Unreadable` when the header lacks a needed column.

    Rows stay raw lines until `row()` maps them: one string per user instead of 22 keeps a
    100,000-user report cheap to hold and spares the garbage collector.
    """

    def __init__(self, content: bytes | str) -> None:
        text = content.decode("utf-8") if isinstance(content, bytes) else content
        # rows end in "\n" (or "\r\n"); str.splitlines() would also break a row at \x1c-\x1e, \x85 or
        # \u2028 inside a value, making a row of its tail
        self._lines = [line.removesuffix("\r") for line in text.split("\n")]
        header = next(csv.reader(self._lines[:1]), None)
        if not header:
            raise Unreadable("empty credential report")
        self.index = {name: i for i, name in enumerate(header)}
        missing = [c for c in REQUIRED if c not in self.index]
        if missing:
            raise Unreadable(f"credential report lacks column(s) {', '.join(missing)}")
        self.width = len(header)

    def by_login(self) -> dict[str, str]:
        """Raw lines by user name (the root row under `<root_account>`); mapped later by `row()`.

        Raises Unreadable when a user has two rows: which one is true cannot be told, and a user
        must never be judged twice or from a merge of both."""
        out: dict[str, str] = {}
        for line in self._lines[1:]:
            if not line:
                continue
            if line[0] == '"':  # a quoted name (IAM names may hold commas)
                name = next(csv.reader([line]))[0]
            else:
                name = line.partition(",")[0]
            if name in out:
                raise Unreadable(f"credential report has two rows for user {name!r}")
            out[name] = line
        return out

    def row(self, line: str, identity_id: str, *, irreversible: bool = True) -> Row:
        """Map one raw line; console passwords take `identity_id` as their credential id."""
        fields = line.split(",") if '"' not in line else next(csv.reader([line]))
        return row_of(fields, self.index, self.width, identity_id, irreversible)


def row_of(fields: list[str], ix: dict[str, int], width: int, identity_id: str,
           irreversible: bool) -> Row:
    """Map one CSV row. A short or garbled row becomes UNKNOWN credentials with a note."""
    login = fields[0]
    if len(fields) != width:
        note = f"credential report row has {len(fields)} fields, expected {width}"
        return Row(login, fields[1] if len(fields) > 1 else "", None,
                   (_unknown(CredentialKind.CONSOLE_PASSWORD, identity_id, note),), ())
    try:
        created = parse_when(fields[ix["user_creation_time"]])
    except Unreadable:
        created = None
    root = login == ROOT_LOGIN
    creds = [_password(fields, ix, identity_id, created, root, irreversible)]
    slots = []
    for n in (1, 2):
        cred, slot = _key(fields, ix, n)
        if cred is not None:
            assert slot is not None  # a credential always comes with its slot
            creds.append(cred)
            slots.append(slot)
    return Row(login, fields[ix["arn"]], created, tuple(creds), tuple(slots))


def _unknown(kind: CredentialKind, cred_id: str, note: str, *, enabled: bool = True,
             created: datetime | None = None) -> Credential:
    return Credential(kind, cred_id, enabled, Activity.UNKNOWN, created=created, activity_note=note)


def _password(fields: list[str], ix: dict[str, int], identity_id: str, user_created: datetime | None,
              root: bool, irreversible: bool) -> Credential:
    kind = CredentialKind.CONSOLE_PASSWORD
    state = fields[ix["password_enabled"]]
    raw_used = fields[ix["password_last_used"]]
    try:
        changed = parse_when(fields[ix["password_last_changed"]])
        used = parse_when(raw_used)
    except Unreadable as err:
        return _unknown(kind, identity_id, f"unreadable password date {err}", created=user_created)
    created = changed or user_created
    said = flag(state)
    if said is not None:
        enabled = said
    elif root:  # the root row says not_supported: a root user has a password unless the report says not
        enabled = True
    else:
        return _unknown(kind, identity_id, f"unreadable password_enabled value {state!r}",
                        created=created)
    if used is None and enabled and raw_used != "no_information":
        return _unknown(kind, identity_id, f"credential report gives password_last_used={raw_used!r}",
                        created=created)
    return password(identity_id, enabled, created, used, irreversible)


def password(cred_id: str, enabled: bool, created: datetime | None, used: datetime | None,
             irreversible: bool) -> Credential:
    """A console password from its set date and last sign-in (shared by listing and refresh).

    A password set after the last sign-in (an admin reset) has not been used since it was set:
    it is NEVER, judged from when it was set, so a fresh reset is not taken for an old password.
    """
    kind = CredentialKind.CONSOLE_PASSWORD
    if not enabled:
        activity = Activity.SEEN if used else Activity.NEVER
        return Credential(kind, cred_id, False, activity, created, used,
                          activity_note="no console password (no login profile)",
                          irreversible=irreversible)
    if used is not None and (created is None or used >= created):
        return Credential(kind, cred_id, True, Activity.SEEN, created, used, irreversible=irreversible)
    if used is not None:
        note = f"password set {created:%Y-%m-%d}, not used since (last sign-in {used:%Y-%m-%d})"
    elif created is None or created < PASSWORD_TRACKING_SINCE:
        note = "no console sign-in recorded (AWS records them since 2014-10-20)"
    else:
        note = None
    return Credential(kind, cred_id, True, Activity.NEVER, created, None, activity_note=note,
                      irreversible=irreversible)


def _key(fields: list[str], ix: dict[str, int], n: int) -> tuple[Credential | None, KeySlot | None]:
    kind = CredentialKind.ACCESS_KEY
    cred_id = f"access_key_{n}"
    active = fields[ix[f"access_key_{n}_active"]]
    raw_rotated = fields[ix[f"access_key_{n}_last_rotated"]]
    raw_used = fields[ix[f"access_key_{n}_last_used_date"]]
    state = flag(active)
    if state is False and raw_rotated == "N/A":
        return None, None  # an empty slot
    try:
        rotated = parse_when(raw_rotated)
        used = parse_when(raw_used)
    except Unreadable as err:
        return _unknown(kind, cred_id, f"unreadable access key {n} date {err}"), KeySlot(n, None, None)
    slot = KeySlot(n, rotated, used, state)
    if state is None:
        return _unknown(kind, cred_id, f"unreadable access_key_{n}_active value {active!r}",
                        created=rotated), slot
    enabled = state
    if rotated is None:
        return _unknown(kind, cred_id, f"access key {n} has no creation date", enabled=enabled), slot
    if used is not None:
        return Credential(kind, cred_id, enabled, Activity.SEEN, rotated, used), slot
    if raw_used != "N/A":
        return _unknown(kind, cred_id, f"credential report gives access_key_{n}_last_used_date="
                                       f"{raw_used!r}", enabled=enabled, created=rotated), slot
    note = "never used (AWS records key use since 2015-04-22)" if rotated < KEY_TRACKING_SINCE else None
    return Credential(kind, cred_id, enabled, Activity.NEVER, rotated, None, activity_note=note), slot
