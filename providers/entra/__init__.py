"""Microsoft Entra ID users, service principals and application credentials through Microsoft Graph.

`PROVIDER` is what the core knows about this provider (entry point `identity_sweeper.providers`:
`entra`); this module imports no SDK.
"""

from sweeper.model import CredentialKind
from sweeper.registry import Control, ProviderInfo

# every finding of every kind: inactive accounts disabled (NIST AC-2(3)), access removed when no longer needed
_COMMON = (Control("NIST 800-53 AC-2(3)", "NIST SP 800-53 Rev. 5"), Control("SOC 2 CC6.2", "AICPA TSC 2017"),
           Control("ISO 27001 A.5.18", "ISO/IEC 27001:2022"))

PROVIDER = ProviderInfo(
    name="entra",
    display="Microsoft Entra ID",
    settings="providers.entra.settings:EntraSettings",
    adapter="providers.entra.adapter:EntraAdapter",
    install_hint="pip install msgraph-sdk azure-identity",
    # users' accounts; service principals and applications' secrets and certificates (#17), each of its
    # own IdentityKind.SERVICE identity
    credential_kinds=(CredentialKind.ACCOUNT, CredentialKind.SERVICE_PRINCIPAL, CredentialKind.APP_CREDENTIAL),
    controls={CredentialKind.ACCOUNT: _COMMON, CredentialKind.SERVICE_PRINCIPAL: _COMMON,
              CredentialKind.APP_CREDENTIAL: _COMMON},
    # opt-in removal (#13): reversible for 30 days (providers/entra/lifecycle.py)
    removal={CredentialKind.ACCOUNT: "deletes the user (DELETE /users/{id}): Entra keeps it in deleted items for "
                                     "30 days, from where `restore` brings it back, still disabled"},
    docs_intro="The sweeper reads users with their sign-in activity through Microsoft Graph and disables "
               "them with `$batch` requests. Grant these application permissions, with admin consent, to two app "
               "registrations: a reader for plan, notify and check, and a writer for the apply job only.\n\n"
               "Machine identities (on by default, reported only unless you say otherwise): service principals "
               "(`service_principals = true`) are judged by `GET /beta/reports/servicePrincipalSignInActivities`, "
               "and application secrets and certificates (`app_credentials = true`) by `GET "
               "/beta/reports/appCredentialSignInActivities`. Both reports are in Graph's **beta** version, which "
               "Microsoft may change, and are their only source of activity: a tenant where Graph refuses one "
               "(403 without AuditLog.Read.All or a licence, 404 or an unknown segment where it does not exist) "
               "gets a note saying that kind was not measured, nothing of that kind is judged, and users are "
               "judged as before. A service principal's last use is the newest of the report's five records "
               "(delegated and app-only, as client and as resource, and the summary one), and its reason names "
               "which; with no record at all it is judged by its `createdDateTime` as never used. Never touched, "
               "and not listed: Microsoft's first-party service principals (owner tenant "
               "f8cdef31-a31e-4b4a-93e4-5f571e91255a) and managed identities, counted in a note; protected: the "
               "sweeper's own service principal and, with `skip_role_holders`, those holding a directory role. "
               "A service principal's login, which `exclude` globs match, is its displayName (its appId when it "
               "has none); `[policy] never_disable` also takes its object id. With `service_principal_action = "
               "\"disable\"` the apply job sets `accountEnabled` false in `$batch` and `restore` sets it true "
               "again. Application credentials are always report only: removing a secret cannot be undone. "
               "Owners come from `$expand=owners` (an application's owners stand in for its service "
               "principal's when it has none).",
)
