"""`/api/auth`: sign-up, verification, login (+ TOTP step), logout and password reset (R16.1).

Bodies are those of R16.5. Nothing here tells whether an address has an account: login fails
the same way, and `password/forgot` and the session-less `verify/resend` always answer 202.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends
from pydantic import StringConstraints, model_validator
from starlette.requests import Request
from starlette.responses import Response

from torouter.accounts import login as login_flow
from torouter.accounts import recovery, signup
from torouter.accounts.sessions import SESSION_COOKIE, revoke_session
from torouter.api.account_schemas import (
    Email,
    LoginChallenge,
    Message,
    Password,
    ProfileRead,
    SessionStarted,
    TwicePassword,
)
from torouter.api.auth import optional_session
from torouter.api.client import client_ip, request_language
from torouter.api.deps import AccountsDep
from torouter.api.errors import render
from torouter.api.principal import Principal
from torouter.api.schemas import ErrorEnvelope, InputModel, Responses
from torouter.api.session_auth import clear_session_cookies, set_session_cookies
from torouter.errors import error

__all__ = ["router"]

router = APIRouter(prefix="/api/auth", tags=["auth"])

Token = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
LooseEmail = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
_E = {"model": ErrorEnvelope}
_LIMITED: Responses = {
    429: {"model": ErrorEnvelope, "description": "Too many attempts (`Retry-After`)"}
}


class SignupBody(TwicePassword):
    email: Email


class ResetBody(TwicePassword):
    token: Token


class VerifyBody(InputModel):
    token: Token


class ResendBody(InputModel):
    email: LooseEmail | None = None


class LoginBody(InputModel):
    email: LooseEmail
    password: Password


class LoginTotpBody(InputModel):
    login_ticket: Token
    code: Code | None = None
    recovery_code: Code | None = None

    @model_validator(mode="after")
    def _one_factor(self) -> LoginTotpBody:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("give exactly one of code and recovery_code")
        return self


class ForgotBody(InputModel):
    email: LooseEmail


def _started(
    request: Request, response: Response, accounts: AccountsDep, ok: login_flow.LoginOk
) -> SessionStarted:
    set_session_cookies(response, accounts, request, ok.session)
    return SessionStarted(user=ProfileRead.from_row(ok.user), csrf_token=ok.session.csrf)


@router.post(
    "/signup",
    status_code=201,
    response_model=ProfileRead,
    responses={403: _E, 409: _E, **_LIMITED},
    summary="Sign up",
    description="Creates an `unverified` account and mails a verification link (24 h, single "
    "use). 400 `EMAIL_DOMAIN_NOT_ALLOWED` outside the allow-list; 409 `EMAIL_TAKEN`; 403 "
    "`FORBIDDEN` when sign-up is closed; 10 attempts per IP per hour.",
)
async def signup_route(request: Request, accounts: AccountsDep, body: SignupBody) -> ProfileRead:
    user = await signup.register(
        accounts,
        email=body.email,
        password=body.password,
        ip=client_ip(request),
        lang=request_language(request),
    )
    return ProfileRead.from_row(user)


@router.post(
    "/verify",
    response_model=ProfileRead,
    summary="Verify an email address",
    description="Uses the token of a verification link; the account becomes `active`.",
)
async def verify_route(accounts: AccountsDep, body: VerifyBody) -> ProfileRead:
    return ProfileRead.from_row(await signup.verify(accounts, token=body.token))


@router.post(
    "/verify/resend",
    status_code=202,
    response_model=Message,
    responses={401: _E, 403: _E, 409: _E, **_LIMITED},
    summary="Send the verification link again",
    description="Signed in (unverified): mails a new link, at most one a minute (429 with "
    "`Retry-After`). Without a session, give `email`: the answer is always 202.",
)
async def resend_route(
    request: Request,
    accounts: AccountsDep,
    principal: Annotated[Principal | None, Depends(optional_session)],
    body: ResendBody | None = None,
) -> Message:
    lang = request_language(request)
    if principal is not None and principal.user_id is not None:
        await signup.resend(accounts, user_id=principal.user_id, lang=lang)
        return Message(message="A new verification link was sent.")
    if body is None or body.email is None:
        raise error("AUTH_REQUIRED")
    await signup.resend_by_email(accounts, email=body.email, ip=client_ip(request), lang=lang)
    return Message(message="If this address needs verifying, a new link was sent.")


@router.post(
    "/login",
    response_model=SessionStarted,
    responses={
        401: {
            "model": LoginChallenge,
            "description": "`INVALID_CREDENTIALS`, or `TOTP_REQUIRED` with a `login_ticket` "
            "for `POST /api/auth/login/totp`",
        },
        403: _E,
        429: {
            "model": ErrorEnvelope,
            "description": "`ACCOUNT_LOCKED` (5 failures in 15 min) or `RATE_LIMIT_EXCEEDED` "
            "(30 failures per IP in 15 min), with `Retry-After`",
        },
    },
    summary="Sign in",
    description="Sets the `torouter_session` (HttpOnly) and `torouter_csrf` cookies.",
)
async def login_route(
    request: Request, response: Response, accounts: AccountsDep, body: LoginBody
) -> SessionStarted | Response:
    result = await login_flow.login(
        accounts,
        email=body.email,
        password=body.password,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    if isinstance(result, login_flow.TotpChallenge):
        return _challenge(request, result.ticket)
    return _started(request, response, accounts, result)


def _challenge(request: Request, ticket: str) -> Response:
    settings = request.app.state.deps.settings
    status, headers, body = render(
        error("TOTP_REQUIRED"), request.headers.get("accept-language"), settings.default_language
    )
    doc = orjson.loads(body)
    doc["login_ticket"] = ticket
    out = Response(orjson.dumps(doc), status_code=status, media_type="application/json")
    out.raw_headers.extend(headers)
    return out


@router.post(
    "/login/totp",
    response_model=SessionStarted,
    responses={401: _E, 403: _E},
    summary="Finish a sign-in with a TOTP or recovery code",
    description="Five wrong codes end the ticket (401 `AUTH_REQUIRED`): sign in again.",
)
async def login_totp_route(
    request: Request, response: Response, accounts: AccountsDep, body: LoginTotpBody
) -> SessionStarted:
    ok = await login_flow.login_totp(
        accounts,
        ticket=body.login_ticket,
        code=body.code,
        recovery_code=body.recovery_code,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    return _started(request, response, accounts, ok)


@router.post(
    "/logout",
    status_code=204,
    responses={403: _E},
    summary="Sign out",
    description="Ends this session and clears its cookies (CSRF required).",
)
async def logout_route(
    request: Request,
    accounts: AccountsDep,
    principal: Annotated[Principal | None, Depends(optional_session)],
) -> Response:
    if principal is not None and principal.session_id is not None and principal.user_id:
        async with accounts.db.begin() as conn:
            await revoke_session(
                conn,
                session_id=principal.session_id,
                user_id=principal.user_id,
                now=accounts.clock.now(),
            )
    out = Response(status_code=204)
    if request.cookies.get(SESSION_COOKIE) is not None:
        clear_session_cookies(out, accounts, request)
    return out


@router.post(
    "/password/forgot",
    status_code=202,
    response_model=Message,
    summary="Ask for a password reset link",
    description="Always 202, whether or not the address has an account. A real account gets "
    "a single-use link valid 1 hour (at most 5 per address and 20 per IP an hour).",
)
async def forgot_route(request: Request, accounts: AccountsDep, body: ForgotBody) -> Message:
    await recovery.forgot(
        accounts, email=body.email, ip=client_ip(request), lang=request_language(request)
    )
    return Message(message="If an account has this address, a reset link is on its way.")


@router.post(
    "/password/reset",
    response_model=Message,
    summary="Set a new password with a reset link",
    description="Ends every session; API keys, balance, subscriptions and TOTP stay.",
)
async def reset_route(accounts: AccountsDep, body: ResetBody) -> Message:
    await recovery.reset(accounts, token=body.token, password=body.password)
    return Message(message="The password was changed; sign in with it.")
