"""sweeper.model: the models adapters make per identity keep the generated __init__'s behaviour with
`_slot_init`'s faster one (#16): the same parameters and defaults, fresh default factories, the
__post_init__ checks, still frozen."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import datetime, timezone

import pytest

from sweeper.model import Activity, Credential, CredentialKind, Identity, IdentityKind, _slot_init

NOW = datetime(2025, 6, 1, tzinfo=timezone.utc)
SLOT_INIT = (Credential, Identity)


def _generated(cls: type) -> type:
    """The same fields as `cls`, with the __init__ dataclasses generates."""
    specs = [(f.name, f.type, dataclasses.field(default=f.default, default_factory=f.default_factory))
             for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(cls.__name__, specs, frozen=True, slots=True)


@pytest.mark.parametrize("cls", SLOT_INIT)
def test_the_same_parameters_and_defaults_as_the_generated_init(cls: type) -> None:
    assert cls.__init__.__qualname__ == f"{cls.__name__}.__init__"
    assert str(inspect.signature(cls.__init__)) == str(inspect.signature(_generated(cls).__init__))


def test_values_defaults_and_factories() -> None:
    cred = Credential(CredentialKind.ACCOUNT, "u1", True, Activity.SEEN, NOW, last_used=NOW)
    assert (cred.kind, cred.credential_id, cred.enabled, cred.activity, cred.created, cred.last_used) == \
        (CredentialKind.ACCOUNT, "u1", True, Activity.SEEN, NOW, NOW)
    assert (cred.activity_note, cred.irreversible, cred.protected_by) == (None, False, None)
    one = Identity("entra", "t", "u1", "a@x", IdentityKind.MEMBER, True, (cred,))
    two = Identity(provider="entra", scope="t", id="u1", login="a@x", kind=IdentityKind.MEMBER, enabled=True,
                   credentials=(cred,))
    assert one == two and repr(one) == repr(two)
    assert one.tags == {} and one.tags is not two.tags  # a fresh dict each, as default_factory gives
    assert (one.groups, one.org_unit, one.owner) == ((), None, None)
    tagged = Identity("aws", "1", "u", "u", IdentityKind.MEMBER, True, (), tags={"k": "v"}, owner="o@x")
    assert tagged.tags == {"k": "v"} and tagged.owner == "o@x"
    assert dataclasses.replace(one, provider="entra:t1").provider == "entra:t1"
    with pytest.raises(TypeError):
        Identity("entra", "t", "u1")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Credential(CredentialKind.ACCOUNT, "u1", True, Activity.NEVER, nope=1)  # type: ignore[call-arg]


def test_post_init_checks_still_run_and_the_models_stay_frozen() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        Credential(CredentialKind.ACCOUNT, "u1", True, Activity.NEVER, datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="SEEN needs last_used"):
        Credential(CredentialKind.ACCOUNT, "u1", True, Activity.SEEN)
    with pytest.raises(ValueError, match="naive datetime"):
        Identity("entra", "t", "u1", "a@x", IdentityKind.MEMBER, True, (), datetime(2025, 1, 1))
    cred = Credential(CredentialKind.ACCOUNT, "u1", True, Activity.NEVER, NOW)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cred.enabled = False  # type: ignore[misc]


def test_other_dataclasses_keep_the_generated_init() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Later:
        a: int
        b: int = dataclasses.field(default=0, kw_only=True)

    generated = Later.__init__
    assert _slot_init(Later).__init__ is generated
