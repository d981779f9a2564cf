"""What the gateway process loads (SPEC §20 peak RSS): the embedded default imports neither the
Redis client nor alembic, and the upstream client keeps no cookies between callers."""

from __future__ import annotations

import subprocess
import sys

import aiohttp

from torouter.upstreams.http import UpstreamHttp


def test_embedded_app_imports_no_redis_or_alembic() -> None:
    code = (
        "import sys, torouter.app, torouter.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'redis', 'alembic', 'mako', "
        "'websockets'}))"
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
