"""Configuration: TOML validated with pydantic. Every error names the file, the key path and the value.

Provider sections are validated by each provider's own settings model (looked up in the registry),
which subclasses `ProviderSettings` for the policy overrides every provider shares.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sweeper import registry
from sweeper.errors import ConfigError, SweeperError
from sweeper.kit import endpoints


class StrictModel(BaseModel):
    """Unknown keys are errors; values are not coerced from other types."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PolicySettings(StrictModel):
    inactive_days: int = Field(90, gt=0)
    warn_days: int = Field(14, ge=0)
    never_used_days: int | None = Field(None, gt=0)
    max_disable: int = Field(25, ge=0)
    max_disable_percent: float = Field(10, gt=0, le=100)
    exclude: list[str] = Field(default_factory=list)
    never_disable: list[str] = Field(default_factory=list)  # exact ids or logins: never disabled, whatever else says
    reenable_grace_days: int = Field(30, ge=0)  # what a person re-enabled is not disabled again before this
    restore_max_age_days: float = Field(30, gt=0)  # older runs are restored only with --force
    plan_max_age_hours: float = Field(24, gt=0)
    remove_after_days: int | None = Field(None, gt=0)  # opt-in: remove what this sweeper disabled N days ago
    max_remove: int = Field(10, ge=0)  # removals per scope and run; more stops every removal there


class EngineSettings(StrictModel):
    """`[engine]`: how much of a sweep runs at once."""

    # providers and instances (tenants, customers, organisations) opened and swept at the same time;
    # each still lists its own scopes with its own `max_parallel`
    max_parallel: int = Field(8, ge=1, le=64)
    # plan: worker processes sweeping the instances (sweeper/workers.py); "auto" uses several on a machine
    # with several CPUs for a run of several instances; 1 keeps the sweep in one process
    processes: int | str = "auto"

    @model_validator(mode="before")
    @classmethod
    def _processes(cls, data: Any) -> Any:
        value = data.get("processes", "auto") if isinstance(data, dict) else "auto"
        if value != "auto" and not (type(value) is int and 1 <= value <= 64):
            raise ValueError(f'processes must be a whole number from 1 to 64 or "auto", got {value!r}')
        return data


class JournalSettings(StrictModel):
    """Where the journal lives: a local SQLite file, or object storage shared by every run."""

    path: str = "sweeper.db"  # or s3://bucket/prefix, gs://bucket/prefix, az://container/prefix
    endpoint_url: str | None = None  # object storage API endpoint: emulators, VPC endpoints, S3-compatible stores
    region: str | None = None  # s3://: the bucket's region (default us-east-1)
    profile: str | None = None  # s3://: a named AWS profile instead of the default credential chain
    project: str | None = None  # gs://: the Google Cloud project (default: from the credentials)
    azure_account_url: str | None = None  # az://: https://ACCOUNT.blob.core.windows.net (DefaultAzureCredential)
    connection_string_env: str | None = None  # az://: NAME of an environment variable holding a connection string
    lease_seconds: float = Field(300, ge=2, le=86400)  # an acting run's lease; renewed while it works
    write_batch: int = Field(100, ge=1, le=1000)  # remote: actions recorded as intents per write
    timeout_seconds: float = Field(30, gt=0, le=600)  # per storage request
    allow_custom_endpoint: bool = False  # endpoint_url / azure_account_url on a host that is not the cloud's own

    @model_validator(mode="after")
    def _remote_keys(self) -> "JournalSettings":
        from sweeper.store import is_remote, parse_url

        if is_remote(self.path):
            try:
                location = parse_url(self.path)
            except SweeperError as err:
                raise ValueError(str(err)) from None
            if location.scheme == "az" and not (self.azure_account_url or self.connection_string_env):
                raise ValueError("az:// needs azure_account_url or connection_string_env")
            if location.scheme == "az" and self.azure_account_url and self.connection_string_env:
                raise ValueError("az://: set azure_account_url or connection_string_env, not both "
                                 "(which account holds the journal would be ambiguous)")
            for key in ("endpoint_url", "azure_account_url"):
                url = getattr(self, key)
                if url:
                    try:
                        endpoints.vet(url, STORE_HOSTS.get(location.scheme, ()), allow_custom=self.allow_custom_endpoint)
                    except ValueError as err:
                        raise ValueError(f"{key} {err}") from None
            if self.connection_string_env:
                endpoints.token_env(self.connection_string_env)
        elif "://" in self.path:
            raise ValueError(f"{self.path!r}: unknown storage scheme (use a file path, s3://, gs:// or az://)")
        return self

    def warnings(self) -> list[str]:
        """A custom storage endpoint, said on every run."""
        from sweeper.store import is_remote, parse_url

        if not is_remote(self.path):
            return []
        hosts = STORE_HOSTS.get(parse_url(self.path).scheme, ())
        urls = [u for u in (self.endpoint_url, self.azure_account_url) if u]
        return [w for w in (endpoints.vet(u, hosts, allow_custom=True) for u in urls) if w]


