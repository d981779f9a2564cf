"""Users, ledgers and admin balance changes (R14.1, R14.7)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.api import seed
from tests.api.conftest import Api
from torouter.billing.ledger import balance_counter
from torouter.storage.repos.ledger import ledger_sum
from torouter.storage.tables import audit_log, ledger, users

SECRETS = ("password_hash", "totp_secret", "$argon2id$", "v1:secret")


async def test_list_search_and_get(api: Api) -> None:
    alice = await seed.user(api.db, email="alice@example.com", balance_nusd=10_000_000_000)
    await seed.user(api.db, email="bob@example.org")
    await seed.user(api.db, email="a_b%c@example.org")

    r = await api.client.get("/api/admin/users?q=EXAMPLE.ORG", headers=api.auth)
    assert [u["email"] for u in r.json()["data"]] == ["bob@example.org", "a_b%c@example.org"]
    r = await api.client.get("/api/admin/users?q=_b%25", headers=api.auth)  # LIKE chars literal
    assert [u["email"] for u in r.json()["data"]] == ["a_b%c@example.org"]
    r = await api.client.get("/api/admin/users?role=admin", headers=api.auth)
    assert [u["id"] for u in r.json()["data"]] == [api.admin_id]

    r = await api.client.get(f"/api/admin/users/{alice}", headers=api.auth)
    assert r.status_code == 200
    user = r.json()
    assert user["balance_nusd"] == 10_000_000_000
    assert user["balance_usd"] == "10.000000000"
    assert user["created_at"] == "2025-03-01T12:00:00.000000Z"
    for secret in SECRETS:
        assert secret not in r.text


async def test_unknown_user_is_404(api: Api) -> None:
    for path in ("/api/admin/users/999", "/api/admin/users/999/ledger"):
        r = await api.client.get(path, headers=api.auth)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "NOT_FOUND"
    r = await api.client.post(
        "/api/admin/users/999/balance", headers=api.auth, json={"amount_usd": "1", "reason": "x"}
    )
    assert r.status_code == 404
    # A path id that cannot exist names nothing: 404 like a missing one (issue 12).
    r = await api.client.get("/api/admin/users/abc", headers=api.auth)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"


async def change(api: Api, user_id: int, amount: Any, reason: str = "goodwill") -> Any:
    return await api.client.post(
        f"/api/admin/users/{user_id}/balance",
        headers=api.auth,
        json={"amount_usd": amount, "reason": reason},
    )


async def test_credit_and_debit_write_the_ledger_and_move_the_counters(api: Api) -> None:
    uid = await seed.user(api.db, email="carol@example.com")
    counter = balance_counter(uid)
    # The gateway seeds a user's counters when its snapshot first sees the user (from the
    # database); a credit then moves the seeded counter.
    await api.state.seed(counter, 0)
    assert await api.state.used(counter) == (0, 0)

    r = await change(api, uid, "12.50")
    assert r.status_code == 201, r.text
    entry = r.json()
    assert entry["reason"] == "admin_credit"
    assert entry["amount_nusd"] == 12_500_000_000
    assert entry["amount_usd"] == "12.500000000"
    assert entry["balance_after_nusd"] == 12_500_000_000
    assert entry["note"] == "goodwill"
    assert entry["actor"].startswith(f"user:{api.admin_id}/token:")
    assert entry["reference"].startswith("admin:")
    # The gateway's counters see it at once: `bal:<user>` holds the negated balance.
    assert await api.state.used(counter) == (-12_500_000_000, 0)

    r = await change(api, uid, -2.25, reason="  correction ")  # a JSON number works too
    assert r.status_code == 201, r.text
    debit = r.json()
    assert debit["reason"] == "admin_debit"
    assert debit["amount_nusd"] == -2_250_000_000
    assert debit["balance_after_usd"] == "10.250000000"
    assert debit["note"] == "correction"
    assert debit["reference"] != entry["reference"]
    assert await api.state.used(counter) == (-10_250_000_000, 0)

    r = await change(api, uid, "-20.000000001")  # may go below zero
    assert r.status_code == 201
    assert r.json()["balance_after_usd"] == "-9.750000001"

    async with api.db.connect() as conn:
        balance = await conn.scalar(select(users.c.balance_nusd).where(users.c.id == uid))
        assert balance == await ledger_sum(conn, user_id=uid) == -9_750_000_001
        rows = (await conn.execute(select(ledger.c.reason).where(ledger.c.user_id == uid))).all()
        assert [x.reason for x in rows] == ["admin_credit", "admin_debit", "admin_debit"]
        stmt = select(audit_log.c.action).order_by(audit_log.c.id)
        actions = (await conn.execute(stmt)).scalars().all()
        assert actions.count("user.admin_credit") == 1

    r = await api.client.get(f"/api/admin/users/{uid}", headers=api.auth)
    assert r.json()["balance_usd"] == "-9.750000001"

    r = await api.client.get(f"/api/admin/users/{uid}/ledger?page_size=2", headers=api.auth)
    page = r.json()
    assert page["total"] == 3
    assert [e["amount_nusd"] for e in page["data"]] == [-20_000_000_001, -2_250_000_000]

    r = await api.client.get("/api/admin/audit?action=user.admin_debit", headers=api.auth)
    assert r.json()["total"] == 2


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"amount_usd": "1.0000000001", "reason": "x"}, "amount_usd"),
        ({"amount_usd": "0", "reason": "x"}, "amount_usd"),
        ({"amount_usd": "0.0000000000", "reason": "x"}, "amount_usd"),
        ({"amount_usd": "abc", "reason": "x"}, "amount_usd"),
        ({"amount_usd": "NaN", "reason": "x"}, "amount_usd"),
        ({"amount_usd": True, "reason": "x"}, "amount_usd"),
        ({"amount_usd": "1e12", "reason": "x"}, "amount_usd"),
        ({"amount_usd": None, "reason": "x"}, "amount_usd"),
        ({"reason": "x"}, "amount_usd"),
        ({"amount_usd": "5"}, "reason"),
        ({"amount_usd": "5", "reason": "   "}, "reason"),
        ({"amount_usd": "5", "reason": "x", "extra": 1}, "extra"),
    ],
)
async def test_balance_validation_names_the_field(
    api: Api, body: dict[str, Any], param: str
) -> None:
    uid = await seed.user(api.db, email="dave@example.com")
    r = await api.client.post(f"/api/admin/users/{uid}/balance", headers=api.auth, json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert (err["code"], err["param"]) == ("INVALID_REQUEST", param)
    assert await api.state.used(balance_counter(uid)) == (0, 0)
    async with api.db.connect() as conn:
        assert await ledger_sum(conn, user_id=uid) == 0


async def test_missing_body_is_invalid_request(api: Api) -> None:
    r = await api.client.post(f"/api/admin/users/{api.admin_id}/balance", headers=api.auth)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "INVALID_REQUEST"
