"""The Graph permissions each mode needs (`sweeper permissions -p entra --for plan|apply`), and the two
app registrations that keep plan-side credentials from writing. No SDK here.
"""

from __future__ import annotations

import textwrap
from typing import Any

READ_USERS = "User.Read.All and AuditLog.Read.All (application permissions)"
READ_ROLES = "RoleManagement.Read.Directory"
READ_ELIGIBLE = "RoleManagement.Read.Directory or RoleEligibilitySchedule.Read.Directory"
READ_GROUPS = "GroupMember.Read.All"
READ_ORG = "Organization.Read.All"
WRITE = "User.EnableDisableAccount.All"
REVOKE = "User.RevokeSessions.All"
READ_APPS = "Application.Read.All"  # service principals and applications with their owners (#17)
READ_REPORTS = "AuditLog.Read.All"  # the beta reports servicePrincipalSignInActivities, appCredentialSignInActivities
# PATCH servicePrincipal accountEnabled: Graph lists Application.ReadWrite.OwnedBy as least privileged, but it
# reaches only the service principals the sweeper's own app owns, not the ones it sweeps
WRITE_SP = "Application.ReadWrite.All"
READ_AUDIT = "AuditLog.Read.All"  # the directory audit log: when leavers were disabled (#25, [people] sources)
READ_DELETED = "User.Read.All"  # deleted items: the users deleted but restorable (#25, [people] sources)
DELETE_RESTORE = "User.DeleteRestore.All"  # opt-in removal (#13): delete users, restore them from deleted items
ROLE_NOTE = ("Disabling a user who holds a directory role also needs the Privileged Authentication "
             "Administrator role for the app; by default (skip_role_holders = true) role holders are "
             "protected and never touched.")
MODES = ("plan", "apply")

TWO_APPS = """\
Two app registrations, so that nothing but the approved apply job can write:
  reader  the plan permissions only; used by plan, notify and check (and by CI's plan job, which
          runs unapproved). Its federated credential trusts the subjects of the jobs that run
          plan, for example repo:OWNER/REPO:ref:refs/heads/main.
  writer  the apply permissions; used only by the apply job (and restore). Its federated
          credential trusts exactly one subject, the protected environment's:
            repo:OWNER/REPO:environment:NAME
          and that environment has required reviewers and allows deployments from the default
          branch only, so no other branch, pull request or workflow can get a writer token."""


def _needs_org(settings: Any) -> str | None:
    """Why Organization.Read.All is needed to bind the tenant ("" when it is not): tenant_id is a
    domain name, or the token may carry no tid claim (an access token from a variable); None
    without settings."""
    if settings is None:
        return None
    from providers.entra.binding import GUID

    tenant = settings.tenant_id
    if tenant and not GUID.match(tenant):
        return "tenant_id is a domain name"
    return "only if the access token carries no tid claim" if settings.auth == "access_token" else ""


def _entry(permission: str, what: str) -> list[str]:
    """One permission and what it is for, wrapped under a 35-column name column."""
    return textwrap.wrap(what, 100, initial_indent=f"    {permission:<31}", subsequent_indent=" " * 35)


def _reads(settings: Any) -> list[str]:
    roles = settings is None or settings.skip_role_holders
    groups = settings is None or bool(settings.exclude_groups)
    org = _needs_org(settings)
    lines = ["    User.Read.All                  list users",
             "    AuditLog.Read.All              signInActivity (needs an Entra ID P1 or P2 licence)"]
    lines += _machine_reads(settings)
    lines += _people_reads()
    if roles:
        lines += _entry(READ_ROLES, "directory role holders: active assignments, and eligibility through PIM"
                        + (" (skip_role_holders = true)" if settings is None else "") + "; it covers what "
                        "RoleEligibilitySchedule.Read.Directory reads. PIM needs an Entra ID P2 or ID Governance "
                        "licence: without one, the report notes that eligible-only admins are not protected")
    if groups or roles:
        whose = ", and of ".join((["exclude_groups"] if groups else [])
                                 + (["role-assignable groups that hold or are eligible for a role"] if roles else []))
        lines += _entry(READ_GROUPS, f"members of {whose}")
    if org is None:
        lines += [f"    {READ_ORG}          binding to tenant_id, only when the token carries no tid claim",
                  "                                   (an opaque access token) or tenant_id is a domain name"]
    elif org:
        lines.append(f"    {READ_ORG}          binding to tenant_id ({org})")
    return lines


