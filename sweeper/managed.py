"""Identities managed as code (#26): found from tags or a Terraform state, and left to that code.

A key that Terraform declares is re-enabled by the next `terraform apply` after the sweeper disables
it, and the two loop until the code changes. `ManagedIndex` says which credentials are declared that
way, at which resource address, and what to change in the code instead of disabling them.

It reads `terraform show -json` output (Terraform's JSON output format, format_version 0.x or 1.x)
once and keeps only what it matches on: ids, names, addresses, a key's status and creation time.
Secrets in the state (a key's `secret`, a login profile's `password`, ...) are never copied out of
the parsed document, which is dropped when loading ends, and no error message quotes a value.

What a resource manages is what an apply would put back, nothing more:
- `aws_iam_access_key`: that key, by AccessKeyId (`id`); a key whose code already says
  `status = "Inactive"` is not managed against a disable (the disable agrees with the code).
- `aws_iam_user_login_profile`: the user's console password (`user`).
- `aws_iam_user`: the user itself (`unique_id`, `arn`, `name`; the name only in the account of
  its ARN) and an account-level credential (IAM users list none today); not its keys or password.
  An apply re-creates neither a key nor a login profile it does not declare, and `force_destroy`
  only lets `terraform destroy` delete them too, so a key made by hand on a Terraform user is
  judged like any other.
- `azuread_user` (`object_id`, `id`, `user_principal_name`) and `googleworkspace_user` (`id`,
  `primary_email`): the account.
Data sources (`mode = "data"`) manage nothing. Names and emails match case-insensitively, ids
exactly. A tag match (`[managed_as_code] tags`) manages the identity and every credential it has.
"""

from __future__ import annotations

import gc
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal

from pydantic import Field, field_validator

from sweeper.config import StrictModel
from sweeper.errors import ConfigError
from sweeper.kit.times import Unreadable, parse_utc
from sweeper.model import Credential, CredentialKind, Identity

TERRAFORM = "Terraform"
KNOWN_MAJORS = ("0", "1")  # 0.x: Terraform 0.12 to 1.0; "1.0" since 1.1. A minor version only adds fields.
REVERTED = "disabling would be reverted by the next apply"
_KEY_ID = re.compile(r"[A-Z0-9]{16,128}")  # an AccessKeyId; anything else is a listing's placeholder
_TRUE_WORDS = frozenset({"true", "yes", "1", "y", "on"})


class ManagedSettings(StrictModel):
    """`[managed_as_code]`: how identities managed as code are found, and what is done with them."""

    # tag name -> value meaning "managed as code"; names and values match case-insensitively, "*" any value
    tags: dict[str, str] = Field(default_factory=dict)
    # `terraform show -json` outputs, relative to the config file's folder
    terraform_state: list[str] = Field(default_factory=list)
    # report: managed identities are reported, never acted on; act: judged like the rest
    action: Literal["report", "act"] = "report"

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not k.strip() or not v.strip() for k, v in value.items()):
            raise ValueError('tag names and values must not be empty (use "*" for any value)')
        return value

    @field_validator("terraform_state")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        if any(not p.strip() for p in value):
            raise ValueError("a terraform_state path is empty")
        return value


@dataclass(frozen=True, slots=True)
class ManagedBy:
    """Why a credential is left to code: the tool, where it is declared, and the change to make there.

    `address` is the resource address (`module.iam.aws_iam_access_key.ci["a"]`), None for a tag.
    `source` is `state <path as configured>` or `tag <name>=<value>`."""

    tool: str
    address: str | None
    source: str
    fix: str

    def reason(self) -> str:
        where = f"at {self.address}" if self.address else f"({self.source})"
        return f"managed by {self.tool} {where}; {REVERTED}; {self.fix}"


