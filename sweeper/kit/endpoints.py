"""Where credentials may go: one rule for every endpoint a config can name.

https to a provider's real API hosts always; plain http and any host only on loopback (127.0.0.0/8,
::1, localhost), where the emulators live; any other host only with `allow_custom_endpoint = true`,
which is then a warning on every run. Variables that hold tokens are named `SWEEPER_*`, so a config
cannot make the sweeper send some other secret of the job (`GITHUB_TOKEN`,
`ACTIONS_ID_TOKEN_REQUEST_TOKEN`) as a bearer token.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

TOKEN_PREFIX = "SWEEPER_"


def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (brackets allowed); never a name that merely starts with 127."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    """`host` is one of `patterns`: an exact name, or "*.suffix" for any name ending in ".suffix"."""
    host = host.rstrip(".").lower()
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def vet(url: str, hosts: Iterable[str], *, allow_custom: bool = False) -> str | None:
    """Check one endpoint URL. Raises ValueError saying what is wrong; returns a warning to show on
    every run when the URL is allowed only by `allow_custom_endpoint`, else None."""
    parts = urlsplit(url)
    try:
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise ValueError(f"{url!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{url!r}: credentials in the URL are not accepted")
    if is_loopback(host):
        return None
    if parts.scheme != "https":
        raise ValueError(f"{url!r}: plain http is allowed only to a loopback address (127.0.0.0/8, ::1, "
                         "localhost); use https")
    hosts = tuple(hosts)
    if host_matches(host, hosts):
        return None
    if not allow_custom:
        raise ValueError(f"{url!r}: {host} is not one of this API's hosts ({', '.join(hosts)}); "
                         "set allow_custom_endpoint = true to send credentials there")
    return f"custom endpoint {url} (allow_custom_endpoint = true): credentials are sent to {host}"


def token_env(name: str) -> str:
    """The name of a variable holding a token or secret: must start with SWEEPER_."""
    if not name.startswith(TOKEN_PREFIX) or name == TOKEN_PREFIX:
        raise ValueError(f"{name!r}: variables holding tokens must be named {TOKEN_PREFIX}* (for example "
                         f"{TOKEN_PREFIX}TOKEN), so no other secret of the job can be sent as one")
    return name

