"""The usage, request detail, billing and dashboard pages in-process on both databases
(R11.4–R11.6, R14.1, R15.1, R15.4): rows written by the usage writer (with their roll-ups and
ledger entries), both languages, filters in the URL, keyset pages, 404 for another user's
request, the low-balance threshold on the profile form."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select

from tests.api import seed
from tests.api.usage_seed import PRICED, PRICED_COST, record, row
from tests.console.conftest import Site, csrf_of
from torouter.console.security import CSP
from torouter.storage.repos.ledger import add_ledger_entry
from torouter.storage.tables import users

# The real time: the writer keeps hourly roll-ups (model health) for the last 48 hours only.
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


async def _seed(site: Site, user_id: int, n: int = 3, **fields: Any) -> None:
    """`n` priced requests of `user_id` an hour apart up to now, through the usage writer."""
    async with site.db.begin() as conn:
        await add_ledger_entry(
            conn,
            user_id=user_id,
            amount_nusd=20 * 10**9,
            reason="admin_credit",
            reference=f"seed:{user_id}",
        )
    rows = [
        row(
            1000 * user_id + i,
            NOW - dt.timedelta(hours=i + 1),
            user_id=user_id,
            key_id=100 + user_id,
            key_name="main",
            request_id=f"req-{user_id}-{i}",
            model_requested="m-chat" if i % 2 == 0 else "m-other",
            cost_nusd=fields.get("cost_nusd", PRICED_COST),
            **PRICED,
            **{k: v for k, v in fields.items() if k != "cost_nusd"},
        )
        for i in range(n)
    ]
    assert await record(site.db, rows) == n


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_usage_page_lists_sums_and_charts_in_both_languages(site: Site) -> None:
    """R11.4, R15.4: the log, the stat cards, the per-model table with its totals row, the
    daily table the chart is drawn from, the CSV link with the filters; English and Chinese."""
    site.clock.t = NOW
    for lang, title, total in (("en", "Usage", "Total"), ("zh-CN", "用量", "合计")):
        c = await site.signed_in(f"usage-{lang.lower()}@example.com", language=lang)
        uid = await _uid(site, f"usage-{lang.lower()}@example.com")
        await _seed(site, uid)
        r = await c.get("/usage")
        assert r.status_code == 200, r.text[:500]
        assert r.headers["content-security-policy"] == CSP and "style=" not in r.text
        html = r.text
        assert f"<h1>{title}</h1>" in html
        for i in range(3):
            assert f'href="/usage/req-{uid}-{i}"' in html
        text = _text(html)
        assert total in text
        # Stat card: 3 × $0.01888875, shown to 4 decimals under a dollar.
        assert "$0.0567" in text
        assert "data-chart-table" in html and 'data-series="spend"' in html
        assert 'href="/api/me/usage/export.csv" download' in html  # no filters: the bare export


async def _uid(site: Site, email: str) -> int:
    async with site.db.connect() as conn:
        return int(await conn.scalar(select(users.c.id).where(users.c.email == email)))


async def test_usage_filters_keyset_pages_and_request_search(site: Site) -> None:
    site.clock.t = NOW
    c = await site.signed_in("filters@example.com")
    uid = await _uid(site, "filters@example.com")
    await _seed(site, uid, n=25)
    r = await c.get("/usage?model=m-chat")
    assert r.status_code == 200
    assert f"req-{uid}-0" in r.text and f'req-{uid}-1"' not in r.text
    assert "export.csv?model=m-chat" in r.text
    # 25 rows, 20 a page: "Older requests" carries the cursor and keeps the filters.
    r = await c.get("/usage")
    older = re.search(r'href="/usage\?([^"]*cursor=[^"]+)" rel="next"', r.text)
    assert older, "no next page link"
    r2 = await c.get("/usage?" + older.group(1).replace("&amp;", "&"))
    assert r2.status_code == 200
    assert f"req-{uid}-24" in r2.text and f'"/usage/req-{uid}-0"' not in r2.text
    assert len(re.findall(r'href="/usage/req-', r2.text)) == 5
    # Bad filter values: an error beside the field, the page still answers.
    r = await c.get("/usage?start=yesterday&outcome=nope")
    assert r.status_code == 400
    assert 'id="start-error"' in r.text and 'id="outcome-error"' in r.text
    r = await c.get("/usage?start=2026-03-10&end=2026-03-01")
    assert r.status_code == 400 and 'id="end-error"' in r.text
    r = await c.get("/usage?end=9999-12-31")  # the calendar's end: an error, not a 500
    assert r.status_code == 400 and 'id="end-error"' in r.text
    r = await c.get("/usage?cursor=garbage")
    assert r.status_code == 200 and 'role="alert"' in r.text
    # The request-id search leads to the detail page.
    r = await c.get(f"/usage?request_id=req-{uid}-3")
    assert r.status_code == 303 and r.headers["location"] == f"/usage/req-{uid}-3"


async def test_request_detail_and_another_users_request_is_404(site: Site) -> None:
    """R11.6, R15.4: attempts in order, billing breakdown, timings; no channel; 404 for
    another user's request id (and for none)."""
    c = await site.signed_in("detail@example.com")
    uid = await _uid(site, "detail@example.com")
    await _seed(site, uid, n=1)
    r = await c.get(f"/usage/req-{uid}-0")
    assert r.status_code == 200, r.text[:500]
    text = _text(r.text)
    assert "Upstream attempts" in text and "#1" in text and "#2" in text
    assert text.index("Timed out") < text.index("#2")  # the failed attempt first
    assert "Group multiplier" in text and "× 1.5" in text
    assert "Held when admitted" in text and "$0.02" in text  # the 20,000,000 nUSD estimate
    assert "Charged" in text and "$0.0189" in text
    assert "Time to first byte" in text
    assert "channel" not in r.text.lower()
    other = await site.signed_in("other@example.com", language="zh-CN")
    r = await other.get(f"/usage/req-{uid}-0")
    assert r.status_code == 404 and '<html lang="zh-CN">' in r.text
    r = await c.get("/usage/no-such-request")
    assert r.status_code == 404
    zh = await site.signed_in("detail-zh@example.com", language="zh-CN")
    zuid = await _uid(site, "detail-zh@example.com")
    await _seed(site, zuid, n=1)
    r = await zh.get(f"/usage/req-{zuid}-0")
    assert r.status_code == 200 and "上游尝试" in r.text and "分组倍率" in r.text
    assert "百万 token" in r.text  # the unit of a price, in Chinese too


