"""Building the GitHub emulator's scenario: users, audit-log events, credential authorizations and
Copilot seats in GitHub's shapes, dated relative to a given `now`."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def ms(when: datetime) -> int:
    """The audit log's time: epoch milliseconds."""
    return int(when.timestamp() * 1000)


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def event(actor: str, actor_id: int, action: str, when: datetime, **extra: Any) -> dict[str, Any]:
    """One audit-log event as the REST API gives it (web events; `git.*` actions are Git events)."""
    stamp = ms(when)
    return {"@timestamp": stamp, "created_at": stamp, "_document_id": f"doc-{actor}-{stamp}", "action": action,
            "actor": actor, "actor_id": actor_id, "actor_location": {"country_code": "DE"}, "org": "",
            "operation_type": "create", "user_agent": "Mozilla/5.0", **extra}


def credential(login: str, accessed: datetime | None, authorized: datetime, kind: str = "personal access token",
               n: int = 1) -> dict[str, Any]:
    return {"login": login, "credential_id": 1000 + n, "credential_type": kind, "token_last_eight": "12345678",
            "credential_authorized_at": iso(authorized), "scopes": ["repo"], "fingerprint": None,
            "credential_accessed_at": iso(accessed) if accessed else None, "authorized_credential_id": 2000 + n,
            "authorized_credential_title": "laptop", "authorized_credential_note": "",
            "authorized_credential_expires_at": None}


def seat(login: str, user_id: int, last: datetime | None, created: datetime,
         editor: str = "vscode/1.95.0/copilot/1.240.0") -> dict[str, Any]:
    return {"created_at": iso(created), "updated_at": iso(created), "pending_cancellation_date": None,
            "last_activity_at": iso(last) if last else None, "last_activity_editor": editor if last else None,
            "plan_type": "business", "assigning_team": None,
            "assignee": {"login": login, "id": user_id, "type": "User", "site_admin": False}}
