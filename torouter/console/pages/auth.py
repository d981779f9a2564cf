"""Sign-in, the TOTP step, sign-up, verification, password reset and sign-out (R12, R15.1).

Every form goes through the same flows as `/api/auth` (`accounts.login`, `signup`,
`recovery`) and the same input models, so rules and messages are those of the JSON API.
Post/redirect/get throughout, except the TOTP step, whose login ticket lives only in the
page's hidden field (it is a 5-minute, 5-try secret of this browser).
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.accounts import login as login_flow
from torouter.accounts import recovery, signup
from torouter.accounts.sessions import revoke_session
from torouter.api.auth_routes import ForgotBody, LoginBody, LoginTotpBody, ResetBody, SignupBody
from torouter.api.session_auth import clear_session_cookies, set_session_cookies
from torouter.console.deps import ConsoleDeps
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import public
from torouter.console.render import page, redirect, safe_next
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError

__all__ = ["routes"]

_TICKET_GONE = frozenset({"AUTH_REQUIRED"})


def _deps(request: Request) -> ConsoleDeps:
    deps: ConsoleDeps = request.app.state.deps
    return deps


@public
async def login_page(request: Request, v: Visitor) -> Response:
    nxt = safe_next(request.query_params.get("next"))
    if v.signed_in:
        return redirect(nxt)
    return page(request, v, "auth/login.html", errors=FormErrors(v.t), form={}, next=nxt)


@public
async def login_post(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    nxt = safe_next(form.get("next"))
    errors = FormErrors(v.t)
    email = form.get("email", "").strip()
    try:
        body = LoginBody.model_validate({"email": email, "password": form.get("password", "")})
        result = await login_flow.login(
            _deps(request).accounts,
            email=body.email,
            password=body.password,
            ip=v.ip,
            user_agent=request.headers.get("user-agent"),
        )
    except ValidationError as exc:
        errors.from_validation(exc, ("email", "password"))
    except GatewayError as exc:
        errors.from_error(exc)
    else:
        if isinstance(result, login_flow.TotpChallenge):
            return page(request, v, "auth/totp.html", ticket=result.ticket, next=nxt, errors=errors)
        return _signed_in(request, result, nxt)
    return page(
        request, v, "auth/login.html", status=400, errors=errors, form={"email": email}, next=nxt
    )


def _signed_in(request: Request, ok: login_flow.LoginOk, nxt: str) -> Response:
    response = redirect(nxt)
    set_session_cookies(response, _deps(request).accounts, request, ok.session)
    return response


@public
async def totp_post(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    nxt = safe_next(form.get("next"))
    ticket = form.get("ticket", "")
    code = form.get("code", "").strip() or None
    recovery_code = form.get("recovery_code", "").strip() or None
    errors = FormErrors(v.t)
    try:
        body = LoginTotpBody.model_validate(
            {"login_ticket": ticket, "code": code, "recovery_code": recovery_code}
        )
        ok = await login_flow.login_totp(
            _deps(request).accounts,
            ticket=body.login_ticket,
            code=body.code,
            recovery_code=body.recovery_code,
            ip=v.ip,
            user_agent=request.headers.get("user-agent"),
        )
    except ValidationError:
        errors.add("code", v.t("auth.totp.need_code"))
    except GatewayError as exc:
        if exc.code in _TICKET_GONE:  # expired or used up: the login starts over
            errors.from_error(exc)
            return page(request, v, "auth/login.html", status=401, errors=errors, form={}, next=nxt)
        errors.from_error(exc, ("code", "recovery_code"))
    else:
        return _signed_in(request, ok, nxt)
    return page(request, v, "auth/totp.html", status=400, ticket=ticket, next=nxt, errors=errors)


@public
async def signup_page(request: Request, v: Visitor) -> Response:
    if v.signed_in:
        return redirect("/dashboard")
    return page(request, v, "auth/signup.html", errors=FormErrors(v.t), form={})


@public
async def signup_post(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    errors = FormErrors(v.t)
    email = form.get("email", "").strip()
    try:
        body = SignupBody.model_validate(
            {
                "email": email,
                "password": form.get("password", ""),
                "password_confirm": form.get("password_confirm", ""),
            }
        )
        await signup.register(
            _deps(request).accounts,
            email=body.email,
            password=body.password,
            ip=v.ip,
            lang=v.lang,
        )
    except ValidationError as exc:
        errors.from_validation(exc, ("email", "password", "password_confirm"))
    except GatewayError as exc:
        errors.from_error(exc, ("email", "password"))
    else:
        return redirect("/verify", notice="signup_sent")
    return page(request, v, "auth/signup.html", status=400, errors=errors, form={"email": email})


@public
async def verify_page(request: Request, v: Visitor) -> Response:
    token = request.query_params.get("token", "")
    return page(request, v, "auth/verify.html", token=token, errors=FormErrors(v.t), form={})


@public
async def verify_post(request: Request, v: Visitor) -> Response:
    """Confirm a link. A button, not the GET itself: mail scanners that open links must not
    spend the single-use token."""
    form = await read_form(request, v)
    token = form.get("token", "").strip()
    errors = FormErrors(v.t)
    if not token:
        errors.add(None, v.t("errors.link_missing"))
    else:
        try:
            await signup.verify(_deps(request).accounts, token=token)
        except GatewayError as exc:
            errors.from_error(exc)
        else:
            return redirect("/dashboard" if v.signed_in else "/login", notice="verified")
    return page(request, v, "auth/verify.html", status=400, token="", errors=errors, form={})


@public
async def resend_post(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    acc = _deps(request).accounts
    errors = FormErrors(v.t)
    email = form.get("email", "").strip()
    try:
        if v.signed_in:
            await signup.resend(acc, user_id=v.user_id, lang=v.lang)
        elif email:
            await signup.resend_by_email(acc, email=email, ip=v.ip, lang=v.lang)
        else:
            errors.add("email", v.t("errors.field.missing"))
    except GatewayError as exc:
        errors.from_error(exc, ("email",))
    if not errors:
        return redirect("/verify", notice="verify_sent")
    return page(
        request, v, "auth/verify.html", status=400, token="", errors=errors, form={"email": email}
    )


@public
async def forgot_page(request: Request, v: Visitor) -> Response:
    return page(request, v, "auth/forgot.html", errors=FormErrors(v.t), form={})


@public
async def forgot_post(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    errors = FormErrors(v.t)
    email = form.get("email", "").strip()
    try:
        body = ForgotBody.model_validate({"email": email})
        await recovery.forgot(_deps(request).accounts, email=body.email, ip=v.ip, lang=v.lang)
    except ValidationError as exc:
        errors.from_validation(exc, ("email",))
    else:
        # The same answer whether or not the address has an account (R12.4).
        return redirect("/forgot", notice="reset_sent")
    return page(request, v, "auth/forgot.html", status=400, errors=errors, form={"email": email})


@public
async def reset_page(request: Request, v: Visitor) -> Response:
    token = request.query_params.get("token", "")
    return page(request, v, "auth/reset.html", token=token, errors=FormErrors(v.t))


@public
async def reset_post(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    token = form.get("token", "").strip()
    errors = FormErrors(v.t)
    try:
        body = ResetBody.model_validate(
            {
                "token": token,
                "password": form.get("password", ""),
                "password_confirm": form.get("password_confirm", ""),
            }
        )
        await recovery.reset(_deps(request).accounts, token=body.token, password=body.password)
    except ValidationError as exc:
        errors.from_validation(exc, ("password", "password_confirm"))
    except GatewayError as exc:
        errors.from_error(exc, ("password",))
    else:
        response = redirect("/login", notice="password_reset")
        clear_session_cookies(response, _deps(request).accounts, request)
        return response
    return page(request, v, "auth/reset.html", status=400, token=token, errors=errors)


@public
async def logout_post(request: Request, v: Visitor) -> Response:
    await read_form(request, v)
    acc = _deps(request).accounts
    if v.session is not None:
        async with acc.db.begin() as conn:
            await revoke_session(
                conn, session_id=v.session.id, user_id=v.session.user_id, now=acc.clock.now()
            )
    response = redirect("/login", notice="signed_out")
    clear_session_cookies(response, acc, request)
    return response


routes = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_post, methods=["POST"]),
    Route("/login/totp", totp_post, methods=["POST"]),
    Route("/signup", signup_page, methods=["GET"]),
    Route("/signup", signup_post, methods=["POST"]),
    Route("/verify", verify_page, methods=["GET"]),
    Route("/verify", verify_post, methods=["POST"]),
    Route("/verify/resend", resend_post, methods=["POST"]),
    Route("/forgot", forgot_page, methods=["GET"]),
    Route("/forgot", forgot_post, methods=["POST"]),
    Route("/reset", reset_page, methods=["GET"]),
    Route("/reset", reset_post, methods=["POST"]),
    Route("/logout", logout_post, methods=["POST"]),
]
