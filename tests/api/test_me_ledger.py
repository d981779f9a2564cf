"""The money timeline (R14.1, R15.4): `/api/me/ledger` with filters, references and running
balance, its CSV, and the admin's per-user view."""

from __future__ import annotations

import csv
import datetime as dt
import io

from sqlalchemy import update

from tests.api import seed
from tests.api.conftest import Api
from tests.api.usage_seed import NOW, pin, record, row
from torouter.storage.repos.ledger import add_ledger_entry
from torouter.storage.tables import ledger


async def timeline_world(api: Api) -> int:
    """A top-up (an order), two usage batches, an admin credit; on three days."""
    pin(api)
    uid = await seed.user(api.db, email="me@example.com")
    async with api.db.begin() as conn:
        await add_ledger_entry(
            conn, user_id=uid, amount_nusd=5 * 10**9, reason="topup", reference="ord_01TOPUP"
        )
    await record(api.db, [row(1, NOW, user_id=uid, cost_nusd=300_000_000)])
    await record(api.db, [row(2, NOW, user_id=uid, cost_nusd=200_000_000)])
    r = await api.client.post(
        f"/api/admin/users/{uid}/balance",
        json={"amount_usd": "1.5", "reason": "sorry for the outage"},
        headers=api.auth,
    )
    assert r.status_code == 201, r.text
    # Spread them over days (the writer stamps its own time): 8th, 9th, 10th, 10th.
    days = [NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=1), NOW, NOW]
    async with api.db.begin() as conn:
        ids = [r.id for r in await conn.execute(ledger.select().order_by(ledger.c.id))]
        for entry_id, at in zip(ids, days, strict=True):
            await conn.execute(update(ledger).where(ledger.c.id == entry_id).values(created_at=at))
    return uid


async def test_timeline_lists_references_and_running_balance(api: Api) -> None:
    uid = await timeline_world(api)
    me = await api.signed_in(uid)
    body = (await me.get("/api/me/ledger")).json()
    entries = body["data"]
    assert body["total"] == 4
    assert [e["reason"] for e in entries] == ["admin_credit", "usage", "usage", "topup"]
    admin, usage2, usage1, topup = entries
    assert (topup["reference_kind"], topup["order_id"]) == ("order", "ord_01TOPUP")
    assert usage1["reference_kind"] == "usage_batch" and usage1["batch_id"]
    assert usage1["batch_id"] != usage2["batch_id"] and usage1["actor"] == "gateway"
    assert admin["reference_kind"] == "admin" and admin["actor"].startswith("user:")
    assert admin["note"] == "sorry for the outage"
    # Running balance: each entry's balance is the previous one plus its amount.
    oldest_first = list(reversed(entries))
    balance = 0
    for e in oldest_first:
        balance += e["amount_nusd"]
        assert e["balance_after_nusd"] == balance
    assert (balance, entries[0]["balance_after_usd"]) == (6 * 10**9, "6.000000000")


async def test_timeline_filters(api: Api) -> None:
    uid = await timeline_world(api)
    me = await api.signed_in(uid)

    async def reasons(query: str) -> list[str]:
        r = await me.get(f"/api/me/ledger?{query}")
        assert r.status_code == 200, r.text
        return [e["reason"] for e in r.json()["data"]]

    assert await reasons("reason=usage") == ["usage", "usage"]
    assert await reasons("reason=topup&reason=admin_credit") == ["admin_credit", "topup"]
    assert await reasons("start=2026-03-09&end=2026-03-09") == ["usage"]
    assert await reasons("start=2026-03-10") == ["admin_credit", "usage"]
    assert (await me.get("/api/me/ledger?reason=gift")).status_code == 400
    other = await api.signed_in(await seed.user(api.db, email="o@example.com"))
    assert (await other.get("/api/me/ledger")).json()["total"] == 0


async def test_timeline_csv(api: Api) -> None:
    uid = await timeline_world(api)
    me = await api.signed_in(uid)
    r = await me.get("/api/me/ledger/export.csv")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == (
        'attachment; filename="ledger-2026-03-08_2026-03-10.csv"'
    )
    lines = list(csv.reader(io.StringIO(r.text, newline="")))
    assert lines[0] == [
        "time",
        "entry_id",
        "reason",
        "amount_usd",
        "balance_after_usd",
        "reference",
        "reference_kind",
        "order_id",
        "batch_id",
        "subscription_id",
        "actor",
        "note",
    ]
    assert [line[2] for line in lines[1:]] == ["topup", "usage", "usage", "admin_credit"]
    assert lines[1][0] == "2026-03-08T10:00:00+00:00"
    assert lines[1][3:8] == ["5.000000000", "5.000000000", "ord_01TOPUP", "order", "ord_01TOPUP"]
    assert lines[2][3:5] == ["-0.300000000", "4.700000000"]
    assert lines[4][-1] == "sorry for the outage"
    r = await me.get("/api/me/ledger/export.csv?reason=usage&start=2026-03-10")
    assert 'filename="ledger-2026-03-10_2026-03-10.csv"' in r.headers["content-disposition"]
    assert len(list(csv.reader(io.StringIO(r.text)))) == 2


async def test_admin_sees_one_users_timeline(api: Api) -> None:
    uid = await timeline_world(api)
    r = await api.client.get(f"/api/admin/users/{uid}/ledger?reason=usage", headers=api.auth)
    assert [e["reason"] for e in r.json()["data"]] == ["usage", "usage"]
    r = await api.client.get(f"/api/admin/users/{uid}/ledger/export.csv", headers=api.auth)
    assert r.status_code == 200 and r.text.count("\r\n") == 5
    for path in ("/api/admin/users/999/ledger", "/api/admin/users/999/ledger/export.csv"):
        assert (await api.client.get(path, headers=api.auth)).status_code == 404


async def test_csv_walks_thousands_of_entries_by_keyset(api: Api) -> None:
    pin(api)
    uid = await seed.user(api.db, email="busy@example.com")
    async with api.db.begin() as conn:
        for n in range(2_345):
            await add_ledger_entry(
                conn, user_id=uid, amount_nusd=n + 1, reason="admin_credit", reference=f"b{n}"
            )
    me = await api.signed_in(uid)
    lines = list(csv.reader(io.StringIO((await me.get("/api/me/ledger/export.csv")).text)))
    amounts = [int(line[3].replace(".", "")) for line in lines[1:]]
    assert amounts == list(range(1, 2_346))  # three pages, oldest first, each entry once
    assert lines[-1][4] == "0.002750685"  # the running balance: 2345·2346/2 nUSD
