"""`[providers.aws]` settings. Plain pydantic: importing this never imports boto3."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sweeper.config import ProviderSettings, StrictModel
from sweeper.kit.settings import Bounded, Reaching, Retrying

ACCOUNT_ID = r"^[0-9]{12}$"
ORG_ID = r"^o-[a-z0-9]{10,32}$"
# The role the sweeper assumes in member accounts. AWS's own OrganizationAccountAccessRole carries
# AdministratorAccess; this one is made for the sweeper (`sweeper permissions -p aws --for org-member`).
MEMBER_ROLE = "IdentitySweeper"


class OrganizationSettings(StrictModel):
    # no wildcards: the name becomes a policy's Resource (sts:AssumeRole on arn:...:role/<role_name>)
    role_name: str = Field(MEMBER_ROLE, pattern=r"^[A-Za-z0-9_+=,.@/-]+$", max_length=512)
    external_id: str | None = None
    management_account_id: str | None = Field(None, pattern=ACCOUNT_ID)  # DescribeOrganization must agree
    org_id: str | None = Field(None, pattern=ORG_ID)  # DescribeOrganization must agree; the policies' condition
    include_accounts: list[str] = Field(default_factory=list)
    exclude_accounts: list[str] = Field(default_factory=list)
    max_parallel: int = Field(8, gt=0, le=64)


class AwsSettings(ProviderSettings, Retrying, Reaching, Bounded):
    RETRIES_WAS = ("max_attempts", 1)  # it counted the first try too
    ENDPOINT_KEY = "endpoint_url"
    # every partition's public and FIPS hosts, and the VPC endpoint forms (vpce-...amazonaws.com)
    ENDPOINT_HOSTS = ("*.amazonaws.com", "*.amazonaws.com.cn", "*.api.aws", "*.c2s.ic.gov", "*.sc2s.sgov.gov")

    endpoint_url: str | None = None
    region: str = "us-east-1"
    profile: str | None = None
    account_id: str | None = Field(None, pattern=ACCOUNT_ID)  # sts:GetCallerIdentity must agree
    role_arn: str | None = None
    external_id: str | None = None
    access_key_inactive_days: int | None = Field(None, gt=0)
    console_inactive_days: int | None = Field(None, gt=0)
    exclude_tags: dict[str, str] = Field(default_factory=dict)  # value "*" matches any value
    owner_tags: list[str] = Field(default_factory=lambda: ["owner", "email"])  # notices go to the first address
    console_action: Literal["delete", "report"] = "delete"
    retry_mode: Literal["standard", "adaptive"] = "standard"
    retries: int = Field(7, ge=0, le=19)  # per call, after the first try (botocore makes retries + 1 attempts)
    timeout_seconds: float = Field(60, gt=0, le=600)  # whole answer of one call (connect at most 10 s)
    # The credential report is generated asynchronously: poll with doubling waits from
    # report_poll_seconds, and give up (the account fails) after report_timeout_seconds.
    report_poll_seconds: float = Field(2.0, gt=0, le=60)
    report_timeout_seconds: float = Field(300, gt=0, le=3600)
    organization: OrganizationSettings | None = None

    def kind_overrides(self) -> dict[str, int]:
        out = {}
        if self.access_key_inactive_days:
            out["access_key"] = self.access_key_inactive_days
        if self.console_inactive_days:
            out["console_password"] = self.console_inactive_days
        return out

    def warnings(self) -> list[str]:
        """A custom endpoint, and an account or organization the credentials are not bound to."""
        out = super().warnings()  # the custom endpoint warning (kit.settings.Reaching)
        if self.account_id is None:
            out.append("account_id is not set: the sweep acts in whatever account the credentials reach; "
                       "set account_id (the 12 digits `sweeper check` shows) to bind it")
        org = self.organization
        if org is not None and org.management_account_id is None:
            out.append("organization.management_account_id is not set: the sweep acts in whatever organization "
                       "the credentials reach; set it (DescribeOrganization's MasterAccountId) to bind it")
        return out
