"""Where the AWS emulator answers the way AWS does rather than the way moto does, for the adapter's sake.

- The credential report starts with a `<root_account>` row, quotes fields as CSV, and reports
  `password_last_changed` from when the password was set (moto repeats the user's creation date).
- GetLoginProfile's CreateDate is the password's creation date, not the user's.
- GetAccountAuthorizationDetails pages users and roles by MaxItems/Marker, MaxItems counting the items of
  both lists (moto returns everything at once).
- GetAccessKeyLastUsed looks the key up by id (moto scans every key of every user of every account per
  call, which makes 1,000 candidates in 100,000 users cost 10^8 steps).

These are answered by a subclass of moto's IamResponse that only the emulator's own server routes to
(`backend_app`), from moto's backend state. moto's IAMBackend and IamResponse classes stay as moto
ships them, so moto used elsewhere in the same process (the S3 journal emulator) is plain moto.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Callable

_DATE = "%Y-%m-%dT%H:%M:%S+00:00"
_HEADER = ("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
           "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
           "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
           "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
           "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
           "cert_1_last_rotated,cert_2_active,cert_2_last_rotated").split(",")

ReportHook = Callable[[str], str]


def backend_app(report_hook: Callable[[], ReportHook | None]) -> Callable[[str], Any]:
    """moto's `create_backend_app`, with IAM requests handled by `_iam_response(report_hook)`.

    `report_hook()` is asked on every GetCredentialReport for a function that rewrites the CSV (or None).
    """
    from moto.core.utils import convert_to_flask_response
    from moto.moto_server.werkzeug_app import create_backend_app

    view = convert_to_flask_response(_iam_response(report_hook).dispatch)

    def create_app(service: Any) -> Any:
        app = create_backend_app(service)
        if service == "iam":
            for endpoint in list(app.view_functions):
                if endpoint.startswith("IamResponse.dispatch"):
                    app.view_functions[endpoint] = view
        return app

    return create_app


def stamp_passwords(backend: Any) -> Any:
    """Make this backend instance (not moto's class) record when each login profile is created."""
    if "create_login_profile" not in vars(backend):
        create = backend.create_login_profile

        def create_login_profile(user_name: str, password: str) -> Any:
            from moto.core.utils import utcnow

            user = create(user_name, password)
            user.password_created = utcnow()
            return user

        backend.create_login_profile = create_login_profile
    return backend


def credential_report(backend: Any) -> str:
    """The account's report as AWS writes it (ReportNotPresentException before one was generated)."""
    from moto.iam.exceptions import ReportNotPresentException

    if not backend.credential_report:
        raise ReportNotPresentException("Credential report not present")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_HEADER)
    writer.writerow(_root_row(backend))
    for user in list(backend.users.values()):
        # moto joins fields with bare commas; user names may hold commas, the other 20 fields never do
        tail = user.to_csv().rstrip("\n").rsplit(",", 20)[1:]
        changed = getattr(user, "password_created", None)
        tail[3] = changed.strftime(_DATE) if user.password and changed else "N/A"
        writer.writerow([user.name, user.arn, *tail])
    return out.getvalue()


def _root_row(backend: Any) -> list[str]:
    root = getattr(backend, "sweeper_root", {}) or {}
    created = root.get("created") or "2015-01-01T00:00:00+00:00"
    used = root.get("password_last_used") or "no_information"
    return ["<root_account>", f"arn:aws:iam::{backend.account_id}:root", str(created), "not_supported",
            str(used), "not_supported", "not_supported", "false", "false", "N/A", "N/A", "N/A", "N/A",
            "false", "N/A", "N/A", "N/A", "N/A", "false", "N/A", "false", "N/A"]


def _iam_response(report_hook: Callable[[], ReportHook | None]) -> Any:
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import NotFoundException
    from moto.iam.models import iam_backends
    from moto.iam.responses import IamResponse

    class EmulatorIamResponse(IamResponse):
        @property
        def backend(self) -> Any:
            return stamp_passwords(super().backend)

        def get_credential_report(self) -> Any:
            report = credential_report(self.backend)
            hook = report_hook()
            return ActionResult({"Content": hook(report) if hook else report, "ReportFormat": "text/csv",
                                 "GeneratedTime": "2015-02-02T20:02:02Z"})

        def get_login_profile(self) -> Any:
            user = self.backend.get_login_profile(self._get_param("UserName"))
            return ActionResult({"LoginProfile": {
                "UserName": user.name,
                "CreateDate": getattr(user, "password_created", None) or user.create_date,
                "PasswordResetRequired": user.password_reset_required,
            }})

        def get_access_key_last_used(self) -> Any:
            key_id = self._get_param("AccessKeyId")
            for account in list(iam_backends.values()):  # key ids are global: it may be another account's
                backend = account[self.backend.partition]
                key = backend.access_keys.get(key_id)
                user = backend.users.get(key.user_name) if key is not None and key.user_name else None
                if user is not None and key in user.access_keys:
                    break
            else:
                raise NotFoundException(f"The Access Key with id {key_id} cannot be found")
            used = key.last_used
            last_used = ({"LastUsedDate": used.timestamp, "Region": used.region, "ServiceName": used.service}
                         if used else {"LastUsedDate": None, "Region": "N/A", "ServiceName": "N/A"})
            return ActionResult({"UserName": key.user_name, "AccessKeyLastUsed": last_used})

        def get_account_authorization_details(self) -> Any:
            details = self.backend.get_account_authorization_details(self._get_param("Filter", []))
            users, roles = list(details["users"]), list(details["roles"])
            items = [*users, *roles]  # users first, then roles: one count for MaxItems, as AWS's items
            start = int(self._get_param("Marker") or 0)
            end = start + int(self._get_param("MaxItems") or 100)
            first = start == 0
            result = {
                "UserDetailList": users[start:end],
                "GroupDetailList": list(details["groups"]) if first else [],
                "RoleDetailList": roles[max(start - len(users), 0):max(end - len(users), 0)],
                "Policies": list(details["managed_policies"]) if first else [],
                "IsTruncated": end < len(items),
            }
            if end < len(items):
                result["Marker"] = str(end)
            return ActionResult(result)

    return EmulatorIamResponse
