"""Users eligible for a directory role through PIM: protected like active role holders.

An admin who activates a role twice a year signs in rarely and would look inactive; disabling them
means they cannot activate the role when it matters. Eligibility comes from
`GET /roleManagement/directory/roleEligibilityScheduleInstances` (current and future instances), read
whole once per listing, each principal's role named through `$expand=roleDefinition`. A role-assignable
group's eligibility covers its transitive members.

A tenant without PIM (no Entra ID P2 or ID Governance licence) answers `AadPremiumLicenseRequired`:
that, and only that, is read as "no eligible assignments", with a note the report shows. Any other
failure (permission denied, server errors after retries, a malformed page) raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from providers.entra.graph import Graph, LicenceMissing
from providers.entra.permissions import READ_ELIGIBLE
from sweeper.errors import DataError
from sweeper.kit.bounds import Listing

PATH = "/roleManagement/directory/roleEligibilityScheduleInstances"
SELECT = "id,principalId,roleDefinitionId,directoryScopeId,memberType,startDateTime,endDateTime"
OPERATION = "list PIM role eligibilities"
GROUP = "#microsoft.graph.group"


@dataclass
class Eligible:
    """Reasons by user (or other principal) id, and the note to show when eligibility could not be read."""

    protect: dict[str, str] = field(default_factory=dict)
    note: str | None = None


def url(endpoint: str) -> str:
    return f"{endpoint}{PATH}?$select={SELECT}&$expand=principal,roleDefinition"


def _role(row: dict[str, Any]) -> str:
    definition = row.get("roleDefinition")
    name = definition.get("displayName") if isinstance(definition, dict) else None
    if isinstance(name, str) and name:
        return name
    rid = row.get("roleDefinitionId")
    return rid if isinstance(rid, str) and rid else "(unnamed role)"


def _reason(roles: list[str], group: str | None = None) -> str:
    named = f"directory role {roles[0]}" if len(roles) == 1 else f"directory roles {', '.join(roles)}"
    return f"eligible for {named} (PIM" + (f", through group {group})" if group else ")")


def load(graph: Graph, listing: Listing, members: Callable[[str, str], set[str]]) -> Eligible:
    """Every principal eligible for a directory role, and the transitive members of eligible groups.

    `members(group, why)` reads a group's transitive member ids (raising when it cannot)."""
    direct: dict[str, list[str]] = {}
    groups: set[str] = set()
    try:
        for page in graph.pages(url(graph.endpoint), OPERATION, READ_ELIGIBLE, listing=listing):
            for row in page:
                pid = row.get("principalId") if isinstance(row, dict) else None
                if not isinstance(pid, str) or not pid:
                    raise DataError("entra", OPERATION, "an eligibility without a principalId")
                roles = direct.setdefault(pid, [])
                if (name := _role(row)) not in roles:
                    roles.append(name)
                principal = row.get("principal")
                if isinstance(principal, dict) and principal.get("@odata.type") == GROUP:
                    groups.add(pid)
    except LicenceMissing as err:
        return Eligible(note=f"PIM eligibility could not be read ({err.detail}): admins only eligible for a "
                        "directory role are not protected; license the tenant for PIM (Entra ID P2 or ID "
                        "Governance) or exclude them (exclude_groups, or [policy] exclude)")
    out = Eligible({pid: _reason(roles) for pid, roles in direct.items()})
    for group in sorted(groups):  # role-assignable groups: their members may activate the role too
        for member in members(group, "role group (PIM eligible)"):
            out.protect.setdefault(member, _reason(direct[group], group))
    return out
