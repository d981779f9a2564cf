"""Channel egress proxies through a real gateway process (SPEC R9.1 `proxy`, R20.3).

The proxies (tests/upstreams/proxy_servers.py) run on a loop of this process and count what
went through them; the gateway relays to its own mounted mock providers. A channel with a proxy
sends through it (plain and streamed, HTTP and SOCKS5, with auth), a channel without goes
direct, a dead proxy fails over to a direct channel, the admin Test goes through the proxy,
reads and logs never show the proxy password, and an edit swaps the proxy at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.conftest import KEY
from tests.e2e.harness import GatewayProcess
from tests.e2e.test_openai_chat import usage_row
from tests.upstreams.proxy_servers import HttpProxy, ProxyThread, SocksProxy, closed_port
from torouter.crypto import is_encrypted

OAI = {"Authorization": f"Bearer {KEY}"}
SECRET = "pr0xy-s3cret"
MODELS = ("m-http", "m-socks", "m-direct", "m-fail", "m-badauth", "m-swap")

CONFIG = """
data_dir = "{dir}/data"
[server]
port = {port}
[demo]
enabled = false
[mock]
mount = true
[usage]
flush_interval_s = 0.05
[routing]
lru_granularity_ms = 0

[[groups]]
name = "default"
models = %(models)s

%(model_entries)s

%(channels)s

[[users]]
email = "e2e@example.com"
role = "admin"
verified = true
balance_usd = 1000

