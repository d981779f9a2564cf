"""The entries of declarative provisioning (R17.10), one pydantic model per table kind.

Field names are the spec's. Money is USD (TOML numbers, kept exact), prices USD per 1M tokens
or per unit, timeouts seconds, times RFC 3339 with an offset. Unknown fields are errors.
Secrets named `env:NAME` are read from the environment passed in the validation context.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from torouter.access.keys import KEY_RE
from torouter.accounts.passwords import is_password_hash
from torouter.platforms.names import PlatformName
from torouter.platforms.registry import EndpointName, spec_for
from torouter.upstreams.proxy_url import valid_proxy

__all__ = [
    "KIND_IDENTITY",
    "ChannelEntry",
    "GroupEntry",
    "KeyEntry",
    "ModelEntry",
    "PlanEntry",
    "SubscriptionEntry",
    "UserEntry",
    "usd_to_nusd",
]

NANO = Decimal(10) ** 9
ENV_PREFIX = "env:"


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("torouter", message)


def _decimal(value: Any) -> Decimal:
    """A TOML number (or decimal string) as an exact Decimal; floats via their shortest repr."""
    if isinstance(value, bool):
        raise _fail("must be a number")
    try:
        if isinstance(value, float):
            d = Decimal(repr(value))
        elif isinstance(value, int | str | Decimal):
            d = Decimal(str(value).strip())
        else:
            raise _fail("must be a number")
    except InvalidOperation:
        raise _fail("must be a number") from None
    if not d.is_finite():
        raise _fail("must be a finite number")
    if d < 0:
        raise _fail("must be at least 0")
    return d


def _usd(value: Any) -> Decimal:
    d = _decimal(value)
    if (d * NANO) != (d * NANO).to_integral_value():
        raise _fail("must have at most 9 decimal places")
    return d


def usd_to_nusd(usd: Decimal | None) -> int | None:
    """USD → integer nano-USD, exactly (R0 money)."""
    return None if usd is None else int(usd * NANO)


def _env(value: str, info: ValidationInfo) -> str:
    """Resolve `env:NAME` from the environment in the validation context."""
    if not value.startswith(ENV_PREFIX):
        return value
    name = value[len(ENV_PREFIX) :]
    environ: Mapping[str, str] = (info.context or {}).get("environ", {})
    if not name:
        raise _fail('"env:" needs a variable name')
    if name not in environ:
        raise _fail(f"environment variable {name} is not set")
    return environ[name]


def _url(schemes: tuple[str, ...]) -> Any:
    def check(value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.hostname:
            raise _fail(f"must be a {' or '.join(schemes)} URL")
        return value

    return AfterValidator(check)


def _proxy(value: str) -> str | None:
    """A channel's egress proxy (R9.1), checked as the admin API checks it."""
    try:
        return valid_proxy(value)
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _cidr_lines(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list):
        raise _fail("must be a list or a newline-separated string")
    lines = []
    for item in value:
        if not isinstance(item, str):
            raise _fail("must contain strings")
        line = item.strip()
        if not line:
            continue
        try:
            ipaddress.ip_network(line, strict=False)
        except ValueError:
            raise _fail(f'"{line}" is not an IP address or CIDR') from None
        lines.append(line)
    return lines


def _comma_list(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    elif isinstance(value, str):
        items = value.split(",")
    else:
        raise _fail("must be a comma-separated string")
    return ",".join(i.strip() for i in items if i.strip())


def _unix_seconds(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise _fail("must include a UTC offset (RFC 3339)")
        return int(value.timestamp())
    return value


Name = Annotated[str, Field(min_length=1, max_length=100)]
USD = Annotated[Decimal, BeforeValidator(_usd)]
Price = Annotated[Decimal, BeforeValidator(_decimal)]
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(gt=0)]
CidrList = Annotated[list[str], BeforeValidator(_cidr_lines)]
Time = AwareDatetime
Endpoint = EndpointName
Modality = Literal["text", "multimodal", "image", "video", "audio", "embedding", "rerank"]

DEFAULT_ENDPOINTS: dict[str, list[str]] = {
    "text": ["chat", "responses", "messages", "generate"],
    "multimodal": ["chat", "responses", "messages", "generate"],
    "embedding": ["embeddings"],
    "rerank": ["rerank"],
    "image": ["images"],
    "audio": ["audio_transcription", "audio_speech"],
    "video": [],
}


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), frozen=True)


