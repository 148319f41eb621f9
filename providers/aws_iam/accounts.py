"""Where the AWS credentials come from: the caller's session, role sessions per account, the scopes.

The caller's session follows the default credential chain (or `profile`), optionally assuming
`role_arn`. With `[organization]` every ACTIVE member account is a scope; the caller's own account
uses the caller's session, every other one a role session (AssumeRole into `role_name`), made once
per account and refreshed by botocore before it expires. boto3 sessions are not thread-safe, so
sessions and clients are made under a lock; the clients themselves are shared between threads.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.session import Session as CoreSession, get_session
from botocore.utils import parse_timestamp

from providers.aws_iam.errors import BOTO_ERRORS, PROVIDER, translate
from providers.aws_iam.settings import AwsSettings
from sweeper.errors import ConfigError, ProviderError
from sweeper.kit.secrets import remember

SESSION_NAME = "identity-sweeper"


class Accounts:
    """Sessions and clients by account id, and the list of accounts to sweep."""

    def __init__(self, settings: AwsSettings) -> None:
        self.settings = settings
        org = settings.organization
        # total_max_attempts counts the first try (as max_attempts does in ~/.aws/config)
        retries = {"mode": settings.retry_mode, "total_max_attempts": settings.retries + 1}
        self.config = Config(retries=retries,
                             max_pool_connections=max(10, 2 * (org.max_parallel if org else 8)),
                             connect_timeout=min(10, settings.timeout_seconds),
                             read_timeout=settings.timeout_seconds, user_agent_extra="identity-sweeper")
        self._lock = threading.Lock()
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple[str, str], Any] = {}
        self._caller: dict[str, str] | None = None
        self._base: boto3.Session | None = None
        self._key_id: str | None = None

    # -- the caller ------------------------------------------------------------------------
    def base(self) -> boto3.Session:
        """The caller's session (default chain or profile, then role_arn if set)."""
        with self._lock:
            if self._base is None:
                try:
                    core = _fast_dates(get_session())
                    session = boto3.Session(botocore_session=core, profile_name=self.settings.profile,
                                            region_name=self.settings.region)
                except BOTO_ERRORS as err:
                    raise translate(err, "load credentials") from err
                if self.settings.role_arn:
                    session = self._assumed(session, self.settings.role_arn, self.settings.external_id)
                self._base = session
            return self._base

    def caller(self) -> dict[str, str]:
        """GetCallerIdentity of the caller's session: Account, Arn, UserId."""
        if self._caller is None:
            sts = self._client_for(self.base(), "sts")
            try:
                answer = sts.get_caller_identity()
            except BOTO_ERRORS as err:
                raise translate(err, "who am I", "sts:GetCallerIdentity") from err
            self._caller = {k: answer[k] for k in ("Account", "Arn", "UserId")}
        return self._caller

    def caller_key_id(self) -> str | None:
        """The access key id the caller signs with (None when there are no credentials)."""
        if self._key_id is None:
            base = self.base()
            with self._lock:
                creds = base.get_credentials()
                self._key_id = creds.access_key if creds is not None else ""
        return self._key_id or None

    def caller_user(self, scope: str) -> str | None:
        """The IAM user name the sweeper runs as, if it is an IAM user of account `scope`."""
        caller = self.caller()
        arn = caller["Arn"]
        if caller["Account"] != scope or ":user/" not in arn:
            return None
        return arn.rsplit("/", 1)[1]

    # -- accounts ----------------------------------------------------------------------------
    def scopes(self) -> list[str]:
        """Account ids to sweep; with [organization], every ACTIVE member after include/exclude."""
        home = self.caller()["Account"]
        org = self.settings.organization
        if org is None:
            return [home]
        client = self._client_for(self.base(), "organizations")
        active: list[str] = []
        try:
            for page in client.get_paginator("list_accounts").paginate():
                for account in page.get("Accounts", []):
                    state = account.get("State") or account.get("Status")
                    if state == "ACTIVE":
                        active.append(account["Id"])
        except BOTO_ERRORS as err:
            raise translate(err, "list organization accounts", "organizations:ListAccounts") from err
        chosen = [a for a in active if not org.include_accounts or a in org.include_accounts]
        # an included account that is not an ACTIVE member is still a scope: it fails loudly
        chosen += [a for a in org.include_accounts if a not in active]
        return sorted({a for a in chosen if a not in org.exclude_accounts})

    def client(self, scope: str, service: str) -> Any:
        """A client for `service` in account `scope`. Raises ProviderError if it cannot be reached."""
        with self._lock:
            cached = self._clients.get((scope, service))
        if cached is not None:
            return cached
        session = self._session(scope)
        with self._lock:
            return self._clients.setdefault((scope, service), self._make_client(session, service))

    def _session(self, scope: str) -> boto3.Session:
        if scope == self.caller()["Account"]:
            return self.base()
        org = self.settings.organization
        if org is None:
            raise ProviderError(PROVIDER, f"account {scope}", "not the configured account "
                                f"{self.caller()['Account']} and no [organization] is set")
        with self._lock:
            if scope in self._sessions:
                return self._sessions[scope]
        role = f"arn:{self._partition()}:iam::{scope}:role/{org.role_name}"
        session = self._assumed(self.base(), role, org.external_id)
        with self._lock:
            return self._sessions.setdefault(scope, session)

    def _partition(self) -> str:
        return self.caller()["Arn"].split(":")[1]

    def _assumed(self, source: boto3.Session, role_arn: str, external_id: str | None) -> boto3.Session:
        """A session in `role_arn`, refreshed by botocore before its credentials expire."""
        if not role_arn.startswith("arn:") or ":role/" not in role_arn:
            raise ConfigError(f"not a role ARN: {role_arn!r}", key="providers.aws.role_arn")
        sts = self._make_client(source, "sts")
        kwargs = {"RoleArn": role_arn, "RoleSessionName": SESSION_NAME}
        if external_id:
            kwargs["ExternalId"] = external_id

        def fetch() -> dict[str, str]:
            try:
                creds = sts.assume_role(**kwargs)["Credentials"]
            except BOTO_ERRORS as err:
                raise translate(err, f"assume role {role_arn}", "sts:AssumeRole") from err
            remember(creds["SecretAccessKey"], creds["SessionToken"])
            expiry = creds["Expiration"]
            if isinstance(expiry, datetime):
                expiry = expiry.astimezone(timezone.utc).isoformat()
            return {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
                    "token": creds["SessionToken"], "expiry_time": expiry}

        core = _fast_dates(get_session())
        # one copy of botocore's service models for every account, not one each (0.13 s, 10 MB per account)
        core.register_component("data_loader", source._session.get_component("data_loader"))
        core._credentials = RefreshableCredentials.create_from_metadata(
            metadata=fetch(), refresh_using=fetch, method="sts-assume-role")
        return boto3.Session(botocore_session=core, region_name=self.settings.region)

    def _make_client(self, session: boto3.Session, service: str) -> Any:
        creds = session.get_credentials()
        if creds is not None:
            frozen = creds.get_frozen_credentials()
            remember(frozen.secret_key, frozen.token)
        return session.client(service, endpoint_url=self.settings.endpoint_url,
                              region_name=self.settings.region, config=self.config)

    def _client_for(self, session: boto3.Session, service: str) -> Any:
        with self._lock:
            return self._make_client(session, service)

    def forget(self) -> None:
        with self._lock:
            self._clients.clear()
            self._sessions.clear()


def _iso(value: str) -> datetime:
    """IAM timestamps are ISO 8601: read them ~30x faster than botocore's dateutil fallback.

    IAM documents its timestamps as UTC, so one written without a zone is read as UTC here, where
    the wire format is read; everything downstream (sweeper.kit.times) refuses naive times."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        parsed = parse_timestamp(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _fast_dates(core: CoreSession) -> CoreSession:
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_iso)
    return core
