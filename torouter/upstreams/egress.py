"""Egress proxies (SPEC R9.1 `proxy`, R20.3): one pooled client per distinct proxy, next to the
direct one, behind the same `UpstreamTransport` seam.

`EgressTransports` is the transport the root hands to the relay, the probes and the model
checks. Its `send` *is* the direct client's bound `send` (no wrapper, no extra await), so a
channel without a proxy costs what it did before; a caller holding a channel asks
`transport_for(transport, channel.proxy)` and gets either that same object or the proxy's
client. A channel with a proxy never silently goes direct: a transport that cannot route
through proxies, or a proxy URL that cannot be parsed, fails the call (`UpstreamUnavailable`).

A proxy's client is created on first use and lives until a snapshot no longer names it
(`retain`, called on every snapshot load): it is then retired, and closed once the calls
that were using it are done, so a long stream through a proxy an admin just removed is not
cut. `close()` closes everything at shutdown.

Errors: everything a proxy can do wrong leaves as the seam's errors with a cause an admin can
act on — "egress proxy http://***@10.0.0.5:3128 refused the credentials (407)" — and never the
password. HTTP proxies answer a refused plain-http request with a 407 *response*, not an error;
no upstream legitimately sends 407 (it is the proxy's status), so it is turned into the same
failure as a refused CONNECT.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from torouter.upstreams.proxy_url import ProxyUrl, parse_proxy, redacted
from torouter.upstreams.transport import (
    StreamedBody,
    UpstreamFailure,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamTransport,
    UpstreamUnavailable,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from ssl import SSLContext

    from torouter.upstreams.http import UpstreamHttp

__all__ = ["DirectTransport", "EgressTransports", "ProxyRouting", "transport_for"]

log = logging.getLogger("torouter.upstreams")


class DirectTransport(UpstreamTransport, Protocol):
    """The direct client: a transport the router owns and closes."""

    async def close(self) -> None: ...


@runtime_checkable
class ProxyRouting(Protocol):
    """A transport that can send through a channel's egress proxy."""

    def for_proxy(self, proxy: str) -> UpstreamTransport: ...


def transport_for(transport: UpstreamTransport, proxy: str | None) -> UpstreamTransport:
    """The transport a channel's calls go through: `transport` itself when the channel has no
    proxy, else the proxy's client (raises `UpstreamUnavailable` when there is none)."""
    if proxy is None:
        return transport
    if isinstance(transport, ProxyRouting):
        return transport.for_proxy(proxy)
    raise UpstreamUnavailable("egress proxies are not supported by this upstream transport")


