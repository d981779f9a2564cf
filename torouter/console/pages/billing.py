"""`/billing`: the money timeline (R14.1, R15.4): every change of the balance, newest first,
with its reason, what it refers to (an order, a usage batch, an administrator) and the
running balance; filtered by reason and by the last N days, 20 a page, with the CSV link.

The entries come from `/api/me/ledger`'s own function, called in-process with the visitor
as the principal: the same filter, the same reference read back, the same page.
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.ledger_views import LedgerQuery
from torouter.api.me import ledger as ledger_api
from torouter.api.pagination import PageParams
from torouter.console.deps import ConsoleDeps
from torouter.console.forms import FormErrors
from torouter.console.guards import verified
from torouter.console.render import page
from torouter.console.usage_filters import LEDGER_DAYS, REASONS, ledger_filters
from torouter.console.visitor import Visitor

__all__ = ["routes"]

PAGE_SIZE = 20


@verified
async def billing_page(request: Request, v: Visitor) -> Response:
    deps: ConsoleDeps = request.app.state.deps
    f = ledger_filters(request.query_params)
    errors = FormErrors(v.t)
    for name, key in f.errors.items():
        errors.add(name, v.t(key))
    today = v.now.astimezone(deps.tz).date()
    q = LedgerQuery(tuple(r for r in (f.reason,) if r), f.start(today), None)
    found = await ledger_api.list_ledger(deps.api, v.principal, PageParams(f.page, PAGE_SIZE), q)
    pages = max(1, math.ceil(found.total / PAGE_SIZE))
    csv = {k: v for k, v in (("reason", f.reason), ("start", q.start)) if v}
    return page(
        request,
        v,
        "billing/list.html",
        status=400 if f.errors else 200,
        f=f,
        errors=errors,
        entries=found.data,
        total=found.total,
        pages=pages,
        page_query=lambda n: urlencode(f.query(page=n if n > 1 else None)),
        csv_url="/api/me/ledger/export.csv" + ("?" + urlencode(csv) if csv else ""),
        reason_choices=[
            ("", v.t("billing.all_reasons")),
            *((r, v.t(f"billing.reason.{r}")) for r in REASONS),
        ],
        day_choices=[
            ("", v.t("billing.all_time")),
            *((str(n), v.t("billing.last_days", n=n)) for n in LEDGER_DAYS),
        ],
    )


routes = [Route("/billing", billing_page, methods=["GET"])]
