"""botocore errors into the core's typed errors (AWS speaks error codes, not HTTP statuses)."""

from __future__ import annotations

from botocore.exceptions import (BotoCoreError, ClientError, ConnectionError as BotoConnectionError,
                                 CredentialRetrievalError, HTTPClientError, NoCredentialsError,
                                 NoRegionError, PaginationError, PartialCredentialsError, ProfileNotFound,
                                 ReadTimeoutError, TokenRetrievalError)
from botocore.parsers import ResponseParserError

from providers.aws_iam.transport import Redirected, TooLarge
from sweeper.errors import AuthError, DataError, NotFound, PermissionDenied, ProviderError, ThrottledError
from sweeper.kit.secrets import scrub

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
LIMIT = 500  # characters of an AWS message we keep


def code_of(err: Exception) -> str:
    """The AWS error code of a ClientError ("" for anything else)."""
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    return ""


def translate(err: Exception, operation: str, permission: str | None = None) -> ProviderError:
    """Map one botocore/boto3 error. `permission` is the IAM action the call needed."""
    if isinstance(err, ClientError):
        code = code_of(err)
        message = " ".join(scrub(str(err.response.get("Error", {}).get("Message", "")) or code, LIMIT).split())
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in AUTH_CODES:
            return AuthError(PROVIDER, operation, f"credentials rejected ({code}): {message}", status=status)
        if code in DENIED_CODES:
            need = f"missing permission {permission}" if permission else "permission denied"
            return PermissionDenied(PROVIDER, operation, f"{need}: {message}", status=status)
        if code in THROTTLE_CODES:
            return ThrottledError(PROVIDER, operation, f"still throttled after retries ({code}): {message}",
                                  status=status)
        kind = NotFound if code == "NoSuchEntity" else ProviderError
        return kind(PROVIDER, operation, f"{code}: {message}", status=status)
    said = " ".join(scrub(str(err), LIMIT).split())  # one line, whatever the SDK or the server put in it
    if isinstance(err, _AUTH_ERRORS):
        return AuthError(PROVIDER, operation, f"no usable AWS credentials: {said}")
    if isinstance(err, NoRegionError):
        return ProviderError(PROVIDER, operation, "no region configured (set region)")
    if isinstance(err, TooLarge):
        return DataError(PROVIDER, operation, said)
    if isinstance(err, Redirected):
        return ProviderError(PROVIDER, operation, said)
    if isinstance(err, PaginationError):
        return DataError(PROVIDER, operation, f"the listing would never end: {said}")
    if isinstance(err, ReadTimeoutError):
        return ProviderError(PROVIDER, operation, "no complete answer within timeout_seconds (the server is too "
                                                  f"slow, or dripping its answer): {said}")
    if isinstance(err, ResponseParserError):
        return DataError(PROVIDER, operation, f"unreadable answer: {said}")
    if isinstance(err, (BotoConnectionError, HTTPClientError)):
        return ProviderError(PROVIDER, operation, f"cannot reach AWS: {said}")
    if isinstance(err, BotoCoreError):
        return ProviderError(PROVIDER, operation, said)
    return ProviderError(PROVIDER, operation, f"{type(err).__name__}: {said}")
