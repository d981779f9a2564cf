"""`/api/admin/settings`: admin-editable settings kept in the database (R15.2, R17.5).

The sign-up section: open or closed, and the email-domain allow-list (R12.1). The display
section: whether `/pricing` is public (R15.4) and the CNY rate shown beside USD (§0).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints

from torouter.accounts.display_settings import DisplaySettings, load_display, save_display
from torouter.accounts.site_settings import load_signup, save_signup
from torouter.api.audit import record_audit
from torouter.api.auth import Admin
from torouter.api.deps import Deps
from torouter.api.schemas import ApiModel, InputModel

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


def _read(enabled: bool, domains: tuple[str, ...], display: DisplaySettings) -> SettingsRead:
    rate = None if display.cny_rate is None else format(display.cny_rate, "f")
    return SettingsRead(
        signup=SignupSettingsRead(enabled=enabled, allowed_domains=list(domains)),
        display=DisplaySettingsRead(public_pricing=display.public_pricing, cny_rate=rate),
    )


@router.get("/settings", response_model=SettingsRead, summary="Get admin settings")
async def get_settings(deps: Deps) -> SettingsRead:
    async with deps.db.connect() as conn:
        s = await load_signup(conn)
        display = await load_display(conn)
    return _read(s.enabled, s.allowed_domains, display)


@router.patch("/settings", response_model=SettingsRead, summary="Change admin settings")
async def patch_settings(deps: Deps, principal: Admin, body: SettingsUpdate) -> SettingsRead:
    async with deps.db.begin() as conn:
        if body.signup is not None:
            s = await save_signup(
                conn, enabled=body.signup.enabled, allowed_domains=body.signup.allowed_domains
            )
            await record_audit(
                conn,
                actor=principal.actor,
                action="settings.update",
                target="signup",
                detail=body.signup.model_dump(exclude_none=True),
            )
        else:
            s = await load_signup(conn)
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
    return _read(s.enabled, s.allowed_domains, display)
