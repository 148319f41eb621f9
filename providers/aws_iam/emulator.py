"""AWS emulator: moto's server on 127.0.0.1, seeded through its backend from a scenario.

The adapter reaches it only through `endpoint_url` and ordinary AWS credentials (`env()`).
A thin WSGI layer in front of moto counts requests by Action (and by account), answers
`InvalidClientTokenId` for access keys moto does not know (as AWS would), injects scripted errors,
latency and random faults (`providers.emulator.Faults`: rate_429 as Throttling, rate_503,
rate_malformed as a truncated body; `only` matches Action names), and can hold the credential report
"in progress". Behind it, IAM requests go to the emulator's own handler (`emulator_fidelity`), which
answers where AWS and moto differ; moto's classes are left as they are. Moto's state is
process-global: run one AWS emulator per process at a time.

Scenario (JSON-able dict or a path to a JSON file):

    {"accounts": {"<12 digits>": {
        "root": {"created", "password_last_used" | null},                      # optional
        "users": [{"name", "created", "tags": {}, "password": {"created", "last_used"} | null,
                   "managed_policies": ["<policy arn>"],
                   "keys": [{"created", "last_used" | null, "status": "Active" | "Inactive",
                             "caller": true}]}],                                # caller: the sweeper's key
        "roles": [{"name", "created", "last_used" | null, "path": "/", "tags": {},
                   "trust": {"AWS": "<arn>"} | {"Service": "<host>"},           # default: the account itself
                   "policies": {"<inline policy name>": {<document>}},
                   "denied": true,                                              # the sweeper's deny-all policy
                   "service": "<service host>"}]}},                             # service-linked instead
     "organization": {"management": "<id>", "members": ["<id>"], "suspended": ["<id>"],
                      "unassumable": ["<id>"]},
     "unassumable": ["<id>"]}                                                    # without an organization
"""

from __future__ import annotations

import fnmatch
import io
import json
import math
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from providers.aws_iam import emulator_fidelity
from providers.emulator import Emulator, FaultDice, Faults, Scenario, serve_wsgi, stop_wsgi

REGION = "us-east-1"
_IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
_STATUS = {"Throttling": 400, "LimitExceeded": 409, "ReportInProgress": 404, "AccessDenied": 403,
           "InvalidClientTokenId": 403, "ServiceUnavailable": 503, "NoSuchEntity": 404}
_JSON_TARGETS = "X-Amz-Target"


