"""The low-balance notice end to end (R15.4): the threshold set on the profile, the usage
writer's debits, one mail per dip through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.accounts.conftest import BASE, Stack
from tests.accounts.flows import csrf, signed_in
from torouter.storage.repos.ledger import add_ledger_entry
from torouter.usage.notices import LowBalanceMailer
from torouter.usage.recorder import write_rows

USD = 10**9
_seq = iter(range(10**6))


async def spend(stack: Stack, user_id: int, nusd: int) -> None:
    """One writer batch debiting `nusd` from the user's balance."""
    n = next(_seq)
    row: dict[str, Any] = {
        "admission_id": f"lb-{n}",
        "created_at": dt.datetime.now(dt.UTC).timestamp(),
        "request_id": f"r{n}",
        "user_id": user_id,
        "status": 200,
        "outcome": "success",
        "cost_nusd": nusd,
    }
    notify = LowBalanceMailer(stack.accounts.postman, BASE)
    assert await write_rows(stack.db, [row], on_low_balance=notify) == 1


async def credit(stack: Stack, user_id: int, nusd: int) -> None:
    async with stack.db.begin() as conn:
        await add_ledger_entry(
            conn,
            user_id=user_id,
            amount_nusd=nusd,
            reason="admin_credit",
            reference=f"c{next(_seq)}",
        )


async def set_threshold(stack: Stack, value: str | None) -> dict[str, Any]:
    c = stack.client
    r = await c.patch("/api/me/profile", json={"low_balance_threshold_usd": value}, headers=csrf(c))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_one_mail_per_dip_below_the_threshold(stack: Stack) -> None:
    email = "low@example.com"
    uid = await signed_in(stack, email)
    await credit(stack, uid, 10 * USD)
    profile = await set_threshold(stack, "5")
    assert (profile["low_balance_threshold_nusd"], profile["low_balance_threshold_usd"]) == (
        5 * USD,
        "5.000000000",
    )
    before = len(await stack.mails(email))  # the verification mail

    await spend(stack, uid, 4 * USD)  # 10 → 6: above
    assert len(await stack.mails(email)) == before
    await spend(stack, uid, 2 * USD)  # 6 → 4: crosses below
    mails = await stack.mails(email)
    assert len(mails) == before + 1
    mail = mails[-1]
    assert mail.message["Subject"] == "Your ToRouter balance is low: $4.00"
    assert "$5.00" in mail.text and mail.link == f"{BASE}/purchase"
    await spend(stack, uid, 1 * USD)  # 4 → 3: still below, no second mail
    assert len(await stack.mails(email)) == before + 1

    await credit(stack, uid, 10 * USD)  # 13: back above (a top-up the writer never saw)
    await spend(stack, uid, 11 * USD)  # 13 → 2: a new dip
    assert len(await stack.mails(email)) == before + 2

    await set_threshold(stack, None)  # off
    await credit(stack, uid, 10 * USD)
    await spend(stack, uid, 11 * USD)
    assert len(await stack.mails(email)) == before + 2


async def test_a_threshold_above_the_balance_waits_for_the_next_dip(stack: Stack) -> None:
    email = "under@example.com"
    uid = await signed_in(stack, email)
    await credit(stack, uid, 3 * USD)
    await stack.client.patch(
        "/api/me/profile", json={"language": "zh-CN"}, headers=csrf(stack.client)
    )
    await set_threshold(stack, "5.5")  # already below: the user sees it as they set it
    before = len(await stack.mails(email))
    await spend(stack, uid, 1 * USD)
    assert len(await stack.mails(email)) == before
    await credit(stack, uid, 10 * USD)  # 12
    await spend(stack, uid, 7 * USD)  # 12 → 5: below 5.5 again, in the user's language
    mails = await stack.mails(email)
    assert len(mails) == before + 1
    assert mails[-1].message["Subject"] == "ToRouter 余额不足：剩余 $5.00"
    assert "$5.50" in mails[-1].text


async def test_threshold_validation(stack: Stack) -> None:
    await signed_in(stack, "v@example.com")
    c = stack.client
    for bad in ("-1", "0.0000000001", "abc"):
        r = await c.patch(
            "/api/me/profile", json={"low_balance_threshold_usd": bad}, headers=csrf(c)
        )
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["error"]["param"] == "low_balance_threshold_usd"
    assert (await set_threshold(stack, "0"))["low_balance_threshold_nusd"] == 0
