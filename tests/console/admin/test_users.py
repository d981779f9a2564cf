"""`/admin/users` (R15.2, R12.7, R14.7, R7.7): find accounts; change state, role, balance,
grants, subscriptions, two-factor and sessions. Every action goes through the admin API's
rules and leaves an audit row with actor, target and change; refusals sit next to the form."""

from __future__ import annotations

import re

import pyotp
import pytest
from sqlalchemy import select, update

from tests.console.admin.conftest import World
from tests.console.conftest import PASSWORD
from torouter.billing.ledger import balance_counter
from torouter.storage.tables import group_grants, ledger, sessions, subscriptions, users


def page_url(world: World) -> str:
    return f"/admin/users/{world.user_id}"


async def act(world: World, action: str, data: dict[str, str] | None = None) -> str:
    """Post one action from the account's page; returns the notice it redirected with."""
    r = await world.post(page_url(world), f"{page_url(world)}/{action}", data or {})
    assert r.status_code == 303, (action, r.status_code, r.text[-800:])
    location = r.headers["location"]
    assert location.startswith(page_url(world) + "?notice=")
    return location.split("notice=", 1)[1].split("#")[0]


async def last_audit(world: World) -> dict[str, object]:
    return (await world.audit())[-1]


async def test_search_by_email_state_and_role(world: World) -> None:
    await world.site.user("bob@corp.example", state="unverified")
    r = await world.admin.get("/admin/users?q=CORP")
    assert "bob@corp.example" in r.text and "alice@example.com" not in r.text
    r = await world.admin.get("/admin/users?state=unverified")
    assert "bob@corp.example" in r.text and "alice@example.com" not in r.text
    r = await world.admin.get("/admin/users?role=admin")
    assert "root@example.com" in r.text and "alice@example.com" not in r.text
    r = await world.admin.get("/admin/users?q=nobody-at-all")
    assert "No user matches." in r.text
    r = await world.admin.get("/admin/users?state=bogus&page=x")  # ignored, never a 500
    assert r.status_code == 200 and "alice@example.com" in r.text


async def test_suspend_verify_reactivate(world: World) -> None:
    site = world.site
    key = await world.key(world.user_id)
    assert world.admit(key) is None
    assert await act(world, "suspend") == "user_suspended"
    assert world.admit(key) == "USER_INACTIVE"  # from the very next request
    audit = await last_audit(world)
    assert (audit["actor"], audit["action"], audit["target"]) == (
        f"user:{world.admin_id}",
        "user.suspend",
        f"user:{world.user_id}",
    )
    r = await world.admin.get(page_url(world))
    assert "Reactivate" in r.text and ">Suspend<" not in r.text
    assert await act(world, "reactivate") == "user_reactivated"
    assert world.admit(key) is None
    # Verify an unverified account: it becomes active.
    bob = await site.user("bob@example.com", state="unverified")
    r = await world.post(f"/admin/users/{bob}", f"/admin/users/{bob}/verify", {})
    assert r.status_code == 303
    async with site.db.connect() as conn:
        assert await conn.scalar(select(users.c.state).where(users.c.id == bob)) == "active"
    assert (await last_audit(world))["action"] == "user.verify"
    # Verifying twice is refused on the page, at the state form.
    r = await world.post(f"/admin/users/{bob}", f"/admin/users/{bob}/verify", {})
    assert r.status_code == 409 and "not waiting for verification" in r.text


async def test_own_account_cannot_be_suspended_or_demoted(world: World) -> None:
    me = f"/admin/users/{world.admin_id}"
    r = await world.admin.get(me)
    assert "This is your own account." in r.text and 'action="' + me + '/suspend"' not in r.text
    r = await world.post(me, f"{me}/suspend", {})
    assert r.status_code == 409 and "cannot suspend your own account" in r.text
    r = await world.post(me, f"{me}/role", {"role": "user"})
    assert r.status_code == 409 and "cannot change your own role" in r.text


async def test_role_change_applies_to_the_next_page(world: World) -> None:
    assert await act(world, "role", {"role": "admin"}) == "user_role"
    assert (await last_audit(world))["detail"] == {"role": {"from": "user", "to": "admin"}}
    c = world.site.browser()
    r = await world.site.form(
        c, "/login", "/login", {"email": "alice@example.com", "password": PASSWORD}
    )
    assert (await c.get("/admin/users")).status_code == 200
    assert await act(world, "role", {"role": "user"}) == "user_role"
    assert (await c.get("/admin/users")).status_code == 403  # no cached role anywhere
    r = await world.post(page_url(world), f"{page_url(world)}/role", {"role": "root"})
    assert r.status_code == 400 and 'id="role-error"' in r.text


