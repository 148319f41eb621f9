"""Names of provider instances: plain string rules, so the engine can use them without the registry."""

from __future__ import annotations

from typing import Sequence

# A provider kind may be configured several times (`[providers.entra.contoso]`): each instance is
# swept as its own provider, named `kind:instance` everywhere (reports, plan files, the journal);
# the single-section form (`[providers.entra]`) is the instance `default`, named by its kind alone,
# so journals and plans written before instances existed read the same.
INSTANCE_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
DEFAULT_INSTANCE = "default"


def kind_of(name: str) -> str:
    """The provider kind of a provider or instance name: `entra` for `entra:contoso` and `entra`."""
    return name.partition(":")[0]


def instance_of(name: str) -> str:
    """The instance part of a name: `contoso` for `entra:contoso`, `default` for `entra`."""
    return name.partition(":")[2] or DEFAULT_INSTANCE


def instance_key(kind: str, instance: str) -> str:
    """The name an instance goes by: its kind alone for the default instance, else `kind:instance`."""
    return kind if instance == DEFAULT_INSTANCE else f"{kind}:{instance}"


def matches(name: str, wanted: Sequence[str]) -> bool:
    """Whether a provider or instance name is selected by `-p` values: a kind selects all its
    instances, `kind:instance` (or `kind:default`) one."""
    return any(w == name or w == kind_of(name) or (":" in w and instance_key(*w.split(":", 1)) == name)
               for w in wanted)