async def test_billing_timeline_filters_and_csv_link(site: Site) -> None:
    """R14.1, R15.4: entries with reason, reference and running balance; reason and days."""
    site.clock.t = NOW
    c = await site.signed_in("billing@example.com")
    uid = await _uid(site, "billing@example.com")
    await _seed(site, uid, n=2)
    r = await c.get("/billing")
    assert r.status_code == 200, r.text[:500]
    text = _text(r.text)
    assert "Credit by an administrator" in text and "Usage" in text
    assert "Requests settled together" in text
    assert "$20.00" in text  # the running balance after the credit
    # Every nUSD of the running balance: 20 − 2 × 0.01888875 after the two requests.
    assert "$19.9622225" in text and "-$0.0377775" in text
    assert 'href="/api/me/ledger/export.csv"' in r.text
    r = await c.get("/billing?reason=usage&days=7")
    assert r.status_code == 200
    assert "Credit by an administrator</th>" not in r.text
    week_ago = (NOW.date() - dt.timedelta(days=6)).isoformat()
    assert f"export.csv?reason=usage&amp;start={week_ago}" in r.text
    r = await c.get("/billing?reason=bogus&days=3")
    assert r.status_code == 400 and 'id="reason-error"' in r.text and 'id="days-error"' in r.text
    zh = await site.signed_in("billing-zh@example.com", language="zh-CN")
    r = await zh.get("/billing")
    assert r.status_code == 200 and "<h1>账单</h1>" in r.text and "还没有余额变动" in r.text


