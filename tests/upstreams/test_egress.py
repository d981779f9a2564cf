"""Egress proxies behind the upstream seam (SPEC R9.1 `proxy`, R20.3): one pooled client per
proxy, http(s) proxies through aiohttp (forwarding, CONNECT for TLS targets), SOCKS5 through
aiohttp-socks, every proxy failure one of the seam's errors without the password, and clients
retired when no channel names their proxy any more.

Everything here is real: an aiohttp upstream (plain and TLS), and the test proxies of
`proxy_servers.py`, which count what went through them.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.upstreams.certs import self_signed
from tests.upstreams.proxy_servers import HttpProxy, SocksProxy, closed_port
from tests.waiting import eventually
from torouter.records import ChannelRec
from torouter.routing.probe import probe_channel
from torouter.upstreams.egress import EgressTransports, proxy_client, transport_for
from torouter.upstreams.http import UpstreamHttp
from torouter.upstreams.proxy_url import ProxyUrl
from torouter.upstreams.transport import UpstreamTimeout, UpstreamUnavailable

BODY = b'{"model":"m","messages":[]}'
HEADERS = {"content-type": "application/json"}
SECRET = "pr0xy-s3cret"


@dataclass
class Upstream:
    url: str  # http://127.0.0.1:port
    tls_url: str  # https://localhost:port
    ca: ssl.SSLContext
    hits: list[str]
    server_tls: ssl.SSLContext  # for a proxy served over TLS


def _certificate(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it) for localhost and 127.0.0.1."""
    cert_file, key_file = self_signed(tmp)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


