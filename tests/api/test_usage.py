"""`GET /api/admin/usage`: every R11.1 field, cursor paging, filters."""

from __future__ import annotations

from tests.api import seed
from tests.api.conftest import Api

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
    await seed.usage(api.db, rows)

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
