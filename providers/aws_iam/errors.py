"""botocore errors into the core's typed errors, with secrets scrubbed from every message."""

from __future__ import annotations

import threading

from botocore.exceptions import (BotoCoreError, ClientError, ConnectionError as BotoConnectionError,
                                 CredentialRetrievalError, HTTPClientError, NoCredentialsError,
                                 NoRegionError, PartialCredentialsError, ProfileNotFound,
                                 TokenRetrievalError)
from botocore.parsers import ResponseParserError

from sweeper.errors import AuthError, DataError, PermissionDenied, ProviderError, ThrottledError

PROVIDER = "aws"
# Everything a botocore call may raise that we translate (ResponseParserError is no BotoCoreError).
BOTO_ERRORS = (BotoCoreError, ClientError, ResponseParserError)
AUTH_CODES = frozenset(("InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken",
                        "ExpiredTokenException", "UnrecognizedClientException", "InvalidAccessKeyId",
                        "AuthFailure", "InvalidToken", "MissingAuthenticationToken"))
DENIED_CODES = frozenset(("AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                          "UnauthorizedAccess"))
THROTTLE_CODES = frozenset(("Throttling", "ThrottlingException", "RequestLimitExceeded",
                            "TooManyRequestsException", "RequestThrottled",
                            "RequestThrottledException"))
_AUTH_ERRORS = (NoCredentialsError, PartialCredentialsError, ProfileNotFound, CredentialRetrievalError,
                TokenRetrievalError)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def remember_secret(*values: str | None) -> None:
    """Secret keys and session tokens seen by this process: scrubbed from every error message."""
    with _secrets_lock:
        _secrets.update(v for v in values if v and len(v) >= 8)


def scrub(text: str) -> str:
    with _secrets_lock:
        secrets = list(_secrets)
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return text[:500]


def code_of(err: Exception) -> str:
    """The AWS error code of a ClientError ("" for anything else)."""
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    return ""


def translate(err: Exception, operation: str, permission: str | None = None) -> ProviderError:
    """Map one botocore/boto3 error. `permission` is the IAM action the call needed."""
    if isinstance(err, ClientError):
        code = code_of(err)
        message = scrub(str(err.response.get("Error", {}).get("Message", "")) or code)
        if code in AUTH_CODES:
            return AuthError(PROVIDER, operation, f"credentials rejected ({code}): {message}")
        if code in DENIED_CODES:
            need = f"missing permission {permission}" if permission else "permission denied"
            return PermissionDenied(PROVIDER, operation, f"{need}: {message}")
        if code in THROTTLE_CODES:
            return ThrottledError(PROVIDER, operation, f"still throttled after retries ({code}): {message}")
        return ProviderError(PROVIDER, operation, f"{code}: {message}")
    if isinstance(err, _AUTH_ERRORS):
        return AuthError(PROVIDER, operation, f"no usable AWS credentials: {scrub(str(err))}")
    if isinstance(err, NoRegionError):
        return ProviderError(PROVIDER, operation, "no region configured (set region)")
    if isinstance(err, ResponseParserError):
        return DataError(PROVIDER, operation, f"unreadable answer: {scrub(str(err))}")
    if isinstance(err, (BotoConnectionError, HTTPClientError)):
        return ProviderError(PROVIDER, operation, f"cannot reach AWS: {scrub(str(err))}")
    if isinstance(err, BotoCoreError):
        return ProviderError(PROVIDER, operation, scrub(str(err)))
    return ProviderError(PROVIDER, operation, f"{type(err).__name__}: {scrub(str(err))}")
