"""Which tenant the credentials are for, checked against `tenant_id` before anything is listed.

The tenant is the token's `tid` claim when the token is a JWT (read, not verified: Graph verifies the
token and answers only for the tenant it was issued for), otherwise what `GET /organization` says.
A `tenant_id` written as a domain name is matched against the organization's verified domains. No
SDK here: the organization is read through a function the adapter passes in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from sweeper.errors import BindingError, DataError

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TOKEN = "the token's tid claim"
ORGANIZATION = "GET /organization"
HOW_TO_BIND = ('set tenant_id = "<tenant id>" in [providers.entra] (`sweeper check` shows the tenant the '
               "credentials reach)")

Organization = Callable[[], tuple[str, list[str]]]  # () -> (tenant id, verified domain names)


@dataclass(frozen=True, slots=True)
class Binding:
    """The verified tenant (the scope recorded), how it was learnt, and the tenant_id it was checked
    against (None: not bound)."""

    tenant: str
    how: str
    configured: str | None

    def covers(self, scope: str) -> bool:
        """`scope` (as a journal or plan recorded it) is this tenant."""
        return scope.lower() in {self.tenant.lower(), (self.configured or self.tenant).lower()}

    def describe(self) -> str:
        if self.configured is None:
            return (f"not bound: tenant_id is not set, and the credentials reach tenant {self.tenant} ({self.how}); "
                    f'set tenant_id = "{self.tenant}" to bind the sweep to it')
        return f"tenant_id {self.configured} is the credentials' tenant {self.tenant} ({self.how})"


def bind(configured: str | None, tid: str | None, organization: Organization) -> Binding:
    """Check the credentials' tenant against `configured` (tenant_id); BindingError naming both on a
    mismatch. `organization` is called only when the token has no tid or tenant_id is a domain name."""
    org: tuple[str, list[str]] | None = None
    if tid is None or (configured is not None and not GUID.match(configured)):
        org = organization()
        if tid is not None and org[0].lower() != tid.lower():
            raise DataError("entra", "bind tenant", f"{TOKEN} says tenant {tid}, but {ORGANIZATION} answers "
                            f"tenant {org[0]}")
    actual, how = (tid, TOKEN) if tid is not None else (org[0] if org else "", ORGANIZATION)
    if configured is None:
        return Binding(actual, how, None)
    if GUID.match(configured):
        if configured.lower() != actual.lower():
            raise BindingError("entra", "tenant", configured, actual, how=f"read from {how}")
        return Binding(configured, how, configured)  # the configured spelling: scopes recorded before stay the same
    domains = org[1] if org else []
    if configured.lower().rstrip(".") not in {d.lower() for d in domains}:
        named = ", ".join(domains[:5]) + (", ..." if len(domains) > 5 else "") or "none"
        raise BindingError("entra", "tenant", configured, f"{actual} (verified domains: {named})",
                           how=f"read from {how}")
    return Binding(actual, f"{how}; {configured} is one of its verified domains", configured)