class KeyLimits(_Entry):
    """A group's default key limits (R7.6); stored with the api_keys column names."""

    quota_usd: USD | None = None
    requests_5h: Count | None = None
    requests_1d: Count | None = None
    requests_7d: Count | None = None
    rpm: Count | None = None
    tpm: Count | None = None
    max_concurrency: Count | None = None
    budget_daily_usd: USD | None = None
    budget_weekly_usd: USD | None = None
    budget_monthly_usd: USD | None = None

    def columns(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, value in self.model_dump(exclude_none=True).items():
            if name.endswith("_usd"):
                out[name[: -len("_usd")] + "_nusd"] = int(Decimal(value) * NANO)
            else:
                out[name] = value
        return out


class GroupEntry(_Entry):
    name: Name
    billing_type: Literal["balance", "subscription"] = "balance"
    price_multiplier: Price = Decimal(1)
    models: list[str] = []
    visibility: Literal["public", "private"] = "public"
    status: Literal["enabled", "disabled"] = "enabled"
    description: str | None = None
    default_key_limits: KeyLimits = KeyLimits()


class Prices(_Entry):
    input: Price | None = None
    output: Price | None = None
    cache_read: Price | None = None
    cache_write_5m: Price | None = None
    cache_write_1h: Price | None = None
    per_request: Price | None = None
    per_image: Price | None = None
    per_audio_minute: Price | None = None
    per_1m_characters: Price | None = None


class ModelEntry(_Entry):
    id: Annotated[str, Field(min_length=1, max_length=200)]
    display_name: str | None = None
    vendor: Annotated[str, Field(min_length=1, max_length=50)]
    modality: Modality = "text"
    endpoints: list[Endpoint] | None = None  # None: what the modality usually serves
    context_length: Annotated[int, Field(gt=0)] | None = None
    max_output_tokens: Annotated[int, Field(gt=0)] | None = None
    supports_thinking: bool = False
    thinking_defaults: dict[str, Any] = {}
    prices: Prices = Prices()
    owned_by: str | None = None
    created: Annotated[int, BeforeValidator(_unix_seconds), Field(ge=0)] | None = None
    enabled: bool = True

    def served_endpoints(self) -> list[str]:
        if self.endpoints is not None:
            return list(self.endpoints)
        return DEFAULT_ENDPOINTS[self.modality]


class ChannelEntry(_Entry):
    name: Name
    platform: PlatformName
    base_url: Annotated[str, _url(("http", "https"))] | None = None
    credential: str | None = Field(None, repr=False)  # the value, or env:NAME (resolved here)
    models: list[str] = []
    model_mapping: dict[str, str] = {}
    groups: list[str] = []
    priority: int = 0
    weight: Annotated[int, Field(ge=1, le=1000)] = 1
    connect_timeout: Seconds = 10.0
    first_byte_timeout: Seconds = 300.0
    stream_idle_timeout: Seconds = 300.0
    proxy: str | None = Field(
        None,
        repr=False,
        description="egress proxy for every call to this channel's upstream: "
        "`http://`, `https://`, `socks5://` or `socks5h://` (names resolved by the proxy), "
        "`[user:password@]host[:port]`; `env:NAME` keeps the password out of the file. "
        "Stored encrypted in the database, like the credential.",
    )
    auto_disable: bool = True
    status: Literal["enabled", "disabled"] = "enabled"
    test_model: str | None = None
    endpoints: list[Endpoint] | None = None
    max_concurrency: Count = 0
    responses_native: bool | None = None
    send_reasoning_history: bool | None = None
    extra_headers: dict[str, str] | None = None

    @field_validator("credential")
    @classmethod
    def _credential(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _env(value, info)

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _proxy(_env(value, info))

    @model_validator(mode="after")
    def _consistent(self) -> ChannelEntry:
        if self.base_url is None and spec_for(self.platform).base_url_required:
            raise _field_error("base_url", f"required for platform {self.platform}")
        for public in self.model_mapping:
            if public not in self.models:
                raise _field_error(f"model_mapping.{public}", "not one of the channel's models")
        if self.test_model is not None and self.test_model not in self.models:
            raise _field_error("test_model", "not one of the channel's models")
        return self

    def options(self) -> dict[str, Any]:
        names = ("responses_native", "send_reasoning_history", "extra_headers")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


class UserEntry(_Entry):
    email: Annotated[str, Field(max_length=320)]
    role: Literal["user", "admin"] = "user"
    verified: bool = False
    balance_usd: USD | None = None  # granted once
    password_hash: str | None = Field(None, repr=False)
    password: str | None = Field(None, repr=False)  # env:NAME only (resolved here)
    username: Annotated[str, Field(max_length=100)] | None = None
    state: Literal["unverified", "active", "suspended", "deleted"] | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip().lower()
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", value):
            raise _fail("not an email address")
        return value

    @field_validator("password_hash")
    @classmethod
    def _hash(cls, value: str | None) -> str | None:
        if value is not None and not is_password_hash(value):
            raise _fail("must be an argon2id hash ($argon2id$…)")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not value.startswith(ENV_PREFIX):
            raise _fail("must be env:NAME (plaintext passwords are not accepted)")
        return _env(value, info)

    @model_validator(mode="after")
    def _one_password(self) -> UserEntry:
        if self.password is not None and self.password_hash is not None:
            raise _field_error("password", "give password or password_hash, not both")
        return self

    @property
    def effective_state(self) -> str:
        return self.state or ("active" if self.verified else "unverified")


class KeyEntry(_Entry):
    name: Name
    user: str
    group: str
    key: str = Field(repr=False)  # sha256:<hex>, or the plaintext key
    quota_usd: USD | None = None
    expires_at: Time | None = None
    requests_5h: Count | None = None
    requests_1d: Count | None = None
    requests_7d: Count | None = None
    rpm: Count | None = None
    tpm: Count | None = None
    max_concurrency: Count | None = None
    budget_daily_usd: USD | None = None
    budget_weekly_usd: USD | None = None
    budget_monthly_usd: USD | None = None
    ip_whitelist: CidrList = []
    ip_blacklist: CidrList = []
    model_whitelist: Annotated[str, BeforeValidator(_comma_list)] = ""
    status: Literal["active", "disabled"] = "active"

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if re.fullmatch(r"sha256:[0-9a-fA-F]{64}", value) or KEY_RE.match(value):
            return value
        raise _fail('must be "sha256:<64 hex digits>" or an sk- key of 48 characters')


class PlanEntry(_Entry):
    name: Name
    group: str
    price_usd: USD = Decimal(0)
    duration_days: Annotated[int, Field(gt=0)] = 30
    daily_cap_usd: USD = Decimal(0)
    weekly_cap_usd: USD = Decimal(0)
    monthly_cap_usd: USD = Decimal(0)
    max_per_user: Count = 0
    enabled: bool = True


class SubscriptionEntry(_Entry):
    user: str
    plan: str
    state: Literal["active", "paused", "cancelled", "expired"] = "active"
    starts_at: Time | None = None
    expires_at: Time | None = None
    auto_renew: bool = False

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        return value.strip().lower()

    @model_validator(mode="after")
    def _order(self) -> SubscriptionEntry:
        if self.starts_at and self.expires_at and self.expires_at <= self.starts_at:
            raise _field_error("expires_at", "must be after starts_at")
        return self


def _field_error(field: str, message: str) -> PydanticCustomError:
    """A cross-field failure raised by a model validator, naming the field it is about."""
    return PydanticCustomError("torouter_field", "{message}", {"field": field, "message": message})


# Table name → (model, identifying fields shown in messages).
KIND_IDENTITY: dict[str, tuple[type[_Entry], tuple[str, ...]]] = {
    "groups": (GroupEntry, ("name",)),
    "models": (ModelEntry, ("id",)),
    "channels": (ChannelEntry, ("name",)),
    "users": (UserEntry, ("email",)),
    "keys": (KeyEntry, ("name",)),
    "plans": (PlanEntry, ("name",)),
    "subscriptions": (SubscriptionEntry, ("user", "plan")),
}
