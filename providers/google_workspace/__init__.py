"""Google Workspace users through the Admin SDK Directory API.

`PROVIDER` is what the core knows about this provider (entry point `identity_sweeper.providers`:
`google_workspace`); this module imports no SDK.
"""

from sweeper.registry import ProviderInfo

PROVIDER = ProviderInfo(
    name="google_workspace",
    display="Google Workspace",
    settings="providers.google_workspace.settings:GoogleSettings",
    adapter="providers.google_workspace.adapter:GoogleWorkspaceAdapter",
    install_hint="pip install google-api-python-client google-auth",
    docs_intro="The sweeper reads users through the Admin SDK Directory API and suspends them "
               "with batch requests, as an admin through domain-wide delegation. Give each job its own "
               "identity: the plan job (plan, check, notify) mints only the read-only scope "
               "admin.directory.user.readonly, as a reader (`sweeper permissions -p google_workspace "
               "--for plan`); only the apply job, in a protected environment, mints the write scope "
               "admin.directory.user, as a writer (`--for apply`, below).",
)
