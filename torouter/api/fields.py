"""Input field types shared by the resource modules: ids, money, decimals, limits and lists.

Each type validates and normalises one JSON value, so a bad value is refused as E16 with
`param` naming the field, or the line of a list (`ip_whitelist[2]`, counted from 0).

Every integer a client sends has both bounds, in the type and so in the published schema:
an integer the database column cannot hold would otherwise reach the driver, which fails
(SQLite above int64, PostgreSQL `INTEGER` above int32) with a 500 (issue 12). A path id out
of range is 404 like any id that names nothing (`errors.py`); elsewhere it is E16.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from torouter.api.money import parse_usd, usd_to_nusd
from torouter.api.schemas import UsdAmount
from torouter.errors import error

__all__ = [
    "INT32_MAX",
    "Count",
    "Day",
    "DecimalIn",
    "Id",
    "IpList",
    "JsonObject",
    "ModelList",
    "Money",
    "Name",
    "NotNull",
    "OptCount",
    "OptMoney",
    "Time",
    "blank_to_none",
    "ip_lines",
    "nusd",
    "sent_values",
]

MAX_LIST_LINES = 1000
# The range of an `INTEGER` column on PostgreSQL (SQLite's holds int64): row ids and counts.
INT32_MAX = 2**31 - 1
_MAX_DECIMAL = Decimal(1_000_000_000)


T = TypeVar("T")


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("must not be null")
    return value


class _NoNullInSchema:
    """Publishes `T | None` as `T`: the None is only the "not sent" default."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        branches = [b for b in schema.get("anyOf", ()) if b != {"type": "null"}]
        if "anyOf" in schema and len(branches) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**branches[0], **rest}
        if "anyOf" in schema:
            return {**schema, "anyOf": branches}
        return schema


# An optional field that cannot be null: `priority: NotNull[int] = None`. Left out, it is
# None (and absent from `model_fields_set`, so nothing changes); sent as `null`, it is E16
# naming the field, instead of reaching a NOT NULL column (a 500, issue 12). Defaults are not
# validated, so only a sent null meets the check; the published schema shows no null.
NotNull = Annotated[T | None, BeforeValidator(_not_null), _NoNullInSchema()]


def blank_to_none(value: Any) -> Any:
    """An empty string (a cleared form field) means "unset", like null."""
    return None if isinstance(value, str) and not value.strip() else value


def _non_negative_usd(amount: Decimal) -> Decimal:
    if amount < 0:
        raise ValueError("must be at least 0")
    usd_to_nusd(amount)  # at most 9 decimals and in range
    return amount


