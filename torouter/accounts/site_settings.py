"""Admin-editable sign-up settings (R12.1, R15.2), kept in the `settings` table (R17.5).

signup.enabled          bool, default true   (false: sign-up answers 403 FORBIDDEN)
signup.allowed_domains  list of domains, default empty (any domain)

A value set in the configuration (`[signup]` in the file, or `TOROUTER_SIGNUP__…`) wins over
the database's and is read-only: `load_signup` takes the configured section, so no reader can
forget it, and names the fields it fixed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.config import SignupSettings
from torouter.storage.repos._common import sync_row
from torouter.storage.tables import settings_kv

__all__ = [
    "ALLOWED_DOMAINS",
    "SIGNUP_ENABLED",
    "SignupRules",
    "apply_configured",
    "domain_allowed",
    "load_signup",
    "normalize_domain",
    "normalize_domains",
    "save_signup",
]

SIGNUP_ENABLED = "signup.enabled"
ALLOWED_DOMAINS = "signup.allowed_domains"


@dataclass(frozen=True, slots=True)
class SignupRules:
    """The sign-up rules in force: configured values over stored ones."""

    enabled: bool = True
    allowed_domains: tuple[str, ...] = ()
    read_only: frozenset[str] = frozenset()  # fields fixed by the configuration


def normalize_domain(domain: str) -> str:
    return domain.strip().lstrip("@").rstrip(".").lower()


def domain_allowed(rules: SignupRules, email: str) -> bool:
    if not rules.allowed_domains:
        return True
    return normalize_domain(email.rpartition("@")[2]) in rules.allowed_domains


def normalize_domains(domains: list[str]) -> tuple[str, ...]:
    """Normalised and deduplicated in the given order (error messages list them that way)."""
    return tuple(dict.fromkeys(d for d in map(normalize_domain, domains) if d))


async def load_signup(conn: AsyncConnection, configured: SignupSettings) -> SignupRules:
    stmt = select(settings_kv.c.key, settings_kv.c.value).where(
        settings_kv.c.key.in_((SIGNUP_ENABLED, ALLOWED_DOMAINS))
    )
    values = {row.key: row.value for row in await conn.execute(stmt)}
    enabled = values.get(SIGNUP_ENABLED)
    domains = values.get(ALLOWED_DOMAINS)
    stored = SignupRules(
        enabled=enabled if isinstance(enabled, bool) else True,
        allowed_domains=tuple(str(d) for d in domains) if isinstance(domains, list) else (),
    )
    return apply_configured(stored, configured)


def apply_configured(stored: SignupRules, configured: SignupSettings) -> SignupRules:
    """The configured values win (R17.5); the fields they fix become read-only."""
    fixed = frozenset(configured.model_dump(exclude_none=True))
    return SignupRules(
        enabled=stored.enabled if configured.enabled is None else configured.enabled,
        allowed_domains=(
            stored.allowed_domains
            if configured.allowed_domains is None
            else normalize_domains(configured.allowed_domains)
        ),
        read_only=fixed,
    )


async def save_signup(
    conn: AsyncConnection,
    configured: SignupSettings,
    *,
    enabled: bool | None = None,
    allowed_domains: list[str] | None = None,
) -> SignupRules:
    """Write the settings given (None: unchanged); returns the rules in force. The caller
    refuses changes to read-only fields: stored anyway, they would never apply."""
    if enabled is not None:
        await sync_row(
            conn,
            settings_kv,
            match={"key": SIGNUP_ENABLED},
            values={"value": enabled},
            stamp="updated_at",
        )
    if allowed_domains is not None:
        await sync_row(
            conn,
            settings_kv,
            match={"key": ALLOWED_DOMAINS},
            values={"value": list(normalize_domains(allowed_domains))},
            stamp="updated_at",
        )
    return await load_signup(conn, configured)
