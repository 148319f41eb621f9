"""`[providers.okta]` settings. Plain pydantic: importing this never imports httpx or PyJWT."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from sweeper.config import ProviderSettings
from sweeper.kit import endpoints
from sweeper.kit.settings import Bounded, Reaching, Retrying

ORG_ID = re.compile(r"00o[A-Za-z0-9]{10,30}")  # what an Okta org id looks like
PAGE_MAX = 200  # GET /api/v1/users answers at most 200 users a page


class OktaSettings(ProviderSettings, Retrying, Reaching, Bounded):
    # Okta's cells: production, preview, EMEA and US government
    ENDPOINT_HOSTS = ("*.okta.com", "*.oktapreview.com", "*.okta-emea.com", "*.okta-gov.com")

    endpoint: str  # the org's URL, https://<subdomain>.okta.com (a custom domain needs allow_custom_endpoint)
    org_id: str | None = None  # 00o...: the run stops unless the org at `endpoint` has this id
    auth: Literal["api_token", "private_key"] = "api_token"
    token_env: str = "SWEEPER_OKTA_TOKEN"  # auth = api_token: the variable holding the token
    client_id: str | None = None  # auth = private_key: the service app's client id
    private_key_file: str | None = None  # auth = private_key: the PEM private key, in a file ...
    private_key_env: str | None = None  # ... or in a SWEEPER_* variable
    key_id: str | None = None  # the key's kid, when the app has several keys
    skip_admins: bool = True  # users holding an admin role are protected
    page_size: int = Field(PAGE_MAX, gt=0, le=PAGE_MAX)
    batch_size: int = Field(20, gt=0, le=100)  # users per apply() call (one request each)
    max_parallel: int = Field(2, gt=0, le=8)
    retries: int = Field(5, ge=0, le=20)  # per request, for 429, 5xx and dropped connections
    timeout_seconds: float = Field(60, gt=0, le=600)
    retry_budget_seconds: float = Field(300, gt=0, le=3600)  # all waiting of one request's retries
    max_rate_limit_wait: float = Field(120, gt=0, le=900)  # a rate-limit reset further away ends the retries

    @field_validator("endpoint")
    @classmethod
    def _org_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"{url!r}: give the org's URL alone, such as https://acme.okta.com (no path)")
        return url.rstrip("/")

    @field_validator("org_id")
    @classmethod
    def _org_id(cls, value: str | None) -> str | None:
        if value is not None and not ORG_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not an Okta org id (00o followed by letters and digits)")
        return value

    @field_validator("private_key_env")
    @classmethod
    def _key_variable(cls, name: str | None) -> str | None:
        return None if name is None else endpoints.token_env(name)

    @model_validator(mode="after")
    def _auth_needs(self) -> "OktaSettings":
        if self.auth == "private_key":
            if not self.client_id:
                raise ValueError("auth = \"private_key\" needs client_id (the service app's client id)")
            if bool(self.private_key_file) == bool(self.private_key_env):
                raise ValueError("auth = \"private_key\" needs one of private_key_file or private_key_env "
                                 "(a SWEEPER_* variable holding the PEM key)")
        return self

    @property
    def host(self) -> str:
        """The org's host name: the scope every identity is listed under."""
        return (urlsplit(self.endpoint).hostname or "").lower()
