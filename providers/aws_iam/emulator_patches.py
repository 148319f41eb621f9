"""Fidelity fixes to moto, so that the emulator answers the way AWS does where the adapter cares.

- The credential report starts with a `<root_account>` row, quotes fields as CSV, and reports
  `password_last_changed` from when the password was set (moto repeats the user's creation date).
- GetLoginProfile's CreateDate is the password's creation date, not the user's.
- GetAccountAuthorizationDetails pages users by MaxItems/Marker (moto returns everything at once).
- GetAccessKeyLastUsed looks the key up by id (moto scans every key of every user of every account per
  call, which makes 1,000 candidates in 100,000 users cost 10^8 steps).

Applied once per process, only by `providers.aws_iam.emulator.start`.
"""

from __future__ import annotations

import csv
import io
import threading
from typing import Any

_applied = False
_lock = threading.Lock()
_DATE = "%Y-%m-%dT%H:%M:%S+00:00"


def apply() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        from moto.iam.models import IAMBackend
        from moto.iam.responses import IamResponse

        # patched with setattr: assigning to a method is what this module is for
        setattr(IAMBackend, "get_credential_report", _credential_report)
        original_create = IAMBackend.create_login_profile

        def create_login_profile(self: Any, user_name: str, password: str) -> Any:
            from moto.core.utils import utcnow

            user: Any = original_create(self, user_name, password)
            user.password_created = utcnow()
            return user

        setattr(IAMBackend, "create_login_profile", create_login_profile)
        setattr(IAMBackend, "get_access_key_last_used", _get_access_key_last_used)
        setattr(IamResponse, "get_login_profile", _get_login_profile)
        setattr(IamResponse, "get_account_authorization_details", _get_account_authorization_details)
        _applied = True


def _root_row(backend: Any) -> list[str]:
    root = getattr(backend, "sweeper_root", {}) or {}
    created = root.get("created") or "2015-01-01T00:00:00+00:00"
    used = root.get("password_last_used") or "no_information"
    return ["<root_account>", f"arn:aws:iam::{backend.account_id}:root", str(created), "not_supported",
            str(used), "not_supported", "not_supported", "false", "false", "N/A", "N/A", "N/A", "N/A",
            "false", "N/A", "N/A", "N/A", "N/A", "false", "N/A", "false", "N/A"]


def _credential_report(self: Any) -> str:
    from moto.iam.exceptions import ReportNotPresentException

    if not self.credential_report:
        raise ReportNotPresentException("Credential report not present")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_HEADER)
    writer.writerow(_root_row(self))
    for user in list(self.users.values()):
        # moto joins fields with bare commas; user names may hold commas, the other 20 fields never do
        tail = user.to_csv().rstrip("\n").rsplit(",", 20)[1:]
        changed = getattr(user, "password_created", None)
        tail[3] = changed.strftime(_DATE) if user.password and changed else "N/A"
        writer.writerow([user.name, user.arn, *tail])
    return out.getvalue()


def _get_access_key_last_used(self: Any, access_key_id: str) -> dict[str, Any]:
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends

    for account in list(iam_backends.values()):  # key ids are global: the key may be another account's
        backend = account[self.partition]
        key = backend.access_keys.get(access_key_id)
        user = backend.users.get(key.user_name) if key is not None and key.user_name else None
        if user is not None and key in user.access_keys:
            return {"user_name": key.user_name, "last_used": key.last_used}
    raise NotFoundException(f"The Access Key with id {access_key_id} cannot be found")


def _get_login_profile(self: Any) -> Any:
    from moto.core.responses import ActionResult

    user = self.backend.get_login_profile(self._get_param("UserName"))
    return ActionResult({"LoginProfile": {
        "UserName": user.name,
        "CreateDate": getattr(user, "password_created", None) or user.create_date,
        "PasswordResetRequired": user.password_reset_required,
    }})


def _get_account_authorization_details(self: Any) -> Any:
    from moto.core.responses import ActionResult

    details = self.backend.get_account_authorization_details(self._get_param("Filter", []))
    users = list(details["users"])
    start = int(self._get_param("Marker") or 0)
    size = int(self._get_param("MaxItems") or 100)
    end = start + size
    first = start == 0
    result = {
        "UserDetailList": users[start:end],
        "GroupDetailList": list(details["groups"]) if first else [],
        "RoleDetailList": list(details["roles"]) if first else [],
        "Policies": list(details["managed_policies"]) if first else [],
        "IsTruncated": end < len(users),
    }
    if end < len(users):
        result["Marker"] = str(end)
    return ActionResult(result)


_HEADER = ("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
           "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
           "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
           "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
           "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
           "cert_1_last_rotated,cert_2_active,cert_2_last_rotated").split(",")
