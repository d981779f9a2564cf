"""The checks `serve` makes before it listens, shared with `check-config` (R17.5, R17.6).

`check-config` used to call a configuration valid that `serve` then refused (PostgreSQL without
`encryption_key`, several workers without Redis): both now ask this one function. Each problem
is one line, `where: section.key: message`, where `where` is the file or the variable that set
the value. Nothing here touches the database, Redis or the network.
"""

from __future__ import annotations

import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from torouter.config import Settings

__all__ = ["problems"]

_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")


def problems(settings: Settings) -> list[str]:
    """Every reason `serve` would refuse these settings before listening; [] when none."""
    found: list[str] = []

    def add(dotted: str, message: str) -> None:
        found.append(f"{_where(settings, dotted)}: {dotted}: {message}")

    s = settings
    if s.server.workers < 1:
        add("server.workers", "must be at least 1")
    if s.server.workers > 1 and not s.redis.url:
        add(
            "server.workers",
            "several workers need Redis (set redis.url); in-process counters cannot be shared",
        )
    if s.server.nodes < 1:
        add("server.nodes", "must be at least 1")
    if s.server.nodes > 1 and not s.redis.url:
        add(
            "server.nodes",
            "several nodes need Redis (set redis.url): each node's in-process counters would "
            "let every node spend the whole limit",
        )
    if not 0 <= s.server.port <= 65535:
        add("server.port", "must be between 0 and 65535")
    if not s.database_url.startswith(("sqlite", "postgresql")):
        add("database.url", "must be a sqlite+aiosqlite:// or postgresql+asyncpg:// URL")
    elif not s.is_sqlite and not s.encryption_key:
        add(
            "encryption_key",
            "must be set when the database is PostgreSQL (every node must read the same "
            "secrets; `torouter gen-secret` prints one)",
        )
    if s.encryption_key:
        from torouter.crypto import CryptoError, Keyring

        try:
            Keyring.from_setting(s.encryption_key)
        except CryptoError as exc:
            add("encryption_key", str(exc).removeprefix("encryption_key: "))
    try:
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        add("timezone", f"unknown time zone {s.timezone!r} (e.g. UTC, Europe/Paris)")
    if s.log.level.upper() not in _LEVELS:
        add("log.level", f"must be one of {', '.join(_LEVELS)}")
    if s.count_tokens.mode not in ("upstream", "local"):
        add("count_tokens.mode", 'must be "upstream" or "local"')
    if s.has_provisioning:
        from torouter.provisioning import ProvisioningError, validate

        try:
            validate(s)
        except ProvisioningError as exc:
            found.extend(exc.problems)
    return found


def _where(settings: Settings, dotted: str) -> str:
    """The variable that set this key when one did (it wins over the file), else the file."""
    variable = "TOROUTER_" + dotted.replace(".", "__").upper()
    if variable in os.environ:
        return variable
    return str(settings.config_file) if settings.config_file else "defaults"
