"""Microsoft Entra ID users through Microsoft Graph (msgraph-sdk + azure-identity).

Binds to the configured tenant first (`providers.entra.binding`: the token's tid claim, else GET
/organization), lists users with signInActivity (raw JSON pages, each listing bounded), loads role
holders (active, and eligible through PIM: `providers.entra.eligibility`) and excluded-group members
once, and disables/enables accounts with hand-built JSON `$batch` requests (the SDK's batch helper
sends absolute URLs and a wrong dependsOn key). All Graph traffic goes through `providers.entra.graph`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import quote

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from providers.entra import credentials, departures, eligibility, permissions
from providers.entra import lifecycle
from providers.entra.batch import Batcher
from providers.entra.binding import Binding, bind
from providers.entra.graph import Graph, LicenceMissing, translate
from providers.entra.permissions import (READ_ELIGIBLE, READ_GROUPS, READ_ORG, READ_ROLES, READ_USERS, REVOKE,
                                         ROLE_NOTE, WRITE)
from providers.entra.permissions import DELETE_RESTORE, removal_configured
from providers.entra.settings import EntraSettings
from providers.entra.users import SELECT, to_identity
from providers.entra import machines
from providers.entra.batch import SP_PATCH_PERMISSION
from providers.entra.workload import Workload, beta_endpoint
from sweeper.errors import BindingError, DataError, NotFound, PermissionDenied, ProviderError
from sweeper.kit.bounds import MB
from sweeper.model import (Action, Activity, CheckResult, Credential, CredentialKind, CredentialRef, Identity, Outcome,
                           Principal)


@dataclass
class _Context:
    """What a listing needs besides the users, loaded once: reasons by user id, and notes for the report."""

    protect: dict[str, str] = field(default_factory=dict)
    exclude: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # user id -> the rule groups it is in (#26)


class EntraAdapter:
    """One Entra tenant. Thread-safe: Graph calls run on the adapter's own event loop."""

    name = "entra"
    max_parallel = 4
    listing_is_live = True  # each listing reads users and signInActivity as Graph has them now

    def __init__(self, settings: EntraSettings, *, write: bool) -> None:
        self.settings = settings
        self.write = write
        self.batch_size = min(settings.batch_size, 20)
        self.credential = credentials.build(settings)
        self.graph = Graph(settings.endpoint, self.credential, retries=settings.retries,
                           max_wait=settings.retry_max_wait, timeout=settings.timeout_seconds,
                           max_bytes=int(settings.max_response_mb * MB))
        self._lock = threading.Lock()
        self._context: _Context | None = None
        self._rule_groups: list[str] = []
        self._principal: Principal | None = None
        self._claims: dict[str, Any] | None = None
        self._binding: Binding | None = None
        self._machine_notes: dict[str, list[str]] = {}  # scope -> what the last machine listing left unjudged
        self._departures_since: datetime | None = None  # want_departures (#25): audit log read back to this
        self._disabled: dict[str, departures.Disabled] = {}  # scope -> when its disabled users were disabled
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)  # what the audit log still holds

    # -- who and where -------------------------------------------------------------------------

    def whoami(self) -> Principal:
        """The principal from the token's claims (read, not verified); no Graph call."""
        with self._lock:
            if self._principal is not None:
                return self._principal
        found = self._read_principal()
        with self._lock:
            self._principal = found
        return found

    def _token_claims(self) -> dict[str, Any]:
        """The claims of the token Graph gets ({} when it is not a JWT); the token itself is not kept."""
        with self._lock:
            if self._claims is not None:
                return self._claims
        host = self.graph.origin.split("://", 1)[1].split(":")[0]
        try:
            token = self.credential.get_token(f"https://{host}/.default").token
        except Exception as err:  # noqa: BLE001 - azure-identity raises many kinds
            raise translate(err, "whoami", "") from err
        found = credentials.claims(token) or {}
        del token
        with self._lock:
            self._claims = found
        return found

    def _read_principal(self) -> Principal:
        c = self._token_claims()
        tenant = c.get("tid") if isinstance(c.get("tid"), str) else self.settings.tenant_id
        if isinstance(c.get("oid"), str):
            app = c.get("appid") or c.get("azp")
            who = c.get("upn") or c.get("unique_name") or (f"application {app}" if app else "")
            return Principal("entra", c["oid"], f"{who} (object id {c['oid']})".strip(), tenant)
        if self.settings.auth == "access_token":
            return Principal("entra", f"token:{self.settings.token_env}",
                             f"access token from ${self.settings.token_env}", tenant)
        client = self.settings.client_id or "the default Azure credential"
        return Principal("entra", client, f"application {client}", tenant)

    def scopes(self) -> list[str]:
        """[the tenant id the credentials are for], checked against tenant_id: BindingError naming both
        on a mismatch. From the token's tid claim, else GET /organization; learnt once."""
        return [self.binding().tenant]

    def binding(self) -> Binding:
        """The tenant the credentials are for, checked against tenant_id (BindingError on a mismatch)."""
        with self._lock:
            if self._binding is not None:
                return self._binding
        tid = self._token_claims().get("tid")
        found = bind(self.settings.tenant_id, tid if isinstance(tid, str) and tid else None, self._organization)
        with self._lock:
            self._binding = found
        return found

    def _organization(self) -> tuple[str, list[str]]:
        """(tenant id, verified domain names) from GET /organization."""
        url = f"{self.graph.endpoint}/organization?$select=id,verifiedDomains"
        why = f"{READ_ORG} (to bind the tenant: the token carries no tid claim, or tenant_id is a domain name)"
        values = (self.graph.get_json(url, "bind tenant", why) or {}).get("value")
        if not isinstance(values, list) or len(values) != 1 or not isinstance(values[0], dict) \
                or not isinstance(values[0].get("id"), str) or not values[0]["id"]:
            raise DataError("entra", "bind tenant", "GET /organization did not answer exactly one tenant with an id")
        domains = values[0].get("verifiedDomains")
        names = [d["name"] for d in domains if isinstance(d, dict) and isinstance(d.get("name"), str)] \
            if isinstance(domains, list) else []
        return values[0]["id"], names

    def _foreign(self, ref: CredentialRef) -> BindingError | None:
        """Why a ref recorded for another tenant (a journal or plan from elsewhere) is not acted on here."""
        bound = self.binding()
        if bound.covers(ref.scope):
            return None
        return BindingError("entra", "tenant", ref.scope, bound.tenant, how=f"read from {bound.how}")

    # -- listing -------------------------------------------------------------------------------

    def _protection(self) -> _Context:
        """Role holders (active and PIM-eligible) and excluded-group members by user id, loaded once,
        with the notes the report must carry (eligibility that could not be read)."""
        with self._lock:
            if self._context is not None:
                return self._context
        found = _Context()
        if self.settings.skip_role_holders:
            found.protect = self._role_holders()
            op = eligibility.OPERATION
            eligible = eligibility.load(self.graph, self.settings.listing("entra", op), self._members)
            for uid, why in eligible.protect.items():
                found.protect.setdefault(uid, why)
            if eligible.note:
                found.notes.append(eligible.note)
        for group in self.settings.exclude_groups:
            for member in self._members(group, "exclude_groups"):
                found.exclude.setdefault(member, f"member of group {group}")
        for group in self._rule_groups:  # transitive members, as for exclude_groups
            for member in self._members(group, "[[rules]] match.groups"):
                found.groups[member] = (*found.groups.get(member, ()), group)
        with self._lock:
            self._context = found
        return found

    def want_groups(self, groups: Sequence[str]) -> None:
        """The groups (object ids) the config's rules match on: their members' identities carry them
        in `Identity.groups`. Called before listing; read once with the role holders."""
        self._rule_groups = list(dict.fromkeys(groups))

    def want_departures(self, since: datetime) -> None:
        """Entra is a people source (#25): disabled users listed from now on carry `Identity.departure`,
        dated from the directory audit log read back to `since` (one paged scan per tenant, made when a
        listing meets its first disabled user). Read only; without this call nothing more is read."""
        with self._lock:
            self._departures_since = since
            self._disabled.clear()

    def _disabled_at(self, scope: str, since: datetime) -> departures.Disabled:
        """The audit log's answer for `scope`, read on first use (a listing's first disabled user)."""
        with self._lock:
            found = self._disabled.get(scope)
        if found is not None:
            return found
        found = departures.Disabled.read(self.graph, since, self.settings.listing("entra", departures.AUDIT_OPERATION),
                                         self.clock())
        with self._lock:
            self._disabled[scope] = found
        return found

    def list_deleted(self, scope: str) -> Iterator[Identity]:
        """The users in the tenant's deleted items (deleted, restorable for 30 days), read only: each
        disabled, without credentials, departed "deleted" at its deletedDateTime, with the login it had."""
        if scope not in self.scopes():
            raise ProviderError("entra", departures.DELETED_OPERATION, f"scope {scope!r} is not this adapter's tenant")
        listing = self.settings.listing("entra", departures.DELETED_OPERATION)
        yield from departures.deleted_users(self.graph, scope, self.name, listing)

    def scope_notes(self, scope: str) -> list[str]:
        """What the report must say about the tenant's listing: PIM eligibility that could not be read, the
        machine identities not measured, not listed or never touched (`providers.entra.workload`), and
        leavers' dates that could not be read (#25)."""
        with self._lock:
            notes = list(self._context.notes) if self._context is not None else []
            disabled = self._disabled.get(scope)
            said = disabled.note() if disabled is not None else None
            return notes + list(self._machine_notes.get(scope, ())) + ([said] if said else [])

    def _own_ids(self) -> set[str]:
        """The sweeper's own object id and appId (lower case), from the token and client_id: its service
        principal is protected."""
        c = self._token_claims()
        found = {str(c[k]).lower() for k in ("oid", "appid", "azp") if isinstance(c.get(k), str) and c.get(k)}
        if self.settings.client_id:
            found.add(self.settings.client_id.lower())
        return found

    def _role_holders(self) -> dict[str, str]:
        url = f"{self.graph.endpoint}/roleManagement/directory/roleAssignments?$expand=principal"
        holders: dict[str, str] = {}
        groups: list[str] = []
        op = "list directory role assignments"
        for page in self.graph.pages(url, op, READ_ROLES, listing=self.settings.listing("entra", op)):
            for row in page:
                pid = row.get("principalId") if isinstance(row, dict) else None
                if not isinstance(pid, str):
                    raise ProviderError("entra", "list directory role assignments", "assignment without principalId")
                holders[pid] = "holds a directory role"
                principal = row.get("principal") or {}
                if isinstance(principal, dict) and principal.get("@odata.type") == "#microsoft.graph.group":
                    groups.append(pid)
        for group in groups:  # role-assignable groups: their members hold the role too
            for member in self._members(group, "role group"):
                holders.setdefault(member, f"holds a directory role (through group {group})")
        return holders

    def _members(self, group: str, why: str) -> set[str]:
        url = f"{self.graph.endpoint}/groups/{quote(group, safe='')}/transitiveMembers?$select=id&$top=999"
        members: set[str] = set()
        op = f"read members of group {group} ({why})"
        try:
            for page in self.graph.pages(url, op, READ_GROUPS, listing=self.settings.listing("entra", op)):
                members.update(m["id"] for m in page if isinstance(m, dict) and isinstance(m.get("id"), str))
        except NotFound as err:
            raise ProviderError("entra", f"read group {group}", f"{why}: group {group} does not exist") from err
        return members

    def list_identities(self, scope: str) -> Iterator[Identity]:
        """Every user of the tenant, page by page (500 a page); raises if any page fails."""
        if scope not in self.scopes():
            raise ProviderError("entra", "list users", f"scope {scope!r} is not this adapter's tenant")
        context = self._protection()
        protect, exclude = context.protect, context.exclude
        self_id = self.whoami().id
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(select=SELECT.split(","), top=500)
        first = self.graph.client.users.to_get_request_information(RequestConfiguration(query_parameters=query))
        n = 0
        listing = self.settings.listing("entra", "list users")
        for page in self.graph.pages(first, "list users", READ_USERS, listing=listing):
            for user in page:
                n += 1
                if not isinstance(user, dict):
                    user = {}
                identity = to_identity(user, scope, protect=protect, exclude=exclude,
                                       skip_synced=self.settings.skip_synced, self_id=self_id, position=f"#{n}",
                                       provider=self.name)
                if context.groups and identity.id in context.groups:
                    identity = replace(identity, groups=context.groups[identity.id])
                since = self._departures_since
                if since is not None and user.get("accountEnabled") is False:  # a leaver, if a person (#25)
                    identity = replace(identity, departure=self._disabled_at(scope, since).departure(identity.id))
                yield identity
        if self.settings.service_principals or self.settings.app_credentials:  # machine identities (#17)
            work = Workload(self.graph, self.settings, self._own_ids(), self.name)
            try:
                for identity in work.identities(scope, protect, exclude):
                    if context.groups and identity.id in context.groups:  # service principals in rule groups
                        identity = replace(identity, groups=context.groups[identity.id])
                    yield identity
            finally:
                with self._lock:
                    self._machine_notes[scope] = work.notes

    def refresh(self, ref: CredentialRef) -> Credential | None:
        """The account as Graph has it now; None when the user no longer exists. A ref of another
        tenant than the credentials' raises BindingError."""
        foreign = self._foreign(ref)
        if foreign:
            raise foreign
        if ref.kind is CredentialKind.SERVICE_PRINCIPAL:
            return self._refresh_sp(ref)
        if ref.kind is CredentialKind.APP_CREDENTIAL:
            return self._refresh_app_credential(ref)
        url = f"{self.graph.endpoint}/users/{quote(ref.identity_id, safe='')}?$select={SELECT}"
        user = self.graph.get_json(url, f"read user {ref.login}", READ_USERS)
        if user is None:
            return None
        ident = to_identity(user, ref.scope, protect={}, exclude={}, skip_synced=False, self_id=self.whoami().id)
        return ident.credentials[0]

    def _refresh_sp(self, ref: CredentialRef) -> Credential | None:
        """A service principal as Graph has it now, with its row of the beta report (filtered by appId);
        None when it no longer exists. A report that cannot be read leaves its activity UNKNOWN."""
        url = (f"{self.graph.endpoint}/servicePrincipals/{quote(ref.identity_id, safe='')}"
               f"?$select={machines.SP_SELECT}")
        sp = self.graph.get_json(url, f"read service principal {ref.login}", permissions.READ_APPS)
        if sp is None:
            return None
        app = str(sp.get("appId") or "").replace("'", "''")
        report = (f"{beta_endpoint(self.graph.endpoint)}/reports/{machines.SP_REPORT}"
                  f"?$filter={quote(f'appId eq {chr(39)}{app}{chr(39)}', safe='')}")
        try:
            rows = (self.graph.get_json(report, f"read {machines.SP_REPORT} (beta)", permissions.READ_REPORTS)
                    or {}).get("value")
            uses: dict[str, machines.Use] | None = machines.sp_uses(rows if isinstance(rows, list) else [])
        except ProviderError:
            uses = None
        use = None if uses is None else uses.get(app.lower())
        ident = machines.to_sp(sp, ref.scope, use, protect={}, exclude={}, own=self._own_ids(),
                               report_only=self.settings.service_principal_action == "report")
        cred = ident.credentials[0]
        if uses is None:
            cred = replace(cred, activity=Activity.UNKNOWN, last_used=None,
                           activity_note=f"{machines.SP_REPORT} (beta) could not be read")
        return cred

    def _refresh_app_credential(self, ref: CredentialRef) -> Credential | None:
        """An application's secret or certificate as Graph lists it now (its use not re-read: it is only
        ever reported); None when the application or the key is gone."""
        url = f"{self.graph.endpoint}/applications/{quote(ref.identity_id, safe='')}?$select={machines.APP_SELECT}"
        app = self.graph.get_json(url, f"read application {ref.login}", permissions.READ_APPS)
        if app is None:
            return None
        ident, _ = machines.to_app(app, ref.scope, None, exclude={}, keep_unmeasured=True)
        found = [c for c in (ident.credentials if ident else ()) if c.credential_id == ref.credential_id]
        return found[0] if found else None

    # -- acting --------------------------------------------------------------------------------

    def apply(self, action: Action, refs: Sequence[CredentialRef]) -> list[Outcome]:
        """Disable (accountEnabled false) or enable up to batch_size accounts, or remove (delete) or undelete
        them (`providers.entra.lifecycle`); one Outcome per ref."""
        if not self.write:
            raise ProviderError("entra", f"{action.value} users", "adapter was opened read-only")
        revoke = self.settings.revoke_sessions and action is Action.DISABLE
        ours: list[CredentialRef] = []
        refused: list[Outcome] = []
        for ref in refs:
            foreign = self._foreign(ref)
            never = self._not_acted_on(action, ref)
            if foreign:
                refused.append(Outcome(ref, False, foreign.detail))
            elif never:
                refused.append(Outcome(ref, False, never))
            else:
                ours.append(ref)
        if not ours:
            return refused
        if action in (Action.REMOVE, Action.UNDELETE):  # opt-in removal (#13): providers.entra.lifecycle
            return lifecycle.apply(self.graph, action, ours) + refused
        batcher = Batcher(self.graph, retries=self.settings.retries, max_wait=self.settings.retry_max_wait)
        sps = any(r.kind is CredentialKind.SERVICE_PRINCIPAL for r in ours)
        what = "users and service principals" if sps and len(ours) > 1 else "service principals" if sps else "users"
        needs = f"{WRITE} and {SP_PATCH_PERMISSION}" if sps and what != "service principals" else \
            SP_PATCH_PERMISSION if sps else WRITE
        return batcher.apply(action, ours, revoke, f"{action.value} {what}", needs) + refused

    def _not_acted_on(self, action: Action, ref: CredentialRef) -> str | None:
        """Why this adapter refuses `action` on `ref` whatever a plan or journal says: an application
        credential is only reported (removal is irreversible); a service principal is disabled only with
        service_principal_action = "disable" (re-enabling one is always allowed); removal is for users."""
        if ref.kind is CredentialKind.APP_CREDENTIAL:
            return f"application credentials are only reported: {machines.APP_REPORT_ONLY}"
        if ref.kind is CredentialKind.SERVICE_PRINCIPAL:
            if action in (Action.REMOVE, Action.UNDELETE):
                return "service principals are never removed by this sweeper"
            if action is Action.DISABLE and self.settings.service_principal_action != "disable":
                return 'service_principal_action = "report": service principals are only reported'
        return None

    # -- description ---------------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        """Probe each read permission with one small request; the write permission cannot be probed."""
        ep = self.graph.endpoint
        probes = [("read users with signInActivity (User.Read.All, AuditLog.Read.All)",
                   f"{ep}/users?$select={SELECT}&$top=1", READ_USERS)]
        if self.settings.skip_role_holders:
            probes.append((f"read directory role assignments ({READ_ROLES})",
                           f"{ep}/roleManagement/directory/roleAssignments?$top=1", READ_ROLES))
            probes.append((f"read PIM role eligibilities ({READ_ELIGIBLE})",
                           f"{ep}{eligibility.PATH}?$select=principalId", READ_ELIGIBLE))
        for group in self.settings.exclude_groups:
            probes.append((f"read members of excluded group {group} ({READ_GROUPS})",
                           f"{ep}/groups/{quote(group, safe='')}/transitiveMembers?$select=id&$top=1", READ_GROUPS))
        probes += self._machine_probes()
        bound = self.binding()
        results = [CheckResult("tenant binding", True if bound.configured else None, bound.describe())]
        results += [self._probe(name, url, perm) for name, url, perm in probes]
        writes = WRITE + (f" and {REVOKE}" if self.settings.revoke_sessions else "")
        results.append(CheckResult(f"disable users ({writes})", None,
                                   "cannot be probed without changing a user; " + ROLE_NOTE))
        if self.settings.service_principals and self.settings.service_principal_action == "disable":
            results.append(CheckResult(f"disable service principals ({SP_PATCH_PERMISSION})", None,
                                       "cannot be probed without changing a service principal"))
        if removal_configured(self.settings):
            results.append(CheckResult(f"delete and restore users ({DELETE_RESTORE})", None,
                                       "cannot be probed without deleting a user"))
        return results

    def _machine_probes(self) -> list[tuple[str, str, str]]:
        """One small read per machine-identity listing and beta report the switches turn on (#17)."""
        s, ep, beta = self.settings, self.graph.endpoint, beta_endpoint(self.graph.endpoint)
        probes = []
        for on, kind, report, switch in ((s.service_principals, "servicePrincipals", machines.SP_REPORT,
                                          "service_principals"),
                                         (s.app_credentials, "applications", machines.APP_REPORT, "app_credentials")):
            if on:
                probes.append((f"list {kind} ({permissions.READ_APPS}; {switch})",
                               f"{ep}/{kind}?$select=id&$top=1", permissions.READ_APPS))
                probes.append((f"read the beta report {report} ({permissions.READ_REPORTS}; {switch})",
                               f"{beta}/reports/{report}?$top=1", permissions.READ_REPORTS))
        return probes

    def _probe(self, name: str, url: str, permission: str) -> CheckResult:
        try:
            found = self.graph.get_json(url, name, permission)
        except PermissionDenied as err:
            return CheckResult(name, False, err.detail)
        except LicenceMissing as err:
            return CheckResult(name, None, f"{err.detail}; the tenant has no PIM, so whether the permission "
                               "is granted cannot be told; a sweep notes that eligible-only admins are not protected")
        except ProviderError as err:
            return CheckResult(name, False, f"{type(err).__name__}: {err.detail}")
        return CheckResult(name, found is not None, "ok" if found is not None else "not found (404)")

    @classmethod
    def permissions(cls, mode: str = "apply", settings: EntraSettings | None = None) -> str:
        """The Graph permissions `mode` needs ("plan": read only; "apply"); ValueError for others."""
        return permissions.text(mode, settings)

    def close(self) -> None:
        self.graph.close()
        close = getattr(self.credential, "close", None)
        if close:
            close()
