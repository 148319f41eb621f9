"""The retry and timeout settings every provider section shares, under one set of names.

`retries` counts the tries after the first (per request, and per batch item); `timeout_seconds`
bounds one HTTP request. Each provider redeclares them for its own default and bounds, and may
name in `RETRIES_WAS` the key it used before, still accepted as an alias.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from sweeper.config import StrictModel


class Retrying(StrictModel):
    """`retries` and `timeout_seconds`; a mixin for provider settings."""

    # (older key, how many tries it counted beyond `retries`): ("max_attempts", 1) reads
    # max_attempts = 8 as retries = 7, since max_attempts counted the first try.
    RETRIES_WAS: ClassVar[tuple[str, int] | None] = None

    retries: int = Field(5, ge=0, le=20)
    timeout_seconds: float = Field(60, gt=0, le=600)

    @model_validator(mode="before")
    @classmethod
    def _older_name(cls, data: Any) -> Any:
        if cls.RETRIES_WAS is None or not isinstance(data, dict) or cls.RETRIES_WAS[0] not in data:
            return data
        old, extra = cls.RETRIES_WAS
        if "retries" in data:
            raise ValueError(f"set retries or {old} (its older name), not both")
        value = data[old]
        retries = value - extra if type(value) is int else value
        field = cls.model_fields["retries"]
        try:
            TypeAdapter(Annotated[int, *field.metadata], config=ConfigDict(strict=True)).validate_python(retries)
        except ValidationError as err:
            means = f" means retries = {retries}" if extra and retries is not value else ""
            raise ValueError(f"{old} = {value!r}{means}: {err.errors()[0]['msg']}") from None
        return {**{k: v for k, v in data.items() if k != old}, "retries": retries}


class Reaching(StrictModel):
    """The endpoint and token-variable keys of a provider section, under one rule (`kit.endpoints`).

    A provider names its endpoint key in `ENDPOINT_KEY` and its real API hosts in `ENDPOINT_HOSTS`
    ("*.suffix" patterns allowed). `allow_custom_endpoint = true` lets the endpoint be another https
    host, and `warnings()` then says so on every run. A `token_env` key, when the section has one,
    must name a SWEEPER_* variable.
    """

    ENDPOINT_KEY: ClassVar[str] = "endpoint"
    ENDPOINT_HOSTS: ClassVar[tuple[str, ...]] = ()

    allow_custom_endpoint: bool = False

    @model_validator(mode="after")
    def _reach(self) -> Any:
        from sweeper.kit import endpoints

        url = getattr(self, self.ENDPOINT_KEY, None)
        if url:
            try:
                endpoints.vet(url, self.ENDPOINT_HOSTS, allow_custom=self.allow_custom_endpoint)
            except ValueError as err:
                raise ValueError(f"{self.ENDPOINT_KEY} {err}") from None
        name = getattr(self, "token_env", None)
        if name is not None:
            try:
                endpoints.token_env(name)
            except ValueError as err:
                raise ValueError(f"token_env {err}") from None
        return self

    def warnings(self) -> list[str]:
        from sweeper.kit import endpoints

        url = getattr(self, self.ENDPOINT_KEY, None)
        warning = endpoints.vet(url, self.ENDPOINT_HOSTS, allow_custom=True) if url else None
        return [warning] if warning else []


class Bounded(StrictModel):
    """How long one listing may take in all, and how large one answer may be (`kit.bounds`)."""

    listing_deadline_seconds: float = Field(3600, gt=0, le=86400)
    max_response_mb: float = Field(64, gt=0, le=4096)

    def listing(self, provider: str, operation: str) -> Any:
        from sweeper.kit.bounds import MB, Listing

        return Listing(provider, operation, deadline_seconds=self.listing_deadline_seconds,
                       max_bytes=int(self.max_response_mb * MB))
