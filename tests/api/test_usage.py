"""`/api/admin/usage/*`: every R11.1 field, cursor paging, filters; the admin summary, daily
series, request detail and CSV (R11.4, R11.5, R15.4)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from tests.api import seed
from tests.api.conftest import Api
from tests.api.usage_seed import NOW, PRICED, PRICED_COST, pin, record, row

R11_1_FIELDS = {
    "id",
    "created_at",
    "request_id",
    "upstream_request_id",
    "user_id",
    "key_id",
    "key_name",
    "group_id",
    "model_requested",
    "model_upstream",
    "endpoint",
    "stream",
    "status",
    "outcome",
    "error_code",
    "channel_id",
    "attempts",
    "attempt_chain",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "images",
    "audio_seconds",
    "characters",
    "cost_nusd",
    "cost_usd",
    "estimated",
    "client_ip",
    "user_agent",
}


async def test_row_carries_every_field(api: Api) -> None:
    await seed.usage(api.db, [seed.usage_row(1)])
    r = await api.client.get("/api/admin/usage", headers=api.auth)
    assert r.status_code == 200
    body = r.json()
    assert body["next_cursor"] is None
    (row,) = body["data"]
    assert set(row) == R11_1_FIELDS
    assert row["cost_nusd"] == 15_750_000
    assert row["cost_usd"] == "0.015750000"
    assert row["created_at"] == "2025-03-01T12:01:00.000000Z"
    assert row["attempt_chain"] == [{"channel_id": 2, "class": "timeout"}, {"channel_id": 3}]
    assert (row["attempts"], row["channel_id"], row["client_ip"]) == (2, 3, "203.0.113.7")
    assert (row["input_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (1000, 500, 100)


async def test_cursor_walks_all_rows_newest_first(api: Api) -> None:
    await seed.usage(api.db, [seed.usage_row(n) for n in range(45)])
    ids: list[int] = []
    cursor = None
    pages = 0
    while True:
        url = "/api/admin/usage" + (f"?cursor={cursor}" if cursor else "")
        body = (await api.client.get(url, headers=api.auth)).json()
        pages += 1
        assert len(body["data"]) <= 20
        ids += [row["id"] for row in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(ids) == 45 == len(set(ids))
    assert ids == sorted(ids, reverse=True)

    # Rows written while paging never shift what later pages return.
    first = (await api.client.get("/api/admin/usage?page_size=10", headers=api.auth)).json()
    await seed.usage(api.db, [seed.usage_row(n, user_id=2) for n in range(100, 105)])
    nxt = await api.client.get(
        f"/api/admin/usage?page_size=10&cursor={first['next_cursor']}", headers=api.auth
    )
    assert nxt.json()["data"][0]["id"] == first["data"][-1]["id"] - 1

    # Exactly one full page: no cursor to an empty page.
    body = (await api.client.get("/api/admin/usage?page_size=50", headers=api.auth)).json()
    assert len(body["data"]) == 50 and body["next_cursor"] is None


async def test_filters(api: Api) -> None:
    rows = [seed.usage_row(n) for n in range(10)]
    rows[3].update(user_id=7, key_id=70, outcome="failed", status=502, request_id="req_x")
    rows[4].update(model_requested="other-model", channel_id=9)
    await record(api.db, rows)  # with the roll-ups that bound the admin-only filters

    async def ids(query: str) -> list[str]:
        r = await api.client.get(f"/api/admin/usage?{query}", headers=api.auth)
        assert r.status_code == 200, r.text
        return [row["request_id"] for row in r.json()["data"]]

    assert await ids("user_id=7") == ["req_x"]
    assert await ids("key_id=70") == ["req_x"]
    assert await ids("outcome=failed") == ["req_x"]
    assert await ids("status=502") == ["req_x"]
    assert await ids("request_id=req_x") == ["req_x"]
    assert await ids("model=other-model") == ["req_4"]
    assert await ids("channel_id=9") == ["req_4"]
    # Rows are at 12:00 + n minutes: since inclusive, until exclusive.
    window = "since=2025-03-01T12:02:00Z&until=2025-03-01T12:05:00Z"
    assert await ids(window) == ["req_4", "req_x", "req_2"]
    assert await ids("since=2025-03-01T13:02:00%2B01:00&until=2025-03-01T12:03:00") == ["req_2"]
    assert await ids("user_id=7&outcome=success") == []
    # A value the roll-ups never saw answers at once, without walking the log.
    assert await ids("status=404") == [] and await ids("model=other-model&channel_id=3") == []
    assert await ids("model=other-model&since=2025-03-01T12:05:00Z") == []


async def test_bad_cursor_and_filter_are_invalid_request(api: Api) -> None:
    for query, param in (
        ("cursor=nope", "cursor"),
        ("outcome=great", "outcome"),
        ("since=yesterday", "since"),
        ("page_size=101", "page_size"),
    ):
        r = await api.client.get(f"/api/admin/usage?{query}", headers=api.auth)
        assert r.status_code == 400
        assert r.json()["error"]["param"] == param


# -- issue 14: the admin views over the writer's roll-ups -------------------------------------

HOUR = dt.timedelta(hours=1)


async def admin_world(api: Api) -> tuple[int, int, dict[str, int]]:
    """Two users, two channels; rows across channels, outcomes and statuses."""
    pin(api)
    a = await seed.user(api.db, email="a@example.com", balance_nusd=10**12)
    b = await seed.user(api.db, email="b@example.com", balance_nusd=10**12)
    g = await seed.group(api.db)
    ch = {
        "east": await seed.channel(api.db, name="east", group_id=g),
        "west": await seed.channel(api.db, name="west", group_id=g),
    }
    await record(
        api.db,
        [
            row(1, NOW, user_id=a, channel_id=ch["east"], cost_nusd=100),
            row(2, NOW - HOUR, user_id=a, channel_id=ch["west"], cost_nusd=200),
            row(3, NOW, user_id=b, channel_id=ch["east"], cost_nusd=400, model_requested="m2"),
            row(4, NOW, user_id=b, channel_id=ch["east"], outcome="failed", status=502)
            | {"cost_nusd": 0},
            row(5, NOW, user_id=a, channel_id=None, outcome="refused", status=429)
            | {"cost_nusd": 0},
        ],
    )
    return a, b, ch


async def test_admin_summary_filters(api: Api) -> None:
    a, b, ch = await admin_world(api)

    async def summary(query: str = "") -> dict[str, Any]:
        r = await api.client.get(f"/api/admin/usage/summary?{query}", headers=api.auth)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    every = await summary()
    assert (every["requests"], every["cost_nusd"], every["source"]) == (5, 700, "rollups")
    assert [m["model"] for m in every["models"]] == ["m2", "gpt-test"]
    assert (await summary(f"user_id={b}"))["cost_nusd"] == 400
    east = await summary(f"channel_id={ch['east']}")
    assert (east["requests"], east["cost_nusd"], east["source"]) == (3, 500, "rollups")
    assert (await summary("outcome=failed"))["requests"] == 1
    assert (await summary("status=429"))["requests"] == 1
    # A user or key combined with an admin-only filter: that user's rows themselves.
    mixed = await summary(f"user_id={a}&channel_id={ch['west']}")
    assert (mixed["requests"], mixed["cost_nusd"], mixed["source"]) == (1, 200, "log")
    assert (await summary(f"user_id={a}&outcome=success"))["requests"] == 2


async def test_admin_daily_and_logs_alias(api: Api) -> None:
    a, _, _ = await admin_world(api)
    r = await api.client.get(f"/api/admin/usage/daily?days=7&user_id={a}", headers=api.auth)
    assert [p["requests"] for p in r.json()["data"]] == [0] * 6 + [3]
    r = await api.client.get("/api/admin/usage/logs?outcome=refused", headers=api.auth)
    (refused,) = r.json()["data"]
    assert (refused["client_ip"], refused["status"]) == ("203.0.113.7", 429)


async def test_admin_detail_names_channels_and_user(api: Api) -> None:
    a, _, ch = await admin_world(api)
    chain = [
        {"channel_id": ch["west"], "status": 429, "class": "rate_limited", "latency_ms": 40},
        {"channel_id": ch["east"], "status": 200, "class": "success", "latency_ms": 700},
    ]
    await record(
        api.db,
        [
            row(9, NOW, user_id=a, request_id="r-9", attempt_chain=chain, cost_nusd=PRICED_COST)
            | PRICED
        ],
    )
    r = await api.client.get("/api/admin/usage/logs/r-9", headers=api.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user_email"] == "a@example.com"
    assert [(x["channel_name"], x["status"], x["failure_class"]) for x in body["attempts"]] == [
        ("west", 429, "rate_limited"),
        ("east", 200, "success"),
    ]
    assert body["request"]["client_ip"] == "203.0.113.7" and body["billing"]["reconciles"]
    r = await api.client.get("/api/admin/usage/logs/nope", headers=api.auth)
    assert r.status_code == 404


async def test_admin_csv_has_the_admin_columns(api: Api) -> None:
    a, _, ch = await admin_world(api)
    r = await api.client.get("/api/admin/usage/export.csv?start=2026-03-10", headers=api.auth)
    assert r.status_code == 200
    assert 'filename="usage-2026-03-10_2026-03-10.csv"' in r.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(r.text, newline="")))
    assert lines[0][-4:] == ["user_email", "channel", "attempts", "client_ip"]
    assert len(lines[0]) == 22 and len(lines) == 6
    by_id = {line[1]: line for line in lines[1:]}
    assert by_id["req_3"][-4:] == ["b@example.com", "east", "2", "203.0.113.7"]
    assert by_id["req_5"][-3] == ""  # refused before any channel
    r = await api.client.get(
        f"/api/admin/usage/export.csv?channel_id={ch['west']}", headers=api.auth
    )
    assert [line[1] for line in csv.reader(io.StringIO(r.text))][1:] == ["req_2"]
    # A user's session is not an admin's.
    me = await api.signed_in(a)
    assert (await me.get("/api/admin/usage/export.csv")).status_code == 403
