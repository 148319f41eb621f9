"""Microsoft Entra ID users through Microsoft Graph.

`PROVIDER` is what the core knows about this provider (entry point `identity_sweeper.providers`:
`entra`); this module imports no SDK.
"""

from sweeper.model import CredentialKind
from sweeper.registry import ProviderInfo

PROVIDER = ProviderInfo(
    name="entra",
    display="Microsoft Entra ID",
    settings="providers.entra.settings:EntraSettings",
    adapter="providers.entra.adapter:EntraAdapter",
    install_hint="pip install msgraph-sdk azure-identity",
    # opt-in removal (#13): reversible for 30 days (providers/entra/lifecycle.py)
    removal={CredentialKind.ACCOUNT: "deletes the user (DELETE /users/{id}): Entra keeps it in deleted items for "
                                     "30 days, from where `restore` brings it back, still disabled"},
    docs_intro="The sweeper reads users with their sign-in activity through Microsoft Graph and disables "
               "them with `$batch` requests. Grant these application permissions, with admin consent, to two app "
               "registrations: a reader for plan, notify and check, and a writer for the apply job only.",
)
