"""`/api/admin/settings`: admin-editable settings kept in the database (R15.2, R17.5).

The sign-up section: open or closed, and the email-domain allow-list (R12.1). The display
section: whether `/pricing` is public (R15.4) and the CNY rate shown beside USD (§0). A field
the configuration sets wins, is listed in `read_only`, and cannot be changed here (409).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints

from torouter.accounts.display_settings import DisplaySettings, load_display, save_display
from torouter.accounts.site_settings import (
    SignupRules,
    load_signup,
    normalize_domains,
    save_signup,
)
from torouter.api.audit import record_audit
from torouter.api.auth import Admin
from torouter.api.deps import Deps
from torouter.api.schemas import ApiModel, InputModel
from torouter.errors import error

__all__ = ["router"]

router = APIRouter(tags=["settings"])

Domain = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=253,
        pattern=r"^@?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?$",
    ),
]


class SignupSettingsRead(BaseModel):
    enabled: bool
    allowed_domains: list[str]
    read_only: list[str] = Field(
        description="Fields set in the configuration file or environment: they win over the "
        "database and cannot be changed here"
    )


class DisplaySettingsRead(BaseModel):
    public_pricing: bool = Field(description="`/pricing` is readable without an account")
    cny_rate: str | None = Field(description="CNY per USD for users who show CNY; null: unset")


class SettingsRead(ApiModel):
    signup: SignupSettingsRead
    display: DisplaySettingsRead


class SignupSettingsUpdate(InputModel):
    enabled: bool | None = None
    allowed_domains: list[Domain] | None = Field(
        None, description="Sign-up accepts only these domains; an empty list accepts every one"
    )


class DisplaySettingsUpdate(InputModel):
    public_pricing: bool | None = None
    cny_rate: Annotated[Decimal, Field(gt=0, le=1_000_000, decimal_places=6)] | None = Field(
        None, description="CNY per USD, e.g. 7.2; null unsets it"
    )


class SettingsUpdate(InputModel):
    """Only the fields sent change."""

    signup: SignupSettingsUpdate | None = None
    display: DisplaySettingsUpdate | None = None


def _read(rules: SignupRules, display: DisplaySettings) -> SettingsRead:
    rate = None if display.cny_rate is None else format(display.cny_rate, "f")
    return SettingsRead(
        signup=SignupSettingsRead(
            enabled=rules.enabled,
            allowed_domains=list(rules.allowed_domains),
            read_only=sorted(rules.read_only),
        ),
        display=DisplaySettingsRead(public_pricing=display.public_pricing, cny_rate=rate),
    )


def _changes(
    body: SignupSettingsUpdate, rules: SignupRules
) -> tuple[bool | None, tuple[str, ...] | None]:
    """(enabled, allowed_domains) sent and different from the rules in force, else None.
    Changing a read-only field is a 409; sending a configured value back unchanged (a form
    that posts every field) is fine."""
    enabled = body.enabled if body.enabled not in (None, rules.enabled) else None
    domains = None
    if body.allowed_domains is not None:
        domains = normalize_domains(body.allowed_domains)
        domains = None if domains == rules.allowed_domains else domains
    changed = {"enabled": enabled, "allowed_domains": domains}
    locked = sorted(n for n, v in changed.items() if v is not None and n in rules.read_only)
    if locked:
        message = f"signup.{locked[0]} is set in the configuration file and is read-only"
        raise error("CONFLICT", message)
    return enabled, domains


@router.get("/settings", response_model=SettingsRead, summary="Get admin settings")
async def get_settings(deps: Deps) -> SettingsRead:
    async with deps.db.connect() as conn:
        rules = await load_signup(conn, deps.settings.signup)
        display = await load_display(conn)
    return _read(rules, display)


@router.patch("/settings", response_model=SettingsRead, summary="Change admin settings")
async def patch_settings(deps: Deps, principal: Admin, body: SettingsUpdate) -> SettingsRead:
    configured = deps.settings.signup
    async with deps.db.begin() as conn:
        rules = await load_signup(conn, configured)
        enabled, domains = _changes(body.signup, rules) if body.signup else (None, None)
        if enabled is not None or domains is not None:
            rules = await save_signup(
                conn,
                configured,
                enabled=enabled,
                allowed_domains=None if domains is None else list(domains),
            )
            await record_audit(
                conn,
                actor=principal.actor,
                action="settings.update",
                target="signup",
                detail=body.signup.model_dump(exclude_none=True) if body.signup else {},
            )
        if body.display is not None:
            sent = body.display.model_fields_set
            display = await save_display(
                conn,
                public_pricing=body.display.public_pricing,
                cny_rate=body.display.cny_rate,
                clear_cny_rate="cny_rate" in sent and body.display.cny_rate is None,
            )
            await record_audit(
                conn,
                actor=principal.actor,
                action="settings.update",
                target="display",
                detail=body.display.model_dump(mode="json", exclude_unset=True),
            )
        else:
            display = await load_display(conn)
    return _read(rules, display)
