"""What the core can use, found by name: providers, journal stores and report renderers.

Each kind is an entry-point group, so a separate package adds one by declaring it in its own
pyproject.toml, with no edit here:

    [project.entry-points."identity_sweeper.providers"]
    okta = "sweeper_okta:PROVIDER"            # a `ProviderInfo` (module imports no SDK)
    [project.entry-points."identity_sweeper.stores"]
    minio = "sweeper_minio.store:MinioStore"  # an `ObjectStore` class, by URL scheme
    [project.entry-points."identity_sweeper.renderers"]
    sarif = "sweeper_sarif:render"            # (RunResult) -> str, by format name

Loading is lazy: `names()` reads only the entry points' names; a provider's `ProviderInfo` is loaded
when it is asked for (its module must stay SDK-free, so `sweeper --help` and config validation never
import a cloud SDK), its settings and adapter classes only when a provider is actually used, a
store's class only when its URL scheme is used. The in-tree stores and renderers are also listed
here, so that a source checkout that is not installed still reads reports and journals; providers
are not: each one, the in-tree ones too, is exactly its package and its entry-point line.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, Mapping

from sweeper.errors import ConfigError, ProviderError, SweeperError
# instances of a provider kind (`entra:contoso`): their names are read by sweeper.instances' rules
from sweeper.instances import DEFAULT_INSTANCE as DEFAULT_INSTANCE, INSTANCE_NAME as INSTANCE_NAME
from sweeper.instances import instance_key as instance_key, instance_of as instance_of, kind_of as kind_of
from sweeper.instances import matches as matches
from sweeper.model import Action, CredentialKind, Outcome

GROUPS = {"providers": "identity_sweeper.providers", "stores": "identity_sweeper.stores",
          "renderers": "identity_sweeper.renderers"}
_BUILTIN: dict[str, dict[str, str]] = {
    "providers": {},  # every provider, in-tree ones included, comes through its entry point
    "stores": {"s3": "stores.s3:S3Store", "gs": "stores.gcs:GcsStore", "az": "stores.azure_blob:AzureBlobStore",
               "memory": "stores.memory:MemoryStore"},
    "renderers": {"json": "sweeper.report:render_json", "csv": "sweeper.report:render_csv",
                  "markdown": "sweeper.report:render_markdown", "html": "sweeper.report_html:render_html",
                  "ocsf": "sweeper.report_ocsf:render_ocsf"},
}
_STORE_HINTS = {"s3": "pip install boto3", "gs": "pip install 'identity-sweeper[gcs]'",
                "az": "pip install 'identity-sweeper[azure]'"}


@dataclass(frozen=True, slots=True)
class Control:
    """A control a finding satisfies, and the benchmark (with its version) that names it."""

    id: str  # as reports show it, with the benchmark's version and limit, e.g. "CIS AWS v3.0.0 1.12 (45 days)"
    benchmark: str = ""  # e.g. "CIS Amazon Web Services Foundations Benchmark v3.0.0"
    max_days: int | None = None  # the control's own limit: a finding judged with a longer threshold omits it


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """What the core, the reports, the CLI and the docs need to know about one provider.

    `settings` and `adapter` are "module:Class" paths, imported only when the provider is used.
    `irreversible` says, per credential kind, what cannot be undone and how to recover instead.
    """

    name: str
    display: str
    settings: str
    adapter: str
    install_hint: str = ""
    credential_kinds: tuple[CredentialKind, ...] = (CredentialKind.ACCOUNT,)
    controls: Mapping[CredentialKind, tuple[Control, ...]] = field(default_factory=dict)
    irreversible: Mapping[CredentialKind, str] = field(default_factory=dict)
    # what removal (#13, opt-in) does per credential kind; a kind not named here is never removed
    removal: Mapping[CredentialKind, str] = field(default_factory=dict)
    removal_irreversible: frozenset[CredentialKind] = frozenset()  # kinds whose removal cannot be undone
    root_protection: str = "the provider's root account is never touched"
    docs_intro: str = ""
    in_docs: bool = True  # gets a docs/<name>.md permissions page

    def control_ids(self, kind: CredentialKind) -> tuple[str, ...]:
        from sweeper.policy import GENERIC_CONTROLS

        found = self.controls.get(kind)
        return tuple(c.id for c in found) if found else GENERIC_CONTROLS

    def control_limits(self) -> dict[str, int]:
        """Control id -> the most inactive days it allows, for the controls that have a limit."""
        return {c.id: c.max_days for found in self.controls.values() for c in found if c.max_days is not None}


_lock = threading.Lock()
_found: dict[str, dict[str, str]] = {}  # kind -> name -> "module:attr", entry points over built-ins
_extra: dict[str, dict[str, Any]] = {"providers": {}, "stores": {}, "renderers": {}}  # register()ed objects
_loaded: dict[tuple[str, str], Any] = {}


def _table(kind: str) -> dict[str, str]:
    with _lock:
        if kind not in _found:
            table = dict(_BUILTIN[kind])
            for ep in entry_points(group=GROUPS[kind]):
                table[ep.name] = ep.value
            _found[kind] = table
        return _found[kind]


def _import(path: str, hint: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        if hint.startswith("pip install 'identity-sweeper["):
            extra = hint.partition("[")[2].partition("]")[0]
            raise SweeperError(f"this needs the optional {extra} support: install identity-sweeper[{extra}] "
                               f"({hint}); {err}") from err
        raise SweeperError(f"cannot import {module_name} ({err}); install it with: {hint or 'pip install'}") from err
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SweeperError(f"{module_name} has no {attr} (a broken plug-in registration)") from None


def _get(kind: str, name: str, hint: str = "") -> Any:
    if name in _extra[kind]:
        return _extra[kind][name]
    key = (kind, name)
    if key not in _loaded:
        path = _table(kind).get(name)
        if path is None:
            return None
        _loaded[key] = _import(path, hint)
    return _loaded[key]


# -- providers --------------------------------------------------------------------------------

def names() -> list[str]:
    """Provider names: the registered ones (tests, plug-ins added at run time), then the found ones."""
    return list(dict.fromkeys([*_table("providers"), *_extra["providers"]]))


def info(name: str) -> ProviderInfo:
    """A provider kind's metadata; an instance name (`entra:contoso`) gives its kind's."""
    name = kind_of(name)
    found = _get("providers", name)
    if found is None:
        raise ConfigError(f"unknown provider {name!r} (known: {', '.join(names())})")
    if not isinstance(found, ProviderInfo):
        raise SweeperError(f"provider {name!r}: its entry point is not a sweeper.registry.ProviderInfo")
    return found


def infos() -> list[ProviderInfo]:
    return [info(n) for n in names()]


def register(name: str, settings: str, adapter: str, install_hint: str = "", **metadata: Any) -> None:
    """Add a provider at run time (the in-process fakes of the tests); plug-ins use entry points."""
    _extra["providers"][name] = ProviderInfo(name, metadata.pop("display", name), settings, adapter,
                                             install_hint, in_docs=False, **metadata)


def unregister(name: str) -> None:
    _extra["providers"].pop(name, None)


def settings_class(name: str) -> type[Any]:
    entry = info(name)
    found: type[Any] = _import(entry.settings, entry.install_hint)
    return found


def adapter_class(name: str) -> type[Any]:
    entry = info(name)
    found: type[Any] = _import(entry.adapter, entry.install_hint)
    return found


def create(name: str, settings: Any, *, write: bool) -> Any:
    """Build the adapter for `name` (a kind, or an instance `kind:instance`). Opened for reading (plan, check, notify), it cannot act: the core
    wraps it so that `apply` is refused whatever the adapter itself would do.

    An instance's adapter is given the instance's name (its `name` attribute), so that it lists its
    identities under that name; one that keeps its kind's has them relabelled by the engine, a copy each."""
    adapter = adapter_class(name)(settings, write=write)
    if getattr(adapter, "name", name) != name:
        try:
            adapter.name = name
        except AttributeError:  # a read-only name (a property, slots): the engine relabels instead
            pass
    return adapter if write else ReadOnly(adapter)


