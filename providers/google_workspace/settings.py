"""`[providers.google_workspace]` settings. Plain pydantic: importing this never imports Google's client."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sweeper.config import ProviderSettings


class GoogleSettings(ProviderSettings):
    customer: str = "my_customer"
    endpoint: str = "https://admin.googleapis.com"
    auth: Literal["default", "service_account", "access_token"] = "default"
    credentials_file: str | None = None
    admin_subject: str | None = None
    token_env: str = "SWEEPER_GOOGLE_TOKEN"
    exclude_org_units: list[str] = Field(default_factory=list)
    skip_admins: bool = True
    batch_size: int = Field(100, gt=0, le=1000)
    num_retries: int = Field(5, ge=0, le=20)