@dataclass(frozen=True, slots=True)
class _Resource:
    """What is kept of one resource: never a value that was not matched on."""

    type: str
    address: str
    source: str
    account: str | None = None  # AWS: the account it lives in, when the state says (a user's ARN)
    user: str | None = None  # AWS key or login profile: the user's name, folded
    created: datetime | None = None  # aws_iam_access_key: create_date
    inactive: bool = False  # aws_iam_access_key: the code says status = "Inactive"


_FIX = {
    "aws_iam_access_key": 'set status = "Inactive" on {0} (or remove the resource) and apply',
    "aws_iam_user_login_profile": "remove {0} from the code and apply",
    "aws_iam_user": "remove the resources of its credentials, or {0} itself, and apply",
    "azuread_user": "set account_enabled = false on {0} and apply",
    "googleworkspace_user": "set suspended = true on {0} and apply",
}


class _StateError(Exception):
    """A problem at one place in a state file; `where` is its JSON path (None: the whole file)."""

    def __init__(self, message: str, where: str | None = None) -> None:
        super().__init__(message)
        self.where = where


def _kind(value: Any) -> str:
    """A JSON value's type in JSON's words, for messages that must never show the value."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _text(values: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """A string attribute; raises _StateError with `where` the attribute's name (its path in `values`)."""
    value = values.get(name)
    if type(value) is str and value:
        return value
    if value is None or value == "":
        if required:
            raise _StateError(f"{name} is missing or empty", name)
        return None
    raise _StateError(f"{name} is {_kind(value)}, expected a string", name)


def _arn_account(arn: str | None) -> str | None:
    parts = arn.split(":") if arn else []
    return parts[4] if len(parts) > 5 and parts[4] else None


Key = tuple[str, str]  # (what is matched, the value matched)
Reader = Callable[[dict[str, Any], str, str], tuple[_Resource, list[Key]]]  # (values, address, source)


def _aws_user(v: dict[str, Any], address: str, source: str) -> tuple[_Resource, list[Key]]:
    name = (_text(v, "name", required=True) or "").casefold()
    uid, arn = _text(v, "unique_id"), _text(v, "arn")
    keys = [("aws_user_name", name)] + [("aws_user_id", x) for x in (uid, arn) if x]
    return _Resource("aws_iam_user", address, source, _arn_account(arn), name), keys


def _aws_key(v: dict[str, Any], address: str, source: str) -> tuple[_Resource, list[Key]]:
    key_id = _text(v, "id", required=True) or ""
    user = (_text(v, "user", required=True) or "").casefold()
    status, raw = _text(v, "status"), _text(v, "create_date")
    try:
        created = parse_utc(raw, (None,))
    except Unreadable:
        raise _StateError("create_date is not an RFC 3339 time", "create_date") from None
    inactive = (status or "").casefold() == "inactive"
    return (_Resource("aws_iam_access_key", address, source, None, user, created, inactive),
            [("aws_key", key_id), ("aws_key_user", user)])


def _aws_login_profile(v: dict[str, Any], address: str, source: str) -> tuple[_Resource, list[Key]]:
    user = (_text(v, "user", required=True) or "").casefold()
    return _Resource("aws_iam_user_login_profile", address, source, None, user), [("aws_profile", user)]


def _azuread_user(v: dict[str, Any], address: str, source: str) -> tuple[_Resource, list[Key]]:
    # `id` is the object id, or `/users/<object id>` in newer provider versions: the same user
    ids = {x.removeprefix("/users/") for x in (_text(v, "object_id"), _text(v, "id")) if x}
    upn = _text(v, "user_principal_name")
    if not ids and not upn:
        raise _StateError("has neither object_id, id nor user_principal_name")
    keys = [("entra_id", x) for x in sorted(ids)] + ([("entra_upn", upn.casefold())] if upn else [])
    return _Resource("azuread_user", address, source), keys


def _google_user(v: dict[str, Any], address: str, source: str) -> tuple[_Resource, list[Key]]:
    uid, email = _text(v, "id"), _text(v, "primary_email")
    if not uid and not email:
        raise _StateError("has neither id nor primary_email")
    keys = ([("google_id", uid)] if uid else []) + ([("google_email", email.casefold())] if email else [])
    return _Resource("googleworkspace_user", address, source), keys


