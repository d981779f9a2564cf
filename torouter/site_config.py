"""Admin-editable settings with file values winning (R17.5): one table says which they are.

    SETTINGS                      every setting the settings page shows: its dotted key (the
                                  configuration path and the settings-table key at once), kind,
                                  default, page section, and whether it applies only at start
    SiteConfig(settings, keyring) `fixed`: the keys the file or the environment set (read-only
                                  on the page), computed once from the settings as loaded
    .values(conn)                 every setting in force with where it comes from
    .save(conn, changes)          validate and store (refusing fixed keys); secrets encrypted
    .apply_stored(conn, start=…)  put stored values into the running `Settings` for the keys
                                  the file did not set, so every reader sees them

A key is set by the configuration when pydantic recorded it as given (`model_fields_set`) for
the section and the field: that follows any section the settings model grows (a `[signup]`
section, say) without another list. Sign-up and display values are read and written by their
own modules (`accounts/site_settings.py`, `accounts/display_settings.py`, through the admin
API's handler); this module stores the rest. Values that the gateway and the ledger copy when
they are built (timezone, default language) apply at the next start; the others at once, and
on other nodes at their next periodic reload.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.config import Settings
from torouter.crypto import CryptoError, Keyring, decrypt, encrypt
from torouter.errors import error
from torouter.storage.repos._common import sync_row
from torouter.storage.tables import settings_kv

__all__ = ["SETTINGS", "Setting", "SiteConfig", "Value"]

Kind = Literal["bool", "int", "text", "secret", "domains", "decimal", "timezone", "language"]
Source = Literal["file", "database", "default"]
LANGUAGES = ("en", "zh-CN")


@dataclass(frozen=True, slots=True)
class Setting:
    key: str  # `section.field` or a top-level field, as in the configuration file
    kind: Kind
    section: str  # the settings page's section
    default: Any = None
    stored_as: str | None = None  # a settings-table key that predates this table
    restart: bool = False  # copied by the gateway at start: applies after a restart
    own_module: bool = False  # read and written by its own module (sign-up, display)
    minimum: int | None = None
    maximum: int | None = None

    @property
    def db_key(self) -> str:
        return self.stored_as or self.key


SETTINGS: tuple[Setting, ...] = (
    Setting("signup.enabled", "bool", "signup", True, own_module=True),
    Setting("signup.allowed_domains", "domains", "signup", (), own_module=True),
    Setting("smtp.host", "text", "smtp", None),
    Setting("smtp.port", "int", "smtp", 25, minimum=1, maximum=65535),
    Setting("smtp.username", "text", "smtp", None),
    Setting("smtp.password", "secret", "smtp", None),
    Setting("smtp.starttls", "bool", "smtp", False),
    Setting("smtp.sender", "text", "smtp", "ToRouter <no-reply@torouter.local>"),
    Setting("timezone", "timezone", "regional", "UTC", restart=True),
    Setting("default_language", "language", "regional", "en", restart=True),
    Setting("usage.retention_days", "int", "retention", 90, minimum=0, maximum=36_500),
    Setting("display.public_pricing", "bool", "display", True, "pricing.public", own_module=True),
    Setting("display.cny_rate", "decimal", "display", None, own_module=True),
)
_BY_KEY = {s.key: s for s in SETTINGS}


@dataclass(frozen=True, slots=True)
class Value:
    setting: Setting
    value: Any  # a secret's value is never given out: True when one is set
    source: Source


def _configured(settings: BaseModel, key: str) -> bool:
    """Whether the configuration (file or environment) gave `key`."""
    model: Any = settings
    *sections, name = key.split(".")
    for section in sections:
        if section not in model.model_fields_set:
            return False
        model = getattr(model, section, None)
        if not isinstance(model, BaseModel):
            return False
    return name in model.model_fields_set


def _get(settings: Settings, key: str) -> Any:
    target: Any = settings
    for part in key.split("."):
        target = getattr(target, part, None)
    return target


def _set(settings: Settings, key: str, value: Any) -> None:
    *sections, name = key.split(".")
    target: Any = settings
    for section in sections:
        target = getattr(target, section)
    setattr(target, name, value)


class SiteConfig:
    def __init__(self, settings: Settings, keyring: Keyring) -> None:
        self.settings = settings
        self._keyring = keyring
        # Computed now, before any stored value is put into `settings` (which pydantic would
        # then count as given): the one answer to "is this key set by the file?".
        self.fixed: frozenset[str] = frozenset(
            s.key for s in SETTINGS if _configured(settings, s.key)
        )

    # -- reading ---------------------------------------------------------------------------

    async def stored(self, conn: AsyncConnection) -> dict[str, Any]:
        """Stored values by setting key (secrets decrypted); unreadable ones left out."""
        keys = {s.db_key: s for s in SETTINGS}
        rows = await conn.execute(
            select(settings_kv.c.key, settings_kv.c.value).where(settings_kv.c.key.in_(keys))
        )
        out: dict[str, Any] = {}
        for key, raw in rows:
            s = keys[key]
            if s.kind == "secret":
                if isinstance(raw, dict) and isinstance(raw.get("enc"), str):
                    try:
                        out[s.key] = decrypt(raw["enc"], self._keyring)
                    except CryptoError:
                        continue  # another key encrypted it: treated as unset
            elif raw is not None:
                out[s.key] = raw
        return out

    async def values(self, conn: AsyncConnection) -> dict[str, Value]:
        """Every setting not handled by its own module, with where its value comes from."""
        stored = await self.stored(conn)
        out: dict[str, Value] = {}
        for s in SETTINGS:
            if s.own_module:
                continue
            source: Source
            if s.key in self.fixed:
                value, source = _get(self.settings, s.key), "file"
            elif s.key in stored:
                value, source = stored[s.key], "database"
            else:
                value, source = s.default, "default"
            if s.kind == "secret":
                value = bool(value)
            out[s.key] = Value(s, value, source)
        return out

    # -- writing ---------------------------------------------------------------------------

    def parse(self, key: str, text: str) -> Any:
        """A form value → the stored value (E16 naming the key when it is not one)."""
        s = _BY_KEY[key]
        raw = text.strip()
        if s.kind == "bool":
            return raw in ("on", "true", "1")
        if s.kind == "int":
            if not raw.isdigit() or len(raw) > 9:
                raise error("E16", f"{key}: enter a whole number", param=key)
            number = int(raw)
            low, high = s.minimum, s.maximum
            if (low is not None and number < low) or (high is not None and number > high):
                raise error("E16", f"{key}: must be between {low} and {high}", param=key)
            return number
        if s.kind == "timezone":
            try:
                zoneinfo.ZoneInfo(raw)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise error("E16", f"{key}: not an IANA time zone", param=key) from None
            return raw
        if s.kind == "language":
            if raw not in LANGUAGES:
                raise error("E16", f"{key}: choose one of the languages", param=key)
            return raw
        if len(raw) > 500:
            raise error("E16", f"{key}: at most 500 characters", param=key)
        return raw or None

    async def save(self, conn: AsyncConnection, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Store parsed values (None unsets: the default applies again). A key the file sets
        is refused (409): stored anyway, it would never apply. Returns what changed, secrets
        as `"(changed)"`, for the audit log."""
        stored = await self.stored(conn)
        changed: dict[str, Any] = {}
        for key, value in changes.items():
            s = _BY_KEY[key]
            if s.own_module:
                raise ValueError(f"{key} is saved by its own module")
            if key in self.fixed:
                raise error("CONFLICT", f"{key} is set in the configuration file and is read-only")
            if stored.get(key) == value:
                continue
            raw: Any = value
            if s.kind == "secret" and value is not None:
                raw = {"enc": encrypt(str(value), self._keyring)}
            await sync_row(
                conn,
                settings_kv,
                match={"key": s.db_key},
                values={"value": raw, "updated_at": dt.datetime.now(dt.UTC)},
            )
            changed[key] = "(changed)" if s.kind == "secret" else value
        return changed

    async def apply_stored(self, conn: AsyncConnection, *, start: bool) -> None:
        """Put the stored values (or the defaults of unset ones) into `settings` for the keys
        the file does not set. At start every one; later only those read as they are used."""
        stored = await self.stored(conn)
        for s in SETTINGS:
            if s.own_module or s.key in self.fixed or (s.restart and not start):
                continue
            value = stored.get(s.key, s.default)
            if _get(self.settings, s.key) != value:
                _set(self.settings, s.key, value)

    def pending_restart(self, values: Mapping[str, Value]) -> set[str]:
        """Keys whose value in force differs from the stored one until the next start."""
        return {
            k
            for k, v in values.items()
            if v.setting.restart and v.source != "file" and _get(self.settings, k) != v.value
        }
