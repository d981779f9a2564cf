"""`/api/me/profile` and `/api/me/password` (R12.5)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import AfterValidator, Field, StringConstraints, field_validator
from starlette.requests import Request

from torouter.accounts import messages as m
from torouter.accounts import profile as flow
from torouter.api.account_schemas import Password, ProfileRead, TwicePassword
from torouter.api.auth import SessionUser
from torouter.api.client import client_ip
from torouter.api.deps import AccountsDep
from torouter.api.money import usd_to_nusd
from torouter.api.schemas import ApiModel, InputModel, UsdAmount

__all__ = ["router"]

router = APIRouter(tags=["me"])


def _threshold(usd: Decimal) -> Decimal:
    if usd_to_nusd(usd) < 0:  # also refuses more than 9 decimals
        raise ValueError("must not be negative")
    return usd


class ProfileUpdate(InputModel):
    """Only the fields sent change; `null` clears one."""

    username: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    language: Literal["en", "zh-CN"] | None = None
    display_currency: Literal["USD", "CNY"] | None = None
    low_balance_threshold_usd: Annotated[
        Annotated[UsdAmount, AfterValidator(_threshold)] | None,
        Field(description="Mail me once when my balance falls below this (R15.4); null: off"),
    ] = None
    email: Annotated[
        None, Field(description="Not editable: the email is fixed (admins may change it)")
    ] = None

    @field_validator("email", mode="before")
    @classmethod
    def _email_fixed(cls, value: Any) -> None:
        raise ValueError(m.EMAIL_FIXED)


class PasswordChange(TwicePassword):
    current_password: Password


class PasswordChanged(ApiModel):
    other_sessions_ended: int


@router.get("/profile", response_model=ProfileRead, summary="My profile")
async def get_profile(accounts: AccountsDep, principal: SessionUser) -> ProfileRead:
    assert principal.user_id is not None
    return ProfileRead.from_row(await flow.load_user(accounts, principal.user_id))


@router.patch("/profile", response_model=ProfileRead, summary="Edit my profile")
async def patch_profile(
    accounts: AccountsDep, principal: SessionUser, body: ProfileUpdate
) -> ProfileRead:
    assert principal.user_id is not None
    if "low_balance_threshold_usd" in body.model_fields_set:
        usd = body.low_balance_threshold_usd
        nusd = None if usd is None else usd_to_nusd(usd)
        await flow.set_low_balance_threshold(accounts, principal.user_id, nusd)
    fields = body.model_dump(include=body.model_fields_set & flow.EDITABLE)
    if fields.get("username") == "":
        fields["username"] = None
    return ProfileRead.from_row(await flow.update_profile(accounts, principal.user_id, fields))


@router.post(
    "/password",
    response_model=PasswordChanged,
    summary="Change my password",
    description="Needs the current password. This session and every API key keep working; "
    "the other sessions end.",
)
async def change_password(
    request: Request, accounts: AccountsDep, principal: SessionUser, body: PasswordChange
) -> PasswordChanged:
    assert principal.user_id is not None
    ended = await flow.change_password(
        accounts,
        user_id=principal.user_id,
        session_id=principal.session_id,
        current=body.current_password,
        new=body.password,
        ip=client_ip(request),
    )
    return PasswordChanged(other_sessions_ended=ended)
