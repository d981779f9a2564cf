"""`/admin/usage` (R11.1, R11.4, R11.5, R15.2): every user's requests with the admin filters
and columns (user, channel, attempts), summary cards, the cursor, the request detail with
every attempt and its channel, and the CSV with the admin columns; bad filters are shown
next to their field, never a 500."""

from __future__ import annotations

import datetime as dt

from tests.api.seed import usage_row
from tests.console.admin.conftest import World, add_usage
from tests.console.test_pages import field_error


async def more_rows(world: World, n: int, **fields: object) -> None:
    now = world.site.clock.now()
    rows = [
        usage_row(
            100 + i,
            request_id=f"req_more_{i}",
            admission_id=f"adm_more_{i}",
            created_at=now - dt.timedelta(minutes=i + 1),
            user_id=world.admin_id,
            key_id=None,
            channel_id=None,
            attempt_chain=[],
            attempts=0,
            **fields,
        )
        for i in range(n)
    ]
    async with world.site.db.begin() as conn:
        await add_usage(conn, rows)


async def test_the_log_has_the_admin_columns_and_summary(world: World) -> None:
    r = await world.admin.get("/admin/usage")
    assert r.status_code == 200
    assert "alice@example.com" in r.text and "mock-openai" in r.text  # user and channel
    assert f'href="/admin/usage/{world.request_id}"' in r.text
    assert '<td data-label="Attempts" class="num">2</td>' in r.text
    for card in ("Spend", "Requests", "Input tokens", "Output tokens"):
        assert f">{card}</h2>" in r.text
    assert 'href="/admin/usage/export.csv" download' in r.text


async def test_filters_narrow_the_log_and_bad_ones_are_named(world: World) -> None:
    await more_rows(world, 3, outcome="upstream_error", status=502, model_requested="m-embed")
    r = await world.admin.get("/admin/usage?user=ALICE@example.com")
    assert world.request_id in r.text and "req_more_0" not in r.text
    r = await world.admin.get(f"/admin/usage?channel={world.channel_id}&model=m-chat")
    assert world.request_id in r.text and "req_more_0" not in r.text
    r = await world.admin.get("/admin/usage?model=m-embed")
    assert world.request_id not in r.text and "req_more_0" in r.text
    r = await world.admin.get("/admin/usage?key=7")  # alice's row has no key, these neither
    assert "No request matches." in r.text
    r = await world.admin.get("/admin/usage?outcome=upstream_error&status=502")
    assert "req_more_0" in r.text and world.request_id not in r.text
    r = await world.admin.get(f"/admin/usage?request_id={world.request_id}")
    assert world.request_id in r.text and "req_more_0" not in r.text
    r = await world.admin.get("/admin/usage?start=2001-01-01&end=2001-01-02")
    assert "No request matches." in r.text
    # The CSV link carries the filters; the export has the admin columns.
    r = await world.admin.get("/admin/usage?outcome=upstream_error")
    assert 'href="/admin/usage/export.csv?outcome=upstream_error"' in r.text
    r = await world.admin.get("/admin/usage/export.csv?outcome=upstream_error")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert "channel" in lines[0] and "attempts" in lines[0] and len(lines) == 4
    for query, name in (
        ("status=42", "status"),
        ("key=abc", "key"),
        ("user=nobody@example.com", "user"),
        ("start=yesterday", "start"),
        ("start=2030-01-02&end=2030-01-01", "end"),
    ):
        r = await world.admin.get(f"/admin/usage?{query}")
        assert r.status_code == 400, query
        assert field_error(r.text, name), query
    r = await world.admin.get("/admin/usage?cursor=not-a-cursor")
    assert r.status_code == 400 and "Invalid cursor" in r.text
    r = await world.admin.get("/admin/usage/export.csv?status=1")
    assert r.status_code == 400 and field_error(r.text, "status")


async def test_the_cursor_pages_by_fifty(world: World) -> None:
    await more_rows(world, 60)
    r = await world.admin.get("/admin/usage")
    assert r.text.count('<th scope="row" data-label="Time">') == 50
    assert 'rel="next"' in r.text
    nxt = r.text.split('rel="next" href="?')[1].split('"')[0].replace("&amp;", "&")
    r = await world.admin.get(f"/admin/usage?{nxt}")
    assert r.text.count('<th scope="row" data-label="Time">') == 11  # 61 in all
    assert ">Newest</a>" in r.text


async def test_the_detail_has_every_attempt_with_its_channel(world: World) -> None:
    r = await world.admin.get(f"/admin/usage/{world.request_id}")
    assert r.status_code == 200
    assert "Upstream attempts (2)" in r.text
    # the request's channel, then each attempt's
    assert r.text.count(f'href="/admin/channels/{world.channel_id}">mock-openai</a>') == 3
    assert "<code>timeout</code>" in r.text and "no answer" in r.text
    assert "alice@example.com" in r.text and "203.0.113.7" in r.text
    assert "Billing" in r.text and "$0.0158" in r.text
    # The billing lines: 1,000 input tokens at $3 and 500 output at $15 per 1M.
    assert "$3 / 1M tokens" in r.text and "$0.003</td>" in r.text
    assert "$15 / 1M tokens" in r.text and "$0.0075</td>" in r.text
    assert (await world.admin.get("/admin/usage/req_nope")).status_code == 404


async def test_both_languages(world: World) -> None:
    for path in ("/admin/usage", f"/admin/usage/{world.request_id}"):
        r = await world.admin.get(path, headers={"accept-language": "zh-CN"})
        assert r.status_code == 200 and "使用日志" in r.text
