"""The GitHub part of the demo organisation (`sweeper demo`): one organisation, dated relative to `now`.

An owner nobody has seen for months (protected), a member of the protected team (protected), a member
whose last audit-log event is 150 days old and one with no event in the 180-day window (both removed,
and re-invited with their role and teams by the demo's restore), members kept active by a SAML-authorized
token and by Copilot, one who joined last week and has done nothing yet (too new to judge), an audit-log
event with an unreadable time (unknown, kept), an outside collaborator (reported only) and busy members.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from providers.github.scenario import credential, event, seat

TOKEN = "demo-github-token"
ORG = "contoso-eng"
FILLER = 12


def organisation(now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    def ago(**delta: float) -> datetime:
        return now - timedelta(**delta)

    people = ["sweeper-bot", "octo-owner", "platform-lead", "stale-dev", "silent-dev", "token-user", "copilot-user",
              "new-joiner", "garbled-dev", "vendor-contractor", *(f"dev-{i:02d}" for i in range(FILLER))]
    uid = {login: 5000 + n for n, login in enumerate(people)}
    users = [{"login": login, "id": n} for login, n in uid.items()]
    members = {login: "member" for login in people if login != "vendor-contractor"}
    members.update({"sweeper-bot": "admin", "octo-owner": "admin"})
    log = [event("sweeper-bot", uid["sweeper-bot"], "org.update_member", ago(hours=1)),
           event("octo-owner", uid["octo-owner"], "repo.create", ago(days=200)),
           event("platform-lead", uid["platform-lead"], "team.add_member", ago(days=170)),
           event("stale-dev", uid["stale-dev"], "git.clone", ago(days=150)),
           event("token-user", uid["token-user"], "repo.access", ago(days=160)),
           event("octo-owner", uid["octo-owner"], "org.add_member", ago(days=6), user="new-joiner"),
           event("garbled-dev", uid["garbled-dev"], "repo.create", ago(days=5)),
           event("vendor-contractor", uid["vendor-contractor"], "git.push", ago(days=120))]
    log[-2]["@timestamp"] = "yesterday"
    log += [event(f"dev-{i:02d}", uid[f"dev-{i:02d}"], "pull_request.merge", ago(hours=3 + 20 * i))
            for i in range(FILLER)]
    teams = [{"id": 1, "slug": "platform-admins", "name": "Platform admins",
              "members": {"platform-lead": "maintainer"}},
             {"id": 2, "slug": "backend", "name": "Backend",
              "members": {"stale-dev": "maintainer", "dev-00": "member"}},
             {"id": 3, "slug": "payments", "name": "Payments", "parent": "backend",
              "members": {"silent-dev": "member"}}]
    scenario = {"token": TOKEN, "user": {"login": "sweeper-bot", "id": uid["sweeper-bot"]}, "users": users,
                "orgs": {ORG: {"id": 9001, "members": members, "outside_collaborators": ["vendor-contractor"],
                               "teams": teams, "audit_log": log,
                               "credential_authorizations": [credential("token-user", ago(days=2), ago(days=300))],
                               "copilot_seats": [seat("copilot-user", uid["copilot-user"], ago(days=1),
                                                      ago(days=400))]}}}
    return scenario, {"protect_teams": ["platform-admins"]}