[[keys]]
name = "e2e"
user = "e2e@example.com"
group = "default"
key = "%(key)s"
"""


def channel(name: str, model: str, proxy: str | None, *, host: str = "127.0.0.1", **kw: Any) -> str:
    out = (
        f'[[channels]]\nname = "{name}"\nplatform = "openai"\n'
        f'base_url = "http://{host}:{{port}}/mock/openai/v1"\ncredential = "mock-key-1"\n'
        f'models = ["{model}"]\ngroups = ["default"]\n'
    )
    if proxy is not None:
        out += f'proxy = "{proxy}"\n'
    return out + "".join(f"{k} = {v}\n" for k, v in kw.items())


class Setup:
    gw: GatewayProcess
    ids: dict[str, int]
    http: HttpProxy
    socks: SocksProxy
    spare_http: HttpProxy
    spare_socks: SocksProxy
    loop: ProxyThread
    dead_port: int


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    work: Path = tmp_path_factory.mktemp("egress")
    s = Setup()
    s.loop = ProxyThread()
    s.http = HttpProxy(user="alice", password=SECRET)
    s.socks = SocksProxy(user="bob", password=SECRET)
    s.spare_http, s.spare_socks = HttpProxy(), SocksProxy()
    for p in (s.http, s.socks, s.spare_http, s.spare_socks):
        s.loop.run(p.start())
    s.dead_port = closed_port()
    chans = [
        channel("c-http", "m-http", f"http://alice:{SECRET}@127.0.0.1:{s.http.port}"),
        # socks5h: the proxy resolves the upstream's name
        channel(
            "c-socks",
            "m-socks",
            f"socks5h://bob:{SECRET}@127.0.0.1:{s.socks.port}",
            host="localhost",
        ),
        channel("c-direct", "m-direct", None),
        channel("c-dead", "m-fail", f"http://alice:{SECRET}@127.0.0.1:{s.dead_port}"),
        channel("c-fail-direct", "m-fail", None, priority=1),
        channel("c-badauth", "m-badauth", f"http://alice:wrong-{SECRET}@127.0.0.1:{s.http.port}"),
    ]
    entries = "\n".join(
        f'[[models]]\nid = "{m}"\nvendor = "openai"\nendpoints = ["chat"]\n'
        "prices = { input = 1, output = 2 }\n"
        for m in MODELS
    )
    cfg = CONFIG % {
        "models": orjson.dumps(list(MODELS)).decode(),
        "model_entries": entries,
        "channels": "\n".join(chans),
        "key": KEY,
    }
    s.gw = GatewayProcess(work, cfg).start()
    s.gw.admin_token = s.gw.cli(  # type: ignore[attr-defined]
        "create-admin-token", "--config", str(s.gw.config_path), "--email", "e2e@example.com"
    ).stdout.strip()
    with admin(s.gw) as c:
        rows = c.get("/api/admin/channels", params={"page_size": 100}).json()["data"]
    s.ids = {r["name"]: r["id"] for r in rows}
    yield s
    s.gw.stop()
    for p in (s.http, s.socks, s.spare_http, s.spare_socks):
        s.loop.run(p.stop())
    s.loop.stop()
    everything = orjson.dumps(s.gw.lines).decode() + s.gw.stderr.decode(errors="replace")
    assert SECRET not in everything  # no log line of the whole run holds the proxy password


def admin(gw: GatewayProcess) -> httpx.Client:
    return gw.client(headers={"Authorization": f"Bearer {gw.admin_token}"})  # type: ignore[attr-defined]


def call(gw: GatewayProcess, model: str, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], **extra}
    with gw.client() as c:
        return c.post("/v1/chat/completions", json=body, headers=OAI)


def chain(s: Setup, r: httpx.Response) -> list[tuple[int, str]]:
    row = usage_row(s.gw, r.headers["x-request-id"])
    return [(a["channel_id"], a["class"]) for a in row["attempt_chain"]]


def _stored_proxy(s: Setup, name: str) -> Any:
    import sqlite3

    con = sqlite3.connect(s.gw.workdir / "data" / "torouter.db")
    try:
        return con.execute("SELECT proxy_enc FROM channels WHERE name = ?", (name,)).fetchone()[0]
    finally:
        con.close()


def _count(s: Setup, what: Any) -> Any:
    return s.loop.call(what)


def test_http_proxy_carries_plain_and_streamed_calls(setup: Setup) -> None:
    before = _count(setup, lambda: len(setup.http.requests))
    r = call(setup.gw, "m-http")
    assert r.status_code == 200, r.text
    with setup.gw.client() as c:
        body = {"model": "m-http", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        with c.stream("POST", "/v1/chat/completions", json=body, headers=OAI) as resp:
            text = "".join(resp.iter_text())
    assert resp.status_code == 200 and text.rstrip().endswith("data: [DONE]")
    seen = _count(setup, lambda: list(setup.http.requests[before:]))
    target = f"http://127.0.0.1:{setup.gw.port}/mock/openai/v1/chat/completions"
    assert seen == [("POST", target), ("POST", target)]


def test_socks_proxy_carries_calls_and_resolves_the_name_itself(setup: Setup) -> None:
    before = _count(setup, lambda: len(setup.socks.targets))
    with setup.gw.client() as c:
        body = {"model": "m-socks", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        with c.stream("POST", "/v1/chat/completions", json=body, headers=OAI) as resp:
            text = "".join(resp.iter_text())
    assert resp.status_code == 200 and "data: [DONE]" in text
    assert call(setup.gw, "m-socks").status_code == 200
    targets = _count(setup, lambda: list(setup.socks.targets[before:]))
    assert targets and set(targets) == {(3, "localhost", setup.gw.port)}


def test_a_channel_without_a_proxy_goes_direct(setup: Setup) -> None:
    counts = _count(setup, lambda: (setup.http.connections, setup.socks.connections))
    assert call(setup.gw, "m-direct").status_code == 200
    assert _count(setup, lambda: (setup.http.connections, setup.socks.connections)) == counts


def test_a_dead_proxy_fails_over_to_a_direct_channel(setup: Setup) -> None:
    r = call(setup.gw, "m-fail")
    assert r.status_code == 200, r.text
    assert chain(setup, r) == [
        (setup.ids["c-dead"], "network"),
        (setup.ids["c-fail-direct"], "success"),
    ]
    failed = setup.gw.wait_log(
        lambda x: (
            x.get("msg") == "upstream attempt failed" and x.get("channel") == setup.ids["c-dead"]
        )
    )
    assert failed["cause"] == f"egress proxy http://***@127.0.0.1:{setup.dead_port} is unreachable"


def test_admin_test_goes_through_the_proxy_and_names_its_refusal(setup: Setup) -> None:
    before = _count(setup, lambda: len(setup.http.requests))
    with admin(setup.gw) as c:
        ok = c.post(f"/api/admin/channels/{setup.ids['c-http']}/test").json()
        bad = c.post(f"/api/admin/channels/{setup.ids['c-badauth']}/test")
    assert ok["ok"] is True and ok["status"] == 200
    assert _count(setup, lambda: len(setup.http.requests)) == before + 1
    assert bad.json()["ok"] is False and SECRET not in bad.text
    assert f"egress proxy http://***@127.0.0.1:{setup.http.port} refused the credentials" in (
        bad.text
    )


def test_reads_redact_the_proxy_password(setup: Setup) -> None:
    with admin(setup.gw) as c:
        one = c.get(f"/api/admin/channels/{setup.ids['c-socks']}")
        listed = c.get("/api/admin/channels", params={"page_size": 100})
    assert one.json()["proxy"] == f"socks5h://***@127.0.0.1:{setup.socks.port}"
    assert SECRET not in one.text and SECRET not in listed.text


def test_proxies_are_stored_encrypted(setup: Setup) -> None:
    """R18.2: the database holds no proxy URL, only ciphertext (the calls above decrypted it
    from there); a proxy edited through the API is stored the same way (next test)."""
    names = ("c-http", "c-socks", "c-dead", "c-badauth", "c-direct", "c-fail-direct")
    stored = {name: _stored_proxy(setup, name) for name in names}
    assert stored["c-direct"] is None and stored["c-fail-direct"] is None
    for name in ("c-http", "c-socks", "c-dead", "c-badauth"):
        assert is_encrypted(stored[name]), name
        assert SECRET not in stored[name] and "127.0.0.1" not in stored[name]


def test_an_edit_swaps_the_proxy_on_the_next_request(setup: Setup) -> None:
    spare_http, spare_socks = setup.spare_http, setup.spare_socks
    with admin(setup.gw) as c:
        r = c.post(
            "/api/admin/channels",
            json={
                "name": "c-swap",
                "platform": "openai",
                "base_url": f"http://127.0.0.1:{setup.gw.port}/mock/openai/v1",
                "credential": "mock-key-1",
                "models": ["m-swap"],
                "groups": ["default"],
                "proxy": f"http://127.0.0.1:{spare_http.port}",
            },
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        assert call(setup.gw, "m-swap").status_code == 200
        assert _count(setup, lambda: len(spare_http.requests)) == 1
        r = c.patch(
            f"/api/admin/channels/{cid}", json={"proxy": f"socks5://127.0.0.1:{spare_socks.port}"}
        )
        assert r.status_code == 200, r.text
        assert is_encrypted(_stored_proxy(setup, "c-swap"))  # an API edit is encrypted too
        assert call(setup.gw, "m-swap").status_code == 200
        assert _count(setup, lambda: len(spare_socks.targets)) == 1
        assert _count(setup, lambda: len(spare_http.requests)) == 1  # the old one: no more
        setup.gw.wait_log(
            lambda x: (
                x.get("msg") == "egress proxy client retired"
                and x.get("proxy") == f"http://127.0.0.1:{spare_http.port}"
            )
        )
        bad = c.patch(f"/api/admin/channels/{cid}", json={"proxy": "socks4://127.0.0.1:1"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "proxy"
        r = c.patch(f"/api/admin/channels/{cid}", json={"proxy": None})
        assert r.status_code == 200 and r.json()["proxy"] is None
        counts = _count(setup, lambda: (len(spare_http.requests), len(spare_socks.targets)))
        assert call(setup.gw, "m-swap").status_code == 200
        assert _count(setup, lambda: (len(spare_http.requests), len(spare_socks.targets))) == (
            counts
        )