SECTIONS = ("policy", "journal", "providers", "notify", "exceptions", "rules", "managed_as_code", "engine", "people")

# The real storage API hosts per journal scheme; another https host needs allow_custom_endpoint.
STORE_HOSTS: dict[str, tuple[str, ...]] = {
    "s3": ("*.amazonaws.com", "*.amazonaws.com.cn", "*.api.aws"),
    "gs": ("storage.googleapis.com", "*.storage.googleapis.com"),
    "az": ("*.blob.core.windows.net", "*.blob.core.usgovcloudapi.net", "*.blob.core.chinacloudapi.cn"),
}


def known_provider(name: str) -> str:
    """`name` when it is a provider kind or one of its instances (`kind:instance`); ValueError otherwise."""
    if registry.kind_of(name) not in registry.names():
        raise ValueError(f"provider {name!r} is not a known provider ({', '.join(registry.names())}; "
                         "or kind:instance for one instance)")
    return name


class ExceptionEntry(StrictModel):
    """One `[[exceptions]]` entry: an identity kept on purpose, by someone, for a reason, until a date."""

    match: str = Field(min_length=1)  # a login glob (as `exclude`) or an exact identity id
    provider: str | None = None  # only in this provider kind, or one instance kind:name (default: every provider)
    reason: str = Field(min_length=1)
    ticket: str | None = None
    owner: str | None = None  # who is reminded before it expires (an address the owner transport reaches)
    expires: date  # the last day it applies

    @model_validator(mode="after")
    def _sane(self) -> "ExceptionEntry":
        if not self.reason.strip():
            raise ValueError("reason must say why the identity is kept")
        if self.provider is not None:
            known_provider(self.provider)
        today = datetime.now(timezone.utc).date()
        if self.expires < today - timedelta(days=365):
            raise ValueError(f"expires {self.expires.isoformat()} is more than a year ago: a typo? (remove the "
                             "entry if it is over)")
        return self

    def describe(self) -> str:
        return f"{self.reason}" + (f"; ticket {self.ticket}" if self.ticket else "")


class NotifySettings(StrictModel):
    """`[notify]`: who hears about findings before anything is disabled, and how (Apprise URLs)."""

    owner_url: str | None = None  # Apprise URL for owner notices; each owner's address is added as `to`
    channels: list[str] = Field(default_factory=list)  # Apprise URLs that get one digest per run
    required_notice_days: int = Field(0, ge=0, le=365)  # 0: off; else disable only N days after a notice
    exception_reminder_days: int = Field(14, ge=0, le=365)  # remind an exception's owner this long before it ends
    templates: str | None = None  # a folder whose notice/digest/reminder templates replace the shipped ones
    report_url: str | None = None  # the digest's link to the full report; {run_id} and {date} are filled in
    timeout_seconds: float = Field(30, gt=0, le=600)  # per delivery
    max_parallel: int = Field(4, gt=0, le=32)  # owner notices delivered at once