_READERS: dict[str, Reader] = {
    "aws_iam_user": _aws_user,
    "aws_iam_access_key": _aws_key,
    "aws_iam_user_login_profile": _aws_login_profile,
    "azuread_user": _azuread_user,
    "googleworkspace_user": _google_user,
}


def _check_format(doc: Any) -> None:
    if not isinstance(doc, dict):
        raise _StateError(f"the top level is {_kind(doc)}, expected an object (the output of terraform show -json)")
    version = doc.get("format_version")
    if version is None:
        if "lineage" in doc and "resources" in doc:
            raise _StateError("this is a raw state file (terraform.tfstate or terraform state pull), not the "
                              "output of terraform show -json: give `terraform show -json > FILE`")
        raise _StateError("has no format_version: is it the output of terraform show -json?", "format_version")
    if not isinstance(version, str):
        raise _StateError(f"format_version is {_kind(version)}, expected a string", "format_version")
    if version.partition(".")[0] not in KNOWN_MAJORS or not re.fullmatch(r"\d+\.\d+", version):
        raise _StateError(f"format_version {version[:20]!r} is not one this sweeper reads "
                          f"({', '.join(m + '.x' for m in KNOWN_MAJORS)})", "format_version")
    if "planned_values" in doc or "resource_changes" in doc:
        raise _StateError("this is a plan (terraform show -json PLANFILE), not a state: "
                          "run terraform show -json without a plan file")


def _listed(node: dict[str, Any], name: str, where: str) -> list[Any]:
    value = node.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _StateError(f"{name} is {_kind(value)}, expected a list", f"{where}.{name}")
    return value


