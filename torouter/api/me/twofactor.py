"""`/api/me/2fa`: turn TOTP on and off (R12.6).

POST /api/me/2fa/email-code      mail a 6-digit code (10 min, 5 tries)
POST /api/me/2fa/enable/start    password + that code → secret, SVG QR code, recovery codes
POST /api/me/2fa/enable/confirm  a live code from the app → on
POST /api/me/2fa/disable         password + code or recovery code → off
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import StringConstraints, model_validator
from starlette.requests import Request

from torouter.accounts import twofactor as flow
from torouter.accounts.profile import load_user
from torouter.api.account_schemas import Message, Password
from torouter.api.auth import SessionUser
from torouter.api.client import client_ip, request_language
from torouter.api.deps import AccountsDep
from torouter.api.schemas import ApiModel, ErrorEnvelope, InputModel

__all__ = ["router"]

router = APIRouter(prefix="/2fa", tags=["me"])

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
_E = {"model": ErrorEnvelope}


class TwoFactorStatus(ApiModel):
    enabled: bool
    pending: bool  # started, not confirmed yet
    recovery_codes_left: int


class EnableStart(InputModel):
    password: Password
    email_code: Code


class EnableConfirm(InputModel):
    code: Code


class Disable(InputModel):
    password: Password
    code: Code | None = None
    recovery_code: Code | None = None

    @model_validator(mode="after")
    def _one_factor(self) -> Disable:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("give exactly one of code and recovery_code")
        return self


class Enrollment(ApiModel):
    """Shown once. Scan `qr_svg` (or type `secret`) into an authenticator app, keep the
    recovery codes somewhere safe, then confirm with a code from the app."""

    secret: str
    otpauth_uri: str
    qr_svg: str
    recovery_codes: list[str]


@router.get("", response_model=TwoFactorStatus, summary="My two-factor status")
async def status(accounts: AccountsDep, principal: SessionUser) -> TwoFactorStatus:
    assert principal.user_id is not None
    user = await load_user(accounts, principal.user_id)
    async with accounts.db.connect() as conn:
        left = await flow.recovery_codes_left(conn, principal.user_id)
    return TwoFactorStatus(
        enabled=user["totp_enabled"],
        pending=not user["totp_enabled"] and user["totp_secret_enc"] is not None,
        recovery_codes_left=left if user["totp_enabled"] else 0,
    )


@router.post(
    "/email-code",
    status_code=202,
    response_model=Message,
    responses={409: _E, 429: _E},
    summary="Mail me a code to turn two-factor on",
    description="A 6-digit code valid 10 minutes (5 tries), at most one a minute.",
)
async def email_code(request: Request, accounts: AccountsDep, principal: SessionUser) -> Message:
    assert principal.user_id is not None
    user = await load_user(accounts, principal.user_id)
    await flow.send_code(accounts, user, request_language(request))
    return Message(message="A code was sent to your email address.")


@router.post(
    "/enable/start",
    response_model=Enrollment,
    responses={409: _E, 429: _E},
    summary="Start turning two-factor on",
    description="Needs the password and the mailed code. Returns the secret, its QR code "
    "(SVG) and 10 single-use recovery codes; two-factor is on after `enable/confirm`.",
)
async def enable_start(
    request: Request, accounts: AccountsDep, principal: SessionUser, body: EnableStart
) -> Enrollment:
    assert principal.user_id is not None
    user = await load_user(accounts, principal.user_id)
    e = await flow.start(
        accounts, user, password=body.password, email_code=body.email_code, ip=client_ip(request)
    )
    return Enrollment(
        secret=e.secret, otpauth_uri=e.otpauth_uri, qr_svg=e.qr_svg, recovery_codes=e.recovery_codes
    )


@router.post(
    "/enable/confirm",
    response_model=TwoFactorStatus,
    responses={409: _E},
    summary="Confirm two-factor with a code from the app",
)
async def enable_confirm(
    accounts: AccountsDep, principal: SessionUser, body: EnableConfirm
) -> TwoFactorStatus:
    assert principal.user_id is not None
    user = await load_user(accounts, principal.user_id)
    await flow.confirm(accounts, user, code=body.code)
    return await status(accounts, principal)


@router.post(
    "/disable",
    response_model=TwoFactorStatus,
    responses={409: _E, 429: _E},
    summary="Turn two-factor off",
    description="Needs the password and a code from the app or a recovery code.",
)
async def disable(
    request: Request, accounts: AccountsDep, principal: SessionUser, body: Disable
) -> TwoFactorStatus:
    assert principal.user_id is not None
    user = await load_user(accounts, principal.user_id)
    await flow.disable(
        accounts,
        user,
        password=body.password,
        code=body.code,
        recovery_code=body.recovery_code,
        ip=client_ip(request),
    )
    return await status(accounts, principal)