class ProviderSettings(StrictModel):
    """Keys every provider section accepts: `enabled` and overrides of `[policy]`."""

    enabled: bool = True
    inactive_days: int | None = Field(None, gt=0)
    warn_days: int | None = Field(None, ge=0)
    never_used_days: int | None = Field(None, gt=0)
    max_disable: int | None = Field(None, ge=0)
    max_disable_percent: float | None = Field(None, gt=0, le=100)
    exclude: list[str] = Field(default_factory=list)
    remove_after_days: int | None = Field(None, gt=0)
    remove_after_days_by_kind: dict[str, int] = Field(default_factory=dict)  # access_key, console_password, account
    max_remove: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _removal_kinds(self) -> "ProviderSettings":
        kinds = ("access_key", "console_password", "account")
        for kind, days in self.remove_after_days_by_kind.items():
            if kind not in kinds:
                raise ValueError(f"remove_after_days_by_kind: unknown credential kind {kind!r} (known: {', '.join(kinds)})")
            if days <= 0:
                raise ValueError(f"remove_after_days_by_kind.{kind} must be more than 0 (got {days})")
        return self

    def kind_overrides(self) -> dict[str, int]:
        """Thresholds by credential kind (`access_key`, `console_password`) or `guest`."""
        return {}

    def warnings(self) -> list[str]:
        """What this section allows that a person should hear about on every run (a custom endpoint);
        the mixins after this class in a provider's settings (`kit.settings.Reaching`) add theirs."""
        parent = getattr(super(), "warnings", None)
        return list(parent()) if callable(parent) else []


@dataclass(frozen=True)
class Config:
    path: str
    policy: PolicySettings
    journal: JournalSettings
    providers: dict[str, ProviderSettings] = field(default_factory=dict)
    digest: str = ""
    notify: NotifySettings = field(default_factory=lambda: NotifySettings.model_validate({}))
    exceptions: tuple[ExceptionEntry, ...] = ()
    engine: EngineSettings = field(default_factory=lambda: EngineSettings.model_validate({}))
    rules: tuple[Any, ...] = ()  # `[[rules]]` (sweeper.rules.Rule), in order: the first that matches applies
    managed: Any = None  # `[managed_as_code]` (sweeper.managed.ManagedSettings), or None
    people: Any = None  # `[people]` (sweeper.people.PeopleSettings), or None: no linking across providers

    @functools.cached_property
    def managed_index(self) -> Any:
        """The identities managed as code (sweeper.managed.ManagedIndex), read once per run from the
        state files (relative to the config's folder); None without `[managed_as_code]`. Raises
        ConfigError naming a state file that cannot be read."""
        if self.managed is None:
            return None
        from sweeper.managed import ManagedIndex

        return ManagedIndex.load(self.managed, Path(self.path).resolve().parent)

    def warnings(self) -> list[str]:
        """Every section's run-time warnings, each prefixed with its key path."""
        out = [f"providers.{name.replace(':', '.')}: {w}" for name, s in self.providers.items() for w in s.warnings()]
        return out + [f"journal: {w}" for w in self.journal.warnings()]

    @property
    def journal_path(self) -> Path:
        """The journal path; relative paths are relative to the config file's folder."""
        p = Path(self.journal.path).expanduser()
        return p if p.is_absolute() else Path(self.path).resolve().parent / p

    @property
    def journal_location(self) -> str:
        """Where the journal lives: an object-storage URL as written, or the resolved file path."""
        from sweeper.store import is_remote

        return self.journal.path if is_remote(self.journal.path) else str(self.journal_path)


