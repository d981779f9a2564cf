"""What the gateway process loads (SPEC §20 peak RSS): the embedded default imports neither the
Redis client nor alembic, the management API and console only once asked for, and the upstream
client keeps no cookies between callers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from torouter.upstreams.http import UpstreamHttp


def test_embedded_app_imports_no_redis_or_alembic() -> None:
    """…nor argon2-cffi and aiosmtplib (~0.9 MB), loaded at the first sign-in or mail."""
    code = (
        "import sys, torouter.app, torouter.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'redis', 'alembic', 'mako', "
        "'websockets', 'aiohttp_socks', 'python_socks', 'argon2', 'aiosmtplib'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_upstream_cookies_are_not_kept() -> None:
    http = UpstreamHttp()
    await http.start()
    try:
        assert http.session is not None
        assert isinstance(http.session.cookie_jar, aiohttp.DummyCookieJar)
    finally:
        await http.close()


def test_start_up_heap_is_frozen_out_of_the_collector() -> None:
    code = (
        "import gc, torouter.app as a; a._settle_heap(); "
        "print(gc.get_freeze_count() > 10_000, gc.get_threshold())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True (5000, 20, 20)"


def test_start_up_heap_is_trimmed_before_it_is_frozen() -> None:
    """What start-up freed in the C heap goes back to the kernel once, before serving."""
    code = (
        "import gc, torouter.app as a, torouter.native_heap as h; calls = []; "
        "h.trim = lambda: calls.append(gc.get_freeze_count()) or True; a._settle_heap(); "
        "print(calls == [0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


_LAZY = """
import asyncio, sys, tempfile
import httpx
from torouter.app import build_app
from torouter.config import Settings

HEAVY = {"fastapi", "jinja2", "babel", "starlette"}

def loaded():
    return sorted({m.split(".")[0] for m in sys.modules} & HEAVY)

async def main():
    app = build_app(Settings(data_dir=tempfile.mkdtemp(), demo={"enabled": False}))
    await app.startup()
    try:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            await c.get("/readyz")
            await c.post("/v1/chat/completions", json={"model": "x", "messages": []})
            print("@@", loaded())
            print("@@", (await c.get("/api/openapi.json")).status_code, loaded())
            print("@@", (await c.get("/")).status_code)
    finally:
        await app.shutdown()

asyncio.run(main())
"""


def test_management_api_and_console_are_built_on_their_first_request() -> None:
    """R20.2: a worker that only relays model traffic never loads FastAPI, Jinja2 or Babel
    (about 28 MB); the first management or console request builds them, and they serve."""
    out = subprocess.run(
        [sys.executable, "-c", _LAZY], capture_output=True, text=True, check=True, timeout=120
    )
    lines = [line[3:] for line in out.stdout.splitlines() if line.startswith("@@ ")]
    before, after, console = lines
    assert before == "[]"
    assert after == "200 ['babel', 'fastapi', 'jinja2', 'starlette']"
    assert console == "303"  # the console answers too: sign in first


async def test_a_failed_management_build_is_a_500_and_is_tried_again(tmp_path: Path) -> None:
    from torouter.app import ToRouterApp
    from torouter.config import Settings

    class Broken(ToRouterApp):
        attempts = 0

        def _build_api(self, c: Any, keyring: Any) -> None:
            Broken.attempts += 1
            raise RuntimeError("no templates")

    app = Broken(Settings(data_dir=tmp_path, demo={"enabled": False}))
    await app.startup()
    try:
        transport = httpx.ASGITransport(app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            r = await c.get("/api/openapi.json")
            assert r.status_code == 500 and r.json()["error"]["code"] == "INTERNAL_ERROR"
            assert r.headers["x-request-id"]
            assert (await c.get("/login")).status_code == 500
            assert Broken.attempts == 2
            assert (await c.get("/healthz")).status_code == 200  # the rest keeps serving
    finally:
        await app.shutdown()
