"""GitHub organisations: members and outside collaborators, judged by audit-log, SAML credential and
Copilot activity (`providers.github.activity`); stale members removed from the organisation, and
re-invited with their role and teams by `restore` (`providers.github.record`).

Each configured organisation is a scope. A member is an identity of kind MEMBER, an outside collaborator
one of kind GUEST (reported only); each has one credential, `account`, whose id is the user's numeric id
(a login can be renamed, the id cannot).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from providers.github import activity, record
from providers.github.client import PROVIDER, AppAuth, Auth, GitHubClient, TokenAuth
from providers.github.permissions import permissions_text
from sweeper.errors import AuthError, NotFound, PermissionDenied, ProviderError
from sweeper.model import (Action, Activity, CheckResult, Credential, CredentialKind, CredentialRef, Identity,
                           IdentityKind, Outcome, Principal)

PER_PAGE = 100
OWNER = "organisation owner"
COLLABORATOR = ("outside collaborator: removing one drops their access to each repository, which restore cannot "
                "rebuild; reported only")


def _auth(settings: Any) -> Auth:
    if settings.auth == "app":
        if settings.private_key_env:
            key = os.environ.get(settings.private_key_env, "")
            where = f"the variable {settings.private_key_env}"
        else:
            try:
                key = Path(settings.private_key_file).read_text(encoding="utf-8")
            except OSError as err:
                raise AuthError(PROVIDER, "read the App's private key",
                                f"private_key_file {settings.private_key_file}: {err.strerror or err}") from None
            where = f"private_key_file {settings.private_key_file}"
        if "PRIVATE KEY" not in key:
            raise AuthError(PROVIDER, "read the App's private key", f"{where} holds no PEM private key")
        return AppAuth(str(settings.app_id), key)
    token = os.environ.get(settings.token_env, "").strip()
    if not token:
        raise AuthError(PROVIDER, "read the token", f"the variable {settings.token_env} is not set (auth = \"token\")")
    return TokenAuth(token)


class GitHubAdapter:
    name = PROVIDER
    batch_size = 50  # members per apply() call: writes are serial anyway (GitHub asks for a second between them)
    listing_is_live = True  # memberships and the audit log are read live: candidates need no refresh

    def __init__(self, settings: Any, *, write: bool) -> None:
        self.settings = settings
        self.write = write
        self.max_parallel = settings.max_parallel
        self.client = GitHubClient(settings, _auth(settings))
        self.now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        self._notes: dict[str, list[str]] = {}
        self._teams: dict[str, dict[str, dict[str, str]]] = {}  # org -> login -> {team slug: team role}
        self._records: dict[tuple[str, ...], str] = {}  # ref key -> the removal's journaled note
        self._me: tuple[str | None] | None = None

    # -- who and where ------------------------------------------------------------------------

    def whoami(self) -> Principal:
        if self.settings.auth == "app":
            body = self.client.call("GET", "/app", "read the App", jwt=True).body
            body = body if isinstance(body, dict) else {}
            return Principal(self.name, str(body.get("id", self.settings.app_id)),
                             f"GitHub App {body.get('slug', self.settings.app_id)}")
        login = self._self_login()
        if login is None:
            return Principal(self.name, "token", "a token without a user of its own (an installation token)")
        return Principal(self.name, login, f"user {login}")

    def _self_login(self) -> str | None:
        """The token's own user (protected, never removed); None for an App or a token without a user."""
        if self._me is None:
            login = None
            if self.settings.auth == "token":
                try:
                    body = self.client.call("GET", "/user", "read the token's user").body
                    login = body.get("login") if isinstance(body, dict) else None
                except PermissionDenied:
                    login = None
            self._me = (login.lower() if isinstance(login, str) else None,)
        return self._me[0]

    def scopes(self) -> list[str]:
        found = []
        for org in self.settings.orgs:
            try:
                body = self.client.call("GET", f"/orgs/{org}", f"read organisation {org}", org=org).body
            except NotFound as err:
                raise NotFound(PROVIDER, f"read organisation {org}", f"organisation {org} does not exist or these "
                               "credentials cannot see it", status=404) from err
            login = body.get("login") if isinstance(body, dict) else None
            found.append(login if isinstance(login, str) and login.lower() == org.lower() else org)
        return found

    def scope_notes(self, scope: str) -> list[str]:
        return self._notes.get(scope, [])

    # -- listing ------------------------------------------------------------------------------

    def list_identities(self, scope: str) -> Iterator[Identity]:
        org = scope
        signals = activity.scan(self.client, self.settings, org, self.now())
        self._notes[org] = [f"activity: {signals.events} audit-log events since {signals.window_start.date()}",
                            *signals.notes]
        protected = self._protected(org)
        me = self._self_login()
        for role in ("admin", "member"):
            yield from self._people(org, f"/orgs/{org}/members", {"role": role, "per_page": PER_PAGE}, role,
                                    signals, protected, me)
        yield from self._people(org, f"/orgs/{org}/outside_collaborators", {"per_page": PER_PAGE}, "outside",
                                signals, protected, me)

    def _people(self, org: str, path: str, params: dict[str, Any], role: str, signals: activity.Signals,
                protected: dict[str, str], me: str | None) -> Iterator[Identity]:
        operation = f"list the {'outside collaborators' if role == 'outside' else role + 's'} of {org}"
        listing = self.settings.listing(PROVIDER, operation)
        for page in self.client.pages(path, operation, listing, org=org, params=params,
                                      needs="organization Members: read (read:org)"):
            for user in page:
                yield self._identity(org, user, role, signals, protected, me)

    def _identity(self, org: str, user: Any, role: str, signals: activity.Signals, protected: dict[str, str],
                  me: str | None) -> Identity:
        raw = user if isinstance(user, dict) else {}
        login, uid = raw.get("login"), raw.get("id")
        kind = IdentityKind.GUEST if role == "outside" else IdentityKind.MEMBER
        if not isinstance(login, str) or not login or type(uid) is not int:
            ident = str(uid) if type(uid) is int else (login if isinstance(login, str) and login else repr(user)[:40])
            cred = Credential(CredentialKind.ACCOUNT, ident, True, Activity.UNKNOWN,
                              activity_note="the member record has no login or no numeric id")
            return Identity(self.name, org, ident, ident, kind, True, (cred,), tags={"role": role})
        state, last, created, note = signals.judge(login, str(uid))
        cred = Credential(CredentialKind.ACCOUNT, str(uid), True, state, created, last, note,
                          report_only=COLLABORATOR if role == "outside" else None)
        guard = (OWNER if role == "admin" else
                 f"member of protected team {protected[login.lower()]}" if login.lower() in protected else
                 "the sweeper's own user" if login.lower() == me else None)
        return Identity(self.name, org, str(uid), login, kind, True, (cred,), created=created, protected_by=guard,
                        privileged=OWNER if role == "admin" else None, tags={"role": role})

    def _protected(self, org: str) -> dict[str, str]:
        """login -> the protected team it is in (child teams' members count, as GitHub lists them)."""
        found: dict[str, str] = {}
        for slug in self.settings.protect_teams:
            operation = f"list the members of protected team {slug} in {org}"
            listing = self.settings.listing(PROVIDER, operation)
            try:
                for page in self.client.pages(f"/orgs/{org}/teams/{slug}/members", operation, listing, org=org,
                                              params={"role": "all", "per_page": PER_PAGE}):
                    for user in page:
                        if isinstance(user, dict) and isinstance(user.get("login"), str):
                            found.setdefault(user["login"].lower(), slug)
            except NotFound:
                raise ProviderError(PROVIDER, operation, f"protect_teams names {slug}, which {org} does not have: "
                                    "nothing there is judged without the protection the config asks for") from None
        return found

    # -- reading one member live --------------------------------------------------------------

    def _membership(self, org: str, login: str) -> dict[str, Any] | None:
        try:
            body = self.client.call("GET", f"/orgs/{org}/memberships/{login}", f"read {login}'s membership of {org}",
                                    org=org).body
        except NotFound:
            return None
        return body if isinstance(body, dict) else {}

    def _user(self, org: str, user_id: str) -> dict[str, Any] | None:
        if not user_id.isdigit():
            return None
        try:
            body = self.client.call("GET", f"/user/{user_id}", f"read user {user_id}", org=org).body
        except NotFound:
            return None
        return body if isinstance(body, dict) and isinstance(body.get("login"), str) else None

    def _locate(self, ref: CredentialRef) -> tuple[str, dict[str, Any] | None] | None:
        """(the user's current login, their membership or None); None when no such user exists."""
        membership = self._membership(ref.scope, ref.login)
        if membership is not None:
            return ref.login, membership
        user = self._user(ref.scope, ref.identity_id)
        if user is None:
            return None
        login = user["login"]
        return login, (self._membership(ref.scope, login) if login.lower() != ref.login.lower() else None)

    def refresh(self, ref: CredentialRef) -> Credential | None:
        found = self._locate(ref)
        if found is None:
            return None
        login, membership = found
        if membership is None:
            return Credential(CredentialKind.ACCOUNT, ref.credential_id, False, Activity.UNKNOWN,
                              activity_note=f"{login} is not a member of {ref.scope}")
        role, state = membership.get("role", "member"), membership.get("state")
        note = (f"invited again as {role}: the invitation is pending until {login} accepts it, and access returns "
                "then" if state == "pending" else f"a member of {ref.scope} ({role}); activity comes from the listing")
        return Credential(CredentialKind.ACCOUNT, ref.credential_id, state in ("active", "pending"), Activity.UNKNOWN,
                          activity_note=note)

    # -- acting -------------------------------------------------------------------------------

    def journaled(self, records: Mapping[tuple[str, ...], str | None]) -> None:
        """Called by `restore` before re-enabling: each removal's journaled note, by ref key."""
        self._records.update({key: note for key, note in records.items() if note})

    def apply(self, action: Action, refs: Sequence[CredentialRef]) -> list[Outcome]:
        if not self.write:
            return [Outcome(r, False, error="opened read-only (plan, check): nothing was changed") for r in refs]
        outcomes = []
        for n, ref in enumerate(refs):
            try:
                if action is Action.DISABLE:
                    outcomes.append(self._remove(ref))
                elif action is Action.ENABLE:
                    outcomes.append(self._reinvite(ref))
                else:
                    outcomes.append(Outcome(ref, False, error=f"{action.value} is not supported for GitHub members"))
            except AuthError:
                if n == 0:
                    raise  # nothing could be attempted
                outcomes.append(Outcome(ref, False, error="credentials rejected part-way"))
            except ProviderError as err:
                outcomes.append(Outcome(ref, False, error=str(err)))
        return outcomes

    def _remove(self, ref: CredentialRef) -> Outcome:
        org = ref.scope
        found = self._locate(ref)
        if found is None:
            return Outcome(ref, False, error=f"no GitHub user with id {ref.identity_id}")
        login, membership = found
        if membership is None:
            return Outcome(ref, True, note=f"already not a member of {org}")
        role = str(membership.get("role", "member"))
        if role == "admin":
            return Outcome(ref, False, error=f"{login} is an {OWNER} of {org}: owners are never removed")
        if login.lower() == self._self_login():
            return Outcome(ref, False, error=f"{login} is the sweeper's own user: never removed")
        teams = self._teams_of(org).get(login.lower(), {})
        operation = f"remove {login} from {org}"
        try:
            self.client.call("DELETE", f"/orgs/{org}/memberships/{login}", operation, org=org, ok=(204,),
                             needs="organization Members: read and write (admin:org)")
        except ProviderError as err:
            if err.status is not None:
                raise
            try:  # the answer was lost: what took effect decides
                gone = self._membership(org, login) is None
            except ProviderError:
                return Outcome(ref, False, error=str(err), uncertain=True)
            if not gone:
                raise
        return Outcome(ref, True, note=record.render(org, role if role in record.ROLES else "member", teams))

    def _reinvite(self, ref: CredentialRef) -> Outcome:
        org = ref.scope
        user = self._user(org, ref.identity_id)
        if user is None:
            return Outcome(ref, False, error=f"no GitHub user with id {ref.identity_id}: nothing to invite")
        login = user["login"]
        current = self._membership(org, login)
        if current is not None and current.get("state") == "active":
            return Outcome(ref, True, note=f"already a member of {org}")
        recorded = record.parse(self._records.get(ref.key))
        role, teams = recorded or ("member", {})
        answer = self.client.call("PUT", f"/orgs/{org}/memberships/{login}", f"invite {login} to {org} again",
                                  org=org, body={"role": role},
                                  needs="organization Members: read and write (admin:org)").body
        state = answer.get("state") if isinstance(answer, dict) else None
        gone = []
        for slug, team_role in sorted(teams.items()):
            try:
                self.client.call("PUT", f"/orgs/{org}/teams/{slug}/memberships/{login}",
                                 f"add {login} to team {slug} of {org} again", org=org, body={"role": team_role})
            except NotFound:
                gone.append(slug)
        listed = ", ".join(f"{s} ({r})" for s, r in sorted(teams.items()) if s not in gone) or "none"
        how = ("invited again: access returns when they accept the invitation (pending until then)"
               if state == "pending" else "added back")
        said = (f"{how}, as {role}, teams: {listed}" if recorded else
                f"{how}, as member without teams: the journal holds no role and teams for this removal")
        if gone:
            said += f"; team(s) {', '.join(gone)} no longer exist"
        return Outcome(ref, True, note=said)

    def _teams_of(self, org: str) -> dict[str, dict[str, str]]:
        """login -> {team slug: team role} of its direct teams, read once per organisation: each team's
        members (GitHub lists a child team's members in its parent too, so a team whose child also lists
        the member is left out: joining the child brings the parent back)."""
        if org in self._teams:
            return self._teams[org]
        operation = f"list the teams of {org}"
        teams = [t for page in self.client.pages(f"/orgs/{org}/teams", operation,
                                                 self.settings.listing(PROVIDER, operation), org=org,
                                                 params={"per_page": PER_PAGE}) for t in page if isinstance(t, dict)]
        members: dict[str, dict[str, str]] = {}
        for team in teams:
            slug = team.get("slug")
            if not isinstance(slug, str):
                continue
            for team_role in ("member", "maintainer"):
                op = f"list the {team_role}s of team {slug} in {org}"
                for page in self.client.pages(f"/orgs/{org}/teams/{slug}/members", op,
                                              self.settings.listing(PROVIDER, op), org=org,
                                              params={"role": team_role, "per_page": PER_PAGE}):
                    for user in page:
                        if isinstance(user, dict) and isinstance(user.get("login"), str):
                            members.setdefault(slug, {})[user["login"].lower()] = team_role
        parents = {t.get("slug"): (t.get("parent") or {}).get("slug") for t in teams if isinstance(t.get("slug"), str)}
        found: dict[str, dict[str, str]] = {}
        for slug, listed in members.items():
            for login, team_role in listed.items():
                inherited = any(parents.get(child) == slug and login in members.get(child, {}) for child in members)
                if not inherited:
                    found.setdefault(login, {})[slug] = team_role
        self._teams[org] = found
        return found

    # -- describing ---------------------------------------------------------------------------

    def check(self) -> list[CheckResult]:
        try:
            me = self.whoami()
        except ProviderError as err:
            return [CheckResult("credentials", False, str(err))]
        results = [CheckResult("credentials", True, me.display)]
        for org in self.settings.orgs:
            probes = [("members (organization Members: read)", f"/orgs/{org}/members"),
                      ("audit log (Administration: read; read:audit_log)", f"/orgs/{org}/audit-log")]
            if self.settings.credential_authorizations:
                probes.append(("SAML credential authorizations (read:org, classic token)",
                               f"/orgs/{org}/credential-authorizations"))
            if self.settings.copilot_seats:
                probes.append(("Copilot seats (Copilot Business: read)", f"/orgs/{org}/copilot/billing/seats"))
            probes += [(f"protected team {slug}", f"/orgs/{org}/teams/{slug}") for slug in self.settings.protect_teams]
            for what, path in probes:
                try:
                    self.client.call("GET", path, f"probe {what}", org=org, params={"per_page": 1})
                    results.append(CheckResult(f"{org}: {what}", True))
                except ProviderError as err:
                    results.append(CheckResult(f"{org}: {what}", False, str(err)))
        results.append(CheckResult("members write (remove and re-invite)", None,
                                   "not probed: it cannot be tested without changing a membership"))
        return results

    @classmethod
    def permissions(cls, mode: str = "apply", settings: Any = None) -> str:
        return permissions_text(mode, settings)

    @classmethod
    def permission_pages(cls) -> list[tuple[str, str, str, Any]]:
        return [("Plan, check and notify", "Read only: what the plan job needs.", "plan", None),
                ("Apply and restore", "What the apply job adds: removing members and re-inviting them.", "apply",
                 None)]

    def close(self) -> None:
        self.client.close()
