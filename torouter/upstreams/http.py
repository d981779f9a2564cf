"""The one pooled aiohttp client per worker, and the boundary where its errors are mapped."""

from __future__ import annotations

import aiohttp

__all__ = ["UpstreamHttp"]


class UpstreamHttp:
    """Owns the `ClientSession`: keep-alive pool, no decompression (usage is read as sent)."""

    def __init__(self, *, limit: int = 0, limit_per_host: int = 0) -> None:
        self._limit = limit
        self._limit_per_host = limit_per_host
        self.session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float, float], aiohttp.ClientTimeout] = {}

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._limit,
            limit_per_host=self._limit_per_host,
            ttl_dns_cache=300,
            keepalive_timeout=30,
            enable_cleanup_closed=True,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            # Upstream cookies must not travel from one caller's request to another's.
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent",),
            timeout=aiohttp.ClientTimeout(total=None),
        )

    def timeout(self, connect: float, idle: float) -> aiohttp.ClientTimeout:
        key = (connect, idle)
        t = self._timeouts.get(key)
        if t is None:
            t = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None, sock_connect=connect, sock_read=idle
            )
        return t

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
