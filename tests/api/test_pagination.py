"""Numbered pages (R16.4): shape, totals, bounds."""

from __future__ import annotations

import pytest

from tests.api import seed
from tests.api.conftest import Api
from torouter.api.pagination import decode_cursor, encode_cursor
from torouter.errors import GatewayError


async def seed_users(api: Api, n: int) -> None:
    for i in range(n):
        await seed.user(api.db, email=f"user{i:02d}@example.com")


async def test_pages_cover_every_row_once(api: Api) -> None:
    await seed_users(api, 56)  # + the admin = 57
    r = await api.client.get("/api/admin/users", headers=api.auth)
    body = r.json()
    assert (body["page"], body["page_size"], body["total"]) == (1, 20, 57)
    assert set(body) == {"data", "page", "page_size", "total"}
    seen = []
    for page in (1, 2, 3):
        r = await api.client.get(f"/api/admin/users?page={page}&page_size=20", headers=api.auth)
        seen += [u["id"] for u in r.json()["data"]]
    assert len(seen) == 57 == len(set(seen))
    r = await api.client.get("/api/admin/users?page=4", headers=api.auth)
    assert r.json()["data"] == [] and r.json()["total"] == 57
    r = await api.client.get("/api/admin/users?page_size=100", headers=api.auth)
    assert len(r.json()["data"]) == 57


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("page_size=101", "page_size"),
        ("page_size=0", "page_size"),
        ("page=0", "page"),
        ("page=abc", "page"),
    ],
)
async def test_bounds_are_invalid_request(api: Api, query: str, param: str) -> None:
    r = await api.client.get(f"/api/admin/users?{query}", headers=api.auth)
    assert r.status_code == 400
    err = r.json()["error"]
    assert (err["code"], err["type"], err["param"]) == ("INVALID_REQUEST", "INVALID_REQUEST", param)
    assert err["message"].startswith(f"{param}: ")


def test_cursor_round_trip_and_garbage() -> None:
    assert decode_cursor(encode_cursor(12345)) == 12345
    for bad in ("", "abc", "!!!", encode_cursor(1)[:-1] + "*", "aWQ6LTE", "aWQ6wrI"):
        with pytest.raises(GatewayError) as info:
            decode_cursor(bad)
        assert info.value.param == "cursor"
