"""Microsoft Entra ID users through Microsoft Graph (msgraph-sdk + azure-identity).

Lists users with signInActivity (raw JSON pages), loads role holders and excluded-group members once,
and disables/enables accounts with hand-built JSON `$batch` requests (the SDK's batch helper sends
absolute URLs and a wrong dependsOn key). All Graph traffic goes through `providers.entra.graph`.
"""

from __future__ import annotations

import threading
from typing import Iterator, Sequence
from urllib.parse import quote

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.users.users_request_builder import UsersRequestBuilder

from providers.entra import credentials
from providers.entra.batch import Batcher
from providers.entra.graph import Graph, translate
from providers.entra.settings import EntraSettings
from providers.entra.users import SELECT, to_identity
from sweeper.errors import NotFound, PermissionDenied, ProviderError
from sweeper.model import Action, CheckResult, Credential, CredentialRef, Identity, Outcome, Principal

READ_USERS = "User.Read.All and AuditLog.Read.All (application permissions)"
READ_ROLES = "RoleManagement.Read.Directory"
READ_GROUPS = "GroupMember.Read.All"
WRITE = "User.EnableDisableAccount.All"
REVOKE = "User.RevokeSessions.All"
ROLE_NOTE = ("Disabling a user who holds a directory role also needs the Privileged Authentication "
             "Administrator role for the app; by default (skip_role_holders = true) role holders are "
             "protected and never touched.")


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
                           max_wait=settings.retry_max_wait, timeout=settings.timeout_seconds)
        self._lock = threading.Lock()
        self._context: tuple[dict[str, str], dict[str, str]] | None = None
        self._principal: Principal | None = None
        self._tenant: str | None = None

    # -- who and where -------------------------------------------------------------------------

    def whoami(self) -> Principal:
        """The principal from the token's claims (read, not verified); no Graph call."""
        with self._lock:
            if self._principal is None:
                self._principal = self._read_principal()
            return self._principal

    def _read_principal(self) -> Principal:
        host = self.graph.origin.split("://", 1)[1].split(":")[0]
        try:
            token = self.credential.get_token(f"https://{host}/.default").token
        except Exception as err:  # noqa: BLE001 - azure-identity raises many kinds
            raise translate(err, "whoami", "") from err
        c = credentials.claims(token) or {}
        del token
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
        """[tenant id]: from settings, else the token's tid claim, else GET /organization."""
        with self._lock:
            if self._tenant:
                return [self._tenant]
        tenant = self.settings.tenant_id or self.whoami().scope
        if not tenant:
            org = self.graph.get_json(f"{self.graph.endpoint}/organization?$select=id", "read tenant",
                                      "Organization.Read.All (or set tenant_id)")
            values = (org or {}).get("value")
            if not values or not isinstance(values[0], dict) or not isinstance(values[0].get("id"), str):
                raise ProviderError("entra", "read tenant", "GET /organization returned no tenant")
            tenant = values[0]["id"]
        with self._lock:
            self._tenant = tenant
        return [tenant]

    # -- listing -------------------------------------------------------------------------------

    def _protection(self) -> tuple[dict[str, str], dict[str, str]]:
        """(protect, exclude): role holders and excluded-group members by user id, loaded once."""
        with self._lock:
            if self._context is not None:
                return self._context
        protect: dict[str, str] = {}
        if self.settings.skip_role_holders:
            protect = self._role_holders()
        exclude: dict[str, str] = {}
        for group in self.settings.exclude_groups:
            for member in self._members(group, "exclude_groups"):
                exclude.setdefault(member, f"member of group {group}")
        with self._lock:
            self._context = (protect, exclude)
        return protect, exclude

    def _role_holders(self) -> dict[str, str]:
        url = f"{self.graph.endpoint}/roleManagement/directory/roleAssignments?$expand=principal"
        holders: dict[str, str] = {}
        groups: list[str] = []
        for page in self.graph.pages(url, "list directory role assignments", READ_ROLES):
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
        try:
            for page in self.graph.pages(url, f"read members of group {group} ({why})", READ_GROUPS):
                members.update(m["id"] for m in page if isinstance(m, dict) and isinstance(m.get("id"), str))
        except NotFound as err:
            raise ProviderError("entra", f"read group {group}", f"{why}: group {group} does not exist") from err
        return members

    def list_identities(self, scope: str) -> Iterator[Identity]:
        """Every user of the tenant, page by page (500 a page); raises if any page fails."""
        if scope not in self.scopes():
            raise ProviderError("entra", "list users", f"scope {scope!r} is not this adapter's tenant")
        protect, exclude = self._protection()
        self_id = self.whoami().id
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(select=SELECT.split(","), top=500)
        first = self.graph.client.users.to_get_request_information(RequestConfiguration(query_parameters=query))
        n = 0
        for page in self.graph.pages(first, "list users", READ_USERS):
            for user in page:
                n += 1
                if not isinstance(user, dict):
                    user = {}
                yield to_identity(user, scope, protect=protect, exclude=exclude,
                                  skip_synced=self.settings.skip_synced, self_id=self_id, position=f"#{n}")

    def refresh(self, ref: CredentialRef) -> Credential | None:
        """The account as Graph has it now; None when the user no longer exists."""
        url = f"{self.graph.endpoint}/users/{quote(ref.identity_id, safe='')}?$select={SELECT}"
        user = self.graph.get_json(url, f"read user {ref.login}", READ_USERS)
        if user is None:
            return None
        ident = to_identity(user, ref.scope, protect={}, exclude={}, skip_synced=False, self_id=self.whoami().id)
        return ident.credentials[0]

    # -- acting --------------------------------------------------------------------------------

    def apply(self, action: Action, refs: Sequence[CredentialRef]) -> list[Outcome]:
        """Disable (accountEnabled false) or enable up to batch_size accounts; one Outcome per ref."""
        if not self.write:
            raise ProviderError("entra", f"{action.value} users", "adapter was opened read-only")
        revoke = self.settings.revoke_sessions and action is Action.DISABLE
        batcher = Batcher(self.graph, retries=self.settings.retries, max_wait=self.settings.retry_max_wait)
        return batcher.apply(action, list(refs), revoke, f"{action.value} users", WRITE)

    # -- description ---------------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        """Probe each read permission with one small request; the write permission cannot be probed."""
        ep = self.graph.endpoint
        probes = [("read users with signInActivity (User.Read.All, AuditLog.Read.All)",
                   f"{ep}/users?$select={SELECT}&$top=1", READ_USERS)]
        if self.settings.skip_role_holders:
            probes.append((f"read directory role assignments ({READ_ROLES})",
                           f"{ep}/roleManagement/directory/roleAssignments?$top=1", READ_ROLES))
        for group in self.settings.exclude_groups:
            probes.append((f"read members of excluded group {group} ({READ_GROUPS})",
                           f"{ep}/groups/{quote(group, safe='')}/transitiveMembers?$select=id&$top=1", READ_GROUPS))
        results = [self._probe("reach tenant (GET /organization)", f"{ep}/organization?$select=id", "")]
        results += [self._probe(name, url, perm) for name, url, perm in probes]
        writes = WRITE + (f" and {REVOKE}" if self.settings.revoke_sessions else "")
        results.append(CheckResult(f"disable users ({writes})", None,
                                   "cannot be probed without changing a user; " + ROLE_NOTE))
        return results

    def _probe(self, name: str, url: str, permission: str) -> CheckResult:
        try:
            found = self.graph.get_json(url, name, permission)
        except PermissionDenied as err:
            return CheckResult(name, False, err.detail)
        except ProviderError as err:
            return CheckResult(name, False, f"{type(err).__name__}: {err.detail}")
        return CheckResult(name, found is not None, "ok" if found is not None else "not found (404)")

    @classmethod
    def permissions(cls) -> str:
        return "\n".join([
            "Microsoft Graph application permissions (admin consent required):",
            "  read (plan, check):",
            "    User.Read.All                  list users",
            "    AuditLog.Read.All              signInActivity (needs an Entra ID P1 or P2 licence)",
            "    RoleManagement.Read.Directory  directory role holders (skip_role_holders = true)",
            "    GroupMember.Read.All           members of exclude_groups",
            "  write (apply, restore):",
            f"    {WRITE}  accountEnabled false/true",
            f"    {REVOKE}        only with revoke_sessions = true",
            "  optional: Organization.Read.All lets the tenant id be read when tenant_id is not set",
            "  and the token carries no tid claim.",
            ROLE_NOTE,
        ])

    def close(self) -> None:
        self.graph.close()
        close = getattr(self.credential, "close", None)
        if close:
            close()