def sent_values(body: BaseModel, *, nullable: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields a PATCH body sent (R16.5: only those change); null is refused (E16 naming
    the field) for fields that cannot be unset."""
    out: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if value is None and name not in nullable:
            raise error("E16", f"{name}: must not be null", param=name)
        out[name] = value
    return out


def nusd(amount: Decimal | None) -> int | None:
    return None if amount is None else usd_to_nusd(amount)


def _decimal(amount: Decimal) -> Decimal:
    if amount < 0:
        raise ValueError("must be at least 0")
    if amount > _MAX_DECIMAL:
        raise ValueError(f"must be at most {_MAX_DECIMAL}")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -12:
        raise ValueError("must have at most 12 decimals")
    return amount


def _decimal_in(value: Any) -> Decimal:
    try:
        return parse_usd(value)
    except ValueError:
        raise ValueError("must be a decimal number") from None


def _storable(value: dict[str, Any]) -> dict[str, Any]:
    try:
        orjson.dumps(value)  # the JSON columns' serializer (storage/db.py)
    except TypeError as exc:  # orjson.JSONEncodeError: an int past 64 bits, nesting past 254
        # levels, or half of a UTF-16 pair (JSON may escape one; typed strings refuse it)
        raise ValueError(
            "must be JSON with integers within 64 bits, nested at most 254 levels,"
            " and no unpaired UTF-16 surrogates"
        ) from exc
    return value


# A free-form JSON object kept in a JSON column: what the column's serializer cannot write is
# refused here, naming the field, rather than failing the statement (a 500).
JsonObject = Annotated[dict[str, Any], AfterValidator(_storable)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]

# USD ≥ 0 with at most 9 decimals (exact nUSD), as a decimal string or a number.
Money = Annotated[UsdAmount, AfterValidator(_non_negative_usd)]
OptMoney = Annotated[Money | None, BeforeValidator(blank_to_none)]

# A row id (path, filter or body): ids start at 1.
Id = Annotated[int, Field(ge=1, le=INT32_MAX)]

Count = Annotated[int, Field(ge=0, le=INT32_MAX)]

# Days a view may name: far enough either way for any real range, near enough that the day
# arithmetic of a view (a day after the last, a timezone's offset) stays inside `datetime`.
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 1), dt.date(2999, 12, 31)


def _day_in_range(day: dt.date) -> dt.date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"must be between {FIRST_DAY} and {LAST_DAY}")
    return day


def _time_in_range(at: dt.datetime) -> dt.datetime:
    _day_in_range(at.date())
    return at


Day = Annotated[dt.date, AfterValidator(_day_in_range)]
Time = Annotated[dt.datetime, AfterValidator(_time_in_range)]
OptCount = Annotated[Count | None, BeforeValidator(blank_to_none)]

# A price (USD per 1M tokens or per unit) or a multiplier: an exact decimal ≥ 0.
DecimalIn = Annotated[
    Decimal,
    BeforeValidator(_decimal_in),
    AfterValidator(_decimal),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "pattern": r"^\d+(\.\d{1,12})?$"}, {"type": "number"}],
            "description": "An exact decimal ≥ 0 as a string (preferred) or a number",
            "examples": ["2.5"],
        }
    ),
]


# --- IP lists (R7.3) ------------------------------------------------------------------------


def _split_lines(value: Any) -> Any:
    """A text of lines (commas also separate) → its lines; null → none. Blank lines stay
    in place here, so that an error's index is the line the user wrote."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.replace(",", "\n").split("\n")
    return value


def _cidr(line: str) -> str:
    """One entry, normalised: a bare address (a /32 or /128) stays bare; "" for a blank."""
    text = line.strip()
    if not text:
        return ""
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f'"{text}" is not an IP address or CIDR') from None
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return str(net)


def _no_blanks(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(line for line in lines if line))


IpList = Annotated[
    list[Annotated[str, StringConstraints(max_length=100), AfterValidator(_cidr)]],
    BeforeValidator(_split_lines),
    Field(max_length=MAX_LIST_LINES),
    AfterValidator(_no_blanks),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "string"},
                {"type": "null"},
            ],
            "description": "IPv4/IPv6 addresses or CIDRs: a list, or one per line; a bare "
            "address is a /32 or /128. Empty or null: no list",
            "examples": [["203.0.113.0/24", "2001:db8::/32"]],
        }
    ),
]


def ip_lines(values: list[str]) -> str:
    """How an IP list is stored: one entry per line."""
    return "\n".join(values)


# --- Model whitelist (R7.4) -----------------------------------------------------------------


def _split_commas(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split(",")
    return value


def _model_id(item: str) -> str:
    if "," in item:
        raise ValueError("a model id cannot contain a comma")
    return item


ModelList = Annotated[
    list[
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=200),
            AfterValidator(_model_id),
        ]
    ],
    BeforeValidator(_split_commas),
    Field(max_length=MAX_LIST_LINES),
    AfterValidator(_no_blanks),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "string"},
                {"type": "null"},
            ],
            "description": "Model ids, a list or a comma list (entries trimmed, exact and "
            "case-sensitive). Empty or null: the whole catalog",
            "examples": ["gpt-5, claude-opus-4-7"],
        }
    ),
]