class EgressTransports:
    """Direct sends through `direct`; `for_proxy(url)` → that proxy's pooled client."""

    def __init__(
        self,
        direct: DirectTransport,
        *,
        client: Callable[[ProxyUrl], UpstreamHttp] | None = None,
    ) -> None:
        """`client` builds a proxy's (unstarted) client; the default is `proxy_client`."""
        self.direct = direct
        # The direct client's own bound method: the direct path pays no indirection.
        self.send: Callable[..., Coroutine[Any, Any, UpstreamResponse]] = direct.send
        self._client = client or proxy_client
        self._proxies: dict[str, _ProxyClient] = {}
        self._retired: set[_ProxyClient] = set()
        self._closing: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        start = getattr(self.direct, "start", None)
        if start is not None:
            await start()

    @property
    def proxies(self) -> list[str]:
        """The proxies with a live client, redacted (for tests and diagnostics)."""
        return sorted(p.shown for p in self._proxies.values())

    def for_proxy(self, proxy: str) -> UpstreamTransport:
        client = self._proxies.get(proxy)
        if client is None:
            try:
                url = parse_proxy(proxy)
            except ValueError as exc:
                shown = redacted(proxy)
                raise UpstreamUnavailable(f"invalid egress proxy {shown}: {exc}") from None
            client = self._proxies[proxy] = _ProxyClient(url, redacted(proxy) or "", self._client)
            log.info("egress proxy client created", extra={"proxy": client.shown})
        return client

    def retain(self, proxies: Iterable[str | None]) -> None:
        """Retire the clients of proxies no longer in `proxies` (a snapshot's channels)."""
        keep = {p for p in proxies if p}
        for proxy in [p for p in self._proxies if p not in keep]:
            client = self._proxies.pop(proxy)
            log.info("egress proxy client retired", extra={"proxy": client.shown})
            self._retired.add(client)
            client.retire(self._closed_later)

    def _closed_later(self, client: _ProxyClient) -> None:
        """Close a retired client off the caller's stack (a response's `close()` is sync)."""
        self._retired.discard(client)
        task = asyncio.get_running_loop().create_task(client.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        clients = [*self._proxies.values(), *self._retired]
        self._proxies.clear()
        self._retired.clear()
        for client in clients:
            await client.close()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        await self.direct.close()


def proxy_client(proxy: ProxyUrl, *, ssl: SSLContext | None = None) -> UpstreamHttp:
    """A pooled client whose every connection goes through `proxy`. `ssl`: how TLS upstreams
    are verified (default: the system's CAs; the tests pass a private CA)."""
    import aiohttp  # loaded only once a channel names a proxy: direct workers may not need it

    from torouter.upstreams.http import UpstreamConnector, UpstreamHttp

    tls: dict[str, Any] = {} if ssl is None else {"ssl": ssl}
    if proxy.socks:
        from torouter.upstreams.egress_socks import socks_connector  # only with socks channels

        return UpstreamHttp(connector=functools.partial(socks_connector(proxy), **tls))
    auth = None
    if proxy.username is not None:
        auth = aiohttp.BasicAuth(proxy.username, proxy.password or "")
    connector = functools.partial(UpstreamConnector, **tls)
    return UpstreamHttp(proxy=proxy.endpoint, proxy_auth=auth, connector=connector)


class _ProxyClient:
    """One proxy's client and the calls in flight through it (a retired client closes when
    the last one is done)."""

    def __init__(
        self, url: ProxyUrl, shown: str, build: Callable[[ProxyUrl], UpstreamHttp]
    ) -> None:
        self.url = url
        self.shown = shown  # redacted, for messages
        self._build = build
        self._http: UpstreamHttp | None = None
        self._foreign: tuple[type[Exception], ...] = ()
        self._timeouts: tuple[type[Exception], ...] = ()
        self.inflight = 0
        self._on_idle: Callable[[_ProxyClient], None] | None = None
        self.closed = False

    def _client(self) -> UpstreamHttp:
        http = self._http
        if http is None:
            if self.url.socks:
                from torouter.upstreams import egress_socks

                self._foreign = egress_socks.PROXY_ERRORS
                self._timeouts = egress_socks.PROXY_TIMEOUTS
            http = self._http = self._build(self.url)
        return http

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | StreamedBody | None = None,
        connect_s: float | None = None,
        read_s: float | None = None,
        total_s: float | None = None,
    ) -> UpstreamResponse:
        if self.closed:  # only a call that outlived its snapshot by a whole reload
            raise UpstreamUnavailable(f"egress proxy {self.shown}: its client was closed")
        http = self._client()
        self.inflight += 1  # before the first await: a retire cannot close it under us
        try:
            if http.session is None:
                await http.start()
            resp = await http.send(
                method,
                url,
                headers=headers,
                body=body,
                connect_s=connect_s,
                read_s=read_s,
                total_s=total_s,
            )
        except UpstreamFailure as exc:
            self._done()
            raise self._explained(exc) from exc
        except self._foreign as exc:  # the SOCKS dialler's own errors (empty for http)
            self._done()
            raise self._socks_failure(exc) from exc
        except BaseException:
            self._done()
            raise
        if resp.status == 407:
            resp.close()
            self._done()
            raise UpstreamUnavailable(f"egress proxy {self.shown} refused the credentials (407)")
        return _Tracked(resp, self)

    def _explained(self, exc: UpstreamFailure) -> UpstreamFailure:
        """The seam's error, naming the proxy when the proxy is what failed."""
        import aiohttp  # already loaded: this client is aiohttp's

        cause = exc.__cause__
        if isinstance(cause, aiohttp.ClientHttpProxyError):
            if cause.status == 407:
                return UpstreamUnavailable(
                    f"egress proxy {self.shown} refused the credentials (407)"
                )
            return UpstreamUnavailable(
                f"egress proxy {self.shown} refused the tunnel (HTTP {cause.status})"
            )
        if isinstance(cause, aiohttp.ClientProxyConnectionError):
            return UpstreamUnavailable(f"egress proxy {self.shown} is unreachable")
        kind = type(exc)
        return kind(f"{exc} (through egress proxy {self.shown})")

    def _socks_failure(self, exc: Exception) -> UpstreamFailure:
        text = self._scrub(str(exc))
        if isinstance(exc, self._timeouts):
            return UpstreamTimeout(f"egress proxy {self.shown} timed out: {text}")
        return UpstreamUnavailable(f"egress proxy {self.shown}: {text}")

    def _scrub(self, text: str) -> str:
        """A library's message, with the proxy password taken out should it ever appear."""
        if self.url.password:
            text = text.replace(self.url.password, "***")
        return text

    def _done(self) -> None:
        self.inflight -= 1
        if self.inflight == 0 and self._on_idle is not None:
            on_idle, self._on_idle = self._on_idle, None
            on_idle(self)

    def retire(self, on_idle: Callable[[_ProxyClient], None]) -> None:
        """Close (through `on_idle`) once no call is in flight: now, or at the last one's end."""
        if self.inflight == 0:
            on_idle(self)
        else:
            self._on_idle = on_idle

    async def close(self) -> None:
        self.closed = True
        self._on_idle = None
        if self._http is not None:
            await self._http.close()


class _Tracked:
    """A proxied answer that tells its client when it is closed (retirement waits for it)."""

    __slots__ = ("_client", "_resp", "headers", "status")

    def __init__(self, resp: UpstreamResponse, client: _ProxyClient) -> None:
        self._resp = resp
        self._client: _ProxyClient | None = client
        self.status = resp.status
        self.headers = resp.headers

    async def read_chunk(self) -> bytes:
        return await self._resp.read_chunk()

    async def read(self, limit: int | None = None) -> bytes:
        return await self._resp.read(limit)

    def close(self) -> None:
        self._resp.close()
        client, self._client = self._client, None
        if client is not None:  # idempotent
            client._done()