def default_path() -> str:
    return os.environ.get("SWEEPER_CONFIG") or "sweeper.toml"


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _keys_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The keys a model accepts at `loc` (through nested settings tables), for "did you mean"."""
    for part in loc:
        field = model.model_fields.get(str(part)) if model is not None else None
        if field is None:
            return []
        nested = [a for a in (*getattr(field.annotation, "__args__", ()), field.annotation)
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        model = nested[0] if nested else None
    return list(model.model_fields) if model is not None else []


def _explain(err: ValidationError, prefix: str, model: type[BaseModel] | None = None) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(p for p in (prefix, _loc(e["loc"])) if p)
        if e["type"] == "extra_forbidden":
            near = difflib.get_close_matches(str(e["loc"][-1]), _keys_at(model, e["loc"][:-1]), n=1, cutoff=0.6)
            lines.append(f"{key}: unknown key" + (f" (did you mean {near[0]}?)" if near else ""))
        elif e["type"] == "missing":
            lines.append(f"{key}: required key is missing")
        elif not e["loc"]:  # a check across keys: the input is the whole table, not worth echoing
            lines.append(f"{key}: {e['msg'].removeprefix('Value error, ')}")
        else:
            lines.append(f"{key}: {e['msg']} (got {e.get('input')!r})")
    return "; ".join(lines)


def _validate(model: type[BaseModel], data: Any, path: str, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"must be a table, got {data!r}", path=path, key=prefix)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_explain(err, prefix, model), path=path) from None


def _instances(kind: str, section: Any, model: type[BaseModel], path: str) -> list[tuple[str, Any, str]]:
    """A `[providers.KIND]` section as its instances: (name, settings table, config key) each.

    A section whose sub-tables are not settings of the kind (`[providers.entra.contoso]`) holds named
    instances; its own keys are defaults every instance inherits (an instance's own value wins). A
    section without any is the one instance `default` (today's form, named by its kind alone)."""
    prefix = f"providers.{kind}"
    if not isinstance(section, dict):
        raise ConfigError(f"must be a table, got {section!r}", path=path, key=prefix)
    named = {k: v for k, v in section.items() if isinstance(v, dict) and k not in model.model_fields}
    if not named:
        return [(kind, section, prefix)]
    shared = {k: v for k, v in section.items() if k not in named}
    out = []
    for instance, table in named.items():
        key = f"{prefix}.{instance}"
        near = difflib.get_close_matches(instance, list(model.model_fields), n=1, cutoff=0.8)
        if near:
            raise ConfigError(f"unknown key (did you mean {near[0]}?); a table here is read as a named instance "
                              f"of {kind} otherwise", path=path, key=key)
        if not re.fullmatch(registry.INSTANCE_NAME, instance) or instance == registry.DEFAULT_INSTANCE:
            raise ConfigError("not a usable instance name: lower-case letters, digits, '-' and '_', at most 40, "
                              f"not {registry.DEFAULT_INSTANCE!r} (the single-section form is that one)",
                              path=path, key=key)
        out.append((registry.instance_key(kind, instance), {**shared, **table}, key))
    return out


def parse(text: str, path: str = "<config>") -> Config:
    """Validate TOML text. Raises ConfigError naming the key and value on any problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"not valid TOML: {err}", path=path) from None
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"unknown key (expected {', '.join(SECTIONS)})", path=path, key=unknown[0])
    engine = _validate(EngineSettings, data.get("engine", {}), path, "engine")
    policy = _validate(PolicySettings, data.get("policy", {}), path, "policy")
    journal = _validate(JournalSettings, data.get("journal", {}), path, "journal")
    notify = _validate(NotifySettings, data.get("notify", {}), path, "notify")
    raw_exceptions = data.get("exceptions", [])
    if not isinstance(raw_exceptions, list):
        raise ConfigError("must be an array of tables ([[exceptions]])", path=path, key="exceptions")
    exceptions = tuple(_validate(ExceptionEntry, entry, path, f"exceptions[{n}]")
                       for n, entry in enumerate(raw_exceptions))
    rules = _rules(data.get("rules", []), path)
    managed = _managed(data.get("managed_as_code"), path)
    people = _people(data.get("people"), path)
    raw_providers = data.get("providers", {})
    if not isinstance(raw_providers, dict):
        raise ConfigError("must be a table", path=path, key="providers")
    providers: dict[str, ProviderSettings] = {}
    for kind, section in raw_providers.items():
        if kind not in registry.names():
            raise ConfigError(f"unknown provider (known: {', '.join(registry.names())})",
                              path=path, key=f"providers.{kind}")
        model = registry.settings_class(kind)
        for name, data, key in _instances(kind, section, model, path):
            settings = _validate(model, data, path, key)
            if settings.enabled:
                providers[name] = settings
    if not providers:
        sections = ", ".join(f"[providers.{n}]" for n in registry.names() if registry.info(n).in_docs)
        raise ConfigError(f"no provider configured: add a section such as {sections}", path=path)
    if people is not None:
        for n, source in enumerate(people.sources):
            if not any(registry.matches(name, [source]) for name in providers):
                raise ConfigError(f"{source!r} is not a configured (enabled) provider: a source of truth for people "
                                  "must be swept too", path=path, key=f"people.sources[{n}]")
    # what decides what is disabled: a plan made under other rules is not applied under these
    decides = {"policy": policy.model_dump(), "providers": {n: s.model_dump() for n, s in sorted(providers.items())}}
    if exceptions:
        decides["exceptions"] = [e.model_dump() for e in exceptions]
    if notify.required_notice_days:
        decides["required_notice_days"] = notify.required_notice_days
    if rules:
        decides["rules"] = [r.model_dump() for r in rules]
    if managed is not None:
        decides["managed_as_code"] = managed.model_dump()
    if people is not None:
        decides["people"] = people.model_dump()
    canonical = json.dumps(decides, sort_keys=True, default=str)
    return Config(path, policy, journal, providers, hashlib.sha256(canonical.encode()).hexdigest(), notify,
                  exceptions, engine, rules, managed, people)


def _people(raw: Any, path: str) -> Any:
    """`[people]` validated (sweeper.people.PeopleSettings), or None when absent."""
    if raw is None:
        return None
    from sweeper.people import PeopleSettings

    return _validate(PeopleSettings, raw, path, "people")


def _managed(raw: Any, path: str) -> Any:
    """`[managed_as_code]` validated (sweeper.managed.ManagedSettings), or None when absent; its state
    files are read when a sweep needs them (`Config.managed_index`)."""
    if raw is None:
        return None
    from sweeper.managed import ManagedSettings

    return _validate(ManagedSettings, raw, path, "managed_as_code")


def _rules(raw: Any, path: str) -> tuple[Any, ...]:
    """`[[rules]]` validated, in order; names unique (a finding names the rule it was judged under)."""
    from sweeper.rules import Rule

    if not isinstance(raw, list):
        raise ConfigError("must be an array of tables ([[rules]])", path=path, key="rules")
    rules = tuple(_validate(Rule, entry, path, f"rules[{n}]") for n, entry in enumerate(raw))
    names: dict[str, int] = {}
    for n, rule in enumerate(rules):
        if rule.name.casefold() in names:
            raise ConfigError(f"rule name {rule.name!r} is also rule {names[rule.name.casefold()]}'s: each rule needs "
                              "its own name (findings say which rule applied)", path=path, key=f"rules[{n}].name")
        names[rule.name.casefold()] = n
    return rules


def load(path: str | None = None) -> Config:
    """Read and validate the config file at `path` (default: $SWEEPER_CONFIG, then ./sweeper.toml)."""
    path = path or default_path()
    p = Path(path)
    if p.is_dir():
        raise ConfigError("is a directory, not a config file", path=path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError("config file not found (give one with -c, $SWEEPER_CONFIG or ./sweeper.toml)",
                          path=path) from None
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", path=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", path=path) from None
    if not text.strip():
        raise ConfigError("file is empty", path=path)
    return parse(text, path)
