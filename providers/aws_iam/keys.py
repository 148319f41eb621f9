"""Live, per-user reads for refresh(): which access key a report slot is, and how used it is now."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from providers.aws_iam.errors import BOTO_ERRORS, code_of, translate
from providers.aws_iam.report import KEY_TRACKING_SINCE, KeySlot, password
from sweeper.model import Activity, Credential, CredentialKind, CredentialRef

_SAME_SECOND = timedelta(seconds=1)  # the report truncates times to whole seconds


class _Gone(Exception):
    """The user or key no longer exists."""


def _call(operation: str, permission: str, fn: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        return fn(**kwargs)
    except BOTO_ERRORS as err:
        if code_of(err) == "NoSuchEntity":
            raise _Gone from err
        raise translate(err, operation, permission) from err


def find_key(iam: Any, ref: CredentialRef, slot: KeySlot | None) -> Credential | None:
    """The key `ref` names (a real AccessKeyId, or report `slot`), read live; None if it is gone."""
    try:
        keys = _call(f"list access keys of {ref.login}", "iam:ListAccessKeys", iam.list_access_keys,
                     UserName=ref.login)["AccessKeyMetadata"]
        if slot is None:
            matches = [k for k in keys if k["AccessKeyId"] == ref.credential_id]
        elif slot.last_rotated is None:
            return None  # the report could not say which key this was: never guess
        else:
            matches = [k for k in keys if abs(_utc(k["CreateDate"]) - slot.last_rotated) < _SAME_SECOND]
        if not matches:
            return None
        used = {k["AccessKeyId"]: _last_used(iam, ref, k["AccessKeyId"]) for k in matches}
    except _Gone:
        return None
    note = None
    if len(matches) > 1:
        # Two keys created in the same second: prefer the one whose use matches the report's;
        # if that still does not decide, take the more recently used one (never the staler).
        same = [k for k in matches if _second(used[k["AccessKeyId"]]) == _second(slot.last_used)]
        matches = same if len(same) == 1 else sorted(
            matches, key=lambda k: used[k["AccessKeyId"]] or datetime.min.replace(tzinfo=timezone.utc),
            reverse=True)
        note = None if len(same) == 1 else "two keys created in the same second: judged by the more recently used"
    key = matches[0]
    return _key_credential(key, used[key["AccessKeyId"]], note)


def _last_used(iam: Any, ref: CredentialRef, key_id: str) -> datetime | None:
    answer = _call(f"last use of {ref.login} {key_id}", "iam:GetAccessKeyLastUsed",
                   iam.get_access_key_last_used, AccessKeyId=key_id)
    return _utc(answer.get("AccessKeyLastUsed", {}).get("LastUsedDate"))


def _key_credential(key: dict[str, Any], used: datetime | None, note: str | None) -> Credential:
    created = _utc(key.get("CreateDate"))
    enabled = key.get("Status") == "Active"
    if used is not None:
        return Credential(CredentialKind.ACCESS_KEY, key["AccessKeyId"], enabled, Activity.SEEN,
                          created, used, note)
    if created is None:
        return Credential(CredentialKind.ACCESS_KEY, key["AccessKeyId"], enabled, Activity.UNKNOWN,
                          activity_note="ListAccessKeys gave no CreateDate")
    if note is None and created < KEY_TRACKING_SINCE:
        note = "never used (AWS records key use since 2015-04-22)"
    return Credential(CredentialKind.ACCESS_KEY, key["AccessKeyId"], enabled, Activity.NEVER, created,
                      None, note)


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
    used = _utc(user.get("PasswordLastUsed"))
    try:
        profile = _call(f"get login profile of {ref.login}", "iam:GetLoginProfile",
                        iam.get_login_profile, UserName=ref.login)["LoginProfile"]
    except _Gone:
        return password(ref.credential_id, False, None, used, irreversible)
    created = _utc(profile.get("CreateDate"))
    if set_hint is not None and (created is None or set_hint > created):
        created = set_hint  # changed since the login profile was created
    return password(ref.credential_id, True, created, used, irreversible)


def _second(value: datetime | None) -> datetime | None:
    return value.replace(microsecond=0) if value is not None else None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
