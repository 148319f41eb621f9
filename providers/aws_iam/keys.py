"""Live, per-user reads for refresh(): which access key a report slot is, and how used it is now.

The credential report names key slots (`access_key_1`, `access_key_2`) and truncates times to whole
seconds; ListAccessKeys names keys by id with their full creation time. `place()` maps a user's
slots to its keys one-to-one: a slot may never take a key its sibling already holds, and a key is
a candidate for a slot only when the report's time is its creation time truncated
(0 <= CreateDate - last_rotated < 1 s). Ties are broken by what else the report says of each slot:
its status (active or not) and its last use, against each key's own live ones; whatever remains
undecided is still one-to-one, and each key is then judged on its own live data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import permutations
from typing import Any, Callable, Sequence

from providers.aws_iam.errors import BOTO_ERRORS, code_of, translate
from providers.aws_iam.report import ABSENT, KEY_TRACKING_SINCE, KeySlot, password
from sweeper.kit.times import parse_utc
from sweeper.model import Activity, Credential, CredentialKind, CredentialRef

_TRUNCATION = timedelta(seconds=1)  # the report writes times to the whole second, cut down
_MISSING = object()
TIED = "created in the same second as the user's other key; judged on its own live data"


class _Gone(Exception):
    """The user or key no longer exists."""


@dataclass(frozen=True, slots=True)
class LiveKey:
    """One key as ListAccessKeys gives it; `last_used` is filled in only where it is needed."""

    key_id: str
    created: datetime | None
    status: str
    last_used: Any = _MISSING  # datetime | None once read


@dataclass(frozen=True, slots=True)
class Placement:
    """Which key each slot is: slot number -> key id (absent: no key fits), and the tied slots."""

    keys: dict[int, str]
    tied: frozenset[int] = frozenset()


def fits(slot: KeySlot, key: LiveKey) -> bool:
    """Whether the report's slot could be this key: its time is the key's, truncated to the second."""
    if slot.last_rotated is None or key.created is None:
        return False
    return timedelta(0) <= key.created - slot.last_rotated < _TRUNCATION


def contested(slots: Sequence[KeySlot], keys: Sequence[LiveKey]) -> bool:
    """Whether creation times alone leave a choice (a key fits two slots or a slot two keys)."""
    return (any(sum(fits(s, k) for k in keys) > 1 for s in slots)
            or any(sum(fits(s, k) for s in slots) > 1 for k in keys))


def place(slots: Sequence[KeySlot], keys: Sequence[LiveKey]) -> Placement:
    """Map slots to keys one-to-one (pure; `keys` carry last_used where creation times contest).

    Among all one-to-one assignments of fitting pairs, the best places the most slots, then agrees
    with the report's status and last use most often, then keeps the report's order (slot 1 is the
    older key). Slots whose key the report's data does not decide (only that order) are `tied`.
    """
    if not slots:
        return Placement({})
    ordered = sorted(keys, key=lambda k: (k.created or datetime.min.replace(tzinfo=timezone.utc), k.key_id))
    pad: list[LiveKey | None] = [*ordered, *([None] * len(slots))]
    best: list[tuple[tuple[int, int, int], dict[int, str]]] = []
    seen: set[tuple[tuple[int, str], ...]] = set()
    for choice in permutations(pad, len(slots)):
        pairs = {s.slot: k for s, k in zip(slots, choice) if k is not None and fits(s, k)}
        frozen = tuple(sorted((n, k.key_id) for n, k in pairs.items()))
        if frozen in seen:
            continue
        seen.add(frozen)
        score = (len(pairs), sum(_agrees(s, pairs[s.slot]) for s in slots if s.slot in pairs),
                 _in_order(pairs, ordered))
        best.append((score, {n: k.key_id for n, k in pairs.items()}))
    top = max(score for score, _ in best)
    chosen = next(mapping for score, mapping in best if score == top)
    # The report's order is a preference, not evidence: a slot is tied when another assignment
    # explains the report's data as well as the chosen one.
    evidence = [mapping for score, mapping in best if score[:2] == top[:2]]
    tied = frozenset(n for n in chosen if any(m.get(n) != chosen[n] for m in evidence))
    return Placement(chosen, tied)


def _agrees(slot: KeySlot, key: LiveKey) -> int:
    """How many of the slot's facts besides its creation time the live key shares: its status, and its
    last use to the second (when read). Two keys made in the same second, one of them deactivated,
    are told apart by their status even when neither was ever used (issue #29)."""
    status = slot.active is not None and slot.active == (key.status == "Active")
    used = key.last_used is not _MISSING and _second(key.last_used) == _second(slot.last_used)
    return status + used


def _in_order(pairs: dict[int, LiveKey], ordered: list[LiveKey]) -> int:
    """How many pairs of placed slots follow the keys' creation order."""
    rank = {k.key_id: i for i, k in enumerate(ordered)}
    placed = sorted(pairs.items())
    return sum(rank[a.key_id] < rank[b.key_id] for i, (_, a) in enumerate(placed) for _, b in placed[i + 1:])


def _call(operation: str, permission: str, fn: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    try:
        return fn(**kwargs)
    except BOTO_ERRORS as err:
        if code_of(err) == "NoSuchEntity":
            raise _Gone from err
        raise translate(err, operation, permission) from err


def list_keys(iam: Any, ref: CredentialRef) -> list[LiveKey] | None:
    """The user's keys now (ListAccessKeys), or None when the user is gone."""
    try:
        answer = _call(f"list access keys of {ref.login}", "iam:ListAccessKeys", iam.list_access_keys,
                       UserName=ref.login)
    except _Gone:
        return None
    return [LiveKey(k["AccessKeyId"], parse_utc(k.get("CreateDate"), ABSENT), k.get("Status", ""))
            for k in answer.get("AccessKeyMetadata") or ()]


def with_last_use(iam: Any, ref: CredentialRef, keys: list[LiveKey], wanted: set[str]) -> list[LiveKey] | None:
    """`keys` with live last use read for the ids in `wanted`; None when a key vanished meanwhile."""
    out = []
    for key in keys:
        if key.key_id in wanted and key.last_used is _MISSING:
            try:
                key = LiveKey(key.key_id, key.created, key.status, _last_used(iam, ref, key.key_id))
            except _Gone:
                return None
        out.append(key)
    return out


def resolve(iam: Any, ref: CredentialRef, slots: Sequence[KeySlot]) -> tuple[Placement, list[LiveKey]] | None:
    """Place every slot of `ref`'s user on a live key. None when the user is gone.

    Costs ListAccessKeys plus GetAccessKeyLastUsed for the keys that need it: only the slot's own
    key when creation times decide, every fitting key when they contest.
    """
    keys = list_keys(iam, ref)
    if keys is None:
        return None
    if contested(slots, keys):
        wanted = {k.key_id for k in keys if any(fits(s, k) for s in slots)}
        keys = with_last_use(iam, ref, keys, wanted)
        if keys is None:
            return None
    return place(slots, keys), keys


def key_now(iam: Any, ref: CredentialRef, key_id: str, keys: list[LiveKey] | None = None,
            note: str | None = None) -> Credential | None:
    """One key by its AccessKeyId, read live (reusing `keys` when just listed); None if it is gone."""
    if keys is None:
        keys = list_keys(iam, ref)
    match = next((k for k in keys or () if k.key_id == key_id), None)
    if match is None:
        return None
    if match.last_used is _MISSING:
        try:
            match = LiveKey(match.key_id, match.created, match.status, _last_used(iam, ref, key_id))
        except _Gone:
            return None
    return _key_credential(match, note)


def _last_used(iam: Any, ref: CredentialRef, key_id: str) -> datetime | None:
    answer = _call(f"last use of {ref.login} {key_id}", "iam:GetAccessKeyLastUsed",
                   iam.get_access_key_last_used, AccessKeyId=key_id)
    return parse_utc(answer.get("AccessKeyLastUsed", {}).get("LastUsedDate"), ABSENT)


def _key_credential(key: LiveKey, note: str | None) -> Credential:
    enabled = key.status == "Active"
    used, created = key.last_used, key.created
    if used is not None:
        return Credential(CredentialKind.ACCESS_KEY, key.key_id, enabled, Activity.SEEN, created, used, note)
    if created is None:
        return Credential(CredentialKind.ACCESS_KEY, key.key_id, enabled, Activity.UNKNOWN,
                          activity_note="ListAccessKeys gave no CreateDate")
    if note is None and created < KEY_TRACKING_SINCE:
        note = "never used (AWS records key use since 2015-04-22)"
    return Credential(CredentialKind.ACCESS_KEY, key.key_id, enabled, Activity.NEVER, created, None, note)


def password_now(iam: Any, ref: CredentialRef, irreversible: bool,
                 set_hint: datetime | None = None) -> Credential | None:
    """The console password of `ref.login` now: disabled if it has no login profile, None if the
    user is gone or is another user of the same name. `set_hint` is the report's last change."""
    try:
        user = _call(f"get user {ref.login}", "iam:GetUser", iam.get_user, UserName=ref.login)["User"]
    except _Gone:
        return None
    if ref.identity_id not in (user.get("UserId"), ref.login):
        return None  # deleted and re-created under the same name: not the credential we judged
    used = parse_utc(user.get("PasswordLastUsed"), ABSENT)
    try:
        profile = _call(f"get login profile of {ref.login}", "iam:GetLoginProfile",
                        iam.get_login_profile, UserName=ref.login)["LoginProfile"]
    except _Gone:
        return password(ref.credential_id, False, None, used, irreversible)
    created = parse_utc(profile.get("CreateDate"), ABSENT)
    if set_hint is not None and (created is None or set_hint > created):
        created = set_hint  # changed since the login profile was created
    return password(ref.credential_id, True, created, used, irreversible)


def _second(value: datetime | None) -> datetime | None:
    return value.replace(microsecond=0) if value is not None else None
