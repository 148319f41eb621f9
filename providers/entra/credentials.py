"""Azure credentials for each `auth` setting, and reading who a token belongs to.

Secrets come from the environment (never the config file) and never appear in an error message:
messages name the variable, not its value, and each secret is remembered (sweeper.kit.secrets) so
that whatever an SDK says about it is scrubbed too.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.parse
import urllib.request
from typing import Any

from azure.core.credentials import AccessToken

from providers.entra.settings import EntraSettings
from sweeper.errors import AuthError
from sweeper.kit.secrets import remember

GITHUB_AUDIENCE = "api://AzureADTokenExchange"


class StaticToken:
    """A TokenCredential that hands out one bearer token (auth = "access_token")."""

    def __init__(self, token: str, source: str) -> None:
        self._token = token
        self.source = source

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:  # keeps the token out of tracebacks and logs
        return f"StaticToken(from ${self.source})"


def _auth_error(message: str) -> AuthError:
    return AuthError("entra", "authenticate", message)


def _app_ids(settings: EntraSettings) -> tuple[str, str]:
    tenant = settings.tenant_id or os.environ.get("AZURE_TENANT_ID", "")
    client = settings.client_id or os.environ.get("AZURE_CLIENT_ID", "")
    if not tenant or not client:
        raise _auth_error(f"auth = {settings.auth} needs tenant_id and client_id (settings, or "
                          "AZURE_TENANT_ID / AZURE_CLIENT_ID in the environment)")
    return tenant, client


def _github_assertion() -> str:
    """Fetch the GitHub Actions OIDC token (needs `permissions: id-token: write` in the workflow)."""
    url = os.environ["ACTIONS_ID_TOKEN_REQUEST_URL"]
    sep = "&" if "?" in url else "?"
    req = urllib.request.Request(f"{url}{sep}audience={urllib.parse.quote(GITHUB_AUDIENCE)}", headers={
        "Authorization": f"bearer {os.environ['ACTIONS_ID_TOKEN_REQUEST_TOKEN']}"})
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - the runner's own URL
        token: str = json.loads(resp.read())["value"]
        return token


def build(settings: EntraSettings) -> Any:
    """The credential for `settings.auth`. Raises AuthError naming what is missing."""
    from azure import identity

    if settings.auth == "access_token":
        token = os.environ.get(settings.token_env, "").strip()
        if not token:
            raise _auth_error(f"auth = access_token but ${settings.token_env} is empty or not set")
        remember(token)
        return StaticToken(token, settings.token_env)
    if settings.auth == "default":
        return identity.DefaultAzureCredential()
    tenant, client = _app_ids(settings)
    if settings.auth == "client_secret":
        secret = os.environ.get(settings.client_secret_env, "")
        if not secret:
            raise _auth_error(f"auth = client_secret but ${settings.client_secret_env} is empty or not set")
        remember(secret)
        return identity.ClientSecretCredential(tenant, client, secret)
    if settings.auth == "certificate":
        path = settings.certificate_path or os.environ.get("AZURE_CLIENT_CERTIFICATE_PATH", "")
        if not path:
            raise _auth_error("auth = certificate needs certificate_path (or $AZURE_CLIENT_CERTIFICATE_PATH)")
        password = os.environ.get(settings.certificate_password_env) or None
        remember(password)
        return identity.CertificateCredential(tenant, client, certificate_path=path, password=password)
    # workload_identity: Kubernetes (and anything that writes a federated token to a file), or GitHub Actions.
    if os.environ.get("AZURE_FEDERATED_TOKEN_FILE"):
        return identity.WorkloadIdentityCredential(tenant_id=tenant, client_id=client,
                                                   token_file_path=os.environ["AZURE_FEDERATED_TOKEN_FILE"])
    if os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL") and os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        return identity.ClientAssertionCredential(tenant, client, _github_assertion)
    raise _auth_error("auth = workload_identity needs $AZURE_FEDERATED_TOKEN_FILE (Kubernetes) or a GitHub "
                      "Actions job with `permissions: id-token: write`")


def claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT, read without verifying it (only to name the principal); None if not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        data = json.loads(payload)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
