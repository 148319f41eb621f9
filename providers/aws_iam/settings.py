"""`[providers.aws]` settings. Plain pydantic: importing this never imports boto3."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sweeper.config import ProviderSettings, StrictModel
from sweeper.kit.settings import Bounded, Reaching, Retrying

ACCOUNT_ID = r"^[0-9]{12}$"
ORG_ID = r"^o-[a-z0-9]{10,32}$"
# The role the sweeper assumes in member accounts. AWS's own OrganizationAccountAccessRole carries
# AdministratorAccess; this one is made for the sweeper (`sweeper permissions -p aws --for org-member`).
MEMBER_ROLE = "IdentitySweeper"
# no wildcards: a role name or ARN becomes a policy's Resource (sts:AssumeRole on exactly that role)
ROLE_NAME = r"^[A-Za-z0-9_+=,.@/-]+$"
ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$"
# IAM reports a role's last use (RoleLastUsed) for the trailing 400 days only: a longer role threshold
# could not be measured (a role last used 450 days ago looks exactly like one never used)
ROLE_TRACKING_DAYS = 400


class OrganizationSettings(StrictModel):
    # no wildcards: the name becomes a policy's Resource (sts:AssumeRole on arn:...:role/<role_name>)
    role_name: str = Field(MEMBER_ROLE, pattern=ROLE_NAME, max_length=512)
    external_id: str | None = None
    management_account_id: str | None = Field(None, pattern=ACCOUNT_ID)  # DescribeOrganization must agree
    org_id: str | None = Field(None, pattern=ORG_ID)  # DescribeOrganization must agree; the policies' condition
    include_accounts: list[str] = Field(default_factory=list)
    exclude_accounts: list[str] = Field(default_factory=list)
    max_parallel: int | None = Field(None, gt=0, le=64)  # the older place of [providers.aws] max_parallel


class AccountSettings(StrictModel):
    """One `[[providers.aws.accounts]]` entry: an account to sweep and the role assumed in it.
    Checks across keys (role_arn's account, duplicates) are AwsSettings', so that a refusal never
    echoes the entry (its external_id)."""

    id: str = Field(pattern=ACCOUNT_ID)
    role_name: str | None = Field(None, pattern=ROLE_NAME, max_length=512)  # default IdentitySweeper
    role_arn: str | None = Field(None, pattern=ROLE_ARN, max_length=2048)  # instead of role_name
    external_id: str | None = None

    def role(self, arn_partition: str) -> str:
        """The ARN of the role to assume: role_arn as given, else role_name in this account."""
        if self.role_arn is not None:
            return self.role_arn
        return f"arn:{arn_partition}:iam::{self.id}:role/{self.role_name or MEMBER_ROLE}"


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
    roles: bool = True  # list and judge IAM roles (from the same authorization-detail pages: no extra calls)
    role_action: Literal["report", "deny"] = "report"  # deny: attach the inline deny-all policy (reversible)
    role_inactive_days: int | None = Field(None, gt=0)  # at most ROLE_TRACKING_DAYS (checked below)
    retry_mode: Literal["standard", "adaptive"] = "standard"
    retries: int = Field(7, ge=0, le=19)  # per call, after the first try (botocore makes retries + 1 attempts)
    timeout_seconds: float = Field(60, gt=0, le=600)  # whole answer of one call (connect at most 10 s)
    # The credential report is generated asynchronously: poll with doubling waits from
    # report_poll_seconds, and give up (the account fails) after report_timeout_seconds.
    report_poll_seconds: float = Field(2.0, gt=0, le=60)
    report_timeout_seconds: float = Field(300, gt=0, le=3600)
    organization: OrganizationSettings | None = None
    accounts: list[AccountSettings] | None = None  # instead of [organization]: these accounts, one role each
    max_parallel: int | None = Field(None, gt=0, le=64)  # accounts swept at once (default 8)

    @model_validator(mode="after")
    def _role_threshold(self) -> "AwsSettings":
        days = self.role_inactive_days
        if days is not None and days > ROLE_TRACKING_DAYS:
            raise ValueError(f"role_inactive_days = {days} is longer than IAM's {ROLE_TRACKING_DAYS}-day tracking "
                             "period for role use (RoleLastUsed): a role unused that long cannot be told from one "
                             f"used {ROLE_TRACKING_DAYS + 1} days ago; use at most {ROLE_TRACKING_DAYS}")
        return self

    @model_validator(mode="after")
    def _accounts_and_organization(self) -> "AwsSettings":
        org, listed = self.organization, self.accounts
        if org is not None and listed is not None:
            raise ValueError("organization and accounts cannot be combined: [providers.aws.organization] sweeps "
                             "every member account, accounts lists the accounts to sweep; keep one of them")
        if org is not None and org.max_parallel is not None and self.max_parallel is not None:
            raise ValueError("set max_parallel or organization.max_parallel (its older place), not both")
        if listed is None:
            return self
        if not listed:
            raise ValueError("accounts is empty: list at least one account, or leave the key out")
        seen: dict[str, int] = {}
        for n, entry in enumerate(listed):
            if entry.id in seen:
                raise ValueError(f"accounts[{n}].id: account {entry.id} is listed twice (accounts[{seen[entry.id]}] "
                                 "too)")
            seen[entry.id] = n
            if entry.role_arn is not None and entry.role_name is not None:
                raise ValueError(f"accounts[{n}] (account {entry.id}): give role_arn or role_name, not both")
            if entry.role_arn is not None and entry.role_arn.split(":")[4] != entry.id:
                raise ValueError(f"accounts[{n}].role_arn {entry.role_arn} is a role in account "
                                 f"{entry.role_arn.split(':')[4]}, not in account {entry.id} (its id): the role "
                                 "assumed must be in the account it sweeps")
        return self

    @property
    def parallel(self) -> int:
        """Accounts swept at once: max_parallel, else organization.max_parallel, else 8."""
        org = self.organization.max_parallel if self.organization is not None else None
        return self.max_parallel or org or 8

    def kind_overrides(self) -> dict[str, int]:
        out = {}
        if self.access_key_inactive_days:
            out["access_key"] = self.access_key_inactive_days
        if self.console_inactive_days:
            out["console_password"] = self.console_inactive_days
        if self.role_inactive_days:
            out["role"] = self.role_inactive_days
        return out

    @property
    def denies_roles(self) -> bool:
        """Whether stale roles are acted on (the deny-all policy), not only reported."""
        return self.roles and self.role_action == "deny"

    def warnings(self) -> list[str]:
        """A custom endpoint, and an account or organization the credentials are not bound to."""
        out = super().warnings()  # the custom endpoint warning (kit.settings.Reaching)
        if self.account_id is None and self.accounts is None:  # listed accounts are each bound by their id
            out.append("account_id is not set: the sweep acts in whatever account the credentials reach; "
                       "set account_id (the 12 digits `sweeper check` shows) to bind it")
        window = [f"{key} = {days}" for key in ("inactive_days", "never_used_days")
                  if (days := getattr(self, key)) is not None and days > ROLE_TRACKING_DAYS]
        if self.roles and self.role_inactive_days is None and window:
            out.append(f"{' and '.join(window)} also judge roles, but IAM records role use for the trailing "
                       f"{ROLE_TRACKING_DAYS} days only: set role_inactive_days (at most {ROLE_TRACKING_DAYS})")
        org = self.organization
        if org is not None and org.management_account_id is None:
            out.append("organization.management_account_id is not set: the sweep acts in whatever organization "
                       "the credentials reach; set it (DescribeOrganization's MasterAccountId) to bind it")
        return out
