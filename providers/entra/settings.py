"""`[providers.entra]` settings. Plain pydantic: importing this never imports the Graph SDK."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from sweeper.config import ProviderSettings
from sweeper.kit import endpoints
from sweeper.kit.settings import Bounded, Reaching, Retrying


class EntraSettings(ProviderSettings, Retrying, Reaching, Bounded):
    RETRIES_WAS = ("max_retries", 0)
    # Graph in the global cloud, US Government L4 and L5 (DoD), and China (21Vianet)
    ENDPOINT_HOSTS = ("graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us",
                      "microsoftgraph.chinacloudapi.cn")

    tenant_id: str | None = None
    endpoint: str = "https://graph.microsoft.com/v1.0"
    auth: Literal["default", "client_secret", "certificate", "workload_identity", "access_token"] = "default"
    token_env: str = "SWEEPER_ENTRA_TOKEN"
    client_id: str | None = None
    # auth = client_secret: the variable holding the secret; one per tenant when each has its own app
    client_secret_env: str = "AZURE_CLIENT_SECRET"
    certificate_path: str | None = None
    # auth = certificate: the variable holding the key's password; one per tenant when each has its own key
    certificate_password_env: str = "AZURE_CLIENT_CERTIFICATE_PASSWORD"
    guest_inactive_days: int | None = Field(None, gt=0)
    exclude_groups: list[str] = Field(default_factory=list)
    skip_role_holders: bool = True
    skip_synced: bool = True
    revoke_sessions: bool = False
    # machine identities (#17): listed and reported by default; acting on service principals is opt-in
    service_principals: bool = True
    service_principal_action: Literal["report", "disable"] = "report"
    service_principal_inactive_days: int | None = Field(None, gt=0)
    app_credentials: bool = True  # client secrets and certificates of applications: always report only
    app_credential_inactive_days: int | None = Field(None, gt=0)
    batch_size: int = Field(20, gt=0, le=20)
    retries: int = Field(5, ge=0, le=10)  # per request and $batch item, for 429/503/504 (the SDK allows 10)
    timeout_seconds: float = Field(100, gt=0, le=600)  # per HTTP request (connect at most 30 s)
    retry_max_wait: float = Field(60, gt=0, le=179)  # seconds; a longer Retry-After ends the retries

    @field_validator("client_secret_env", "certificate_password_env")
    @classmethod
    def _secret_variable(cls, name: str, info: ValidationInfo) -> str:
        # Azure's own variable (the default), or one of ours (SWEEPER_*): no other variable of the environment
        azure = cls.model_fields[str(info.field_name)].default
        return name if name == azure else endpoints.token_env(name)

    def warnings(self) -> list[str]:
        """The custom endpoint's warning, and that the sweep is not bound to a tenant when tenant_id is unset."""
        out = super().warnings()  # the custom endpoint warning (kit.settings.Reaching)
        if not self.tenant_id:
            from providers.entra.binding import HOW_TO_BIND

            out.append("tenant_id is not set, so the sweep is not bound to a tenant: it acts in whichever "
                       f"tenant the credentials reach; {HOW_TO_BIND}")
        return out

    def kind_overrides(self) -> dict[str, int]:
        """`guest`, `service_principal` and `app_credential` thresholds, where set."""
        found = {"guest": self.guest_inactive_days, "service_principal": self.service_principal_inactive_days,
                 "app_credential": self.app_credential_inactive_days}
        return {kind: days for kind, days in found.items() if days}
