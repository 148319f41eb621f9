"""An HTTP status into the core's typed errors, worded the same way for every provider."""

from __future__ import annotations

from sweeper.errors import AuthError, NotFound, PermissionDenied, ProviderError, ThrottledError


def error_for_status(provider: str, operation: str, status: int, message: str = "", *, needs: str = "",
                     hint: str = "", throttled: bool = False) -> ProviderError:
    """The typed error for an HTTP failure that retries did not cure.

    401 AuthError, 403 PermissionDenied, 404 NotFound, 429 ThrottledError, anything else
    ProviderError; each keeps `status`. `message` is the provider's own words (its error code and
    text); `needs` names the permission a 403 means is missing; `hint` says what to check when
    credentials are rejected; `throttled` marks a throttling answer sent with another status
    (Google's 403 rateLimitExceeded). Secrets are scrubbed by ProviderError itself.
    """
    said = f"HTTP {status} {message}".rstrip() if message else f"HTTP {status}"
    if throttled or status == 429:
        return ThrottledError(provider, operation, f"still throttled after the retry budget ({said})", status=status)
    if status == 401:
        return AuthError(provider, operation, f"credentials rejected ({said})" + (f"; {hint}" if hint else ""),
                         status=status)
    if status == 403:
        return PermissionDenied(provider, operation, f"permission denied ({said})" + (f"; needs {needs}" if needs
                                                                                     else ""), status=status)
    if status == 404:
        return NotFound(provider, operation, f"not found ({said})", status=status)
    if status >= 500:
        return ProviderError(provider, operation, f"server error ({said})", status=status)
    return ProviderError(provider, operation, said, status=status)
