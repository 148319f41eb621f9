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
