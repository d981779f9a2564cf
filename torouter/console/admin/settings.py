"""`/admin/settings`: sign-up (open or closed, allowed email domains), email (SMTP, with a
test mail), timezone and language, usage retention, display (public pricing, CNY rate).

Which fields the page offers follows one description (`torouter/site_config.py`): a value
the configuration file or the environment sets wins and is shown read-only with a note
(R17.5). Sign-up and display are saved through the admin API's settings handler; the other
sections through `SiteConfig`, which also puts the new values into the running settings
(timezone and language apply after a restart, and the page says so).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.accounts.live_mailer import LiveMailer
from torouter.accounts.mailer import Mail
from torouter.api.admin import settings as api
from torouter.api.admin.settings import SettingsRead, SettingsUpdate
from torouter.api.audit import record_audit
from torouter.console.admin import settings_payments
from torouter.console.admin.common import attempt, deps
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import admin
from torouter.console.render import page, redirect
from torouter.console.visitor import Visitor
from torouter.errors import error
from torouter.site_config import LANGUAGES, SETTINGS

__all__ = ["render_settings", "routes"]

SECTIONS = ("signup", "smtp", "regional", "retention", "display", "payments")
_KEYS = {sec: [s.key for s in SETTINGS if s.section == sec] for sec in SECTIONS}


async def render_settings(
    request: Request,
    v: Visitor,
    *,
    status: int = 200,
    errors: dict[str, FormErrors] | None = None,
    forms: dict[str, dict[str, str]] | None = None,
    mail_result: dict[str, Any] | None = None,
) -> Response:
    d = deps(request)
    sc = d.site_config
    async with d.api.db.connect() as conn:
        values = await sc.values(conn)
    current = await api.get_settings(d.api)
    all_errors = {name: FormErrors(v.t) for name in SECTIONS}
    all_errors.update(errors or {})
    return page(
        request,
        v,
        "admin/settings.html",
        status=status,
        values=values,
        signup=current.signup,
        display=current.display,
        fixed=sc.fixed,
        pending=sc.pending_restart(values),
        running={
            "timezone": sc.settings.timezone,
            "default_language": sc.settings.default_language,
        },
        languages=LANGUAGES,
        errors=all_errors,
        forms=forms or {},
        mail_result=mail_result,
        payments=await settings_payments.current(request),
    )


@admin
async def settings_page(request: Request, v: Visitor) -> Response:
    return await render_settings(request, v)


def _section(request: Request) -> str:
    """The section a form posts to: the last part of its path."""
    return request.url.path.rstrip("/").rsplit("/", 1)[-1]


def _status(errors: FormErrors) -> int:
    return 409 if errors.general and not errors.fields else 400


@admin
async def save_signup_or_display(request: Request, v: Visitor) -> Response:
    """Both go through the admin API's handler (its validation, file-wins rule, audit)."""
    section = _section(request)
    form = await read_form(request, v)
    d = deps(request)
    fixed = d.site_config.fixed
    body: dict[str, Any] = {}
    if section == "signup":
        part: dict[str, Any] = {}
        if "signup.enabled" not in fixed:
            part["enabled"] = form.get("signup.enabled") == "on"
        if "signup.allowed_domains" not in fixed:
            text = form.get("signup.allowed_domains", "")
            lines = text.replace(",", "\n").splitlines()
            part["allowed_domains"] = [x.strip() for x in lines if x.strip()]
        body["signup"] = part
    else:
        part = {}
        if "display.public_pricing" not in fixed:
            part["public_pricing"] = form.get("display.public_pricing") == "on"
        if "display.cny_rate" not in fixed:
            part["cny_rate"] = form.get("display.cny_rate", "").strip() or None
        body["display"] = part
    errors = FormErrors(v.t)
    known: tuple[str, ...] = (
        f"{section}.enabled",
        f"{section}.allowed_domains",
        f"{section}.public_pricing",
    )
    known += (f"{section}.cny_rate",)

    async def save() -> SettingsRead:
        return await api.patch_settings(d.api, v.principal, SettingsUpdate.model_validate(body))

    if await attempt(errors, known, save) is None:
        return await render_settings(
            request, v, status=_status(errors), errors={section: errors}, forms={section: form}
        )
    return redirect(f"/admin/settings#{section}", notice="settings_saved")


@admin
async def save_stored(request: Request, v: Visitor) -> Response:
    """SMTP, regional and retention: validated and stored by `SiteConfig`."""
    section = _section(request)
    form = await read_form(request, v)
    d = deps(request)
    sc = d.site_config
    errors = FormErrors(v.t)

    async def save() -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for key in _KEYS[section]:
            if key in sc.fixed:
                continue
            if key == "smtp.password":
                if form.get("smtp.password", "").strip():
                    changes[key] = form["smtp.password"].strip()
                elif form.get("clear_smtp_password") == "on":
                    changes[key] = None
                continue
            changes[key] = sc.parse(key, form.get(key, ""))
        async with d.api.db.begin() as conn:
            changed = await sc.save(conn, changes)
            if changed:
                await record_audit(
                    conn,
                    actor=v.principal.actor,
                    action="settings.update",
                    target=section,
                    detail=changed,
                )
            await sc.apply_stored(conn, start=False)
        return changed

    if await attempt(errors, _KEYS[section], save) is None:
        form.pop("smtp.password", None)  # never sent back to the page
        return await render_settings(
            request, v, status=_status(errors), errors={section: errors}, forms={section: form}
        )
    return redirect(f"/admin/settings#{section}", notice="settings_saved")


@admin
async def test_mail(request: Request, v: Visitor) -> Response:
    """Send a mail to the admin's own address with the settings in force, and say how it
    went (the error class when SMTP refuses; nothing secret)."""
    await read_form(request, v)
    d = deps(request)
    assert v.user is not None
    mail = Mail(
        to=str(v.user["email"]),
        subject=v.t("admin.settings.test_subject"),
        text=v.t("admin.settings.test_body"),
    )
    errors = FormErrors(v.t)

    async def send() -> bool:
        try:
            await LiveMailer(d.settings).send(mail)
        except Exception as exc:  # an SMTP or network failure: shown, never raised
            raise error("E20", f"{type(exc).__name__}: {exc}"[:300]) from None
        return True

    sent = await attempt(errors, (), send)
    async with d.api.db.begin() as conn:
        await record_audit(
            conn,
            actor=v.principal.actor,
            action="settings.test_mail",
            target="smtp",
            detail={"to": mail.to, "sent": bool(sent)},
        )
    result = {"ok": bool(sent), "to": mail.to, "smtp": bool(d.settings.smtp.host)}
    return await render_settings(
        request, v, status=200 if sent else 502, errors={"smtp": errors}, mail_result=result
    )


routes = [
    Route("/admin/settings", settings_page, methods=["GET"]),
    Route("/admin/settings/smtp/test", test_mail, methods=["POST"]),
    Route("/admin/settings/signup", save_signup_or_display, methods=["POST"]),
    Route("/admin/settings/display", save_signup_or_display, methods=["POST"]),
    *(
        Route(f"/admin/settings/{section}", save_stored, methods=["POST"])
        for section in ("smtp", "regional", "retention")
    ),
]
