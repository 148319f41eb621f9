"""`[providers.github]` settings. Plain pydantic: importing this imports no HTTP client."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from sweeper.config import ProviderSettings
from sweeper.kit import endpoints
from sweeper.kit.settings import Bounded, Reaching, Retrying

# what GitHub accepts as an organisation login: letters, digits and single hyphens, 39 characters at most
ORG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
SLUG = re.compile(r"[A-Za-z0-9._-]{1,100}")


class GitHubSettings(ProviderSettings, Retrying, Reaching, Bounded):
    ENDPOINT_HOSTS = ("api.github.com",)

    orgs: list[str] = Field(min_length=1)
    # GitHub.com, or GitHub Enterprise Server's https://HOST/api/v3 (with allow_custom_endpoint = true)
    endpoint: str = "https://api.github.com"
    auth: Literal["token", "app"] = "token"
    token_env: str = "SWEEPER_GITHUB_TOKEN"
    app_id: str | None = None  # auth = app: the App's id (or its client id)
    private_key_env: str | None = None  # auth = app: a SWEEPER_* variable holding the App's PEM private key
    private_key_file: str | None = None  # auth = app: or a file holding it
    # read the enterprise's audit log (filtered to each organisation) instead of each organisation's own
    enterprise: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,100}$")
    protect_teams: list[str] = Field(default_factory=list)  # team slugs whose members are never removed
    audit_log_days: int = Field(180, gt=0, le=400)  # how far back the audit-log scan reaches
    audit_log_include: Literal["all", "web"] = "all"  # web and Git events, or web events alone
    credential_authorizations: bool = True  # read SAML SSO credential authorizations (credential_accessed_at)
    copilot_seats: bool = True  # read Copilot seats (last_activity_at)
    retries: int = Field(5, ge=0, le=20)
    timeout_seconds: float = Field(30, gt=0, le=600)
    retry_max_wait: float = Field(900, gt=0, le=3600)  # a rate-limit wait longer than this ends the call
    max_parallel: int = Field(4, gt=0, le=16)  # organisations listed at once

    @field_validator("orgs")
    @classmethod
    def _orgs(cls, orgs: list[str]) -> list[str]:
        for org in orgs:
            if not ORG.fullmatch(org):
                raise ValueError(f"{org!r} is not a GitHub organisation login")
        twice = sorted({o for o in orgs if [x.lower() for x in orgs].count(o.lower()) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} given more than once")
        return orgs

    @field_validator("protect_teams")
    @classmethod
    def _teams(cls, teams: list[str]) -> list[str]:
        for team in teams:
            if not SLUG.fullmatch(team):
                raise ValueError(f"{team!r} is not a team slug (such as \"platform-admins\")")
        return teams

    @field_validator("private_key_env")
    @classmethod
    def _key_variable(cls, name: str | None) -> str | None:
        return None if name is None else endpoints.token_env(name)

    @field_validator("endpoint")
    @classmethod
    def _base_url(cls, url: str) -> str:
        url = url.rstrip("/")
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host and not endpoints.is_loopback(host) and host != "api.github.com" and parts.path != "/api/v3":
            raise ValueError(f"{url!r}: a GitHub Enterprise Server endpoint ends in /api/v3 "
                             "(https://HOST/api/v3)")
        return url

    @model_validator(mode="after")
    def _auth_needs(self) -> "GitHubSettings":
        if self.auth == "app":
            if not self.app_id:
                raise ValueError("auth = \"app\" needs app_id (the GitHub App's id)")
            if bool(self.private_key_env) == bool(self.private_key_file):
                raise ValueError("auth = \"app\" needs exactly one of private_key_env (a SWEEPER_* variable) "
                                 "and private_key_file")
        return self
