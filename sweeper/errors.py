"""The error hierarchy. Adapters translate SDK errors into these at their boundary (`raise ... from err`)."""

from __future__ import annotations

from sweeper.kit.secrets import scrub


class SweeperError(Exception):
    """Base of every error the tool reports to a person. `exit_code` is what the CLI exits with."""

    exit_code = 1


class UsageError(SweeperError):
    """Bad command-line arguments."""

    exit_code = 2


class ConfigError(SweeperError):
    """A configuration problem; the message names the file, the key path and the bad value."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        where = ": ".join(p for p in (path, key) if p)
        super().__init__(f"{where}: {message}" if where else message)


class UnsafePath(SweeperError):
    """A file the sweeper would write is a symbolic link (or otherwise not safe to write)."""

    exit_code = 2


class PlanError(SweeperError):
    """A plan file that is malformed, tampered with, too old or made from another config."""

    exit_code = 2


class JournalError(SweeperError):
    """The journal cannot be opened, migrated or written."""

    exit_code = 2


class JournalLocked(JournalError):
    """Another sweeper process holds the journal."""


class ProviderError(SweeperError):
    """A provider call failed. `operation` is what we were doing (e.g. `list users`); `status` is the
    HTTP status when the provider answered one. Remembered secrets are scrubbed from the message."""

    exit_code = 4

    def __init__(self, provider: str, operation: str, message: str, *, status: int | None = None) -> None:
        self.provider = provider
        self.operation = operation
        self.detail = scrub(message)
        self.status = status
        super().__init__(f"{provider}: {operation}: {self.detail}")


class AuthError(ProviderError):
    """Credentials missing, expired or rejected."""


class PermissionDenied(ProviderError):
    """Authenticated, but a permission is missing; the message names it."""


class NotFound(ProviderError):
    """The provider says the object does not exist (HTTP 404)."""


class ThrottledError(ProviderError):
    """Still throttled after the retry budget was spent."""


class DataError(ProviderError):
    """The provider answered something we cannot read (malformed page, missing field)."""


class BindingError(ProviderError):
    """The credentials reach another tenant, account or customer than the one configured. Nothing is
    listed or changed anywhere in the run: exit 2, naming both values."""

    exit_code = 2

    def __init__(self, provider: str, what: str, configured: str, actual: str, *, how: str = "") -> None:
        self.configured = configured
        self.actual = actual
        super().__init__(provider, f"bind {what}", f"the configured {what} is {configured}, but the credentials "
                         f"are for {actual}" + (f" ({how})" if how else "") + "; nothing was listed or changed")


class NotMeasured(ProviderError):
    """The provider cannot tell us activity at all (e.g. Entra without a P1 licence)."""

    exit_code = 3