@pytest.fixture
async def upstream(tmp_path: Path) -> AsyncIterator[Upstream]:
    hits: list[str] = []

    async def chat(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        if request.path.endswith("/stream"):
            resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
            await resp.prepare(request)
            for i in range(3):
                await resp.write(f"data: {i}\n\n".encode())
            await resp.write_eof()
            return resp
        return web.json_response({"ok": True, "via": request.headers.get("x-probe", "")})

    app = web.Application()
    app.router.add_post("/{tail:.*}", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    plain = web.TCPSite(runner, "127.0.0.1", 0)
    await plain.start()
    server_ctx, client_ctx = _certificate(tmp_path)
    tls = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await tls.start()
    port = plain._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    tls_port = tls._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield Upstream(
        f"http://127.0.0.1:{port}", f"https://localhost:{tls_port}", client_ctx, hits, server_ctx
    )
    await runner.cleanup()


@pytest.fixture
async def egress(upstream: Upstream) -> AsyncIterator[EgressTransports]:
    def build(url: ProxyUrl) -> UpstreamHttp:
        return proxy_client(url, ssl=upstream.ca)

    t = EgressTransports(UpstreamHttp(), client=build)
    await t.start()
    yield t
    await t.close()


async def _proxy(kind: type[HttpProxy] | type[SocksProxy], **kw: Any) -> Any:
    p = kind(**kw)
    await p.start()
    return p


@pytest.fixture
async def http_proxy() -> AsyncIterator[HttpProxy]:
    p = await _proxy(HttpProxy, user="alice", password=SECRET)
    yield p
    await p.stop()


@pytest.fixture
async def socks_proxy() -> AsyncIterator[SocksProxy]:
    p = await _proxy(SocksProxy, user="bob", password=SECRET)
    yield p
    await p.stop()


async def _post(t: Any, url: str) -> tuple[int, bytes]:
    resp = await t.send("POST", url, headers=HEADERS, body=BODY, connect_s=5, read_s=10)
    try:
        return resp.status, await resp.read()
    finally:
        resp.close()


async def test_direct_sends_are_the_direct_clients_own(
    egress: EgressTransports, upstream: Upstream, http_proxy: HttpProxy
) -> None:
    """No proxy: the very same transport, whose `send` is the direct client's bound method
    (nothing extra on the hot path), and the proxies see nothing."""
    assert transport_for(egress, None) is egress
    assert egress.send == egress.direct.send
    status, _ = await _post(egress, upstream.url + "/v1/chat/completions")
    assert status == 200 and upstream.hits == ["/v1/chat/completions"]
    assert http_proxy.connections == 0 and egress.proxies == []


async def test_http_proxy_forwards_plain_http_with_basic_auth(
    egress: EgressTransports, upstream: Upstream, http_proxy: HttpProxy
) -> None:
    t = transport_for(egress, f"http://alice:{SECRET}@127.0.0.1:{http_proxy.port}")
    url = upstream.url + "/v1/chat/completions"
    assert await _post(t, url) == (200, b'{"ok": true, "via": ""}')
    assert http_proxy.requests == [("POST", url)]
    assert upstream.hits == ["/v1/chat/completions"]


async def test_http_proxy_tunnels_tls_targets_with_connect(
    egress: EgressTransports, upstream: Upstream, http_proxy: HttpProxy
) -> None:
    t = transport_for(egress, f"http://alice:{SECRET}@127.0.0.1:{http_proxy.port}")
    port = upstream.tls_url.rsplit(":", 1)[1]
    resp = await t.send("POST", upstream.tls_url + "/v1/stream", headers=HEADERS, body=BODY)
    chunks = []
    while chunk := await resp.read_chunk():
        chunks.append(chunk)
    resp.close()
    assert b"".join(chunks) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert http_proxy.requests == [("CONNECT", f"localhost:{port}")]


@pytest.mark.parametrize("target", ["plain", "tls"])
async def test_http_proxy_refusing_the_credentials_is_unavailable_without_the_password(
    egress: EgressTransports, upstream: Upstream, http_proxy: HttpProxy, target: str
) -> None:
    """A 407 answers a forwarded request as a response and a CONNECT as an error: both are
    the proxy's refusal, never an upstream answer to relay."""
    proxy = f"http://alice:wrong-{SECRET}@127.0.0.1:{http_proxy.port}"
    url = (upstream.url if target == "plain" else upstream.tls_url) + "/v1/chat/completions"
    with pytest.raises(UpstreamUnavailable) as info:
        await _post(transport_for(egress, proxy), url)
    assert str(info.value) == (
        f"egress proxy http://***@127.0.0.1:{http_proxy.port} refused the credentials (407)"
    )
    assert http_proxy.refused_auth == 1 and upstream.hits == []


@pytest.mark.parametrize("scheme", ["socks5h", "socks5"])
async def test_socks5_streams_through_with_auth_and_resolves_as_asked(
    egress: EgressTransports, upstream: Upstream, socks_proxy: SocksProxy, scheme: str
) -> None:
    """socks5h hands the target's name to the proxy; socks5 resolves it here (curl's rule).
    Two calls share one pooled connection through the proxy."""
    t = transport_for(egress, f"{scheme}://bob:{SECRET}@127.0.0.1:{socks_proxy.port}")
    port = int(upstream.url.rsplit(":", 1)[1])
    url = f"http://localhost:{port}/v1/stream"
    for _ in range(2):
        resp = await t.send("POST", url, headers=HEADERS, body=BODY, read_s=10)
        chunks = []
        while chunk := await resp.read_chunk():
            chunks.append(chunk)
        resp.close()
        assert b"".join(chunks).count(b"data: ") == 3
    expected = (3, "localhost", port) if scheme == "socks5h" else (1, "127.0.0.1", port)
    assert socks_proxy.targets == [expected]  # one tunnel, reused
    assert upstream.hits == ["/v1/stream", "/v1/stream"]


async def test_socks5_tunnels_tls(
    egress: EgressTransports, upstream: Upstream, socks_proxy: SocksProxy
) -> None:
    t = transport_for(egress, f"socks5h://bob:{SECRET}@127.0.0.1:{socks_proxy.port}")
    assert (await _post(t, upstream.tls_url + "/v1/chat/completions"))[0] == 200
    assert [h for _, h, _ in socks_proxy.targets] == ["localhost"]


async def test_socks5_refusing_the_credentials_is_unavailable_without_the_password(
    egress: EgressTransports, upstream: Upstream, socks_proxy: SocksProxy
) -> None:
    proxy = f"socks5://bob:wrong-{SECRET}@127.0.0.1:{socks_proxy.port}"
    with pytest.raises(UpstreamUnavailable) as info:
        await _post(transport_for(egress, proxy), upstream.url + "/v1/chat/completions")
    text = str(info.value)
    assert text.startswith(f"egress proxy socks5://***@127.0.0.1:{socks_proxy.port}: ")
    assert SECRET not in text and "wrong" not in text
    assert socks_proxy.refused_auth == 1 and upstream.hits == []


@pytest.mark.parametrize("scheme", ["http", "socks5"])
async def test_a_proxy_that_is_down_is_unavailable(
    egress: EgressTransports, upstream: Upstream, scheme: str
) -> None:
    port = closed_port()
    t = transport_for(egress, f"{scheme}://u:{SECRET}@127.0.0.1:{port}")
    with pytest.raises(UpstreamUnavailable) as info:
        await _post(t, upstream.url + "/v1/chat/completions")
    assert f"egress proxy {scheme}://***@127.0.0.1:{port}" in str(info.value)
    assert SECRET not in str(info.value)
    assert upstream.hits == []


async def test_a_proxy_that_never_answers_times_out(
    egress: EgressTransports, upstream: Upstream
) -> None:
    """A SOCKS proxy that accepts and then says nothing: the connect deadline holds."""
    import asyncio

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        t = transport_for(egress, f"socks5://127.0.0.1:{port}")
        with pytest.raises(UpstreamTimeout):
            await t.send("POST", upstream.url + "/x", headers=HEADERS, body=BODY, connect_s=0.5)
    finally:
        server.close()


async def test_one_client_per_proxy_and_a_bad_stored_proxy_never_goes_direct(
    egress: EgressTransports, upstream: Upstream
) -> None:
    a = egress.for_proxy("http://127.0.0.1:1")
    assert egress.for_proxy("http://127.0.0.1:1") is a
    assert egress.for_proxy("http://127.0.0.1:2") is not a
    with pytest.raises(UpstreamUnavailable, match=r"invalid egress proxy gopher://\*\*\*@h"):
        egress.for_proxy(f"gopher://u:{SECRET}@h")
    assert upstream.hits == []


async def test_a_transport_without_proxy_support_refuses_proxied_channels() -> None:
    direct = UpstreamHttp()
    with pytest.raises(UpstreamUnavailable, match="not supported"):
        transport_for(direct, "http://127.0.0.1:1")
    assert transport_for(direct, None) is direct


async def test_retired_proxy_client_closes_after_its_last_call(
    egress: EgressTransports,
    upstream: Upstream,
    http_proxy: HttpProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A snapshot that no longer names a proxy retires its client; a stream already running
    through it finishes first, and the client closes when that answer is closed."""
    caplog.set_level(logging.INFO, logger="torouter.upstreams")
    proxy = f"http://alice:{SECRET}@127.0.0.1:{http_proxy.port}"
    other = "socks5://127.0.0.1:1"
    t = egress.for_proxy(proxy)
    egress.for_proxy(other)
    resp = await t.send("POST", upstream.url + "/v1/stream", headers=HEADERS, body=BODY)
    egress.retain([other, None])  # the channel's proxy changed under the stream
    assert egress.proxies == ["socks5://127.0.0.1:1"]
    client: Any = t
    assert not client.closed
    assert (await resp.read()).count(b"data: ") == 3
    resp.close()
    await eventually(lambda: client.closed, within=10, what="the retired client to close")
    assert egress.for_proxy(proxy) is not t  # named again: a fresh client
    messages = [r.getMessage() + str(getattr(r, "proxy", "")) for r in caplog.records]
    assert any("retired" in m and "***@127.0.0.1" in m for m in messages)
    assert not any(SECRET in m for m in messages)


async def test_idle_retired_client_closes_at_once_and_close_closes_all(
    upstream: Upstream, http_proxy: HttpProxy
) -> None:
    egress = EgressTransports(UpstreamHttp())
    await egress.start()
    client: Any = egress.for_proxy(f"http://alice:{SECRET}@127.0.0.1:{http_proxy.port}")
    assert (await _post(client, upstream.url + "/v1/chat/completions"))[0] == 200
    egress.retain([])
    await eventually(lambda: client.closed, within=10, what="the idle client to close")
    kept: Any = egress.for_proxy(f"http://alice:{SECRET}@127.0.0.1:{http_proxy.port}")
    await egress.close()
    assert kept.closed and egress.proxies == []


def _channel(base_url: str, proxy: str | None) -> ChannelRec:
    return ChannelRec(
        id=7,
        name="proxied",
        platform="openai-compatible",
        base_url=base_url,
        credential="k",
        models=frozenset({"m"}),
        model_mapping={},
        priority=0,
        weight=1,
        connect_timeout=5,
        first_byte_timeout=10,
        stream_idle_timeout=10,
        status="auto_disabled",
        max_concurrency=0,
        options={},
        proxy=proxy,
    )


async def test_probe_goes_through_the_channels_proxy(
    egress: EgressTransports, upstream: Upstream, http_proxy: HttpProxy
) -> None:
    good = _channel(upstream.url + "/v1", f"http://alice:{SECRET}@127.0.0.1:{http_proxy.port}")
    ok, status, _ = await probe_channel(egress, good)
    assert (ok, status) == (True, 200)
    assert http_proxy.requests == [("POST", upstream.url + "/v1/chat/completions")]
    bad = _channel(upstream.url + "/v1", f"http://alice:nope@127.0.0.1:{http_proxy.port}")
    ok, status, text = await probe_channel(egress, bad)
    assert (ok, status) == (False, 0)
    assert text == (
        f"egress proxy http://***@127.0.0.1:{http_proxy.port} refused the credentials (407)"
    )
    assert repr(bad).count("nope") == 0  # the record's repr leaves the proxy out


async def test_model_checks_go_through_the_channels_proxy(
    egress: EgressTransports, upstream: Upstream, socks_proxy: SocksProxy
) -> None:
    from torouter.routing.model_checks import check_model

    ch = _channel(upstream.url + "/v1", f"socks5://bob:{SECRET}@127.0.0.1:{socks_proxy.port}")
    result = await check_model(egress, ch, "m", "chat", stream=False)
    assert result.ok is True and result.status == 200
    port = int(upstream.url.rsplit(":", 1)[1])
    assert socks_proxy.targets == [(1, "127.0.0.1", port)]


@pytest.mark.parametrize("target", ["plain", "tls"])
async def test_https_proxy_speaks_tls_to_the_proxy(
    egress: EgressTransports, upstream: Upstream, target: str
) -> None:
    """`https://` proxies: TLS to the proxy itself (verified like an upstream), then
    forwarding or a CONNECT tunnel inside it."""
    proxy = HttpProxy(user="alice", password=SECRET)
    await proxy.start(tls=upstream.server_tls)
    try:
        t = transport_for(egress, f"https://alice:{SECRET}@localhost:{proxy.port}")
        base = upstream.url if target == "plain" else upstream.tls_url
        assert (await _post(t, base + "/v1/chat/completions"))[0] == 200
        method = "POST" if target == "plain" else "CONNECT"
        assert [m for m, _ in proxy.requests] == [method]
    finally:
        await proxy.stop()