def _modules(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """Every module of the state, root first, with its JSON path."""
    values = doc.get("values")
    if values is None:
        return  # terraform show -json of an empty state: {"format_version": "1.0"}
    if not isinstance(values, dict):
        raise _StateError(f"values is {_kind(values)}, expected an object", "values")
    root = values.get("root_module")
    stack = [] if root is None else [(root, "values.root_module")]
    while stack:
        module, where = stack.pop()
        if not isinstance(module, dict):
            raise _StateError(f"a module is {_kind(module)}, expected an object", where)
        yield module, where
        children = _listed(module, "child_modules", where)
        stack.extend((child, f"{where}.child_modules[{i}]") for i, child in reversed(list(enumerate(children))))


Indexed = list[tuple[_Resource, list[Key]]]


def _read_state(doc: Any, source: str) -> Indexed:
    """The resources of one parsed state that manage identities, in one pass over its resources."""
    _check_format(doc)
    out: Indexed = []
    accounts: dict[str | None, set[str | None]] = {}  # user name (folded) -> accounts of its aws_iam_user
    for module, where in _modules(doc):
        for i, res in enumerate(_listed(module, "resources", where)):
            if not isinstance(res, dict):
                raise _StateError(f"a resource is {_kind(res)}, expected an object", f"{where}.resources[{i}]")
            mode, rtype = res.get("mode"), res.get("type")
            if type(mode) is not str or type(rtype) is not str:
                raise _StateError("mode and type must be strings", f"{where}.resources[{i}]")
            reader = _READERS.get(rtype)
            if reader is None or mode != "managed":
                continue
            address, values = res.get("address"), res.get("values")
            if type(address) is not str or not address:
                raise _StateError("address is missing or not a string", f"{where}.resources[{i}].address")
            if type(values) is not dict:
                raise _StateError(f"values is {_kind(values)}, expected an object", f"{where}.resources[{i}].values")
            try:
                r, keys = reader(values, address, source)
            except _StateError as err:  # paths are built only for errors: most resources have none
                at = f"{where}.resources[{i}].values"
                raise _StateError(str(err), f"{at}.{err.where}" if err.where else at) from None
            if rtype == "aws_iam_user":
                accounts.setdefault(r.user, set()).add(r.account)
            out.append((r, keys))
    # A key or login profile names its user, not its account: it takes the account of that user's
    # aws_iam_user in the same state when there is exactly one; otherwise it matches the name in any.
    for n, (r, keys) in enumerate(out):
        if r.type != "aws_iam_user" and r.user is not None and len(accounts.get(r.user, ())) == 1:
            out[n] = (_Resource(r.type, r.address, r.source, next(iter(accounts[r.user])), r.user, r.created,
                                r.inactive), keys)
    return out


def _parse(raw: bytes) -> tuple[Any, str | None]:
    """The parsed JSON, or why not. Never raises: an exception would carry the text (and its secrets)
    along in its traceback and its context (JSONDecodeError.doc is the whole text)."""
    try:
        return json.loads(raw), None
    except json.JSONDecodeError as err:
        return None, f"is not JSON: {err.msg} at line {err.lineno}, column {err.colno}"
    except UnicodeDecodeError:
        return None, "is not JSON text: it does not decode as UTF-8"
    except RecursionError:
        return None, "is nested too deeply to be a Terraform state"


def _read(path: Path, shown: str) -> tuple[Indexed, tuple[str, str | None] | None]:
    """One state file's resources, or (message, JSON path) saying what is wrong with it. Nothing it
    read outlives the call: no exception leaves it, so no traceback keeps its frames."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        return [], (f"cannot read it (looked at {path}): {err.strerror or type(err).__name__}", None)
    if not raw.strip():
        return [], (f"is empty: write it with `terraform show -json > {shown}`", None)
    doc, problem = _parse(raw)
    del raw
    if problem is not None:
        return [], (problem, None)
    try:
        return _read_state(doc, f"state {shown}"), None
    except _StateError as err:
        return [], (str(err), err.where)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Loading makes no reference cycles, only millions of objects (a parsed state, then the index):
    collections would walk them again and again for nothing, a third of the time on a large state."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class ManagedIndex:
    """Who is managed as code, indexed for `lookup` once per credential of a sweep.

    `ManagedIndex()` is the empty index (no `[managed_as_code]` section): every lookup says None."""

    __slots__ = ("tags", "_by", "_count")

    def __init__(self, tags: Iterable[tuple[str, str]] = ()) -> None:
        self.tags = tuple(tags)  # (name, value) folded; value "*" for any
        self._by: dict[Key, list[_Resource]] = {}
        self._count = 0

    def __repr__(self) -> str:
        return f"ManagedIndex({self._count} resources, {len(self.tags)} tags)"

    @classmethod
    def load(cls, settings: ManagedSettings, base: Path) -> ManagedIndex:
        """Read every state file once. Raises ConfigError naming the file and, for a bad value, its
        JSON path: missing, unreadable, not JSON, the wrong shape, or a format_version not known."""
        index = cls((k.strip().casefold(), v.strip().casefold()) for k, v in settings.tags.items())
        for n, shown in enumerate(settings.terraform_state):
            path = Path(shown).expanduser()
            with _collector_paused():
                indexed, problem = _read(path if path.is_absolute() else base / path, shown)
                index._add(indexed)
            if problem is not None:
                message, where = problem
                raise ConfigError(f"{message} (managed_as_code.terraform_state[{n}])", path=shown, key=where)
        return index

    def _add(self, indexed: Indexed) -> None:
        for r, keys in indexed:
            for key in keys:
                self._by.setdefault(key, []).append(r)
        self._count += len(indexed)

    def __len__(self) -> int:
        """Resources indexed (the five resource types, managed mode)."""
        return self._count

    @property
    def empty(self) -> bool:
        """Nothing can match: no tags configured and no resource indexed."""
        return not self.tags and not self._count

    # -- lookup --------------------------------------------------------------------------------
    def lookup(self, provider_kind: str, identity: Identity, credential: Credential) -> ManagedBy | None:
        """What manages this credential as code, or None when nothing does (it is judged normally).

        `provider_kind` is `aws`, `entra` or `google_workspace` (an instance's kind, not its name).
        A declared resource wins over a tag, as it names the address to change."""
        r = None
        if provider_kind == "aws":
            r = self._aws(identity, credential)
        elif credential.kind is CredentialKind.ACCOUNT:
            r = self._own(provider_kind, identity)
        if r is not None:
            return _by_resource(r)
        return self._tagged(provider_kind, identity, credential.kind)

    def lookup_identity(self, provider_kind: str, identity: Identity) -> ManagedBy | None:
        """What manages the identity itself (its own resource, else a tag), whatever its credentials:
        for explaining that a credential on a managed identity is not itself declared."""
        r = self._own(provider_kind, identity)
        return _by_resource(r) if r is not None else self._tagged(provider_kind, identity, CredentialKind.ACCOUNT)

    def _get(self, kind: str, value: str) -> list[_Resource]:
        return self._by.get((kind, value), [])

    def _own(self, provider_kind: str, identity: Identity) -> _Resource | None:
        """The identity's own resource: aws_iam_user, azuread_user or googleworkspace_user."""
        login = identity.login.casefold()
        if provider_kind == "aws":
            hits = self._get("aws_user_id", identity.id) or [
                r for r in self._get("aws_user_name", login) if r.account in (None, identity.scope)]
        elif provider_kind == "entra":
            hits = self._get("entra_id", identity.id) or self._get("entra_upn", login)
        elif provider_kind == "google_workspace":
            hits = self._get("google_id", identity.id) or self._get("google_email", login)
        else:
            hits = []
        return hits[0] if hits else None

    def _aws(self, identity: Identity, credential: Credential) -> _Resource | None:
        login, scope = identity.login.casefold(), identity.scope
        if credential.kind is CredentialKind.ACCESS_KEY:
            cid = credential.credential_id
            hits = self._get("aws_key", cid)
            if not hits and not _KEY_ID.fullmatch(cid) and credential.created is not None:
                # A listing that names key slots, not ids (the credential report): the declared key of
                # this user created in the same second is this one. The live id is checked again later.
                second = credential.created.replace(microsecond=0)
                hits = [r for r in self._get("aws_key_user", login) if r.account in (None, scope)
                        and r.created is not None and r.created.replace(microsecond=0) == second]
            return hits[0] if hits and not hits[0].inactive else None
        if credential.kind is CredentialKind.CONSOLE_PASSWORD:
            hits = [r for r in self._get("aws_profile", login) if r.account in (None, scope)]
            return hits[0] if hits else None
        if credential.kind is CredentialKind.ACCOUNT:
            return self._own("aws", identity)
        return None

    def _tagged(self, provider_kind: str, identity: Identity, kind: CredentialKind) -> ManagedBy | None:
        if not self.tags or not identity.tags:
            return None
        for name, value in identity.tags.items():
            folded = (name.strip().casefold(), value.strip().casefold())
            if any(folded[0] == n and v in ("*", folded[1]) for n, v in self.tags):
                tool = value.strip() if value.strip() and folded[1] not in _TRUE_WORDS else "code"
                return ManagedBy(tool, None, f"tag {name}={value}", _tag_fix(provider_kind, kind))
        return None


def _by_resource(r: _Resource) -> ManagedBy:
    return ManagedBy(TERRAFORM, r.address, r.source, _FIX[r.type].format(r.address))


def _tag_fix(provider_kind: str, kind: CredentialKind) -> str:
    change = {
        CredentialKind.ACCESS_KEY: 'set the access key\'s status to "Inactive" (or remove the key)',
        CredentialKind.CONSOLE_PASSWORD: "remove the console password (the login profile)",
    }.get(kind)
    if change is None and kind is CredentialKind.ACCOUNT:
        change = {"entra": "disable the account (account_enabled = false)",
                  "google_workspace": "suspend the user (suspended = true)"}.get(provider_kind)
    return f"in the code that manages it, {change or 'disable or remove it'}, and apply"
