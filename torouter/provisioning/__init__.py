"""Declarative provisioning (R17.10): `[[groups]]`, `[[models]]`… in the config file.

    plan = validate(settings)                    # pure; raises ProvisioningError
    report = await apply(db, settings, keyring)  # one transaction, idempotent

A wrong entry stops `serve` with the file, entry and field named, for example
`config.toml: [[channels]] #2 (name "anthropic-main"): field "platform": must be one of …`.
"""

from __future__ import annotations

from collections.abc import Mapping

from torouter.config import Settings
from torouter.crypto import Keyring
from torouter.provisioning.apply import ApplyReport, Change, load_existing, write_plan
from torouter.provisioning.validate import Existing, Plan, ProvisioningError, validate
from torouter.storage.db import Database

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
    async with db.begin() as conn:
        plan = validate(settings, existing=await load_existing(conn), environ=environ)
        return await write_plan(conn, plan, keyring)
