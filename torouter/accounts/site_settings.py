"""Admin-editable sign-up settings (R12.1, R15.2), kept in the `settings` table (R17.5).

signup.enabled          bool, default true   (false: sign-up answers 403 FORBIDDEN)
signup.allowed_domains  list of domains, default empty (any domain)
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.storage.repos._common import sync_row
from torouter.storage.tables import settings_kv

__all__ = [
    "ALLOWED_DOMAINS",
    "SIGNUP_ENABLED",
    "SignupSettings",
    "domain_allowed",
    "load_signup",
    "normalize_domain",
    "save_signup",
]

SIGNUP_ENABLED = "signup.enabled"
ALLOWED_DOMAINS = "signup.allowed_domains"


@dataclass(frozen=True, slots=True)
class SignupSettings:
    enabled: bool = True
    allowed_domains: tuple[str, ...] = ()


def normalize_domain(domain: str) -> str:
    return domain.strip().lstrip("@").rstrip(".").lower()


def domain_allowed(settings: SignupSettings, email: str) -> bool:
    if not settings.allowed_domains:
        return True
    return normalize_domain(email.rpartition("@")[2]) in settings.allowed_domains


async def load_signup(conn: AsyncConnection) -> SignupSettings:
    stmt = select(settings_kv.c.key, settings_kv.c.value).where(
        settings_kv.c.key.in_((SIGNUP_ENABLED, ALLOWED_DOMAINS))
    )
    values = {row.key: row.value for row in await conn.execute(stmt)}
    enabled = values.get(SIGNUP_ENABLED)
    domains = values.get(ALLOWED_DOMAINS)
    return SignupSettings(
        enabled=enabled if isinstance(enabled, bool) else True,
        allowed_domains=tuple(str(d) for d in domains) if isinstance(domains, list) else (),
    )


async def save_signup(
    conn: AsyncConnection,
    *,
    enabled: bool | None = None,
    allowed_domains: list[str] | None = None,
) -> SignupSettings:
    """Write the settings given (None: unchanged); returns the result."""
    if enabled is not None:
        await sync_row(
            conn,
            settings_kv,
            match={"key": SIGNUP_ENABLED},
            values={"value": enabled},
            stamp="updated_at",
        )
    if allowed_domains is not None:
        # Deduplicated in the admin's order: the error message lists them that way.
        domains = list(dict.fromkeys(d for d in map(normalize_domain, allowed_domains) if d))
        await sync_row(
            conn,
            settings_kv,
            match={"key": ALLOWED_DOMAINS},
            values={"value": domains},
            stamp="updated_at",
        )
    return await load_signup(conn)
