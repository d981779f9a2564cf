"""Steps the account tests share, each one real HTTP call (or a mail read) away."""

from __future__ import annotations

from typing import Any

import httpx

from tests.accounts.conftest import PASSWORD, Stack


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["error"]["code"] == code, body
    return body["error"]  # type: ignore[no-any-return]


def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    return {"x-csrf-token": client.cookies.get("torouter_csrf") or ""}


async def signup(
    stack: Stack, email: str, password: str = PASSWORD, client: httpx.AsyncClient | None = None
) -> httpx.Response:
    c = client or stack.client
    body = {"email": email, "password": password, "password_confirm": password}
    return await c.post("/api/auth/signup", json=body)


async def verify_from_mail(stack: Stack, email: str) -> httpx.Response:
    mail = await stack.last_mail(email)
    return await stack.client.post("/api/auth/verify", json={"token": mail.token})


async def verified_user(stack: Stack, email: str, password: str = PASSWORD) -> int:
    r = await signup(stack, email, password)
    assert r.status_code == 201, r.text
    r = await verify_from_mail(stack, email)
    assert r.status_code == 200, r.text
    return int(r.json()["id"])


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def signed_in(stack: Stack, email: str, client: httpx.AsyncClient | None = None) -> int:
    """A verified user signed in on `client` (default: the stack's); returns the user id."""
    user_id = await verified_user(stack, email)
    r = await login(client or stack.client, email)
    assert r.status_code == 200, r.text
    return user_id