async def test_credit_and_debit_need_a_reason_and_move_the_gateways_counter(
    world: World,
) -> None:
    """R14.7: a ledger entry each, the balance counter of the gateway updated at once."""
    site = world.site
    state = site.deps.ledger.state
    await state.seed(balance_counter(world.user_id), 0)  # as the gateway seeds it
    assert (
        await act(
            world,
            "balance",
            {"direction": "credit", "amount_usd": "12.5", "reason": "refund of a bad day"},
        )
        == "balance_credited"
    )
    assert (
        await act(
            world, "balance", {"direction": "debit", "amount_usd": "2.25", "reason": "correction"}
        )
        == "balance_debited"
    )
    async with site.db.connect() as conn:
        entries = (
            await conn.execute(
                select(ledger.c.amount_nusd, ledger.c.reason, ledger.c.note, ledger.c.actor)
                .where(ledger.c.user_id == world.user_id)
                .order_by(ledger.c.id)
            )
        ).all()
        balance = await conn.scalar(select(users.c.balance_nusd).where(users.c.id == world.user_id))
    actor = f"user:{world.admin_id}"
    assert entries == [
        (12_500_000_000, "admin_credit", "refund of a bad day", actor),
        (-2_250_000_000, "admin_debit", "correction", actor),
    ]
    assert balance == 10_250_000_000
    # The gateway's counter holds the negated balance (architecture.md, Money).
    assert await state.used(balance_counter(world.user_id)) == (-10_250_000_000, 0)
    audit = await world.audit()
    assert [a["action"] for a in audit[-2:]] == ["user.admin_credit", "user.admin_debit"]
    assert audit[-1]["detail"]["note"] == "correction"  # type: ignore[index]
    r = await world.admin.get(page_url(world))
    assert "refund of a bad day" in r.text and "$10.25" in r.text
    # Refusals: no reason, no amount, a signed amount, too many decimals; nothing written.
    for data, field in (
        ({"direction": "credit", "amount_usd": "1", "reason": " "}, "reason"),
        ({"direction": "credit", "amount_usd": "", "reason": "x"}, "amount_usd"),
        ({"direction": "debit", "amount_usd": "-1", "reason": "x"}, "amount_usd"),
        ({"direction": "credit", "amount_usd": "0.0000000001", "reason": "x"}, "amount_usd"),
        ({"direction": "credit", "amount_usd": "0", "reason": "x"}, "amount_usd"),
    ):
        r = await world.post(page_url(world), f"{page_url(world)}/balance", data)
        assert r.status_code == 400, (data, r.status_code)
        assert f'id="{field}-error"' in r.text, data
    async with site.db.connect() as conn:
        count = len(
            (await conn.execute(select(ledger.c.id).where(ledger.c.user_id == world.user_id))).all()
        )
    assert count == 2


async def test_private_group_grants(world: World) -> None:
    data = {"group_id": str(world.private_id), "grant": "grant"}
    assert await act(world, "grants", data) == "grant_added"
    assert world.user_id in world.site.deps.snapshot.current.groups[world.private_id].granted
    audit = await last_audit(world)
    assert (audit["action"], audit["target"], audit["detail"]) == (
        "group.grant",
        f"group:{world.private_id}",
        {"user_id": world.user_id},
    )
    r = await world.admin.get(page_url(world))
    assert "Revoke vip" in r.text
    assert await act(world, "grants", {**data, "grant": "revoke"}) == "grant_revoked"
    async with world.site.db.connect() as conn:
        assert (await conn.execute(select(group_grants))).first() is None
    r = await world.post(page_url(world), f"{page_url(world)}/grants", {**data, "grant": "revoke"})
    assert r.status_code == 400 or r.status_code == 404 or "no grant" in r.text
    r = await world.post(page_url(world), f"{page_url(world)}/grants", {"group_id": "x"})
    assert r.status_code == 400


