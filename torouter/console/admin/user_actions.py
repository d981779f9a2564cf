"""The actions of an account's admin page (R15.2, R14.7, R7.7): suspend, reactivate, verify,
role, balance credit or debit with a reason, private-group grants, subscriptions (assign,
extend, pause, resume, cancel), two-factor reset and sessions.

Each goes through the admin API's handler (its rules, its audit row, its snapshot update)
and redirects back to the account's page with a notice; a refusal re-renders the page with
the message in the form that caused it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.admin import groups as groups_api
from torouter.api.admin import subscriptions as subs_api
from torouter.api.admin import user_account as account_api
from torouter.api.admin import user_actions as actions_api
from torouter.api.admin import users as users_api
from torouter.api.admin.subscriptions import Extension, SubscriptionAssign
from torouter.api.admin.user_account import RoleChange
from torouter.api.admin.users import BalanceChange, UserRead
from torouter.api.deps import ApiDeps
from torouter.api.subscription_service import load_sub
from torouter.console.admin.common import attempt, deps
from torouter.console.admin.users import load_user, render_user
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import Endpoint, admin
from torouter.console.render import page, redirect
from torouter.console.visitor import Visitor
from torouter.errors import error

__all__ = ["routes"]

Action = Callable[[ApiDeps, UserRead, dict[str, str], Visitor], Awaitable[str | None]]


def _status(errors: FormErrors) -> int:
    return 409 if errors.general and not errors.fields else 400


def _endpoint(action: Action, section: str, notice: str, known: tuple[str, ...]) -> Endpoint:
    """The POST handler of one action: load the account, read the form (CSRF), act, then
    redirect to the account's page at `#section` with a notice (the action may name a more
    precise one), or re-render the page with the refusal in that section's form."""

    @admin
    async def endpoint(request: Request, v: Visitor) -> Response:
        user = await load_user(request)
        if user is None:
            return page(request, v, "errors/not_found.html", status=404)
        form = await read_form(request, v)
        errors = FormErrors(v.t)
        api = deps(request).api
        done = await attempt(errors, known, lambda: action(api, user, form, v))
        if errors:
            return await render_user(
                request,
                v,
                await load_user(request) or user,
                status=_status(errors),
                errors={section: errors},
                forms={section: form},
            )
        return redirect(f"/admin/users/{user.id}#section-{section}", notice=done or notice)

    endpoint.__name__ = action.__name__
    return endpoint


async def suspend(api: ApiDeps, user: UserRead, form: dict[str, str], v: Visitor) -> None:
    await actions_api.suspend(api, v.principal, user.id)


async def reactivate(api: ApiDeps, user: UserRead, form: dict[str, str], v: Visitor) -> None:
    await actions_api.reactivate(api, v.principal, user.id)


async def verify(api: ApiDeps, user: UserRead, form: dict[str, str], v: Visitor) -> None:
    await account_api.verify(api, v.principal, user.id)


async def role(api: ApiDeps, user: UserRead, form: dict[str, str], v: Visitor) -> None:
    body = RoleChange.model_validate({"role": form.get("role", "")})
    await account_api.change_role(api, v.principal, user.id, body)


async def balance(api: ApiDeps, user: UserRead, form: dict[str, str], v: Visitor) -> str:
    """A credit or debit (R14.7): the amount is positive, the direction says which; the
    reason is required and lands in the ledger entry's note."""
    amount = form.get("amount_usd", "").strip()
    if amount.startswith(("-", "+")):
        raise error("E16", v.t("admin.users.balance.positive"), param="amount_usd")
    debit = form.get("direction") == "debit"
    signed = f"-{amount}" if debit and amount else amount
    body = BalanceChange.model_validate({"amount_usd": signed, "reason": form.get("reason", "")})
    await users_api.change_balance(api, v.principal, user.id, body)
    return "balance_debited" if debit else "balance_credited"


async def grants(api: ApiDeps, user: UserRead, form: dict[str, str], v: Visitor) -> str:
    group_id = _int(form.get("group_id"), "group_id")
    if form.get("grant") == "revoke":
        await groups_api.revoke(api, v.principal, group_id, user.id)
        return "grant_revoked"
    await groups_api.grant(api, v.principal, group_id, user.id, Response())
    return "grant_added"


async def totp_reset(api: ApiDeps, user: UserRead, form: dict[str, str], v: Visitor) -> None:
    await actions_api.reset_two_factor(api, v.principal, user.id)


async def end_all_sessions(api: ApiDeps, user: UserRead, form: dict[str, str], v: Visitor) -> None:
    await account_api.end_all_sessions(api, v.principal, user.id)


async def end_session(api: ApiDeps, user: UserRead, form: dict[str, str], v: Visitor) -> None:
    await account_api.end_session(api, v.principal, user.id, _int(form.get("session_id"), "id"))


async def assign(api: ApiDeps, user: UserRead, form: dict[str, str], v: Visitor) -> None:
    body = SubscriptionAssign.model_validate(
        {
            "user_id": user.id,
            "plan_id": form.get("plan_id", ""),
            "auto_renew": form.get("auto_renew") == "on",
        }
    )
    await subs_api.assign(api, v.principal, body, Response())


async def change_subscription(
    api: ApiDeps, user: UserRead, form: dict[str, str], v: Visitor
) -> str:
    """Extend (by days), pause, resume or cancel one of this account's subscriptions."""
    sub_id = _int(form.get("subscription_id"), "subscription_id")
    async with api.db.connect() as conn:
        row = await load_sub(conn, sub_id)
    if row is None or row["user_id"] != user.id:
        raise error("E19", "Subscription not found")
    verb = form.get("change", "")
    if verb == "extend":
        body = Extension.model_validate({"days": form.get("days", "")})
        await subs_api.extend(api, v.principal, sub_id, body)
    elif verb == "pause":
        await subs_api.pause(api, v.principal, sub_id)
    elif verb == "resume":
        await subs_api.resume(api, v.principal, sub_id)
    elif verb == "cancel":
        await subs_api.cancel(api, v.principal, sub_id)
    else:
        raise error("E16", "change: unknown", param="change")
    return f"subscription_{verb}"


# path under /admin/users/{user_id}/, action, section of the page, notice, form fields
_ACTIONS: tuple[tuple[str, Action, str, str, tuple[str, ...]], ...] = (
    ("suspend", suspend, "state", "user_suspended", ()),
    ("reactivate", reactivate, "state", "user_reactivated", ()),
    ("verify", verify, "state", "user_verified", ()),
    ("role", role, "role", "user_role", ("role",)),
    ("balance", balance, "balance", "balance_credited", ("amount_usd", "reason")),
    ("grants", grants, "grants", "grant_added", ("group_id",)),
    ("2fa-reset", totp_reset, "totp", "totp_reset", ()),
    ("sessions/end-all", end_all_sessions, "sessions", "sessions_ended", ()),
    ("sessions/end", end_session, "sessions", "session_ended", ()),
    ("subscriptions", assign, "subscriptions", "subscription_assigned", ("plan_id",)),
    (
        "subscriptions/change",
        change_subscription,
        "subscriptions",
        "subscription_changed",
        ("days",),
    ),
)


def _int(value: str | None, param: str) -> int:
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise error("E16", f"{param}: not an id", param=param)
    return int(text)


routes = [
    Route(
        f"/admin/users/{{user_id}}/{path}",
        _endpoint(action, section, notice, known),
        methods=["POST"],
    )
    for path, action, section, notice, known in _ACTIONS
]