def permissions(name: str, mode: str = "apply", settings: Any = None) -> str:
    """A provider's least-privilege policy for one mode ("plan", "apply", "org-member"). A provider
    written before modes existed knows only one policy: it is what "apply" needs, and nothing else is
    claimed for it. Raises ValueError for a mode the provider does not support."""
    import inspect

    method = adapter_class(name).permissions
    if "mode" in inspect.signature(method).parameters:
        text: str = method(mode=mode, settings=settings)
        return text
    if mode != "apply":
        raise ValueError(f"provider {name!r} describes one policy only (--for apply)")
    text = method()
    return text


class ReadOnly:
    """An adapter opened for reading: every read passes through; `apply` is refused, never forwarded."""

    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter

    def apply(self, action: Action, refs: Any) -> list[Outcome]:
        raise ProviderError(getattr(self._adapter, "name", "?"), f"{action} credentials",
                            "this adapter was opened read-only (plan, check); nothing was changed")

    @property
    def wrapped(self) -> Any:
        return self._adapter

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._adapter, attr)


# -- stores and renderers ---------------------------------------------------------------------

def store_names() -> list[str]:
    return list(dict.fromkeys([*_table("stores"), *_extra["stores"]]))


def store_class(scheme: str) -> type[Any]:
    """The ObjectStore class for a URL scheme, imported now; a missing SDK names its extra."""
    found: type[Any] | None = _get("stores", scheme, _STORE_HINTS.get(scheme, ""))
    if found is None:
        raise ConfigError(f"unknown storage scheme {scheme!r} (known: {', '.join(store_names())})")
    return found


def renderer_names() -> list[str]:
    return list(dict.fromkeys([*_table("renderers"), *_extra["renderers"]]))


def renderer(name: str) -> Callable[[Any], str]:
    found: Callable[[Any], str] | None = _get("renderers", name)
    if found is None:
        raise ConfigError(f"unknown report format {name!r} (known: table, {', '.join(renderer_names())})")
    return found


def register_renderer(name: str, render: Callable[[Any], str]) -> None:
    _extra["renderers"][name] = render
