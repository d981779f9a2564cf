"""Settings: a TOML file overridden by `TOROUTER_<SECTION>__<KEY>` environment variables (R17.5).

Read once into one `Settings` object that is passed down; nothing on the hot path reads the
environment. Declarative provisioning lists (`[[groups]]`, `[[channels]]`…, R17.10) are kept
raw here and validated by `provisioning.py`, which can name the file, entry and field.

Nothing is dropped: every section is a `Section` (unknown keys refused), and `load_settings`
names an unknown section, key or `TOROUTER_<SECTION>__<KEY>` variable with its file and a close
match (`config_keys.py`, which reads the names from these models: a new section needs only its
model here).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from torouter.config_keys import ENV_PREFIX, env_problems, file_problems

__all__ = ["ConfigError", "Section", "Settings", "env_warnings", "load_settings"]

KiB = 1024
MiB = 1024 * 1024


class ConfigError(ValueError):
    """A configuration `serve` must not start with; the message names where and what."""


class Section(BaseModel):
    """A `[section]` of the file: an unknown key is an error, never dropped (R17.5)."""

    model_config = ConfigDict(extra="forbid")


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    # How many gateway nodes (machines, containers or `serve` processes) share this deployment's
    # database. Declared, because a node cannot see the others before it starts: more than one
    # needs Redis, which holds the counters every node must share (R7.11, R17.11).
    nodes: int = Field(
        1,
        description="How many gateway nodes serve this deployment's database. More than one "
        "(or `workers` above 1) needs `redis.url`: `serve` and `check-config` refuse to start "
        "without it.",
    )
    # The HTTP server's own limits (R18.5), enforced by `torouter/server/protocol.py` as the
    # parser reads, before the application sees a request.
    max_header_bytes: int = Field(64 * KiB, ge=1 * KiB)  # request line + header fields: 431
    header_timeout_s: float = Field(30.0, gt=0)  # connection or first byte → last header byte
    body_timeout_s: float = Field(60.0, gt=0)  # longest silence inside a request body
    idle_timeout_s: float = Field(5.0, gt=0)  # a kept-alive connection idle this long is closed
    # The HTTP/1.1 protocol under uvicorn's server: ToRouter's own (`torouter/server/native.py`,
    # fewer instructions per request) or uvicorn's httptools one with the limits added.
    protocol: Literal["native", "uvicorn"] = Field(
        "native",
        description="HTTP/1.1 protocol implementation: `native` (ToRouter's own, faster) or "
        "`uvicorn` (uvicorn's httptools protocol, kept as a fallback).",
    )


class DatabaseSettings(Section):
    url: str | None = None  # default: sqlite file in the data directory


class RedisSettings(Section):
    url: str | None = None
    # Short, so an unreachable Redis is an E20 within about a second, never a hang.
    socket_timeout_s: float = 1.0


class GatewaySettings(Section):
    max_body_bytes: int = 32 * MiB
    max_multipart_bytes: int = 64 * MiB
    ip_rpm: int = 0


class StreamSettings(Section):
    keepalive_s: float = 15.0
    max_event_bytes: int = 16 * MiB


class UpstreamSettings(Section):
    client: Literal["native", "aiohttp"] = Field(
        "native",
        description="The HTTP client that calls direct upstreams: `native` (asyncio protocols "
        "and httptools: about a third of aiohttp's CPU per call) or `aiohttp` (the general "
        "client, kept as a fallback). Both pool keep-alive connections per upstream; "
        "channels with an egress `proxy` always go through aiohttp.",
    )


class RoutingSettings(Section):
    max_attempts: int = 3
    failover_budget_s: float = 60.0
    lru_granularity_ms: int = 1000
    affinity_ttl_s: int = 3600
    probe_interval_s: int = 300


class BillingSettings(Section):
    reserve_output_cap: int = 8192
    reservation_lease_s: int = 120
    lease_renew_s: float = 30.0


class UsageSettings(Section):
    queue_size: int = 100_000
    batch_size: int = 500
    flush_interval_s: float = 0.2
    retention_days: int = 90
    # SQLite files only: write usage from a thread with its own connection, so rows leave memory
    # while the loop is saturated (R20.1 peak RSS: 177 MB without it, 104 MB with, in bench/)
    writer_thread: bool = True


class JobsSettings(Section):
    subscriptions_interval_s: float = 60.0  # expiry and auto-renewal (R7.7)
    payments_interval_s: float = 60.0  # order expiry and sync with Stripe (R14.3, R14.4)
    reconcile_interval_s: float = 86400.0  # reconciliation against Stripe (R14.10)
    enabled: bool = True


def _cents(value: Decimal) -> Decimal:
    if value != value.quantize(Decimal("0.01")) or value <= 0:
        raise ValueError("must be a positive USD amount with at most 2 decimals")
    return value


class PaymentsSettings(Section):
    """`[payments]` (R14.8). Also admin-editable (kept in the database); a value set here or
    in the environment wins and shows read-only. Payments are on when both secrets are set."""

    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None  # None: Stripe's own
    topup_presets_usd: list[Decimal] = Field(
        default_factory=lambda: [Decimal(n) for n in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000)]
    )
    topup_min_usd: Decimal = Decimal(1)
    topup_max_usd: Decimal = Decimal(10_000)
    order_expiry_min: int = Field(30, ge=30, le=1440)  # Stripe's session limits
    refund_window_days: int = Field(30, ge=0, le=3650)
    max_pending_orders: int = Field(3, ge=1, le=100)

    @field_validator("topup_min_usd", "topup_max_usd")
    @classmethod
    def _amount(cls, value: Decimal) -> Decimal:
        return _cents(value)

    @field_validator("topup_presets_usd")
    @classmethod
    def _presets(cls, value: list[Decimal]) -> list[Decimal]:
        return [_cents(v) for v in value]

    @field_validator("stripe_api_base")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else None

    @model_validator(mode="after")
    def _range(self) -> PaymentsSettings:
        if self.topup_min_usd > self.topup_max_usd:
            raise ValueError("topup_min_usd must not exceed topup_max_usd")
        return self


class ShutdownSettings(Section):
    drain_s: float = 30.0


class DemoSettings(Section):
    enabled: bool = True


class MockSettings(Section):
    mount: bool | None = None  # None: on when demo data is in use


class CatalogSettings(Section):
    list_thinking_variants: bool = True


class CountTokensSettings(Section):
    mode: str = "upstream"  # or "local" (R10.7)


class MetricsSettings(Section):
    token: str | None = None


class SmtpSettings(Section):
    host: str | None = None
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    sender: str = "ToRouter <no-reply@torouter.local>"


class LogSettings(Section):
    level: str = "INFO"


_DOMAIN = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")


class SignupSettings(Section):
    """Sign-up rules fixed by the operator (R12.1). Unset, the admin edits them in the
    database; set here or in the environment, they win and show read-only (R17.5)."""

    enabled: bool | None = None
    allowed_domains: list[str] | None = None  # [] accepts every domain

    @field_validator("allowed_domains")
    @classmethod
    def _domains(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out: list[str] = []
        for raw in value:
            domain = raw.strip().lstrip("@").rstrip(".").lower()
            if not _DOMAIN.fullmatch(domain) or "." not in domain:
                raise ValueError(f"not an email domain: {raw!r}")
            if domain not in out:
                out.append(domain)
        return out


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TOROUTER_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = Path("data")
    public_base_url: str | None = None
    secret_key: str | None = None
    encryption_key: str | None = None
    trusted_proxies: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
    default_language: str = "en"

    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    gateway: GatewaySettings = GatewaySettings()
    stream: StreamSettings = StreamSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    routing: RoutingSettings = RoutingSettings()
    billing: BillingSettings = BillingSettings()
    usage: UsageSettings = UsageSettings()
    shutdown: ShutdownSettings = ShutdownSettings()
    jobs: JobsSettings = JobsSettings()
    demo: DemoSettings = DemoSettings()
    mock: MockSettings = MockSettings()
    catalog: CatalogSettings = CatalogSettings()
    metrics: MetricsSettings = MetricsSettings()
    count_tokens: CountTokensSettings = CountTokensSettings()
    smtp: SmtpSettings = SmtpSettings()
    payments: PaymentsSettings = PaymentsSettings()
    log: LogSettings = LogSettings()
    signup: SignupSettings = SignupSettings()

    # Declarative provisioning (R17.10): raw tables, validated by provisioning.py.
    groups: list[dict[str, Any]] = Field(default_factory=list)
    models: list[dict[str, Any]] = Field(default_factory=list)
    channels: list[dict[str, Any]] = Field(default_factory=list)
    users: list[dict[str, Any]] = Field(default_factory=list)
    keys: list[dict[str, Any]] = Field(default_factory=list)
    plans: list[dict[str, Any]] = Field(default_factory=list)
    subscriptions: list[dict[str, Any]] = Field(default_factory=list)

    # Where the settings came from, for error messages (not a setting).
    config_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file, which arrives as init kwargs.
        return (env_settings, init_settings)

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'torouter.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def embedded(self) -> bool:
        """The embedded default: SQLite and in-process counters (R1.4)."""
        return self.is_sqlite and not self.redis.url

    @property
    def has_provisioning(self) -> bool:
        return any(
            (
                self.groups,
                self.models,
                self.channels,
                self.users,
                self.keys,
                self.plans,
                self.subscriptions,
            )
        )


# Set by `load_settings`, never by a file or a variable.
_INTERNAL = ("config_file",)


def load_settings(config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read the TOML file (argument, else `TOROUTER_CONFIG`), then the environment.

    Raises `ConfigError` naming the file or variable, the section and the key when a name is
    unknown to the settings models (a close match suggested).
    """
    path = config_file or os.environ.get("TOROUTER_CONFIG")
    data: dict[str, Any] = {}
    problems = env_problems(os.environ, Settings, hidden=_INTERNAL)[0]
    if path:
        p = Path(path)
        with p.open("rb") as fh:
            data = tomllib.load(fh)
        problems = file_problems(data, Settings, str(p), hidden=_INTERNAL) + problems
        data["config_file"] = p
        if "data_dir" in data and not Path(data["data_dir"]).is_absolute():
            data["data_dir"] = str((p.parent / data["data_dir"]).resolve())
    if problems:
        raise ConfigError("\n".join(map(str, problems)))
    data.update(overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:  # a wrong value: name where it came from and the key
        raise ConfigError(
            "\n".join(
                f"{_source(e['loc'], path)}: {_dotted(e['loc'])}: {e['msg']}" for e in exc.errors()
            )
        ) from None


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _source(loc: tuple[int | str, ...], path: str | os.PathLike[str] | None) -> str:
    """The variable that set the bad value when one did (it wins over the file), else the file."""
    names = [str(p) for p in loc if isinstance(p, str)]
    for n in range(len(names), 0, -1):
        variable = ENV_PREFIX + "__".join(names[:n]).upper()
        if variable in os.environ:
            return variable
    return str(path) if path else "TOROUTER_ variables"


def env_warnings(environ: Mapping[str, str] | None = None) -> list[str]:
    """`TOROUTER_<KEY>` variables that look like a misspelt setting (shown, not fatal)."""
    found = env_problems(os.environ if environ is None else environ, Settings, hidden=_INTERNAL)
    return [f"{w}; it is ignored" for w in found[1]]
