"""`/profile`: username, language and display currency, password, two-factor and sessions
(R12.5, R12.6, R15.1), through the same flows as `/api/me/profile`, `/password`, `/2fa` and
`/sessions`, validated by the same input models."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.accounts import profile as profile_flow
from torouter.accounts import twofactor
from torouter.accounts.sessions import active_sessions, revoke_session
from torouter.api.me.profile import PasswordChange, ProfileUpdate, patch_profile
from torouter.api.me.twofactor import Disable, EnableConfirm, EnableStart
from torouter.api.session_auth import clear_session_cookies
from torouter.console.deps import ConsoleDeps
from torouter.console.devices import device
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import signed_in
from torouter.console.render import page, redirect
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError

__all__ = ["routes"]

_SECTIONS = ("account", "preferences", "notices", "password", "totp", "sessions")


def _deps(request: Request) -> ConsoleDeps:
    deps: ConsoleDeps = request.app.state.deps
    return deps


async def _render(
    request: Request,
    v: Visitor,
    *,
    status: int = 200,
    errors: dict[str, FormErrors] | None = None,
    forms: dict[str, dict[str, str]] | None = None,
    enrollment: twofactor.Enrollment | None = None,
) -> Response:
    deps = _deps(request)
    acc = deps.accounts
    user = await profile_flow.load_user(acc, v.user_id)
    async with acc.db.connect() as conn:
        sessions = list(
            (await conn.execute(active_sessions(v.user_id, acc.clock.now()))).mappings()
        )
        codes_left = await twofactor.recovery_codes_left(conn, v.user_id)
    pending = None if enrollment else twofactor.pending_enrollment(acc, user)
    all_errors = {name: FormErrors(v.t) for name in _SECTIONS}
    all_errors.update(errors or {})
    return page(
        request,
        v,
        "profile.html",
        status=status,
        user=user,
        sessions=sessions,
        current_session=v.session.id if v.session else None,
        codes_left=codes_left,
        enrollment=enrollment,
        pending=pending,
        errors=all_errors,
        forms=forms or {},
        device=device,
    )


@signed_in
async def profile_page(request: Request, v: Visitor) -> Response:
    return await _render(request, v)


async def _fail(
    request: Request,
    v: Visitor,
    section: str,
    exc: Exception,
    known: tuple[str, ...],
    form: dict[str, Any] | None = None,
) -> Response:
    errors = FormErrors(v.t)
    if isinstance(exc, ValidationError):
        errors.from_validation(exc, known)
    elif isinstance(exc, GatewayError):
        errors.from_error(exc, known)
    status = exc.status if isinstance(exc, GatewayError) else 400
    forms = {section: form} if form else None
    return await _render(request, v, status=status, errors={section: errors}, forms=forms)


@signed_in
async def save_account(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    username = form.get("username", "").strip()
    try:
        body = ProfileUpdate.model_validate({"username": username or None})
    except ValidationError as exc:
        return await _fail(request, v, "account", exc, ("username",), {"username": username})
    await profile_flow.update_profile(
        _deps(request).accounts, v.user_id, {"username": body.username}
    )
    return redirect("/profile", notice="profile_saved")


@signed_in
async def save_preferences(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    values = {
        "language": form.get("language") or None,
        "display_currency": form.get("display_currency") or None,
    }
    try:
        body = ProfileUpdate.model_validate(values)
    except ValidationError as exc:
        return await _fail(request, v, "preferences", exc, ("language", "display_currency"))
    await profile_flow.update_profile(
        _deps(request).accounts,
        v.user_id,
        {"language": body.language, "display_currency": body.display_currency},
    )
    return redirect("/profile", notice="profile_saved")


@signed_in
async def save_notices(request: Request, v: Visitor) -> Response:
    """The low-balance threshold (R15.4), through `PATCH /api/me/profile`'s own function:
    empty turns the notice off."""
    form = await read_form(request, v)
    raw = form.get("low_balance_threshold_usd", "").strip()
    known = ("low_balance_threshold_usd",)
    try:
        body = ProfileUpdate.model_validate({"low_balance_threshold_usd": raw or None})
        await patch_profile(_deps(request).accounts, v.principal, body)
    except (ValidationError, GatewayError) as exc:
        return await _fail(request, v, "notices", exc, known, {known[0]: raw})
    return redirect("/profile#notices", notice="threshold_saved" if raw else "threshold_off")


@signed_in
async def change_password(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    known = ("current_password", "password", "password_confirm")
    try:
        body = PasswordChange.model_validate({k: form.get(k, "") for k in known})
        await profile_flow.change_password(
            _deps(request).accounts,
            user_id=v.user_id,
            session_id=v.session.id if v.session else None,
            current=body.current_password,
            new=body.password,
            ip=v.ip,
        )
    except (ValidationError, GatewayError) as exc:
        return await _fail(request, v, "password", exc, known)
    return redirect("/profile", notice="password_changed")


@signed_in
async def totp_code(request: Request, v: Visitor) -> Response:
    await read_form(request, v)
    acc = _deps(request).accounts
    try:
        await twofactor.send_code(acc, await profile_flow.load_user(acc, v.user_id), v.lang)
    except GatewayError as exc:
        return await _fail(request, v, "totp", exc, ())
    return redirect("/profile#totp", notice="totp_code_sent")


@signed_in
async def totp_start(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    acc = _deps(request).accounts
    known = ("password", "email_code")
    try:
        body = EnableStart.model_validate({k: form.get(k, "").strip() for k in known})
        enrollment = await twofactor.start(
            acc,
            await profile_flow.load_user(acc, v.user_id),
            password=body.password,
            email_code=body.email_code,
            ip=v.ip,
        )
    except (ValidationError, GatewayError) as exc:
        return await _fail(request, v, "totp", exc, known)
    # The secret and recovery codes are shown this once: rendered, not redirected.
    return await _render(request, v, enrollment=enrollment)


@signed_in
async def totp_confirm(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    acc = _deps(request).accounts
    try:
        body = EnableConfirm.model_validate({"code": form.get("code", "").strip()})
        await twofactor.confirm(acc, await profile_flow.load_user(acc, v.user_id), code=body.code)
    except (ValidationError, GatewayError) as exc:
        return await _fail(request, v, "totp", exc, ("code",))
    return redirect("/profile", notice="totp_on")


@signed_in
async def totp_disable(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    acc = _deps(request).accounts
    known = ("password", "code", "recovery_code")
    values = {k: form.get(k, "").strip() or None for k in known}
    try:
        body = Disable.model_validate(values)
        await twofactor.disable(
            acc,
            await profile_flow.load_user(acc, v.user_id),
            password=body.password,
            code=body.code,
            recovery_code=body.recovery_code,
            ip=v.ip,
        )
    except ValidationError as exc:
        if values["password"] and not (values["code"] or values["recovery_code"]):
            errors = FormErrors(v.t)
            errors.add("code", v.t("auth.totp.need_code"))
            return await _render(request, v, status=400, errors={"totp": errors})
        return await _fail(request, v, "totp", exc, known)
    except GatewayError as exc:
        return await _fail(request, v, "totp", exc, known)
    return redirect("/profile", notice="totp_off")


@signed_in
async def revoke(request: Request, v: Visitor) -> Response:
    await read_form(request, v)
    acc = _deps(request).accounts
    try:
        session_id = int(request.path_params["session_id"])
    except ValueError:
        session_id = 0
    async with acc.db.begin() as conn:
        ended = await revoke_session(
            conn, session_id=session_id, user_id=v.user_id, now=acc.clock.now()
        )
    if ended and v.session is not None and session_id == v.session.id:
        response = redirect("/login", notice="signed_out")
        clear_session_cookies(response, acc, request)
        return response
    return redirect("/profile#sessions", notice="session_ended" if ended else "session_gone")


routes = [
    Route("/profile", profile_page, methods=["GET"]),
    Route("/profile", save_account, methods=["POST"]),
    Route("/profile/preferences", save_preferences, methods=["POST"]),
    Route("/profile/notices", save_notices, methods=["POST"]),
    Route("/profile/password", change_password, methods=["POST"]),
    Route("/profile/2fa/code", totp_code, methods=["POST"]),
    Route("/profile/2fa/start", totp_start, methods=["POST"]),
    Route("/profile/2fa/confirm", totp_confirm, methods=["POST"]),
    Route("/profile/2fa/disable", totp_disable, methods=["POST"]),
    Route("/profile/sessions/{session_id}/revoke", revoke, methods=["POST"]),
]
