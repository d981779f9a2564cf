"""`/admin/payments/reconcile` (R14.10): pick days, see every mismatch between orders, the
ledger and Stripe that `/api/admin/payments/reconcile` finds, and repair one (or every
repairable one) through `/api/admin/payments/reconcile/repair`.

The comparison calls Stripe, so it runs when the form asks for it (`?from=`), not on every
visit. A repair re-checks the mismatch first and acts only if it is still there, so a
double click or a stale page changes nothing the second time; the result of each repair is
shown above the fresh comparison. The API writes the audit row of each repair that changed
something; "repair all" adds one row saying what it tried.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.admin import payments as api
from torouter.api.admin.payments import RepairRead, RepairRequest
from torouter.api.audit import record_audit
from torouter.api.changes import deployment_zone
from torouter.console.admin.common import attempt, deps
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import admin
from torouter.console.render import page
from torouter.console.visitor import Visitor
from torouter.errors import error
from torouter.usage.filters import DayRange

__all__ = ["routes"]

_DEFAULT_DAYS = 7


def _days(raw: dict[str, str], errors: FormErrors, today: dt.date) -> tuple[dt.date, dt.date]:
    """The inclusive days `from`..`to` of the form (default: the last 7 days)."""
    out = []
    for name, default in (("from", today - dt.timedelta(days=_DEFAULT_DAYS - 1)), ("to", today)):
        text = raw.get(name, "").strip()[:20]
        try:
            out.append(dt.date.fromisoformat(text) if text else default)
        except ValueError:
            errors.add(name, errors.t("admin.invalid_date"))
            out.append(default)
    return out[0], out[1]


async def _render(
    request: Request,
    v: Visitor,
    raw: dict[str, str],
    *,
    run: bool,
    status: int = 200,
    results: list[dict[str, Any]] | None = None,
) -> Response:
    d = deps(request)
    zone = deployment_zone(d.api)
    today = dt.datetime.now(dt.UTC).astimezone(zone).date()
    errors = FormErrors(v.t)
    first, last = _days(raw, errors, today)
    report = None
    p = d.api.payments
    if p is None:
        errors.add(None, v.t("admin.reconcile.no_payments"))
    elif run and not errors:
        days = DayRange.of(first, last, zone)

        async def compare() -> dict[str, Any]:
            if last < first:
                raise error("E16", "to: must not be before from", param="to")
            return await api.reconcile(p, days.since.isoformat(), days.until.isoformat())

        report = await attempt(errors, ("from", "to"), compare)
    return page(
        request,
        v,
        "admin/reconcile.html",
        status=400 if errors.fields else status,
        first=first,
        last=last,
        report=report,
        ran=run,
        errors=errors,
        results=results or [],
    )


@admin
async def reconcile_page(request: Request, v: Visitor) -> Response:
    raw = {k: request.query_params.get(k, "") for k in ("from", "to")}
    return await _render(request, v, raw, run="from" in request.query_params)


async def _repair_one(request: Request, v: Visitor, mismatch_id: str) -> dict[str, Any]:
    d = deps(request)
    errors = FormErrors(v.t)
    p = d.api.payments

    async def repair() -> RepairRead:
        if p is None:
            raise error("PAYMENTS_NOT_CONFIGURED")
        body = RepairRequest.model_validate({"id": mismatch_id})
        return await api.repair(d.api, p, v.principal, body)

    done = await attempt(errors, (), repair)
    return {
        "id": mismatch_id[:200],
        "ok": done is not None,
        "repaired": bool(done and done.repaired),
        "detail": done.detail if done else " ".join(errors.general or errors.fields.values()),
        "change": done.balance_change_nusd if done else 0,
    }


@admin
async def repair(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    result = await _repair_one(request, v, form.get("id", "").strip())
    return await _render(request, v, form, run=True, results=[result])


@admin
async def repair_all(request: Request, v: Visitor) -> Response:
    """Compare again, then repair each repairable mismatch found, one by one."""
    form = await read_form(request, v)
    d = deps(request)
    p = d.api.payments
    zone = deployment_zone(d.api)
    errors = FormErrors(v.t)
    first, last = _days(form, errors, dt.datetime.now(dt.UTC).astimezone(zone).date())
    results: list[dict[str, Any]] = []
    if p is not None and not errors and first <= last:
        days = DayRange.of(first, last, zone)

        async def compare() -> dict[str, Any]:
            return await api.reconcile(p, days.since.isoformat(), days.until.isoformat())

        report = await attempt(errors, (), compare)
        ids = [m.id for m in report["data"] if m.repairable] if report else []
        for mismatch_id in ids:
            results.append(await _repair_one(request, v, mismatch_id))
        if ids:
            async with d.api.db.begin() as conn:
                await record_audit(
                    conn,
                    actor=v.principal.actor,
                    action="payments.repair_all",
                    target=f"reconcile:{first.isoformat()}..{last.isoformat()}",
                    detail={
                        "tried": len(ids),
                        "repaired": sum(r["repaired"] for r in results),
                        "failed": sum(not r["ok"] for r in results),
                    },
                )
    return await _render(request, v, form, run=True, results=results)


routes = [
    Route("/admin/payments/reconcile", reconcile_page, methods=["GET"]),
    Route("/admin/payments/reconcile/repair", repair, methods=["POST"]),
    Route("/admin/payments/reconcile/repair-all", repair_all, methods=["POST"]),
]
