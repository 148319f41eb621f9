"""`[providers.google_workspace]` settings. Plain pydantic: importing this never imports Google's client."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sweeper.config import ProviderSettings
from sweeper.kit.settings import Bounded, Reaching, Retrying

CUSTOMER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what a Workspace customer id looks like (C0xxxxxxx)
Source = Literal["login", "sso", "imap", "pop", "webmail", "drive"]  # usage-report signals (usage.SIGNALS)
SOURCES: tuple[Source, ...] = ("login", "sso", "imap", "pop", "webmail", "drive")


class GoogleSettings(ProviderSettings, Retrying, Reaching, Bounded):
    RETRIES_WAS = ("num_retries", 0)
    ENDPOINT_HOSTS = ("admin.googleapis.com",)

    customer: str = "my_customer"
    endpoint: str = "https://admin.googleapis.com"
    auth: Literal["default", "service_account", "access_token"] = "default"
    credentials_file: str | None = None
    admin_subject: str | None = None
    token_env: str = "SWEEPER_GOOGLE_TOKEN"
    exclude_org_units: list[str] = Field(default_factory=list)
    skip_admins: bool = True
    batch_size: int = Field(100, gt=0, le=1000)
    retries: int = Field(5, ge=0, le=20)  # googleapiclient's own retries, and our batch-item rounds
    retry_budget_seconds: float = Field(120, gt=0, le=3600)  # total backoff we wait on one call or batch
    timeout_seconds: float = Field(60, gt=0, le=600)  # per HTTP request
    max_parallel: int = Field(4, gt=0, le=16)  # apply() calls at once; Directory quotas are per user
    # Activity beyond lastLoginTime, from the Reports API's user usage report: [] reads no report.
    activity_sources: list[Source] = Field(default_factory=lambda: list(SOURCES))
    activity_lookback_days: int = Field(0, ge=0, le=450)  # > 0: also reports 30 days apart, back this far

    @field_validator("customer")
    @classmethod
    def _customer(cls, customer: str) -> str:
        if customer != "my_customer" and not CUSTOMER_ID.fullmatch(customer):
            raise ValueError(f"{customer!r} is neither my_customer nor a customer id (such as C0xxxxxxx)")
        return customer

    @field_validator("exclude_org_units")
    @classmethod
    def _paths(cls, units: list[str]) -> list[str]:
        for unit in units:
            if not unit.startswith("/"):
                raise ValueError(f"org unit paths start with '/' (got {unit!r})")
        return units

    @field_validator("activity_sources")
    @classmethod
    def _sources(cls, sources: list[str]) -> list[str]:
        twice = sorted({s for s in sources if sources.count(s) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} given more than once")
        return sources

    @model_validator(mode="after")
    def _auth_needs(self) -> "GoogleSettings":
        if self.auth == "service_account" and not self.credentials_file:
            raise ValueError("auth = \"service_account\" needs credentials_file (a service account key file)")
        return self
