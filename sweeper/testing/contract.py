"""The adapter contract suite: every adapter's tests subclass `AdapterContract` and run it against
their emulator, the way fsspec's abstract tests run for every filesystem. It ships in the package
(`sweeper.testing.contract`) so that a provider written elsewhere runs the same tests.

A subclass provides one fixture, `contract`, returning a `ContractSetup` for a freshly seeded
emulator. The suite then checks the behaviour `sweeper.adapter.Adapter` documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone
from typing import Callable

import pytest

from sweeper.adapter import Adapter
from sweeper.errors import AuthError, BindingError, ProviderError
from sweeper.model import Action, Activity, CheckResult, CredentialKind, CredentialRef, Identity
from sweeper.registry import ReadOnly


@dataclass
class ContractSetup:
    adapter: Adapter  # write-enabled, pointed at a freshly seeded emulator
    identity_count: int  # identities the emulator holds, over all scopes
    target_login: str  # an enabled identity with an enabled credential of `target_kind`
    target_kind: CredentialKind
    break_listing: Callable[[], None]  # after this, listing fails part-way (e.g. 2nd page errors)
    bad_auth: Callable[[], Adapter]  # an adapter whose credentials the emulator rejects
    read_only: Callable[[], Adapter] | None = None  # the same adapter class opened with write=False
    garbled_login: str | None = None  # an identity whose activity data does not parse
    # the same adapter class configured for another tenant, account or customer than its credentials reach
    wrong_binding: Callable[[], Adapter] | None = None


def _all(adapter: Adapter) -> list[Identity]:
    return [i for scope in adapter.scopes() for i in adapter.list_identities(scope)]


def _ref(adapter: Adapter, login: str, kind: CredentialKind) -> CredentialRef:
    for identity in _all(adapter):
        if identity.login == login:
            for cred in identity.credentials:
                if cred.kind is kind and cred.enabled:
                    return CredentialRef.of(identity, cred)
    raise AssertionError(f"{login} has no enabled {kind} credential in the listing")


class AdapterContract:
    """Behaviour every adapter must show against its emulator."""

    def test_is_an_adapter(self, contract: ContractSetup) -> None:
        assert isinstance(contract.adapter, Adapter)
        assert contract.adapter.batch_size >= 1 and contract.adapter.max_parallel >= 1
        assert isinstance(contract.adapter.listing_is_live, bool)

    def test_lists_every_identity_once(self, contract: ContractSetup) -> None:
        identities = _all(contract.adapter)
        assert len(identities) == contract.identity_count
        keys = [(i.scope, i.id) for i in identities]
        assert len(set(keys)) == len(keys)

    def test_identities_are_well_formed(self, contract: ContractSetup) -> None:
        scopes = contract.adapter.scopes()
        assert scopes and all(isinstance(s, str) and s for s in scopes)
        for identity in _all(contract.adapter):
            assert identity.provider == contract.adapter.name
            assert identity.scope in scopes
            assert identity.id and identity.login
            for cred in identity.credentials:
                for when in (cred.created, cred.last_used):
                    assert when is None or when.tzinfo is not None and when.utcoffset() == timezone.utc.utcoffset(when)
                if cred.activity is Activity.SEEN:
                    assert cred.last_used is not None
                if cred.activity is Activity.UNKNOWN:
                    assert cred.activity_note, f"{identity.login}: UNKNOWN without a reason"

    def test_each_credential_once_and_each_refresh_its_own(self, contract: ContractSetup) -> None:
        """One credential, one ref: never listed twice, and two refs never resolve to one credential."""
        adapter = contract.adapter
        for n, identity in enumerate(_all(adapter)):
            refs = [CredentialRef.of(identity, c).key for c in identity.credentials]
            assert len(refs) == len(set(refs)), f"{identity.login}: a credential listed twice"
            kinds = [c.kind for c in identity.credentials]
            if n >= 25 and len(kinds) == len(set(kinds)):
                continue  # live reads for the first identities and every one with two of a kind
            live = [adapter.refresh(CredentialRef.of(identity, c)) for c in identity.credentials if c.enabled]
            ids = [(c.kind, c.credential_id) for c in live if c is not None]
            assert len(ids) == len(set(ids)), f"{identity.login}: two credentials refresh to the same one {ids}"

    def test_disable_is_idempotent_and_enable_restores(self, contract: ContractSetup) -> None:
        adapter = contract.adapter
        ref = _ref(adapter, contract.target_login, contract.target_kind)
        current = adapter.refresh(ref)
        assert current is not None and current.enabled
        for _ in range(2):  # the second disable finds it disabled already: still ok
            [outcome] = adapter.apply(Action.DISABLE, [ref])
            assert outcome.ok, outcome.error
            assert outcome.ref.key == ref.key
        after = adapter.refresh(ref)
        assert after is not None and not after.enabled
        if not after.irreversible:
            [outcome] = adapter.apply(Action.ENABLE, [ref])
            assert outcome.ok, outcome.error
            again = adapter.refresh(ref)
            assert again is not None and again.enabled

    def test_refresh_of_a_missing_credential_is_none(self, contract: ContractSetup) -> None:
        ref = _ref(contract.adapter, contract.target_login, contract.target_kind)
        gone = CredentialRef(ref.provider, ref.scope, "no-such-identity-0000", "nobody@nowhere.invalid",
                             ref.kind, "no-such-credential-0000")
        assert contract.adapter.refresh(gone) is None

    def test_a_broken_listing_raises_never_returns_part(self, contract: ContractSetup) -> None:
        contract.break_listing()
        with pytest.raises(ProviderError):
            _all(contract.adapter)

    def test_rejected_credentials_raise_auth_error(self, contract: ContractSetup) -> None:
        adapter = contract.bad_auth()
        with pytest.raises(AuthError):
            _all(adapter)

    def test_describes_itself(self, contract: ContractSetup) -> None:
        principal = contract.adapter.whoami()
        assert principal.provider == contract.adapter.name and principal.id
        text = type(contract.adapter).permissions()
        assert isinstance(text, str) and len(text) > 20
        plan = type(contract.adapter).permissions(mode="plan")
        apply = type(contract.adapter).permissions(mode="apply")
        assert len(plan) > 20 and plan != apply, "the plan identity needs less than the apply one"
        with pytest.raises(ValueError):
            type(contract.adapter).permissions(mode="no-such-mode")
        results = contract.adapter.check()
        assert results and all(isinstance(r, CheckResult) for r in results)

    def test_credentials_for_another_tenant_are_refused_before_listing(self, contract: ContractSetup) -> None:
        if contract.wrong_binding is None:
            pytest.skip("this setup gives no adapter bound to another tenant")
        adapter = contract.wrong_binding()
        try:
            with pytest.raises(BindingError) as caught:
                adapter.scopes()
            assert caught.value.configured and caught.value.actual
            assert caught.value.configured != caught.value.actual
        finally:
            adapter.close()

    def test_opened_read_only_it_cannot_act(self, contract: ContractSetup) -> None:
        """Plan and check open adapters read-only: the core refuses `apply` whatever the adapter does,
        and the adapter itself refuses too. Nothing reaches the provider either way."""
        if contract.read_only is None:
            pytest.skip("this setup gives no read-only adapter")
        ref = _ref(contract.adapter, contract.target_login, contract.target_kind)
        reader = contract.read_only()
        for opened in (ReadOnly(reader), reader):
            try:
                outcomes = opened.apply(Action.DISABLE, [ref])
            except ProviderError:
                outcomes = []
            assert all(not o.ok for o in outcomes), f"{type(opened).__name__} acted while read-only"
        current = contract.adapter.refresh(ref)
        assert current is not None and current.enabled, "a read-only adapter changed the credential"

    def test_outcomes_are_keyed_by_the_refs_asked_for(self, contract: ContractSetup) -> None:
        adapter = contract.adapter
        ref = _ref(adapter, contract.target_login, contract.target_kind)
        gone = CredentialRef(ref.provider, ref.scope, "no-such-identity-0000", "nobody@nowhere.invalid",
                             ref.kind, "no-such-credential-0000")
        outcomes = adapter.apply(Action.DISABLE, [ref, gone])
        assert sorted(o.ref.key for o in outcomes) == sorted([ref.key, gone.key])
        assert next(o for o in outcomes if o.ref.key == ref.key).ok
        after = contract.adapter.refresh(ref)
        assert after is not None, "the disabled credential is gone"
        if not after.irreversible:
            adapter.apply(Action.ENABLE, [ref])

    def test_never_used_means_a_known_creation_and_garbled_data_is_unknown(self, contract: ContractSetup) -> None:
        """NEVER is judged by creation date, so it needs one; what does not parse is UNKNOWN, never NEVER."""
        found = False
        for identity in _all(contract.adapter):
            for cred in identity.credentials:
                if cred.activity is Activity.NEVER:
                    assert cred.created is not None and cred.last_used is None, identity.login
                if identity.login == contract.garbled_login:
                    found = True
                    assert cred.activity is Activity.UNKNOWN and cred.activity_note, identity.login
        assert contract.garbled_login is None or found, f"{contract.garbled_login} not listed"
