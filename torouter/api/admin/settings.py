"""`/api/admin/settings`: admin-editable settings kept in the database (R15.2, R17.5).

For now the sign-up section: open or closed, and the email-domain allow-list (R12.1).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints

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


class SettingsRead(ApiModel):
    signup: SignupSettingsRead


class SignupSettingsUpdate(InputModel):
    enabled: bool | None = None
    allowed_domains: list[Domain] | None = Field(
        None, description="Sign-up accepts only these domains; an empty list accepts every one"
    )


class SettingsUpdate(InputModel):
    """Only the fields sent change."""

    signup: SignupSettingsUpdate | None = None


def _read(enabled: bool, domains: tuple[str, ...]) -> SettingsRead:
    return SettingsRead(signup=SignupSettingsRead(enabled=enabled, allowed_domains=list(domains)))


@router.get("/settings", response_model=SettingsRead, summary="Get admin settings")
async def get_settings(deps: Deps) -> SettingsRead:
    async with deps.db.connect() as conn:
        s = await load_signup(conn)
    return _read(s.enabled, s.allowed_domains)


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
    return _read(s.enabled, s.allowed_domains)
