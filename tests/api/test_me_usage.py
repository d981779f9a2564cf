"""`/api/me/usage/*` (R11.4–R11.6, R15.4, R16.4): a user's own log, request detail, summary,
daily series and CSV export, on SQLite and PostgreSQL, with rows written by the usage writer."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import httpx

from tests.api import seed
from tests.api.conftest import Api
from tests.api.test_me_keys import assert_error
from tests.api.usage_seed import NOW, PRICED, PRICED_COST, pin, record, row

HOUR = dt.timedelta(hours=1)
ADMIN_ONLY = {"channel_id", "client_ip", "upstream_request_id", "attempt_chain", "user_id"}


async def two_users(api: Api) -> tuple[int, int, httpx.AsyncClient]:
    me = await seed.user(api.db, email="me@example.com", balance_nusd=10**12)
    other = await seed.user(api.db, email="other@example.com", balance_nusd=10**12)
    pin(api)
    return me, other, await api.signed_in(me)


async def walk(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        sep = "&" if "?" in url else "?"
        r = await client.get(url + (f"{sep}cursor={cursor}" if cursor else ""))
        assert r.status_code == 200, r.text
        body = r.json()
        rows += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            return rows


async def test_logs_are_mine_only_without_admin_fields(api: Api) -> None:
    me, other, client = await two_users(api)
    await record(
        api.db,
        [row(n, NOW - n * HOUR, user_id=me) for n in range(5)]
        + [row(n, NOW - n * HOUR, user_id=other, request_id="theirs") for n in range(3)],
    )
    rows = await walk(client, "/api/me/usage/logs?page_size=2")
    assert len(rows) == 5
    assert [r["request_id"] for r in rows] == [f"req_{n}" for n in range(5)]  # newest first
    assert not ADMIN_ONLY & set(rows[0])
    assert rows[0]["cost_usd"] == "0.015750000" and rows[0]["attempts"] == 2
    assert "prompt" not in str(rows) and "messages" not in str(rows)
    r = await client.get("/api/me/usage/logs?request_id=theirs")
    assert r.json()["data"] == []


async def test_cursor_pages_through_equal_times_without_repeats(api: Api) -> None:
    me, _, client = await two_users(api)
    same = NOW - HOUR
    await record(api.db, [row(n, same, user_id=me) for n in range(25)])
    rows = await walk(client, "/api/me/usage/logs?page_size=7")
    assert len(rows) == 25 == len({r["id"] for r in rows})
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    # Rows written while paging never shift later pages.
    first = (await client.get("/api/me/usage/logs?page_size=10")).json()
    await record(api.db, [row(100 + n, NOW, user_id=me) for n in range(3)])
    nxt = await client.get(f"/api/me/usage/logs?page_size=10&cursor={first['next_cursor']}")
    assert nxt.json()["data"][0]["id"] == first["data"][-1]["id"] - 1
    for bad in ("bm90LW91cnM", "%%%", "dTE6eDox"):
        r = await client.get(f"/api/me/usage/logs?cursor={bad}")
        assert_error(r, 400, "INVALID_REQUEST", "cursor")


async def test_log_filters(api: Api) -> None:
    me, _, client = await two_users(api)
    await record(
        api.db,
        [
            row(1, NOW - HOUR, user_id=me, model_requested="a", key_id=1),
            row(2, NOW - 2 * HOUR, user_id=me, model_requested="b", key_id=2, outcome="failed"),
            row(3, NOW - 30 * HOUR, user_id=me, model_requested="a", key_id=2),
            row(4, NOW - 300 * HOUR, user_id=me, model_requested="a", key_id=1),
        ],
    )

    async def ids(query: str) -> list[str]:
        r = await client.get(f"/api/me/usage/logs?{query}")
        assert r.status_code == 200, r.text
        return [x["request_id"] for x in r.json()["data"]]

    assert await ids("model=a") == ["req_1", "req_3", "req_4"]
    assert await ids("key_id=2") == ["req_2", "req_3"]
    assert await ids("outcome=failed") == ["req_2"]
    assert await ids("request_id=req_3") == ["req_3"]
    assert await ids("start=2026-03-10") == ["req_1", "req_2"]
    assert await ids("start=2026-03-09&end=2026-03-09") == ["req_3"]
    since = (NOW - 3 * HOUR).isoformat().replace("+00:00", "Z")
    assert await ids(f"since={since}") == ["req_1", "req_2"]
    assert await ids("model=a&key_id=1&start=2026-02-01") == ["req_1", "req_4"]
    assert_error(await client.get("/api/me/usage/logs?outcome=nope"), 400, "INVALID_REQUEST")
    r = await client.get("/api/me/usage/logs?start=2026-03-10&end=2026-03-09")
    assert_error(r, 400, "INVALID_REQUEST", "end")


async def test_request_detail(api: Api) -> None:
    me, other, client = await two_users(api)
    chain = [
        {"channel_id": 2, "status": 503, "class": "server_error", "latency_ms": 120},
        {"channel_id": 3, "status": 200, "class": "success", "latency_ms": 900},
    ]
    await record(
        api.db,
        [
            row(1, NOW - HOUR, user_id=me, request_id="r-1", cost_nusd=PRICED_COST, **PRICED),
            row(2, NOW, user_id=me, request_id="r-1", attempt_chain=chain, cost_nusd=PRICED_COST)
            | PRICED,
            row(3, NOW, user_id=other, request_id="r-theirs"),
        ],
    )
    r = await client.get("/api/me/usage/logs/r-1")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["request"]["created_at"] == "2026-03-10T10:00:00.000000Z"  # the newest r-1
    assert not ADMIN_ONLY & set(body["request"])
    assert body["attempts"] == [
        {"number": 1, "status": 503, "failure_class": "server_error", "latency_ms": 120},
        {"number": 2, "status": 200, "failure_class": "success", "latency_ms": 900},
    ]
    assert "channel" not in r.text
    b = body["billing"]
    assert b["charged"] and b["reconciles"] and b["multiplier"] == "1.5"
    assert b["tokens"]["input"] == 1000 and b["tokens"]["reasoning"] == 100
    assert b["settled_nusd"] == PRICED_COST and b["settled_usd"] == "0.018888750"
    assert (b["estimate_nusd"], b["difference_nusd"]) == (20_000_000, PRICED_COST - 20_000_000)
    assert b["subtotal"] == "0.0125925"
    lines = {line["kind"]: line for line in b["lines"]}
    assert lines["input"] == {
        "kind": "input",
        "quantity": "1000",
        "unit": "1M tokens",
        "unit_price": "10",
        "amount": "0.01",
    }
    assert set(lines) == {"input", "cache_read", "cache_write_5m", "cache_write_1h", "output"}
    assert body["timings"] == {
        "started_at": "2026-03-10T10:00:00.000000Z",
        "ended_at": "2026-03-10T10:00:01.200000Z",
        "latency_ms": 1200,
        "ttft_ms": 300,
    }
    # Another user's request id, or none, is 404: nothing says it exists.
    assert_error(await client.get("/api/me/usage/logs/r-theirs"), 404, "NOT_FOUND")
    assert_error(await client.get("/api/me/usage/logs/nope"), 404, "NOT_FOUND")


async def test_detail_of_an_uncharged_or_old_row(api: Api) -> None:
    me, _, client = await two_users(api)
    await record(
        api.db,
        [
            row(1, NOW, user_id=me, request_id="failed", outcome="upstream_error", cost_nusd=0)
            | PRICED,
            row(2, NOW, user_id=me, request_id="old"),  # no prices kept on the row
        ],
    )
    b = (await client.get("/api/me/usage/logs/failed")).json()["billing"]
    assert (b["charged"], b["lines"], b["settled_nusd"], b["reconciles"]) == (False, [], 0, True)
    b = (await client.get("/api/me/usage/logs/old")).json()["billing"]
    assert (b["unit_prices"], b["lines"], b["reconciles"], b["estimate_nusd"]) == (
        None,
        [],
        None,
        None,
    )


async def test_summary_cards_and_per_model_table(api: Api) -> None:
    me, other, client = await two_users(api)
    await record(
        api.db,
        [
            row(1, NOW, user_id=me, model_requested="a", cost_nusd=100, key_id=1),
            row(2, NOW - 24 * HOUR, user_id=me, model_requested="a", cost_nusd=200, key_id=2),
            row(3, NOW, user_id=me, model_requested="b", cost_nusd=1000, output_tokens=7),
            row(4, NOW - 40 * 24 * HOUR, user_id=me, model_requested="c", cost_nusd=5),
            row(5, NOW, user_id=other, model_requested="a", cost_nusd=10**6),
        ],
    )
    body = (await client.get("/api/me/usage/summary")).json()
    assert (body["start"], body["end"], body["source"]) == ("2026-02-09", "2026-03-10", "rollups")
    assert (body["cost_nusd"], body["cost_usd"], body["requests"]) == (1300, "0.000001300", 3)
    assert (body["input_tokens"], body["output_tokens"]) == (3000, 1007)
    assert [m["model"] for m in body["models"]] == ["b", "a"]
    a = body["models"][1]
    assert (a["requests"], a["cost_nusd"], a["cache_write_tokens"], a["cache_read_tokens"]) == (
        2,
        300,
        12,
        20,
    )
    totals = body["totals"]
    assert totals["model"] is None
    for field in ("requests", "input_tokens", "output_tokens", "cost_nusd", "cache_write_tokens"):
        assert totals[field] == sum(m[field] for m in body["models"])
    one = (await client.get("/api/me/usage/summary?key_id=2")).json()
    assert (one["requests"], one["cost_nusd"]) == (1, 200)
    day = (await client.get("/api/me/usage/summary?start=2026-03-09&end=2026-03-09")).json()
    assert (day["requests"], day["cost_nusd"]) == (1, 200)
    old = (await client.get("/api/me/usage/summary?start=2026-01-01&model=c")).json()
    assert (old["requests"], old["cost_nusd"]) == (1, 5)


async def test_daily_is_zero_filled(api: Api) -> None:
    me, _, client = await two_users(api)
    await record(
        api.db,
        [
            row(1, NOW, user_id=me, cost_nusd=100),
            row(2, NOW - 2 * 24 * HOUR, user_id=me, cost_nusd=7),
            row(3, NOW - 2 * 24 * HOUR, user_id=me, cost_nusd=8),
            row(4, NOW - 20 * 24 * HOUR, user_id=me, cost_nusd=9),
        ],
    )
    week = (await client.get("/api/me/usage/daily")).json()
    assert week["days"] == 7
    assert week["data"][0]["date"] == "2026-03-04"
    assert [(p["requests"], p["cost_nusd"]) for p in week["data"]] == [(0, 0)] * 4 + [
        (2, 15),
        (0, 0),
        (1, 100),
    ]
    assert week["data"][-1]["cost_usd"] == "0.000000100"
    month = (await client.get("/api/me/usage/daily?days=30")).json()
    assert len(month["data"]) == 30 and sum(p["requests"] for p in month["data"]) == 4
    assert_error(await client.get("/api/me/usage/daily?days=10"), 400, "INVALID_REQUEST", "days")


def parse_csv(r: httpx.Response) -> list[list[str]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert b"\r\n" in r.content
    return list(csv.reader(io.StringIO(r.content.decode("utf-8"), newline="")))


async def test_export_csv_r11_5(api: Api) -> None:
    me, other, client = await two_users(api)
    rows = [
        row(n, NOW - dt.timedelta(minutes=n), user_id=me, cost_nusd=n * 1_000_000_001)
        for n in range(2_345)
    ]
    rows[0]["key_name"] = 'quo"te, comma'
    rows[1]["ttft_ms"] = None
    rows[1]["estimated"] = True
    await record(api.db, [*rows, row(1, NOW, user_id=other)])
    r = await client.get("/api/me/usage/export.csv?start=2026-03-08&end=2026-03-10")
    assert r.headers["content-disposition"] == (
        'attachment; filename="usage-2026-03-08_2026-03-10.csv"'
    )
    lines = parse_csv(r)
    assert lines[0] == [
        "time",
        "request_id",
        "key_name",
        "model",
        "model_upstream",
        "endpoint",
        "status",
        "outcome",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "output_tokens",
        "reasoning_tokens",
        "cost_usd",
        "estimated",
        "latency_ms",
        "ttft_ms",
    ]
    data = lines[1:]
    assert len(data) == 2_345  # three pages of keyset reads, each row once
    assert [d[1] for d in data] == [f"req_{n}" for n in reversed(range(2_345))]  # oldest first
    newest = data[-1]
    assert newest[0] == "2026-03-10T10:00:00.000+00:00"
    assert newest[2] == 'quo"te, comma' and newest[14] == "0.000000000"
    assert data[-2][14] == "1.000000001" and data[-2][15] == "true" and data[-2][17] == ""
    assert newest[3:8] == ["gpt-test", "gpt-test-2025", "chat", "200", "success"]
    # The default range is the last 30 days; another range is another file name.
    r = await client.get("/api/me/usage/export.csv?end=2026-03-09")
    assert 'filename="usage-2026-02-08_2026-03-09.csv"' in r.headers["content-disposition"]
    assert len(parse_csv(r)) - 1 == 2_345 - 601  # the rows of the 10th (00:00-10:00) are out


async def test_export_times_in_the_deployment_timezone(api: Api) -> None:
    api.rebuild(settings=api.deps.settings.model_copy(update={"timezone": "Asia/Shanghai"}))
    me, _, _ = await two_users(api)
    client = await api.signed_in(me)
    # 17:30 UTC on the 9th is 01:30 on the 10th in Shanghai.
    late = dt.datetime(2026, 3, 9, 17, 30, tzinfo=dt.UTC)
    await record(api.db, [row(1, late, user_id=me)])
    lines = parse_csv(await client.get("/api/me/usage/export.csv?start=2026-03-10&end=2026-03-10"))
    assert lines[1][0] == "2026-03-10T01:30:00.000+08:00"
    assert (
        parse_csv(await client.get("/api/me/usage/export.csv?start=2026-03-09&end=2026-03-09"))[1:]
        == []
    )
