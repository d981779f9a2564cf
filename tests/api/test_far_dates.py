"""Days and times at the edges of the calendar on every usage, ledger and reconciliation
route: E16 naming the parameter, never a 500 from the day arithmetic (`9999-12-31` plus one
day overflowed `datetime`)."""

from __future__ import annotations

import pytest

from tests.api import seed
from tests.api.conftest import Api
from tests.api.test_me_keys import assert_error

FAR = ["9999-12-31", "0001-01-01", "3000-01-01", "1969-12-31"]
FAR_TIMES = ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"]

OWN_DAYS = [
    "/api/me/usage/logs",
    "/api/me/usage/summary",
    "/api/me/usage/export.csv",
    "/api/me/ledger",
    "/api/me/ledger/export.csv",
]
ADMIN_DAYS = [
    "/api/admin/usage",
    "/api/admin/usage/summary",
    "/api/admin/usage/export.csv",
    "/api/admin/users/1/ledger",
]


@pytest.mark.parametrize("day", FAR)
async def test_far_days_are_e16(api: Api, day: str) -> None:
    me = await seed.user(api.db, email="me@example.com", balance_nusd=10**9)
    client = await api.signed_in(me)
    for path in OWN_DAYS:
        for param in ("start", "end"):
            r = await client.get(path, params={param: day})
            assert_error(r, 400, "INVALID_REQUEST")
            assert r.json()["error"]["param"] == param, (path, r.text)
    for path in ADMIN_DAYS:
        for param in ("start", "end"):
            r = await api.client.get(path, params={param: day}, headers=api.auth)
            assert r.status_code == 400, (path, param, r.text)


@pytest.mark.parametrize("at", FAR_TIMES)
async def test_far_times_are_e16(api: Api, at: str) -> None:
    me = await seed.user(api.db, email="me@example.com", balance_nusd=10**9)
    client = await api.signed_in(me)
    for param in ("since", "until"):
        r = await client.get("/api/me/usage/logs", params={param: at})
        assert r.status_code == 400, (param, r.text)
        r = await api.client.get("/api/admin/usage", params={param: at}, headers=api.auth)
        assert r.status_code == 400, (param, r.text)


@pytest.mark.parametrize("day", FAR)
async def test_reconciliation_far_ranges_never_fail(api: Api, day: str) -> None:
    for param in ("from", "to"):
        r = await api.client.get(
            "/api/admin/payments/reconcile", params={param: day}, headers=api.auth
        )
        assert r.status_code in (200, 400, 503), (param, r.status_code, r.text)
