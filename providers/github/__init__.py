"""GitHub organisations (GitHub.com and GitHub Enterprise Server) through the REST API.

`PROVIDER` is what the core knows about this provider (entry point `identity_sweeper.providers`:
`github`); this module imports nothing beyond the core.
"""

from sweeper.model import CredentialKind
from sweeper.registry import Control, ProviderInfo

_COMMON = (Control("NIST 800-53 AC-2(3)", "NIST SP 800-53 Rev. 5"), Control("SOC 2 CC6.2", "AICPA TSC 2017"),
           Control("ISO 27001 A.5.18", "ISO/IEC 27001:2022"))

PROVIDER = ProviderInfo(
    name="github",
    display="GitHub organisations",
    settings="providers.github.settings:GitHubSettings",
    adapter="providers.github.adapter:GitHubAdapter",
    install_hint="pip install 'identity-sweeper[github]'",
    controls={CredentialKind.ACCOUNT: _COMMON},
    root_protection="organisation owners are never touched",
    docs_intro=(
        "The sweeper reads each configured organisation (`orgs`, on GitHub.com or on GitHub Enterprise Server "
        "through `endpoint`) with the REST API: its members with their role (`GET /orgs/{org}/members?role=admin`, "
        "then `role=member`) and its outside collaborators, 100 a page, following the `Link` header. Each "
        "organisation is a scope; each member or collaborator an identity with one credential, `account` (its "
        "numeric user id). Owners are protected, never removed, as are the members of the teams named in "
        "`protect_teams` and the user the sweeper runs as.\n\n"
        "Activity is the newest of three signals, and the reason names which: the organisation's audit log "
        "(`GET /orgs/{org}/audit-log`, web and Git events, one paged scan of the last `audit_log_days`, the newest "
        "event per actor), the SAML single sign-on credential authorizations' `credential_accessed_at` (a "
        "personal access token or SSH key used on the organisation) and the Copilot seats' `last_activity_at`. "
        "The audit log only reaches back so far, and only as far as it holds events: a member with no event in the "
        "scan is judged as last active at most at the later of the window's start and the oldest event the scan "
        "found (an upper bound, as the reason says; with no event at all in the window such a member is unknown, "
        "and kept), and a member whose joining "
        "(`org.add_member`) falls in the window and who did nothing since is judged as never active since "
        "joining. What the audit log does not record is not seen: browsing and reading in the web interface are "
        "not events, and GitHub keeps Git events for seven days only. An organisation whose audit log cannot be "
        "read (HTTP 403 or 404: the endpoint needs GitHub Enterprise Cloud and an owner's token) is "
        "`not_measured`, with that reason: nothing in it is judged, and activity is never guessed from public "
        "events. Credential authorizations (organisations without SAML SSO answer 404) and Copilot seats "
        "(organisations without Copilot Business) that cannot be read are left out, and the scope's message "
        "says so.\n\n"
        "Action: a member is removed from the organisation (`DELETE /orgs/{org}/memberships/{username}`). "
        "Before that, the apply job records the member's role and teams (with each team role) in the "
        "journal. GitHub reinstates a former member's access (forks, repository access, assignments) when they "
        "are invited again within three months; `sweeper restore` re-invites with the recorded role "
        "(`PUT /orgs/{org}/memberships/{username}`) and teams (`PUT /orgs/{org}/teams/{slug}/memberships/"
        "{username}`). On GitHub.com that is an invitation: access comes back when the person accepts it, "
        "and until then the membership is `pending`, which refresh and restore report as such (GitHub "
        "Enterprise Server adds the member at once). Outside collaborators are reported only: removing one "
        "drops their access to each repository, which the sweeper cannot rebuild.\n\n"
        "Authentication: a GitHub App installed on each organisation (preferred: `auth = \"app\"`, `app_id`, "
        "and its private key from a `SWEEPER_*` variable or a file; the sweeper signs a JWT and mints an "
        "installation token per organisation), or a token from a `SWEEPER_*` variable (`auth = \"token\"`). "
        "Primary and secondary rate limits are honoured: `retry-after` is waited out, an exhausted "
        "`x-ratelimit-remaining` waits for `x-ratelimit-reset`, a secondary limit without either waits a "
        "minute and longer; a wait longer than `retry_max_wait` ends the call as throttled."),
)
