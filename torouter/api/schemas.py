"""Shared pieces of the management API's pydantic models (R16.4, R16.5).

Read models are built from database rows with `from_row`, which keeps only the declared
fields: a column that is not declared (a hash, an encrypted secret) can never leak into a
response. Every `x_usd` field is derived from its `x_nusd` sibling, never stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from torouter.api.money import nusd_to_usd, parse_usd
from torouter.records import Row

__all__ = [
    "ApiModel",
    "ErrorBody",
    "ErrorEnvelope",
    "InputModel",
    "Responses",
    "Timestamp",
    "Usd",
    "UsdAmount",
    "rfc3339",
]


def rfc3339(value: dt.datetime) -> str:
    """UTC with a `Z` and microseconds: `2025-01-02T03:04:05.000000Z` (fixed width)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


Timestamp = Annotated[
    dt.datetime,
    PlainSerializer(rfc3339, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2025-01-02T03:04:05Z"}),
]

Usd = Annotated[
    str,
    Field(
        description="The nUSD amount beside it in USD: 9 decimals, exact",
        examples=["10.000000000"],
    ),
]

UsdAmount = Annotated[
    Decimal,
    BeforeValidator(parse_usd),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": r"^-?\d+(\.\d{1,9})?$"}, {"type": "number"}],
            "description": "USD as a decimal string (preferred) or number, at most 9 decimals",
            "examples": ["12.50"],
        }
    ),
]


class ApiModel(BaseModel):
    """A response body. Unknown keys are dropped; `x_usd` is filled from `x_nusd`."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _usd_beside_nusd(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        out = dict(data)
        for name in cls.model_fields:
            if name.endswith("_usd"):
                nusd = out.get(name[: -len("_usd")] + "_nusd")
                out[name] = None if nusd is None else nusd_to_usd(int(nusd))
        return out

    @classmethod
    def from_row(cls, row: Row, **extra: Any) -> Self:
        return cls.model_validate({**row, **extra})


class InputModel(BaseModel):
    """A request body: unknown fields are an error naming them (E16, `param`)."""

    model_config = ConfigDict(extra="forbid")


# A route's `responses=` table (status -> OpenAPI response fields), spelled as FastAPI declares
# it: a dict is invariant in its types, so an unannotated table (inferred as `dict[int, ...]`)
# would be refused.
Responses = dict[int | str, dict[str, Any]]


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str


class ErrorEnvelope(BaseModel):
    """Every error of the management API (R16.3), in the OpenAI envelope."""

    error: ErrorBody
