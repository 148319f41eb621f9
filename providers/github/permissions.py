"""The least-privilege access the GitHub provider needs, per mode, as text for `sweeper permissions`."""

from __future__ import annotations

from typing import Any

PLAN = """\
GitHub App (preferred: auth = "app"), installed on each organisation in `orgs`.
Organization permissions:
  Members: Read-only             GET /orgs/{org}/members, /outside_collaborators, /teams,
                                 /teams/{slug}/members, /memberships/{username}
  Administration: Read-only      GET /orgs/{org}/audit-log (GitHub Enterprise Cloud)
  GitHub Copilot Business: Read-only   GET /orgs/{org}/copilot/billing/seats   (copilot_seats = true)
Repository permissions: none.
SAML credential authorizations are not readable by an App: with auth = "app" that signal is left out
and the scope's message says so.

Or a classic token (auth = "token", in a SWEEPER_* variable) of an organisation owner, with the scopes:
  read:org                       members, teams, memberships, SAML credential authorizations
  read:audit_log                 the audit log (or admin:org); enterprise = "...": read:enterprise is not
                                 enough, the enterprise audit log needs an enterprise owner's read:audit_log
  manage_billing:copilot         Copilot seats (copilot_seats = true)
"""

APPLY = """\
What the apply job adds to the plan identity's access (removing members, `restore` re-inviting them):
GitHub App: Organization permissions
  Members: Read and write        DELETE /orgs/{org}/memberships/{username}
                                 PUT /orgs/{org}/memberships/{username}
                                 PUT /orgs/{org}/teams/{slug}/memberships/{username}
Classic token: admin:org instead of read:org (an organisation owner's token).
Keep the writer apart from the reader: a second App (or token) for the apply job only.
"""


def permissions_text(mode: str = "apply", settings: Any = None) -> str:
    if mode == "plan":
        return PLAN
    if mode == "apply":
        return PLAN + "\n" + APPLY
    raise ValueError(f"unknown mode {mode!r} for github (known: plan, apply; GitHub has no member accounts)")
