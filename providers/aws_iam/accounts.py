"""Where the AWS credentials come from: the caller's session, role sessions per account, the scopes.

The caller's session follows the default credential chain (or `profile`), optionally assuming
`role_arn`. With `[organization]` every ACTIVE member account is a scope; the caller's own account
uses the caller's session, every other one a role session (AssumeRole into `role_name`), made once
per account and refreshed by botocore before it expires. With `accounts` the listed accounts are
the scopes, each reached through its own role (the caller's own account too, when it is listed).
boto3 sessions are not thread-safe, so sessions and clients are made under a lock; the clients
themselves are shared between threads. Nothing is shared between two instances.

Binding: `bind()` compares sts:GetCallerIdentity's account with `account_id` and, with
[organization], DescribeOrganization with `management_account_id` / `org_id`; a mismatch is a
`BindingError` before any account is listed. A listed account's role session is bound when it is
made: its sts:GetCallerIdentity must be that account, else that account (only) fails with a
`BindingError` naming both. Every AssumeRole passes a session policy limited to the
sweeper's actions in this adapter's mode, and names the session after the run (`set_run_id`), as
RoleSessionName and SourceIdentity, so CloudTrail ties every call to the run that made it.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timezone
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.session import Session as CoreSession, get_session
from botocore.utils import parse_timestamp

from providers.aws_iam import policy, transport
from providers.aws_iam.errors import BOTO_ERRORS, PROVIDER, translate
from providers.aws_iam.settings import AwsSettings
from sweeper.errors import BindingError, ConfigError, ProviderError
from sweeper.kit.bounds import MB
from sweeper.kit.secrets import remember

SESSION_NAME = policy.SESSION_PREFIX
_SESSION_CHARS = re.compile(r"[^\w+=,.@-]", re.ASCII)  # what RoleSessionName and SourceIdentity allow


def session_name(label: str) -> str:
    """RoleSessionName and SourceIdentity: identity-sweeper-<run id>, 2-64 of [\\w+=,.@-]."""
    return f"{SESSION_NAME}-{_SESSION_CHARS.sub('-', label)}"[:64]


class Accounts:
    """Sessions and clients by account id, and the list of accounts to sweep."""

    def __init__(self, settings: AwsSettings, *, write: bool = False) -> None:
        self.settings = settings
        self.write = write  # role sessions may write only when the adapter was opened to write
        self.run_id: str | None = None
        self._started = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())  # names sessions until a run id comes
        # total_max_attempts counts the first try (as max_attempts does in ~/.aws/config)
        retries = {"mode": settings.retry_mode, "total_max_attempts": settings.retries + 1}
        self.config = Config(retries=retries,
                             max_pool_connections=max(10, 2 * settings.parallel),
                             connect_timeout=min(10, settings.timeout_seconds),
                             read_timeout=settings.timeout_seconds, user_agent_extra="identity-sweeper")
        self._lock = threading.Lock()
        self._sessions: dict[str, boto3.Session] = {}
        self._clients: dict[tuple[str, str], Any] = {}
        self._caller: dict[str, str] | None = None
        self._base: boto3.Session | None = None
        self._source: boto3.Session | None = None  # the session role_arn is assumed from
        self._origin: str | None = None  # its sts:GetCallerIdentity ARN
        self._key_id: str | None = None
        self._bound: BindingError | bool = False  # True once checked; the error when it failed
        self._organization: dict[str, str] | None = None
        self._listed = {entry.id: entry for entry in settings.accounts or ()}
        self._foreign: dict[str, BindingError] = {}  # listed accounts whose role session is in another account
        remember(settings.external_id, *(entry.external_id for entry in self._listed.values()))

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
                    self._source = session
                    session = self._assumed(session, self.settings.role_arn, self.settings.external_id,
                                            member=False)
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

    def origin(self) -> str | None:
        """With role_arn, the ARN of the identity the sweeper starts as, before assuming it (one
        sts:GetCallerIdentity, remembered); None without role_arn."""
        if not self.settings.role_arn:
            return None
        if self._origin is None:
            self.base()
            assert self._source is not None  # base() keeps it whenever role_arn is set
            sts = self._client_for(self._source, "sts")
            try:
                self._origin = str(sts.get_caller_identity()["Arn"])
            except BOTO_ERRORS as err:
                raise translate(err, "who am I before role_arn", "sts:GetCallerIdentity") from err
        return self._origin

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

    def set_run_id(self, run_id: str) -> None:
        """Name role sessions after the run. Sessions made before are dropped: a chained session must
        carry the same SourceIdentity as the one it was assumed from."""
        with self._lock:
            if run_id == self.run_id:
                return
            self.run_id = run_id
            if self.settings.role_arn and self._base is not None:
                self._base, self._caller, self._key_id = None, None, None
                self._clients.clear()
            members = set(self._sessions)
            self._sessions.clear()
            self._clients = {k: v for k, v in self._clients.items() if k[0] not in members}

    # -- binding ------------------------------------------------------------------------------
    def organization(self) -> dict[str, str]:
        """DescribeOrganization of the caller's organization: Id, MasterAccountId."""
        if self._organization is None:
            client = self._client_for(self.base(), "organizations")
            try:
                org = client.describe_organization()["Organization"]
            except BOTO_ERRORS as err:
                raise translate(err, "describe the organization", "organizations:DescribeOrganization") from err
            self._organization = {k: str(org.get(k, "")) for k in ("Id", "MasterAccountId")}
        return self._organization

    def bind(self) -> None:
        """Raise BindingError when the credentials reach another account or organization than the
        configured one; checked once (sts:GetCallerIdentity, DescribeOrganization), remembered."""
        if isinstance(self._bound, BindingError):
            raise self._bound
        if self._bound:
            return
        try:
            self._check_binding()
        except BindingError as err:
            self._bound = err
            raise
        self._bound = True

    def _check_binding(self) -> None:
        settings, org = self.settings, self.settings.organization
        actual = self.caller()["Account"]
        how = (f"sts:GetCallerIdentity of the session in {settings.role_arn}" if settings.role_arn
               else "sts:GetCallerIdentity")
        if settings.account_id is not None and actual != settings.account_id:
            raise BindingError(PROVIDER, "account_id", settings.account_id, actual, how=how)
        if org is None or (org.management_account_id is None and org.org_id is None):
            return
        found = self.organization()
        if org.management_account_id is not None and found["MasterAccountId"] != org.management_account_id:
            raise BindingError(PROVIDER, "organization.management_account_id", org.management_account_id,
                               found["MasterAccountId"], how="organizations:DescribeOrganization's MasterAccountId")
        if org.org_id is not None and found["Id"] != org.org_id:
            raise BindingError(PROVIDER, "organization.org_id", org.org_id, found["Id"],
                               how="organizations:DescribeOrganization's Id")

    # -- accounts ----------------------------------------------------------------------------
    def scopes(self) -> list[str]:
        """Account ids to sweep: the listed accounts (`accounts`, in their order); with [organization],
        every ACTIVE member after include/exclude. The binding is checked first: a mismatch raises
        BindingError before anything is listed."""
        self.bind()
        if self._listed:
            return list(self._listed)
        home = self.caller()["Account"]
        org = self.settings.organization
        if org is None:
            return [home]
        active = self._active_accounts()
        chosen = [a for a in active if not org.include_accounts or a in org.include_accounts]
        # an included account that is not an ACTIVE member is still a scope: it fails loudly
        chosen += [a for a in org.include_accounts if a not in active]
        return sorted({a for a in chosen if a not in org.exclude_accounts})

    def _active_accounts(self) -> list[str]:
        """ListAccounts, paged by NextToken under the listing bounds (a token seen twice fails)."""
        operation = "list organization accounts"
        client = self._client_for(self.base(), "organizations")
        listing = self.settings.listing(PROVIDER, operation)
        active: list[str] = []
        kwargs: dict[str, Any] = {}
        with transport.within(listing):
            while True:
                try:
                    page = client.list_accounts(**kwargs)
                except BOTO_ERRORS as err:
                    raise translate(err, operation, "organizations:ListAccounts") from err
                for account in page.get("Accounts", []):
                    state = account.get("State") or account.get("Status")
                    if state == "ACTIVE":
                        active.append(account["Id"])
                token = page.get("NextToken")
                if not token:
                    return active
                listing.page(token)
                kwargs["NextToken"] = token

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
        self.bind()  # no account is reached with credentials bound elsewhere
        if self._listed:
            return self._listed_session(scope)
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
        session = self._assumed(self.base(), role, org.external_id, member=True)
        with self._lock:
            return self._sessions.setdefault(scope, session)

    def _listed_session(self, scope: str) -> boto3.Session:
        """The role session of listed account `scope`, bound to it: its sts:GetCallerIdentity must be
        that account. A role that cannot be assumed, or is in another account, fails this account only."""
        entry = self._listed.get(scope)
        if entry is None:
            raise ProviderError(PROVIDER, f"account {scope}", f"not one of the {len(self._listed)} accounts "
                                "listed in providers.aws.accounts")
        with self._lock:
            if scope in self._foreign:
                raise self._foreign[scope]
            if scope in self._sessions:
                return self._sessions[scope]
        role = entry.role(self._partition())
        session = self._assumed(self.base(), role, entry.external_id, member=True,
                                operation=f"account {scope}: assume role {role}")
        sts = self._client_for(session, "sts")
        try:
            actual = str(sts.get_caller_identity()["Account"])
        except BOTO_ERRORS as err:
            raise translate(err, f"account {scope}: who am I in role {role}", "sts:GetCallerIdentity") from err
        with self._lock:
            if actual != scope:
                self._foreign[scope] = BindingError(PROVIDER, "account", scope, actual,
                                                    how=f"sts:GetCallerIdentity of the session in {role}")
                raise self._foreign[scope]
            self._clients.setdefault((scope, "sts"), sts)
            return self._sessions.setdefault(scope, session)

    def _partition(self) -> str:
        return self.caller()["Arn"].split(":")[1]

    def _assumed(self, source: boto3.Session, role_arn: str, external_id: str | None, *,
                 member: bool, operation: str | None = None) -> boto3.Session:
        """A session in `role_arn`, refreshed by botocore before its credentials expire. Its session
        policy allows only the sweeper's actions in this adapter's mode (`member`: a member account's).
        `operation` names what failed when the role cannot be assumed (default: assume role ARN)."""
        if not role_arn.startswith("arn:") or ":role/" not in role_arn:
            raise ConfigError(f"not a role ARN: {role_arn!r}", key="providers.aws.role_arn")
        sts = self._make_client(source, "sts")
        try:
            session_policy = policy.session_policy(self.write, self.settings, role_arn.split(":")[1], member=member)
        except ValueError as err:
            key = "providers.aws.accounts" if self._listed else "providers.aws.organization.role_name"
            raise ConfigError(str(err), key=key) from None

        def request() -> dict[str, str]:
            name = session_name(self.run_id or self._started)
            kwargs = {"RoleArn": role_arn, "RoleSessionName": name, "SourceIdentity": name,
                      "Policy": session_policy}
            if external_id:
                kwargs["ExternalId"] = external_id
            return kwargs

        def fetch() -> dict[str, str]:
            try:
                creds = sts.assume_role(**request())["Credentials"]
            except BOTO_ERRORS as err:
                raise translate(err, operation or f"assume role {role_arn}", "sts:AssumeRole") from err
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
        client = session.client(service, endpoint_url=self.settings.endpoint_url,
                                region_name=self.settings.region, config=self.config)
        return transport.bound(client, timeout_seconds=self.settings.timeout_seconds,
                               max_bytes=int(self.settings.max_response_mb * MB))

    def _client_for(self, session: boto3.Session, service: str) -> Any:
        with self._lock:
            return self._make_client(session, service)

    def forget(self) -> None:
        with self._lock:
            self._clients.clear()
            self._sessions.clear()
            self._foreign.clear()


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