def when(value: str | datetime | None) -> datetime | None:
    """Parse a scenario timestamp (ISO 8601; naive means UTC)."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class _Request:
    """What the middleware needs from one WSGI request: Action, access key, params."""

    def __init__(self, environ: dict[str, Any]) -> None:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(self.body)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        self.params: dict[str, str] = {}
        if target:  # JSON protocols (Organizations): the action is in the header
            self.action = target.rpartition(".")[2]
            self.json = True
        else:
            form = parse_qs(self.body.decode("utf-8", "replace"))
            form.update(parse_qs(environ.get("QUERY_STRING", "")))
            self.params = {k: v[0] for k, v in form.items()}
            self.action = self.params.get("Action", "?")
            self.json = False
        auth = environ.get("HTTP_AUTHORIZATION", "")
        start = auth.find("Credential=")
        scope = auth[start + 11:].split(",", 1)[0].split("/") if start >= 0 else []
        self.access_key = scope[0] if scope else ""
        self.service = scope[3] if len(scope) > 3 else ""  # the signing scope: iam, sts, organizations


@dataclass(frozen=True)
class Exchange:
    """One request as the emulator saw it (query parameters, or the JSON body for JSON protocols) and
    the answer it gave."""

    service: str  # the signing scope's service: iam, sts, organizations
    action: str
    params: dict[str, str]
    json: bool
    status: int
    body: bytes
    request_body: bytes = b""


def _xml_error(code: str, message: str) -> tuple[int, bytes, str]:
    body = (f'<ErrorResponse xmlns="{_IAM_NS}"><Error><Type>Sender</Type><Code>{code}</Code>'
            f"<Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
    return _STATUS.get(code, 400), body.encode(), "text/xml"


def _json_error(code: str, message: str) -> tuple[int, bytes, str]:
    body = json.dumps({"__type": f"{code}Exception" if code == "AccessDenied" else code, "message": message})
    return _STATUS.get(code, 400), body.encode(), "application/x-amz-json-1.1"


class AwsEmulator(Emulator):
    """A moto server with counters and fault hooks, seeded when it starts. Build it with `start(scenario)`."""

    provider = "aws"

    def __init__(self, scenario: Scenario, faults: Faults | None = None) -> None:
        self.scenario = scenario
        self._dice = FaultDice(faults or Faults())
        self.counts: Counter[str] = Counter()  # by Action
        self.account_counts: Counter[tuple[str, str]] = Counter()  # by (account, Action)
        self.report_pending: float = 0  # Generate calls answered INPROGRESS first (math.inf: never)
        self.unassumable: set[str] = set()
        # AssumeRole parameters, in order: RoleArn, ExternalId, RoleSessionName, SourceIdentity, Policy
        self.assumed: list[dict[str, str]] = []
        self.caller: dict[str, str] = {}
        self.strict_auth = False
        self.report_hook: Callable[[str], str] | None = None  # rewrites each credential report's CSV
        # A list: every request and its answer is appended as an Exchange, for tests that hold moto's
        # answers and the adapter's requests to botocore's service models.
        self.exchanges: list[Exchange] | None = None
        self._injected: dict[str, list[Any]] = {}  # Action -> [error code, remaining count]
        self._lock = threading.Lock()
        self._server: Any = None

    @property
    def faults(self) -> Faults:
        return self._dice.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._dice = FaultDice(faults)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> AwsEmulator:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        _reset_moto()
        _seed(self, self.scenario)
        app = DomainDispatcherApplication(emulator_fidelity.backend_app(lambda: self.report_hook))
        self._server = serve_wsgi(self._middleware(app), "moto")
        return self

    def stop(self) -> None:
        if self._server is not None:
            stop_wsgi(self._server)
            self._server = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def config(self) -> dict[str, str]:
        """The `[providers.aws]` keys that point the adapter here, bound to the caller's account."""
        bound = {"account_id": self.caller["account"]} if self.caller.get("account") else {}
        return {"endpoint_url": self.endpoint_url, "region": REGION, **bound}

    def env(self) -> dict[str, str]:
        return self.caller_env()

    def caller_env(self) -> dict[str, str]:
        """Environment variables for the default credential chain: the scenario's caller key."""
        key = self.caller.get("access_key_id", "AKIAEMULATORDEFAULT0")
        secret = self.caller.get("secret_access_key", "emulator-secret-not-real")
        return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": REGION}

    # -- knobs for tests and benchmarks ---------------------------------------------------
    def inject(self, action: str, code: str, times: float = math.inf) -> None:
        """Answer the next `times` requests for `action` with error `code` (e.g. Throttling)."""
        with self._lock:
            self._injected[action] = [code, times]

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.account_counts.clear()

    def request_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def calls(self, account: str | None = None) -> int:
        """Requests served in total, or for one account."""
        with self._lock:
            if account is None:
                return sum(self.counts.values())
            return sum(n for (acct, _), n in self.account_counts.items() if acct == account)

    def backend(self, account: str) -> Any:
        """Moto's IAM backend of `account` (for tests that inspect state)."""
        from moto.iam.models import iam_backends

        return emulator_fidelity.stamp_passwords(iam_backends[account]["global"])

    # -- the WSGI layer ----------------------------------------------------------------------
    def _middleware(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            req = _Request(environ)
            account = _account_of(req.access_key)
            with self._lock:
                self.counts[req.action] += 1
                self.account_counts[(account or "?", req.action)] += 1
                latency = self.faults.latency_ms
            if latency:
                time.sleep(latency / 1000)
            fault = self._dice.roll("POST", req.action)
            answer = self._intercept(req, account, fault)
            if answer is None:
                if fault != "malformed":
                    if self.exchanges is None and not req.json:
                        return app(environ, start_response)
                    return self._through(app, environ, start_response, req)
                answer = self._truncated(app, environ)
            status, body, ctype = answer
            self._record(req, status, body)
            start_response(f"{status} X", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
            return [body]

        return wrapped

    def _through(self, app: Callable[..., Iterable[bytes]], environ: dict[str, Any],
                 start_response: Callable[..., Any], req: _Request) -> Iterable[bytes]:
        """moto's answer, recorded; a JSON one (Organizations) without the null members moto writes
        where AWS leaves the member out (`"NextToken": null` on a last page, which botocore's model,
        a string, does not allow)."""
        said: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            said[:] = [status, headers]
            return lambda data: None

        body = b"".join(app(environ, capture))
        status, headers = said if said else ("500 X", [])
        if req.json and status.startswith("2") and body:
            try:
                body = json.dumps(_without_nulls(json.loads(body))).encode()
            except ValueError:
                pass  # not JSON: passed on as it is
        headers = [(k, str(len(body)) if k.lower() == "content-length" else v) for k, v in headers]
        self._record(req, int(status.split(" ", 1)[0]), body)
        start_response(status, headers)
        return [body]

    def _record(self, req: _Request, status: int, body: bytes) -> None:
        exchanges = self.exchanges
        if exchanges is not None:
            with self._lock:
                exchanges.append(Exchange(req.service, req.action, dict(req.params), req.json, status, body,
                                          req.body if req.json else b""))

    def _intercept(self, req: _Request, account: str | None, fault: str | None) -> tuple[int, bytes, str] | None:
        error = _json_error if req.json else _xml_error
        if self.strict_auth and account is None:
            return error("InvalidClientTokenId", "The security token included in the request is invalid.")
        scripted = self._scripted(req.action) or {"429": "Throttling", "503": "ServiceUnavailable"}.get(fault or "")
        if scripted:
            return error(scripted, "Rate exceeded" if scripted == "Throttling" else f"injected {scripted}")
        if req.action == "AssumeRole":
            with self._lock:
                self.assumed.append({k: req.params[k] for k in _ASSUME_PARAMS if k in req.params})
            invalid = _invalid_assume(req.params)
            if invalid:
                return error("ValidationError", invalid)
            target = req.params.get("RoleArn", "").split(":")[4:5]
            if target and target[0] in self.unassumable:
                return error("AccessDenied", f"User is not authorized to perform: sts:AssumeRole on "
                                             f"resource: {req.params.get('RoleArn')}")
        denied = _session_denies(req)
        if denied:
            return error("AccessDenied", f"User is not authorized to perform: {denied} because no session "
                                         "policy allows the action")
        if req.action in ("GenerateCredentialReport", "GetCredentialReport"):
            return self._report_hold(req.action)
        return None

    @staticmethod
    def _truncated(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> tuple[int, bytes, str]:
        """moto's answer cut in half: a malformed body with a 200."""
        body = b"".join(app(environ, lambda *status_and_headers: None))
        return 200, body[: max(1, len(body) // 2)], "text/xml"

    def _scripted(self, action: str) -> str | None:
        with self._lock:
            entry = self._injected.get(action)
            if not entry or entry[1] <= 0:
                return None
            entry[1] -= 1
            code: str = entry[0]
            return code

    def _report_hold(self, action: str) -> tuple[int, bytes, str] | None:
        with self._lock:
            if self.report_pending <= 0:
                return None
            if action == "GetCredentialReport":
                return _xml_error("ReportInProgress", "Report generation in progress. Try again later.")
            self.report_pending -= 1
        body = (f'<GenerateCredentialReportResponse xmlns="{_IAM_NS}"><GenerateCredentialReportResult>'
                "<State>INPROGRESS</State><Description>Report generation in progress</Description>"
                "</GenerateCredentialReportResult><ResponseMetadata><RequestId>"
                f"{uuid.uuid4()}</RequestId></ResponseMetadata></GenerateCredentialReportResponse>")
        return 200, body.encode(), "text/xml"


def _without_nulls(value: Any) -> Any:
    """A JSON value with every null object member left out, as AWS writes its JSON answers."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


_ASSUME_PARAMS = ("RoleArn", "ExternalId", "RoleSessionName", "SourceIdentity", "Policy")
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)


def _invalid_assume(params: dict[str, str]) -> str | None:
    """What AWS refuses in an AssumeRole that moto lets through (moto only checks the name's length)."""
    for key in ("RoleSessionName", "SourceIdentity"):
        value = params.get(key)
        if value is not None and not _SESSION_NAME.match(value):
            return f"1 validation error detected: Value '{value}' at '{key[0].lower() + key[1:]}' failed to satisfy " \
                   "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* (length 2-64)"
    if params.get("SourceIdentity", "").lower().startswith("aws:"):
        return "SourceIdentity may not start with aws:"
    if len(params.get("Policy", "")) > 2048:
        return "PackedPolicyTooLarge: the session policy is larger than 2048 characters"
    return None


def _session_denies(req: _Request) -> str | None:
    """The action (service:Action) a role session's inline session policy does not allow, else None.
    Like AWS, GetCallerIdentity is always allowed; actions are matched (wildcards too), resources and
    conditions are not looked at."""
    if not req.access_key or req.action in ("GetCallerIdentity", "?") or not req.service:
        return None
    session = _session_policy(req.access_key)
    if session is None:
        return None
    wanted = f"{req.service}:{req.action}".lower()
    for statement in json.loads(session).get("Statement", []):
        actions = statement.get("Action", [])
        if statement.get("Effect") == "Allow" and any(
                fnmatch.fnmatchcase(wanted, a.lower()) for a in ([actions] if isinstance(actions, str) else actions)):
            return None
    return f"{req.service}:{req.action}"


def _session_policy(access_key: str) -> str | None:
    """The Policy an AssumeRole gave the session that `access_key` belongs to, if any."""
    from moto.sts.models import sts_backends

    for per_account in list(sts_backends.values()):
        for backend in list(per_account.values()):
            for role in list(backend.assumed_roles):
                if role.access_key_id == access_key:
                    return role.policy or None
    return None


def _account_of(access_key: str) -> str | None:
    """The account whose IAM (or STS-issued) key this is, or None if moto never issued it."""
    from moto.iam.models import iam_backends

    for account_id, backends in list(iam_backends.items()):
        backend = backends.get("aws")
        if backend is not None and access_key in backend.access_keys:
            key = backend.access_keys[access_key]
            return account_id if key.status == "Active" else None
    return None


def _reset_moto() -> None:
    from moto.core.base_backend import BackendDict
    from moto.iam.models import iam_backends
    from moto.organizations.models import organizations_backends
    from moto.sts.models import sts_backends

    all_backends: tuple[BackendDict[Any], ...] = (iam_backends, sts_backends, organizations_backends)
    for backends in all_backends:
        for per_account in list(backends.values()):
            per_account.reset()
        backends.clear()
    getattr(organizations_backends, "master_accounts", {}).clear()


def _aws_policy(backend: Any, arn: str) -> None:
    """Make an AWS managed policy (arn:aws:iam::aws:policy/NAME) exist in `backend`, as it does in every
    real account; moto loads its copies of them only when asked to (MOTO_IAM_LOAD_MANAGED_POLICIES)."""
    from moto.iam.models import AWSManagedPolicy

    prefix = "arn:aws:iam::aws:policy/"
    if arn in backend.managed_policies or not arn.startswith(prefix):
        return
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    policy = AWSManagedPolicy.from_data(arn[len(prefix):], backend.account_id, REGION, {
        "DefaultVersionId": "v1", "Path": "/", "Document": document,
        "CreateDate": "2015-02-06T18:39:46+00:00", "UpdateDate": "2015-02-06T18:39:46+00:00"})
    backend.managed_policies[policy.arn] = policy


def _seed(emu: AwsEmulator, scenario: dict[str, Any]) -> None:
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    for account_id, account in scenario.get("accounts", {}).items():
        backend = emulator_fidelity.stamp_passwords(iam_backends[account_id]["global"])
        backend.sweeper_root = account.get("root") or {}
        for spec in account.get("users", []):
            tags = [{"Key": k, "Value": v} for k, v in (spec.get("tags") or {}).items()]
            user = backend.create_user(REGION, spec["name"], tags=tags)
            user.create_date = when(spec.get("created")) or user.create_date
            for policy_arn in spec.get("managed_policies") or ():  # e.g. arn:aws:iam::aws:policy/AdministratorAccess
                _aws_policy(backend, policy_arn)
                backend.attach_user_policy(policy_arn, spec["name"])
            if spec.get("password"):
                backend.create_login_profile(spec["name"], "Not-a-real-passw0rd!")
                user.password_created = when(spec["password"].get("created")) or user.create_date
                user.password_last_used = when(spec["password"].get("last_used"))
            for kspec in spec.get("keys", []):
                key = backend.create_access_key(spec["name"], status=kspec.get("status", "Active"))
                key.create_date = when(kspec.get("created")) or key.create_date
                used = when(kspec.get("last_used"))
                key.last_used = AccessKeyLastUsed(used, "iam", REGION) if used else None
                if kspec.get("caller"):
                    emu.caller = {"account": account_id, "user": spec["name"],
                                  "access_key_id": key.access_key_id,
                                  "secret_access_key": key.secret_access_key}
                    emu.strict_auth = True
        for spec in account.get("roles", []):
            _seed_role(backend, spec)
    org = scenario.get("organization")
    if org:
        _seed_organization(org)
    # AssumeRole into a role of these accounts is denied (moto itself allows every AssumeRole)
    emu.unassumable = set((org or {}).get("unassumable", [])) | set(scenario.get("unassumable", []))


def _seed_role(backend: Any, spec: dict[str, Any]) -> None:
    """One role, its RoleLastUsed set on moto's backend (as the bench does for keys)."""
    from providers.aws_iam.roles import DENY_DOCUMENT, DENY_POLICY

    if spec.get("service"):
        role = backend.create_service_linked_role(spec["service"], "", "")
    else:
        trust = spec.get("trust") or {"AWS": f"arn:aws:iam::{backend.account_id}:root"}
        document = {"Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": trust, "Action": "sts:AssumeRole"}]}
        tags = [{"Key": k, "Value": v} for k, v in (spec.get("tags") or {}).items()]
        role = backend.create_role(spec["name"], json.dumps(document), spec.get("path", "/"), None, "", tags, "3600")
    role.create_date = when(spec.get("created")) or role.create_date
    role.last_used = when(spec.get("last_used"))
    role.last_used_region = REGION if role.last_used else None
    policies = dict(spec.get("policies") or {})
    if spec.get("denied"):
        policies[DENY_POLICY] = DENY_DOCUMENT
    for name, policy in policies.items():
        role.put_policy(name, json.dumps(policy))


def _seed_organization(org: dict[str, Any]) -> None:
    from moto.organizations.models import FakeAccount, organizations_backends

    backend = organizations_backends[org["management"]]["aws"]
    backend.create_organization(REGION, FeatureSet="ALL")
    assert backend.org is not None  # create_organization just made it
    suspended = set(org.get("suspended", []))
    for member in [*org.get("members", []), *suspended]:
        account = FakeAccount(backend.org, AccountName=f"member-{member}", Email=f"{member}@example.com")
        account.id = member
        if member in suspended:
            account.status = account.state = "SUSPENDED"
        backend.accounts.append(account)


EMULATOR = AwsEmulator


def start(scenario: Scenario | str | Path, faults: Faults | None = None) -> AwsEmulator:
    """Seed and start an emulator from a scenario dict or a JSON file path."""
    return AwsEmulator.seeded(scenario, faults)
