"""The OAuth 2.0 service app: a private-key JWT client assertion at the org's token endpoint, read scopes
only for plan, the write scope for apply, and every refusal named without a secret in it."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from providers.okta.client import READ_SCOPES, WRITE_SCOPES
from sweeper.errors import AuthError, PermissionDenied
from sweeper.model import Action, CredentialRef
from tests.providers.okta.support import listing, login, scenario

CLIENT = "0oa1sweeperservice07"
TOKEN_PATH = "POST /oauth2/v1/token"


def _key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


PRIVATE, PUBLIC = _key()
OTHER_PRIVATE, _ = _key()


def app_scenario(scopes=(*READ_SCOPES, *WRITE_SCOPES), **client: object) -> dict:
    return scenario(30, clients=[{"client_id": CLIENT, "public_key": PUBLIC, "scopes": list(scopes), **client}])


@pytest.fixture
def keyed(make, monkeypatch, tmp_path):
    monkeypatch.setenv("SWEEPER_TEST_OKTA_KEY", PRIVATE)

    def build(scn=None, *, write=True, **settings):
        opts = {"auth": "private_key", "client_id": CLIENT, "private_key_env": "SWEEPER_TEST_OKTA_KEY", **settings}
        return make(scn, write=write, **opts)

    return build


def test_the_plan_job_asks_for_read_scopes_and_the_token_is_minted_once(keyed) -> None:
    emu, reader = keyed(app_scenario(), write=False)
    found = listing(reader)
    assert len(found) == 30 and emu.request_counts()[TOKEN_PATH] == 1
    assert reader.whoami().id == CLIENT
    [(scopes, _)] = emu.access_tokens.values()
    assert scopes == frozenset(READ_SCOPES)
    assert found["sweeper@x.test"].protected_by is not None  # an admin; a service app is no user to protect
    target = found[login(20)]
    ref = CredentialRef.of(target, target.credentials[0])
    emu.reset_counts()
    _, writer = keyed(None)
    [done] = writer.apply(Action.DISABLE, [ref])
    assert done.ok and emu.status_of(target.id) == "SUSPENDED"
    assert emu.access_tokens and any(s == frozenset(WRITE_SCOPES) for s, _ in emu.access_tokens.values())


def test_a_token_without_the_write_scope_cannot_suspend(keyed) -> None:
    emu, adapter = keyed(app_scenario())
    adapter.client.scopes = READ_SCOPES  # as if the apply job's app were granted the read scopes only
    target = listing(adapter)[login(20)]
    with pytest.raises(PermissionDenied, match="E0000006"):
        adapter.apply(Action.DISABLE, [CredentialRef.of(target, target.credentials[0])])
    assert emu.status_of(target.id) == "ACTIVE"


def test_an_assertion_signed_by_another_key_is_refused(keyed, monkeypatch) -> None:
    monkeypatch.setenv("SWEEPER_TEST_OKTA_OTHER", OTHER_PRIVATE)
    _, adapter = keyed(app_scenario(), private_key_env="SWEEPER_TEST_OKTA_OTHER")
    with pytest.raises(AuthError, match="invalid_client") as caught:
        listing(adapter)
    assert "PRIVATE KEY" not in str(caught.value) and "public key matches" in str(caught.value)


def test_scopes_not_granted_name_the_scopes(keyed) -> None:
    _, adapter = keyed(app_scenario(scopes=READ_SCOPES))
    with pytest.raises(PermissionDenied, match="okta.users.manage"):
        adapter.whoami()


def test_dpop_required_says_how_to_turn_it_off(keyed) -> None:
    _, adapter = keyed(app_scenario(require_dpop=True), write=False)
    with pytest.raises(AuthError, match="Proof of Possession"):
        adapter.whoami()


def test_a_key_file_that_cannot_be_read_is_named(keyed, tmp_path) -> None:
    _, adapter = keyed(app_scenario(), private_key_env=None, private_key_file=str(tmp_path / "nope.pem"))
    with pytest.raises(AuthError, match="nope.pem"):
        adapter.whoami()
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    _, adapter = keyed(None, private_key_env=None, private_key_file=str(bad))
    with pytest.raises(AuthError, match="RSA private key in PEM"):
        adapter.whoami()


def test_a_token_that_cannot_read_roles_fails_the_listing_naming_the_scope(keyed) -> None:
    emu, adapter = keyed(app_scenario(scopes=("okta.users.read",)), write=False)
    adapter.client.scopes = ("okta.users.read",)  # as if the app asked for less than the plan job needs
    with pytest.raises(PermissionDenied, match="okta.roles.read"):
        listing(adapter)  # admins cannot be told apart: nothing is listed rather than admins unprotected
    assert "GET /api/v1/users" not in emu.request_counts()
