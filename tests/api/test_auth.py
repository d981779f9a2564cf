"""Admin-token authentication (R16.2) and the session seam for the accounts package."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update
from starlette.requests import Request

from tests.api import seed
from tests.api.conftest import Api
from torouter.access.keys import hash_token
from torouter.api import Principal
from torouter.storage.tables import admin_tokens

URL = "/api/admin/users"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def assert_error(r: object, status: int, code: str) -> None:
    assert r.status_code == status, r.text  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert body["error"]["code"] == code
    assert body["error"]["type"] == code


async def test_admin_token_is_accepted(api: Api) -> None:
    r = await api.client.get(URL, headers=api.auth)
    assert r.status_code == 200


async def test_token_bound_to_no_user_acts_as_admin(api: Api) -> None:
    token = await seed.admin_token(api.db, user_id=None)
    r = await api.client.get(URL, headers=bearer(token))
    assert r.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"authorization": "Bearer"},
        {"authorization": "Bearer tra_short"},
        {"authorization": "Bearer sk-" + "a" * 48},
        {"authorization": "Bearer tra_" + "a" * 40},  # well-formed, unknown
        {"authorization": "Bearer tra_" + "a" * 40 + "\n"},
    ],
)
async def test_missing_or_bad_token_is_401(api: Api, headers: dict[str, str]) -> None:
    assert_error(await api.client.get(URL, headers=headers), 401, "AUTH_REQUIRED")


@pytest.mark.parametrize("other", ["valid", "bad", "same"])
async def test_repeated_authorization_header_is_refused(api: Api, other: str) -> None:
    """Issue 12 point 16: two `Authorization` headers are E16 naming the header, whichever
    copy is the good token (the gateway refuses them alike)."""
    second = {
        "valid": await seed.admin_token(api.db, user_id=api.admin_id, name="b"),
        "bad": "tra_" + "x" * 40,
        "same": api.admin_token,
    }[other]
    for pair in ((api.admin_token, second), (second, api.admin_token)):
        headers = [("authorization", f"Bearer {token}") for token in pair]
        r = await api.client.get(URL, headers=headers)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "INVALID_REQUEST"
        assert r.json()["error"]["param"] == "authorization"


async def test_revoked_token_is_401(api: Api) -> None:
    token = await seed.admin_token(api.db, user_id=api.admin_id)
    assert (await api.client.get(URL, headers=bearer(token))).status_code == 200
    async with api.db.begin() as conn:
        await conn.execute(
            update(admin_tokens)
            .where(admin_tokens.c.token_hash == hash_token(token))
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )
    assert_error(await api.client.get(URL, headers=bearer(token)), 401, "AUTH_REQUIRED")


async def test_token_of_a_non_admin_is_403(api: Api) -> None:
    user_id = await seed.user(api.db, email="someone@example.com")
    token = await seed.admin_token(api.db, user_id=user_id)
    assert_error(await api.client.get(URL, headers=bearer(token)), 403, "FORBIDDEN")


@pytest.mark.parametrize(("state", "status"), [("suspended", 403), ("deleted", 401)])
async def test_token_of_an_inactive_admin_is_refused(api: Api, state: str, status: int) -> None:
    user_id = await seed.user(api.db, email=f"{state}@example.com", role="admin", state=state)
    token = await seed.admin_token(api.db, user_id=user_id)
    r = await api.client.get(URL, headers=bearer(token))
    assert r.status_code == status


async def test_last_used_at_written_at_most_once_a_minute(api: Api) -> None:
    async def last_used() -> dt.datetime | None:
        async with api.db.connect() as conn:
            return await conn.scalar(
                select(admin_tokens.c.last_used_at).where(
                    admin_tokens.c.token_hash == hash_token(api.admin_token)
                )
            )

    assert await last_used() is None
    await api.client.get(URL, headers=api.auth)
    first = await last_used()
    assert first is not None
    await api.client.get(URL, headers=api.auth)
    assert await last_used() == first  # within the minute: not rewritten

    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    async with api.db.begin() as conn:
        await conn.execute(update(admin_tokens).values(last_used_at=old))
    await api.client.get(URL, headers=api.auth)
    newer = await last_used()
    assert newer is not None and newer > old + dt.timedelta(minutes=4)


async def test_session_resolver_extends_authentication(api: Api) -> None:
    """The accounts package plugs session cookies in through `ApiDeps.session_resolver`."""
    user_id = await seed.user(api.db, email="plain@example.com")
    seen: list[str] = []

    async def resolve(request: Request) -> Principal | None:
        seen.append(request.url.path)
        cookie = request.cookies.get("torouter_session")
        if cookie == "admin":
            return Principal(user_id=api.admin_id, role="admin", via="session")
        if cookie == "user":
            return Principal(user_id=user_id, role="user", via="session")
        return None

    api.app.state.deps.session_resolver = resolve
    r = await api.client.get(URL, headers={"cookie": "torouter_session=admin"})
    assert r.status_code == 200
    r = await api.client.get(URL, headers={"cookie": "torouter_session=user"})
    assert_error(r, 403, "FORBIDDEN")
    r = await api.client.get(URL)
    assert_error(r, 401, "AUTH_REQUIRED")
    # A bearer credential is judged alone: a bad token is not rescued by a session.
    r = await api.client.get(
        URL, headers={"cookie": "torouter_session=admin", **bearer("tra_" + "b" * 40)}
    )
    assert_error(r, 401, "AUTH_REQUIRED")
    assert len(seen) == 3


def test_principal_actor() -> None:
    assert Principal(5, "admin", "session").actor == "user:5"
    assert Principal(None, "admin", "token", token_id=3).actor == "token:3"
    assert Principal(5, "admin", "token", token_id=3).actor == "user:5/token:3"
