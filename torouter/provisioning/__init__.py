"""Declarative provisioning (R17.10): `[[groups]]`, `[[models]]`… in the config file.

    plan = validate(settings)                    # pure; raises ProvisioningError
    report = await apply(db, settings, keyring)  # one transaction, idempotent

A wrong entry stops `serve` with the file, entry and field named, for example
`config.toml: [[channels]] #2 (name "anthropic-main"): field "platform": must be one of …`.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from torouter.config import Settings
from torouter.crypto import Keyring
from torouter.provisioning.apply import ApplyReport, Change, load_existing, write_plan
from torouter.provisioning.validate import Existing, Plan, ProvisioningError, validate
from torouter.storage.db import Database

# Advisory lock key: the bytes of "tr-apply" as a signed 64-bit integer.
_PG_APPLY_LOCK = int.from_bytes(b"tr-apply", "big", signed=True)

__all__ = [
    "ApplyReport",
    "Change",
    "Existing",
    "Plan",
    "ProvisioningError",
    "apply",
    "validate",
]


async def apply(
    db: Database,
    settings: Settings,
    keyring: Keyring,
    *,
    environ: Mapping[str, str] | None = None,
) -> ApplyReport:
    """Make the database match the declared entries; all or nothing."""
    validate(settings, environ=environ)  # fail on the file alone before touching the database
    # Replicas (and workers) start together and each applies the file: concurrent inserts of
    # one name stopped all but one with a unique violation. PostgreSQL serialises them on an
    # advisory lock (released at commit), each reading what the previous one committed;
    # SQLite's deferred transactions cannot wait that way, so the loser applies again.
    for attempt in range(1, 4):
        try:
            async with db.begin() as conn:
                if not db.is_sqlite:
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_APPLY_LOCK}
                    )
                plan = validate(settings, existing=await load_existing(conn), environ=environ)
                return await write_plan(conn, plan, keyring)
        except (IntegrityError, OperationalError):
            if not db.is_sqlite or attempt == 3:
                raise
    raise AssertionError("unreachable")
