"""Listing Entra's machine identities (#17) for the adapter: applications and service principals with their
owners, then the beta report of each kind's use, each read whole in pages of 999 (no call per object),
mapped by `providers.entra.machines`. A report is read only when its listing gave something to judge.

What could not be measured or was left out is said, never guessed: `notes` holds a sentence per switch
whose data Graph refused (naming the permission and the switch that turns it off) and the counts of
service principals skipped by the never-touch rules. A report or listing refused with 403 (missing
permission or licence), 404 or 400 "Resource not found for the segment" (a cloud without the beta
report) leaves that kind unjudged; any other failure fails the listing, as a failed user page does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator
from urllib.parse import quote

from providers.entra import machines
from providers.entra.graph import Graph
from providers.entra.permissions import READ_APPS, READ_REPORTS
from providers.entra.settings import EntraSettings
from sweeper.errors import NotFound, NotMeasured, PermissionDenied, ProviderError
from sweeper.model import Identity

SP_REPORT_PATH = f"/reports/{machines.SP_REPORT}"
APP_REPORT_PATH = f"/reports/{machines.APP_REPORT}"


def beta_endpoint(endpoint: str) -> str:
    """The beta version beside the configured one: `.../v1.0` → `.../beta`; an endpoint already on beta
    is kept; any other path gets `/beta` at the host's root (Graph's versions sit there)."""
    endpoint = endpoint.rstrip("/")
    if endpoint.endswith("/v1.0"):
        return endpoint[:-len("/v1.0")] + "/beta"
    if endpoint.endswith("/beta"):
        return endpoint
    scheme, _, rest = endpoint.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/beta"


def refused(err: ProviderError) -> str | None:
    """Graph's refusal in words when `err` means "this data is not there for us" (403, 404, the beta
    segment unknown, no licence); None for any other failure."""
    if isinstance(err, (PermissionDenied, NotFound, NotMeasured)):
        return err.detail
    if err.status == 400 and "Resource not found for the segment" in err.detail:
        return err.detail
    return None


@dataclass
class Workload:
    """One listing of a tenant's service principals and applications; `notes` for the scope's message."""

    graph: Graph
    settings: EntraSettings
    own: set[str]  # the sweeper's own object id and appId, lower case: its service principal is protected
    provider: str = "entra"  # the adapter's name (`entra:contoso` for a named instance)
    notes: list[str] = field(default_factory=list)

    def _pages(self, url: str, operation: str, permission: str) -> Iterator[list[Any]]:
        return self.graph.pages(url, operation, permission, listing=self.settings.listing("entra", operation))

    def _report(self, name: str, switch: str, what: str) -> list[Any] | None:
        """Every row of a beta report, or None (and a note) when Graph refuses it. `what` names the
        objects left unjudged then."""
        url = f"{beta_endpoint(self.graph.endpoint)}/reports/{name}?$top={machines.PAGE}"
        try:
            return [row for page in self._pages(url, f"read {name} (beta)", READ_REPORTS) for row in page]
        except ProviderError as err:
            why = refused(err)
            if why is None:
                raise
            self.notes.append(f"{what} not measured: GET /beta/reports/{name} (a beta report, the only source of "
                              f"their activity) was refused ({why}), so none of them was judged. It needs "
                              f"{READ_REPORTS} and an Entra ID P1 or P2 licence; set {switch} = false to stop "
                              "reading it")
            return None

    def _objects(self, kind: str, select: str, switch: str, what: str) -> list[Any] | None:
        """Every object of a listing with its owners, or None (and a note) when Graph refuses it."""
        url = (f"{self.graph.endpoint}/{kind}?$select={select}&$expand={quote(machines.OWNERS, safe='(),=$')}"
               f"&$top={machines.PAGE}")
        try:
            return [o if isinstance(o, dict) else {} for page in self._pages(url, f"list {kind}", READ_APPS)
                    for o in page]
        except ProviderError as err:
            why = refused(err)
            if why is None:
                raise
            self.notes.append(f"{what} not listed: GET /{kind} was refused ({why}); it needs {READ_APPS}; set "
                              f"{switch} = false to stop listing them. Users are judged as before")
            return None

    def identities(self, scope: str, protect: dict[str, str], exclude: dict[str, str]) -> Iterator[Identity]:
        """Service principals (with `service_principals`), then applications' credentials (with
        `app_credentials`); what cannot be judged is left out and said in `notes`. Each report is read
        only when there is something for it to judge."""
        s = self.settings
        apps = self._objects("applications", machines.APP_SELECT, "app_credentials", "Applications") \
            if s.app_credentials else None
        if s.service_principals:
            sps = self._objects("servicePrincipals", machines.SP_SELECT, "service_principals", "Service principals")
            yield from self._sps(sps or [], scope, apps or [], protect, exclude)
        if apps:
            creds = sum(len(a.get(k) or ()) for a in apps for k in ("passwordCredentials", "keyCredentials"))
            rows = self._report(machines.APP_REPORT, "app_credentials", f"{creds} application credential(s)") \
                if creds else []
            yield from self._apps(apps, scope, None if rows is None else machines.credential_uses(rows), exclude)

    def _sps(self, sps: list[dict[str, Any]], scope: str, apps: list[dict[str, Any]],
             protect: dict[str, str], exclude: dict[str, str]) -> Iterator[Identity]:
        skipped = {"first-party": 0, "managed identity": 0}
        judged = []
        for sp in sps:
            why = machines.skipped(sp)
            if why:
                skipped[why] += 1
            else:
                judged.append(sp)
        if any(skipped.values()):
            mi = skipped["managed identity"]
            self.notes.append(f"never touched, so not listed: {skipped['first-party']} Microsoft first-party "
                              f"service principal(s) (owner tenant {machines.FIRST_PARTY}) and {mi} managed "
                              f"identit{'y' if mi == 1 else 'ies'}")
        if not judged:
            return
        rows = self._report(machines.SP_REPORT, "service_principals", f"{len(judged)} service principal(s)")
        if rows is None:
            return
        uses = machines.sp_uses(rows)
        app_owners = {str(a.get("appId")).lower(): machines.owner_of(a) for a in apps}
        report_only = self.settings.service_principal_action == "report"
        for n, sp in enumerate(judged, 1):
            app = str(sp.get("appId") or "").lower()
            yield machines.to_sp(sp, scope, uses.get(app), protect=protect, exclude=exclude, own=self.own,
                                 provider=self.provider,
                                 report_only=report_only, fallback_owner=app_owners.get(app), position=f"#{n}")

    def _apps(self, apps: list[Any], scope: str, uses: dict[str, machines.Use] | None,
              exclude: dict[str, str]) -> Iterator[Identity]:
        now = datetime.now(timezone.utc)
        left_out = 0
        for n, app in enumerate(apps, 1):
            ident, dropped = machines.to_app(app if isinstance(app, dict) else {}, scope, uses, exclude=exclude,
                                             provider=self.provider,
                                             position=f"#{n}", now=now)
            left_out += dropped
            if ident is not None:
                yield ident
        if left_out:
            self.notes.append(f"{left_out} unexpired application credential(s) not judged (their use is unknown "
                              "without the report); expired ones are still reported")
