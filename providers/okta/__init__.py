"""Okta users through the Okta Management API (plain HTTP with httpx; PyJWT signs the client assertion).

`PROVIDER` is what the core knows about this provider (entry point `identity_sweeper.providers`: `okta`);
this module imports neither httpx nor PyJWT.
"""

from sweeper.model import CredentialKind
from sweeper.registry import ProviderInfo

PROVIDER = ProviderInfo(
    name="okta",
    display="Okta",
    settings="providers.okta.settings:OktaSettings",
    adapter="providers.okta.adapter:OktaAdapter",
    install_hint="pip install 'identity-sweeper[okta]'",
    # remove_after_days (opt-in, apply --allow-remove): Okta has no reversible form of it
    removal={CredentialKind.ACCOUNT: "deactivates the user (POST /api/v1/users/{id}/lifecycle/deactivate): Okta "
                                     "unassigns its apps, which may delete its data in them, and cannot undo it; "
                                     "`restore` says so rather than trying"},
    removal_irreversible=frozenset({CredentialKind.ACCOUNT}),
    docs_intro="The sweeper reads an Okta org's users (`GET /api/v1/users`, 200 a page, following the `Link` "
               "header's `rel=\"next\"`) and the users holding an admin role (`GET /api/v1/iam/assignees/users`), "
               "and suspends users with `POST /api/v1/users/{id}/lifecycle/suspend`; `sweeper restore` "
               "unsuspends them (`/lifecycle/unsuspend`). It authenticates as an OAuth 2.0 service app with a "
               "private-key JWT (`auth = \"private_key\"`, recommended: a token per run, scoped, minted by the org "
               "authorization server at `/oauth2/v1/token`), or with an API token (`auth = \"api_token\"`, "
               "sent as `SSWS`, read from a `SWEEPER_*` variable), which acts with every right of the admin who "
               "made it. Give each job its own app: the plan job's asks only for the read scopes, the apply "
               "job's adds `okta.users.manage`.\n\n"
               "Activity: `lastLogin`. A user who never signed in (`lastLogin` null) is judged by when it was "
               "created, or activated when that is later. States: ACTIVE users are acted on; SUSPENDED users are "
               "already disabled and not counted; STAGED (not yet activated), PROVISIONED (activation pending), "
               "PASSWORD_EXPIRED, LOCKED_OUT and RECOVERY users can get in, or will, but Okta suspends only "
               "ACTIVE users, so a stale one is reported, never acted on; "
               "DEPROVISIONED (deactivated) users are not listed, as Okta's own listing leaves them out. Users "
               "holding an admin role are protected (and marked privileged for `[[rules]]` that judge such "
               "identities); so is the API token's own user. Rate limits: every answer's `X-Rate-Limit-Remaining` "
               "and `X-Rate-Limit-Reset` are read; when none are left the next request waits for the reset, and "
               "a 429 waits until `X-Rate-Limit-Reset` (at most `max_rate_limit_wait` seconds) before trying "
               "again.\n\n"
               "Removal (opt-in: `remove_after_days`, acted on only by `apply --allow-remove`): a user this "
               "sweeper suspended, still suspended and unused that many days later, is deactivated. Okta "
               "documents deactivation as destructive and unrecoverable (apps are unassigned, which may delete "
               "the user's data in them; activating the user again starts a new activation), so the removal is "
               "recorded as irreversible and `restore` does not attempt it. Leave `remove_after_days` unset for "
               "Okta (`[providers.okta]`) unless that is what you want.\n\n"
               "As a people source (`[people] sources = [\"okta\"]`): a suspended user has left since its "
               "`statusChanged`, and the deactivated users, which the listing leaves out, are read with "
               "`GET /api/v1/users?filter=status eq \"DEPROVISIONED\"` and have left since theirs; no audit "
               "log is read (the plan job's `okta.users.read` covers it). A STAGED user, not yet activated, is "
               "no leaver.",
)
