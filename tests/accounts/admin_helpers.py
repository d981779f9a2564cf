"""An admin to act in tests: a signed-in browser (session + CSRF) and an admin token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.accounts.conftest import PASSWORD, Stack
from tests.accounts.flows import csrf, login
from torouter.accounts.passwords import hash_password
from torouter.api.admin_tokens import create_admin_token
from torouter.storage.repos import create_admin


@dataclass
class AdminSide:
    id: int
    browser: httpx.AsyncClient
    token: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        """A POST from the admin's browser, with its CSRF header."""
        return await self.browser.post(path, headers=csrf(self.browser), **kw)

    async def patch(self, path: str, **kw: Any) -> httpx.Response:
        return await self.browser.patch(path, headers=csrf(self.browser), **kw)


async def make_admin(stack: Stack, email: str = "root@admin.test") -> AdminSide:
    admin_id, _ = await create_admin(stack.db, email=email, password_hash=hash_password(PASSWORD))
    browser = stack.browser()
    r = await login(browser, email)
    assert r.status_code == 200, r.text
    token = await create_admin_token(stack.db, name="tests", user_id=admin_id)
    return AdminSide(admin_id, browser, token)