def _machine_reads(settings: Any) -> list[str]:
    """Application.Read.All and the beta reports, for the switches that are on (all, for the docs)."""
    sps = settings is None or settings.service_principals
    apps = settings is None or settings.app_credentials
    if not (sps or apps):
        return []
    what = " and ".join((["service principals"] if sps else []) + (["applications' secrets and certificates"]
                                                                     if apps else []))
    lines = _entry(READ_APPS, f"list {what} with their owners"
                   + ("; service_principals = true and app_credentials = true, the defaults" if settings is None
                      else ""))
    reports = (["servicePrincipalSignInActivities (service_principals = true)"] if sps else []) \
        + (["appCredentialSignInActivities (app_credentials = true)"] if apps else [])
    plural = "s" if len(reports) > 1 else ""
    lines += _entry(READ_REPORTS, f"also the report{plural} {' and '.join(reports)}, "
                    "from Graph's beta version (subject to change): the only source of their last use. Where Graph "
                    "refuses one (403, 404), a note says so and those are not judged; users are judged as before")
    return lines


def _people_reads() -> list[str]:
    """What a sweep with entra in `[people] sources` (#25, leavers) reads besides: no permission beyond
    the two above, so it is said whatever the settings (they do not know the [people] section)."""
    return _entry("  (same two)", "with entra in [people] sources (leavers): the directory audit log's "
                  "'Disable account' events (and 'Update user' ones setting AccountEnabled false), for when each "
                  f"disabled user was disabled ({READ_AUDIT}; without it "
                  "the dates are unknown and the report says so), and the users in deleted items "
                  f"(directory/deletedItems, {READ_DELETED}). Both read only")


def _machine_writes(settings: Any) -> list[str]:
    """Application.ReadWrite.All when service principals are disabled (all, for the docs), and why
    application credentials never need a write permission."""
    lines: list[str] = []
    if settings is None or (settings.service_principals and settings.service_principal_action == "disable"):
        lines += _entry(WRITE_SP, "accountEnabled false (apply) and true (restore) on service principals"
                        + (' (service_principal_action = "disable"; the default "report" needs nothing more)'
                           if settings is None else "")
                        + f"; Graph names {WRITE_SP.replace('All', 'OwnedBy')} as least privileged, but it reaches "
                        "only the service principals the sweeper's own app owns, not the ones it sweeps")
    return lines


def _report_only_note(settings: Any) -> list[str]:
    if settings is None or settings.app_credentials:
        return ["", *textwrap.wrap("Application secrets and certificates (app_credentials = true) are only ever "
                                   "reported: removing one cannot be undone, so no permission writes them.", 100)]
    return []


def removal_configured(settings: Any) -> bool:
    """Whether `[providers.entra]` itself turns removal on (the adapter cannot see `[policy]`)."""
    by_kind = getattr(settings, "remove_after_days_by_kind", None) or {}
    return bool(getattr(settings, "remove_after_days", None) or by_kind.get("account"))


def _removal(settings: Any) -> list[str]:
    """User.DeleteRestore.All for opt-in removal: listed when `[providers.entra]` turns removal on (or
    with no settings, for the docs); otherwise a note, since `[policy] remove_after_days` turns it on
    too and the provider's settings do not show it."""
    what = ("delete the users this sweeper disabled once remove_after_days have passed (apply --allow-remove), "
            "and restore them from deleted items (restore): the least privileged permission for both")
    if settings is None:
        return _entry(DELETE_RESTORE, f"only with remove_after_days ([policy] or [providers.entra]): {what}")
    if removal_configured(settings):
        return _entry(DELETE_RESTORE, what)
    return ["", *textwrap.wrap(f"With remove_after_days in [policy] (removal), the writer also needs "
                               f"{DELETE_RESTORE}: {what}.", 100)]


def text(mode: str, settings: Any = None) -> str:
    """The permissions for `mode` ("plan" or "apply"), shaped by `settings` when given. ValueError for
    any other mode (Entra has no member accounts: "org-member" is AWS's)."""
    if mode not in MODES:
        raise ValueError(f"entra: no permissions for mode {mode!r}: use --for plan or --for apply"
                         + (" (org-member is for AWS member accounts)" if mode == "org-member" else ""))
    lines = ["Microsoft Graph application permissions (admin consent required).", "",
             "plan, notify, check: the reader app registration, read only:", *_reads(settings)]
    if mode == "apply":
        revoke = settings is None or settings.revoke_sessions
        lines += ["", "apply, restore: the writer app registration, which also reads (all of the above) and:",
                  f"    {WRITE}  accountEnabled false (apply) and true (restore)"]
        if revoke:
            lines.append(f"    {REVOKE}        revoke sign-in sessions" + (" (revoke_sessions = true)"
                                                                            if settings is None else ""))
        lines += _machine_writes(settings)
        lines += _removal(settings)
        lines += _report_only_note(settings)
        lines += ["", *textwrap.wrap(ROLE_NOTE, 100)]
    lines += ["", TWO_APPS]
    return "\n".join(lines)
