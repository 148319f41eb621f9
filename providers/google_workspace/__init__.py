"""Google Workspace users through the Admin SDK Directory API.

`PROVIDER` is what the core knows about this provider (entry point `identity_sweeper.providers`:
`google_workspace`); this module imports no SDK.
"""

from sweeper.model import CredentialKind
from sweeper.registry import ProviderInfo

PROVIDER = ProviderInfo(
    name="google_workspace",
    display="Google Workspace",
    settings="providers.google_workspace.settings:GoogleSettings",
    adapter="providers.google_workspace.adapter:GoogleWorkspaceAdapter",
    install_hint="pip install google-api-python-client google-auth",
    # remove_after_days (opt-in, apply --allow-remove): the reversible form, undone by `sweeper restore`
    removal={CredentialKind.ACCOUNT: "deletes the user (users.delete): Google keeps it 20 days, in which "
                                     "`sweeper restore` undeletes it (users.undelete) into its org unit, still "
                                     "suspended"},
    docs_intro="The sweeper reads users through the Admin SDK Directory API and suspends them "
               "with batch requests, as an admin through domain-wide delegation. Give each job its own "
               "identity: the plan job (plan, check, notify) mints only the read-only scope "
               "admin.directory.user.readonly, as a reader (`sweeper permissions -p google_workspace "
               "--for plan`); only the apply job, in a protected environment, mints the write scope "
               "admin.directory.user, as a writer (`--for apply`, below). When a batch's answer cannot be "
               "matched to its requests (google-api-python-client #536), the apply job reads each of its users "
               "back with `users.get` (covered by the write scope) and the journal records what took effect; "
               "a user it cannot read is recorded as interrupted, which `restore` checks live.\n\n"
               "Activity: `lastLoginTime` misses mail clients (IMAP, POP), SSO sign-ins into other apps and "
               "Drive use, so both jobs also read the Reports API's user usage report (`userUsageReport.get`, "
               "all users, 1,000 a page, no per-user calls) with a token of the read-only scope "
               "admin.reports.usage.readonly alone, and a user's last use is the newest of `lastLoginTime` "
               "and the `activity_sources` signals (`accounts:last_login_time`, `accounts:last_sso_time`, "
               "`gmail:last_imap_time`, `gmail:last_pop_time`, `gmail:last_webmail_time`, "
               "`drive:last_active_usage_time`, and their `timestamp_*` names); the reason names the signal. "
               "The report lags 1-3 days: the newest date with full data is used (a date the API calls not "
               "yet available, or one with DATA_NOT_AVAILABLE or PARTIAL_DATA_AVAILABLE warnings, steps back, "
               "7 dates at most) and named in the scope's message. Without that scope (HTTP 403) the sweep "
               "judges by `lastLoginTime` alone and says so; `activity_sources = []` reads no report. The "
               "Gmail signals cover only the 30 days before the report's date: mail read over IMAP 45 days "
               "ago is not in the newest report, so with a 90-day threshold set `activity_lookback_days = 90` "
               "to read reports 30 and 60 days older too.\n\n"
               "Removal (opt-in: `remove_after_days`, acted on only by `apply --allow-remove`): a user this "
               "sweeper suspended, still suspended and unused that many days later, is deleted with "
               "`users.delete`, in batches. Google keeps a deleted user for 20 days; `sweeper restore RUN_ID` "
               "of the removing run undeletes it with `users.undelete` into the org unit Google lists for it "
               "(`users.list` with `showDeleted=true`), still suspended. The window is checked live: a user "
               "that listing no longer holds was purged, and restore says so (\"past the 20-day undelete "
               "window (or purged)\") rather than trying. Each removal's journal entry names the org unit "
               "the user was deleted from. The apply job's scope already covers both calls; its admin "
               "needs the privilege to delete users.\n\n"
               "Groups (`[[rules]]` with `match.groups`): a rule can judge the members of a Google group by "
               "thresholds of its own, naming the group by its email address (or an alias, or its id). Before "
               "the users are listed, each job reads every such group once with `members.list` "
               "(`includeDerivedMembership=true`: members of nested groups count; 200 a page, bounded like the "
               "users listing) with a token of the read-only scope admin.directory.group.member.readonly alone, "
               "minted only when rules name groups, so a delegation of the user scopes alone keeps serving every "
               "config without such rules. With them, add that scope to each job's domain-wide delegation (and to "
               "`access_token_scopes`) and give its admin Admin API privileges > Groups > Read. A user is in a "
               "group when a member record names its id, or its primary email (case-insensitively); a member of "
               "type CUSTOMER puts every user in it. A group that does not exist (HTTP 404) or cannot be read "
               "(HTTP 403, or a refused token) fails the customer's sweep with a message naming the group and "
               "`[[rules]] match.groups` (and, when refused, the scope to add): a rule that silently matched "
               "nobody would leave its members to a later, looser rule. The scope's message names each group "
               "read and how many members it has.",)
