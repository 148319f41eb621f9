"""Provider names mapped to their settings and adapter classes, imported lazily.

`sweeper --help` and config validation never import a cloud SDK: settings modules are plain
pydantic, and adapter modules are imported only when a provider is actually used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from sweeper.errors import ConfigError, SweeperError


@dataclass(frozen=True, slots=True)
class Entry:
    settings: str  # "module:Class" of the provider's settings model (no SDK imports)
    adapter: str  # "module:Class" of the adapter
    install_hint: str


_REGISTRY: dict[str, Entry] = {
    "aws": Entry("providers.aws_iam.settings:AwsSettings", "providers.aws_iam.adapter:AwsIamAdapter",
                 "pip install boto3"),
    "entra": Entry("providers.entra.settings:EntraSettings", "providers.entra.adapter:EntraAdapter",
                   "pip install msgraph-sdk azure-identity"),
    "google_workspace": Entry("providers.google_workspace.settings:GoogleSettings",
                              "providers.google_workspace.adapter:GoogleWorkspaceAdapter",
                              "pip install google-api-python-client google-auth"),
}


# Object-storage backends for the journal and reports, by URL scheme (see sweeper.store).
_STORES: dict[str, Entry] = {
    "s3": Entry("", "stores.s3:S3Store", "pip install boto3"),
    "gs": Entry("", "stores.gcs:GcsStore", "pip install 'identity-sweeper[gcs]'"),
    "az": Entry("", "stores.azure_blob:AzureBlobStore", "pip install 'identity-sweeper[azure]'"),
    "memory": Entry("", "stores.memory:MemoryStore", ""),
}


def store_class(scheme: str) -> type:
    """The ObjectStore class for a URL scheme, imported now; a missing SDK names its extra."""
    entry = _STORES.get(scheme)
    if entry is None:
        raise ConfigError(f"unknown storage scheme {scheme!r} (known: {', '.join(_STORES)})")
    return _load(entry.adapter, entry.install_hint)


def names() -> list[str]:
    return list(_REGISTRY)


def register(name: str, settings: str, adapter: str, install_hint: str = "") -> None:
    """Add a provider (used for in-tree fakes and plug-ins)."""
    _REGISTRY[name] = Entry(settings, adapter, install_hint)


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def _load(path: str, hint: str) -> Any:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        if hint.startswith("pip install 'identity-sweeper["):
            extra = hint.partition("[")[2].partition("]")[0]
            raise SweeperError(f"this needs the optional {extra} support: install identity-sweeper[{extra}] "
                               f"({hint}); {err}") from err
        raise SweeperError(f"cannot import {module_name} ({err}); install it with: {hint}") from err
    return getattr(module, attr)


def entry(name: str) -> Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown provider {name!r} (known: {', '.join(_REGISTRY)})") from None


def settings_class(name: str) -> type:
    e = entry(name)
    return _load(e.settings, e.install_hint)


def adapter_class(name: str) -> type:
    e = entry(name)
    return _load(e.adapter, e.install_hint)


def create(name: str, settings: Any, *, write: bool) -> Any:
    """Build the adapter for `name` with its validated settings."""
    return adapter_class(name)(settings, write=write)
