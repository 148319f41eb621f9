"""#12: where an Entra user's notices go, read from Graph's `mail` and `userPrincipalName`."""

from __future__ import annotations

from tests.providers.entra.support import running, tenant, user


def test_owner_is_mail_then_a_deliverable_upn(monkeypatch):
    users = [user("ann@contoso.com", mail="ann.smith@contoso.com"),
             user("bob@contoso.com", mail=None),
             user("carol_fabrikam.com#EXT#@contoso.onmicrosoft.com", user_type="Guest"),
             user("dave_fabrikam.com#EXT#@contoso.onmicrosoft.com", user_type="Guest", mail=None)]
    with running(tenant(users), monkeypatch) as (_, adapter):
        [scope] = adapter.scopes()
        owners = {i.login: i.owner for i in adapter.list_identities(scope)}
    assert owners == {"ann@contoso.com": "ann.smith@contoso.com", "bob@contoso.com": "bob@contoso.com",
                      "carol_fabrikam.com#EXT#@contoso.onmicrosoft.com": "carol@fabrikam.com",
                      "dave_fabrikam.com#EXT#@contoso.onmicrosoft.com": None}