async def test_subscription_assign_extend_pause_resume_cancel(world: World) -> None:
    assert (
        await act(world, "subscriptions", {"plan_id": str(world.plan_id), "auto_renew": "on"})
        == "subscription_assigned"
    )
    async with world.site.db.connect() as conn:
        sub = (await conn.execute(select(subscriptions))).mappings().one()
    assert sub["auto_renew"] and sub["state"] == "active"
    sid = str(sub["id"])

    async def change(verb: str, **extra: str) -> str:
        return await act(
            world, "subscriptions/change", {"subscription_id": sid, "change": verb, **extra}
        )

    assert await change("extend", days="10") == "subscription_extend"
    async with world.site.db.connect() as conn:
        extended = await conn.scalar(select(subscriptions.c.expires_at))
    assert (extended - sub["expires_at"]).days == 10
    assert await change("pause") == "subscription_pause"
    snap_sub = world.site.deps.snapshot.current.subscriptions[(world.user_id, world.sub_group_id)]
    assert snap_sub.state == "paused"  # the gateway refuses it from the next request (E10)
    assert await change("resume") == "subscription_resume"
    assert await change("cancel") == "subscription_cancel"
    actions = [a["action"] for a in await world.audit()][-5:]
    assert actions == [
        "subscription.assign",
        "subscription.extend",
        "subscription.pause",
        "subscription.resume",
        "subscription.cancel",
    ]
    # A cancelled subscription cannot be paused: the refusal is shown, nothing changes.
    r = await world.post(
        page_url(world),
        f"{page_url(world)}/subscriptions/change",
        {"subscription_id": sid, "change": "pause"},
    )
    assert r.status_code == 409 and "cannot be paused" in r.text
    # Another account's subscription id is not reachable from this page.
    bob = await world.site.user("bob@example.com")
    r = await world.post(
        f"/admin/users/{bob}",
        f"/admin/users/{bob}/subscriptions/change",
        {"subscription_id": sid, "change": "resume", "days": "1"},
    )
    assert r.status_code == 409 and "Subscription not found" in r.text


async def test_two_factor_reset_and_sessions(world: World) -> None:
    site = world.site
    async with site.db.begin() as conn:
        await conn.execute(
            update(users)
            .where(users.c.id == world.user_id)
            .values(totp_enabled=True, totp_secret_enc=pyotp.random_base32())
        )
    r = await world.admin.get(page_url(world))
    assert "Reset two-factor" in r.text
    assert await act(world, "2fa-reset") == "totp_reset"
    async with site.db.connect() as conn:
        assert not await conn.scalar(
            select(users.c.totp_enabled).where(users.c.id == world.user_id)
        )
    # Two sessions of alice: the page lists them; one ends, then all.
    devices = []
    for _ in range(2):
        c = site.browser(**{"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"})
        r = await site.form(
            c, "/login", "/login", {"email": "alice@example.com", "password": PASSWORD}
        )
        assert r.status_code == 303
        devices.append(c)
    r = await world.admin.get(page_url(world))
    ids = re.findall(r'name="session_id" value="(\d+)"', r.text)
    assert len(ids) == 2 and "Firefox" in r.text
    assert await act(world, "sessions/end", {"session_id": ids[0]}) == "session_ended"
    assert (await devices[1].get("/dashboard")).status_code == 303  # ended: back to sign-in
    assert (await devices[0].get("/dashboard")).status_code == 200
    assert await act(world, "sessions/end-all") == "sessions_ended"
    assert (await devices[0].get("/dashboard")).status_code == 303
    async with site.db.connect() as conn:
        live = await conn.scalar(
            select(sessions.c.id).where(
                sessions.c.user_id == world.user_id, sessions.c.revoked_at.is_(None)
            )
        )
    assert live is None
    assert [a["action"] for a in await world.audit()][-3:] == [
        "user.2fa_reset",
        "user.session_end",
        "user.sessions_end",
    ]


async def test_a_managed_account_keeps_its_role_and_state(world: World) -> None:
    """R17.10: declared in the config file: read-only here, the rest still managed."""
    async with world.site.db.begin() as conn:
        await conn.execute(update(users).where(users.c.id == world.user_id).values(managed=True))
    r = await world.admin.get(page_url(world))
    assert "declared in the server&#39;s configuration file" in r.text
    assert f'action="{page_url(world)}/suspend"' not in r.text
    assert f'action="{page_url(world)}/role"' not in r.text
    assert f'action="{page_url(world)}/balance"' in r.text
    for action, data in (("suspend", {}), ("role", {"role": "admin"})):
        r = await world.post(page_url(world), f"{page_url(world)}/{action}", data)
        assert r.status_code == 409 and "declared in the config file" in r.text
    assert await act(world, "balance", {"direction": "credit", "amount_usd": "1", "reason": "ok"})


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_the_account_page_in_both_languages(world: World, lang: str) -> None:
    world.admin.headers["accept-language"] = lang
    r = await world.admin.get(page_url(world))
    assert r.status_code == 200 and f'<html lang="{lang}">' in r.text
    assert ("余额" if lang == "zh-CN" else "Balance") in r.text