async def test_dashboard_shows_runway_chart_table_top_models_and_health(site: Site) -> None:
    site.clock.t = NOW
    for lang, runway in (("en", "Over a year"), ("zh-CN", "超过一年")):
        c = await site.signed_in(f"dash-{lang.lower()}@example.com", language=lang)
        uid = await _uid(site, f"dash-{lang.lower()}@example.com")
        await _seed(site, uid, n=3)
        r = await c.get("/dashboard")
        assert r.status_code == 200, r.text[:500]
        text = _text(r.text)
        assert runway in text
        assert "data-chart-table" in r.text and r.text.count("<tr>") > 30
        assert 'href="/usage?model=m-chat"' in r.text  # top models
        assert "100%" in text  # model health: every request succeeded
        assert f'href="/usage/req-{uid}-0"' in r.text  # recent activity
        assert "onboarding" in r.text or "checklist" in r.text  # the checklist stays
        r = await c.get("/dashboard?days=7")
        assert r.status_code == 200 and r.text.count('data-x="') == 7
    # $15 spent in the last 7 days, $5 left: about 2.3 days.
    c = await site.signed_in("dash-burn@example.com")
    uid = await _uid(site, "dash-burn@example.com")
    await _seed(site, uid, n=3, cost_nusd=5 * 10**9)
    text = _text((await c.get("/dashboard")).text)
    assert "About 2.3 days" in text and "$2.14 a day" in text
    fresh = await site.signed_in("dash-new@example.com")
    r = await fresh.get("/dashboard")
    assert r.status_code == 200 and "Nothing was spent from your balance" in r.text


async def test_profile_low_balance_threshold_with_errors_on_the_form(site: Site) -> None:
    site.clock.t = NOW
    c = await site.signed_in("notice@example.com")
    uid = await _uid(site, "notice@example.com")
    r = await c.get("/profile")
    token = csrf_of(r.text)
    r = await c.post(
        "/profile/notices", data={"csrf_token": token, "low_balance_threshold_usd": "-3"}
    )
    assert r.status_code == 400 and 'id="low_balance_threshold_usd-error"' in r.text
    assert 'value="-3"' in r.text and "Must not be negative." in r.text
    r = await c.post(
        "/profile/notices", data={"csrf_token": token, "low_balance_threshold_usd": "abc"}
    )
    assert r.status_code == 400 and 'id="low_balance_threshold_usd-error"' in r.text
    assert "Enter an amount in US dollars" in r.text
    zh = await site.signed_in("notice-zh@example.com", language="zh-CN")
    r = await zh.get("/profile")
    r = await zh.post(
        "/profile/notices",
        data={"csrf_token": csrf_of(r.text), "low_balance_threshold_usd": "1.0000000001"},
    )
    assert r.status_code == 400 and "最多 9 位小数。" in r.text
    r = await c.post(
        "/profile/notices", data={"csrf_token": token, "low_balance_threshold_usd": "2.5"}
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/profile")
    assert await _threshold(site, uid) == 2_500_000_000
    r = await c.get("/profile")
    assert 'value="2.5"' in r.text
    r = await c.post(
        "/profile/notices", data={"csrf_token": token, "low_balance_threshold_usd": ""}
    )
    assert r.status_code == 303 and await _threshold(site, uid) is None
    r = await c.post("/profile/notices", data={"low_balance_threshold_usd": "1"})
    assert r.status_code == 403  # no CSRF field


async def _threshold(site: Site, uid: int) -> int | None:
    async with site.db.connect() as conn:
        return await conn.scalar(
            select(users.c.low_balance_threshold_nusd).where(users.c.id == uid)
        )


async def test_new_pages_need_a_verified_session(site: Site) -> None:
    site.clock.t = NOW
    anon = site.browser()
    for path in ("/usage", "/usage/x", "/billing"):
        r = await anon.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    c = await site.signed_in("unverified@example.com", state="unverified")
    assert (await c.get("/usage")).status_code == 403


async def test_dashboard_meters_every_capped_window(site: Site) -> None:
    """R15.4: each budget and rate limit of a key against its cap, as a meter; uncapped
    windows are left out."""
    site.clock.t = NOW
    gid = await site.catalog()
    c = await site.signed_in("meters@example.com")
    uid = await _uid(site, "meters@example.com")
    await seed.key(
        site.db, user_id=uid, group_id=gid, name="capped", budget_daily_nusd=5 * 10**9, rpm=60
    )
    await seed.key(site.db, user_id=uid, group_id=gid, name="free")
    await site.deps.snapshot.reload()
    r = await c.get("/dashboard")
    assert r.status_code == 200
    text = _text(r.text)
    assert "Key capped" in text and "Key free" not in text
    meters = re.findall(r'<meter [^>]*aria-label="([^"]+)"', r.text)
    assert meters == ["Today: $0.00 of $5.00", "Requests per minute: 0 of 60"], meters
