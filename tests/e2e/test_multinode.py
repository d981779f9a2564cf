"""The multi-node proof of R17.11 (issue 18 point 2): three gateway processes behind haproxy
(the kit's configuration), on one PostgreSQL and one Redis, with an upstream of their own (a
mock provider process, so killing a node never takes the upstream with it).

Under load through the balancer: a revoked key, a suspended user, a disabled channel and a
price change are seen by every node within 1 s; 200 concurrent requests never overspend a cap
(R7.11); kill -9 of one node loses no charge, charges nothing twice, and the others keep
serving; a rolling restart drops no request.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.deploy.kit import tool
from tests.e2e.balancer import Balancer, haproxy
from tests.e2e.harness import GatewayProcess, MockProcess, wait_until
from tests.e2e.test_admission_setup import redis_db_url
from tests.e2e.test_concurrency import KEYS, check, config, pg_url, run_bursts, totals
from tests.e2e.test_shared_journal import INITIAL_NUSD, books
from torouter.crypto import generate_key
from torouter.usage.shared_journal import STREAM

__all__ = ["pg_url"]  # the fixture, imported for its use here

# Three nodes and haproxy on a shared 2-core machine: a rolling restart takes minutes.
pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(900)]

NODES = 3
BODY = {"messages": [{"role": "user", "content": "hi [[mock:tokens=5]]"}], "max_tokens": 50}


class Cluster:
    def __init__(self, work: Path, pg_url: str, redis_url: str, upstream: str) -> None:
        self.pg_url = pg_url
        self.upstream = upstream
        self.redis_url = redis_url
        extra = f'[database]\nurl = "{pg_url}"\n[redis]\nurl = "{redis_url}"'
        text_ = config(extra, generate_key()).replace(
            "http://127.0.0.1:{port}/mock/openai/v1", f"{upstream}/v1"
        )
        self.nodes = []
        for i in range(NODES):
            (work / f"n{i}").mkdir()
            self.nodes.append(GatewayProcess(work / f"n{i}", text_))
        self.nodes[0].cli("migrate", "up", "--config", str(self.nodes[0].config_path))
        self.lb = Balancer(work, [n.port for n in self.nodes])

    def start(self) -> None:
        failures: list[BaseException] = []

        def start(node: GatewayProcess) -> None:
            try:
                node.start()
            except BaseException as exc:  # reported below, in the test's thread
                failures.append(exc)

        threads = [threading.Thread(target=start, args=(n,)) for n in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            raise failures[0]
        self.lb.start()
        for name in self.lb.names:
            self.lb.wait_status(name, "UP")

    def stop(self) -> None:
        self.lb.stop()
        for node in self.nodes:
            node.stop()

    def admin(self) -> dict[str, str]:
        node = self.nodes[0]
        token = node.cli(
            "create-admin-token", "--config", str(node.config_path), "--email", "admin@example.com"
        ).stdout.strip()
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def cluster(tmp_path: Path, pg_url: str) -> Iterator[Cluster]:
    haproxy()  # skip (outside CI) before starting anything
    upstream = MockProcess(tmp_path)
    c = Cluster(tmp_path, pg_url, redis_db_url(3), upstream.url)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        upstream.stop()


class Load:
    """Client threads sending chats (streamed and not) through the balancer until stopped."""

    def __init__(
        self,
        url: str,
        key: str,
        threads: int = 6,
        model: str = "gpt-test",
        *,
        retry_unanswered: bool = False,
    ) -> None:
        self.retry_unanswered = retry_unanswered
        self.retried: list[str] = []  # requests closed before any answer and sent again
        self.url = url
        self.key = key
        self.model = model
        self.completed: list[str] = []  # request ids answered in full
        self.failed: list[str] = []  # anything else: status or transport error
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, i: int) -> None:
        stream = i % 2 == 0
        body = {**BODY, "model": self.model, "stream": stream}
        with httpx.Client(base_url=self.url, timeout=60) as c:
            while not self._stop.is_set():
                try:
                    r = c.post(
                        "/v1/chat/completions",
                        json=body,
                        headers={"Authorization": f"Bearer {self.key}"},
                    )
                    full = r.status_code == 200 and (
                        r.text.rstrip().endswith("data: [DONE]") if stream else '"usage"' in r.text
                    )
                    outcome = (
                        r.headers.get("x-request-id", "?")
                        if full
                        else f"{r.status_code} {r.headers.get('x-request-id')} {r.text[:300]}"
                    )
                except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                    # Closed before any answer (a pooled connection racing its close): what the
                    # SDKs retry. Counted, and the books then prove nothing was charged for it.
                    if self.retry_unanswered:
                        with self._lock:
                            self.retried.append(repr(exc))
                        continue
                    full, outcome = False, repr(exc)
                except httpx.HTTPError as exc:
                    full, outcome = False, repr(exc)
                with self._lock:
                    (self.completed if full else self.failed).append(outcome)

    def count(self) -> int:
        with self._lock:
            return len(self.completed)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)


def chat(node: GatewayProcess, key: str, model: str) -> httpx.Response:
    body = {**BODY, "model": model}
    with node.client() as c:
        return c.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})


def on_every_node_within_1s(
    cluster: Cluster, key: str, refused: Callable[[httpx.Response], bool]
) -> None:
    """Every node answers as `refused` says within 1 s of the edit having returned."""
    edited = time.monotonic()
    for i, node in enumerate(cluster.nodes):
        left = 1.0 - (time.monotonic() - edited)
        wait_until(
            lambda node=node: refused(chat(node, key, "gpt-priced")),
            timeout=max(left, 0.0),
            what=f"node {i} applying the edit within 1 s",
        )


def db_value(db_url: str, sql: str, **params: Any) -> Any:
    async def read() -> Any:
        engine = create_async_engine(db_url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(sql), params)).scalar()
        finally:
            await engine.dispose()

    return asyncio.run(read())


def billed_input_price(cluster: Cluster, request_id: str) -> str:
    prices = wait_until(
        lambda: db_value(
            cluster.pg_url,
            "SELECT unit_prices FROM usage_logs WHERE request_id = :r",
            r=request_id,
        ),
        timeout=30,
        what=f"the row of {request_id}",
    )
    if isinstance(prices, str):
        prices = json.loads(prices)
    return str(prices["input"])


def test_edits_reach_every_node_within_a_second(cluster: Cluster) -> None:
    admin = cluster.admin()
    password = "a long enough password"
    with httpx.Client(base_url=cluster.nodes[0].url, headers=admin, timeout=30) as c:
        r = c.post(
            "/api/admin/models",
            json={"id": "gpt-priced", "endpoints": ["chat"], "prices": {"input": 1, "output": 1}},
        )
        assert r.status_code == 201, r.text
        r = c.post("/api/admin/groups", json={"name": "priced", "models": ["gpt-priced"]})
        assert r.status_code == 201, r.text
        channel = {
            "name": "priced-upstream",
            "platform": "openai",
            "base_url": f"{cluster.upstream}/v1",
            "credential": "mock-key-2",
            "models": ["gpt-priced"],
            "groups": ["priced"],
        }
        r = c.post("/api/admin/channels", json=channel)
        assert r.status_code == 201, r.text
        channel_id = r.json()["id"]
        body = {"email": "eve@example.com", "password": password, "password_confirm": password}
        assert c.post("/api/auth/signup", json=body, headers={}).status_code == 201
        users = c.get("/api/admin/users", params={"q": "eve@"}).json()["data"]
        uid = next(u["id"] for u in users if u["email"] == "eve@example.com")
        assert c.post(f"/api/admin/users/{uid}/verify").status_code == 200
        r = c.post(f"/api/admin/users/{uid}/balance", json={"amount_usd": "5", "reason": "t"})
        assert r.status_code == 201, r.text
        keys = []
        for name in ("eve", "eve-revoked"):
            r = c.post("/api/admin/keys", json={"name": name, "group": "priced", "user_id": uid})
            assert r.status_code in (200, 201), r.text
            keys.append(r.json())
    for node in cluster.nodes:
        for key in keys:
            wait_until(
                lambda node=node, key=key: chat(node, key["key"], "gpt-priced").status_code == 200,
                timeout=10,
                what="every node serving eve's keys",
            )

    with Load(cluster.lb.url, KEYS["victim"], threads=4) as load:  # the nodes under load
        wait_until(lambda: load.count() >= 20, timeout=60, what="load through haproxy")
        # A price change: the first request on every node within 1 s is billed at it.
        with httpx.Client(base_url=cluster.nodes[0].url, headers=admin, timeout=30) as c:
            r = c.patch("/api/admin/models/gpt-priced", json={"prices": {"input": 7}})
            assert r.status_code == 200, r.text
        edited = time.monotonic()
        billed_new: dict[int, float] = {}  # node → when its request billed at the new price
        while len(billed_new) < NODES:
            sent = {}
            for i, node in enumerate(cluster.nodes):
                if i not in billed_new:
                    at = time.monotonic() - edited
                    assert at <= 1.0, f"node {i} still billed the old price after 1 s"
                    r = chat(node, keys[0]["key"], "gpt-priced")
                    assert r.status_code == 200, r.text
                    sent[i] = (at, r.headers["x-request-id"])
            for i, (at, request_id) in sent.items():  # rows are written every 50 ms
                if billed_input_price(cluster, request_id) == "7":
                    billed_new[i] = at
        print("price change billed by every node after (s):", billed_new)

        # A revoked key.
        with httpx.Client(base_url=cluster.nodes[0].url, headers=admin, timeout=30) as c:
            assert c.delete(f"/api/admin/keys/{keys[1]['id']}").status_code == 204
        on_every_node_within_1s(
            cluster,
            keys[1]["key"],
            lambda r: r.status_code == 401 and r.json()["error"]["code"] == "INVALID_API_KEY",
        )
        # A disabled channel: its only model is refused (E: no channel) everywhere.
        with httpx.Client(base_url=cluster.nodes[0].url, headers=admin, timeout=30) as c:
            assert c.post(f"/api/admin/channels/{channel_id}/disable").status_code == 200
        on_every_node_within_1s(cluster, keys[0]["key"], lambda r: r.status_code == 503)
        # A suspended user.
        with httpx.Client(base_url=cluster.nodes[0].url, headers=admin, timeout=30) as c:
            assert c.post(f"/api/admin/users/{uid}/suspend").status_code == 200
        on_every_node_within_1s(
            cluster,
            keys[0]["key"],
            lambda r: r.status_code == 401 and r.json()["error"]["code"] == "USER_INACTIVE",
        )
    assert load.failed == []  # the edits never disturbed the load


def test_200_concurrent_requests_over_three_nodes_never_overspend(cluster: Cluster) -> None:
    statuses = run_bursts([cluster.lb.url])
    for i, node in enumerate(cluster.nodes):  # haproxy spread every burst over the nodes
        served = [r for r in node.lines if r.get("msg") == "request" and r.get("status") == 200]
        assert served, f"node {i} served nothing"
    # Every node's /metrics parses (R17.11).
    promtool = tool("promtool")
    for node in cluster.nodes:
        with node.client() as c:
            metrics = c.get("/metrics").text
        out = subprocess.run(
            [promtool, "check", "metrics"], input=metrics, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stdout + out.stderr
    cluster.stop()  # SIGTERM: every queue flushed
    charged = totals(cluster.pg_url)
    print("three nodes:", {k: (v.count(200), charged[k]) for k, v in statuses.items()})
    check(statuses, charged)


def stream_empty(redis_url: str) -> bool:
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.xlen(STREAM)) == 0
    finally:
        client.close()


def check_books(cluster: Cluster, load: Load) -> None:
    rows, balance, ledger = books(cluster.pg_url)
    admissions = [r[1] for r in rows]
    assert len(admissions) == len(set(admissions)), "a request was charged twice"
    stored = {r[0] for r in rows}
    missing = [rid for rid in load.completed if rid not in stored]
    assert not missing, f"{len(missing)} served responses have no usage row"
    charged = sum(r[2] for r in rows)
    assert charged > 0
    assert balance == ledger == INITIAL_NUSD - charged


def test_kill_9_under_load_loses_no_charge_and_the_others_keep_serving(
    cluster: Cluster,
) -> None:
    victim = cluster.nodes[1]
    with Load(cluster.lb.url, KEYS["victim"], threads=6) as load:
        wait_until(lambda: load.count() >= 60, timeout=60, what="load through haproxy")
        assert victim.proc is not None
        victim.proc.kill()  # kill -9, in the middle of its requests
        victim.proc.wait(10)
        after = load.count()
        cluster.lb.wait_status("gw1", "DOWN")
        wait_until(lambda: load.count() >= after + 60, timeout=60, what="the others serving")
    print(f"kill -9 under load: {len(load.completed)} served, {len(load.failed)} cut")
    # Only requests in flight on the killed node may fail (their answer had begun).
    assert len(load.failed) <= 6, load.failed
    # The killed node's rows: written by the others from the shared journal.
    wait_until(lambda: stream_empty(cluster.redis_url), timeout=15, what="its rows taken over")
    # It comes back: its own journal is replayed too, and nothing is charged twice.
    victim.start()
    cluster.stop()
    check_books(cluster, load)


def test_a_rolling_restart_drops_no_request(cluster: Cluster) -> None:
    with Load(cluster.lb.url, KEYS["victim"], threads=6, retry_unanswered=True) as load:
        wait_until(lambda: load.count() >= 30, timeout=60, what="load through haproxy")
        for i, node in enumerate(cluster.nodes):
            node.stop(signal.SIGTERM)  # drains: in-flight requests finish
            cluster.lb.wait_status(f"gw{i}", "DOWN")
            node.start()
            cluster.lb.wait_status(f"gw{i}", "UP")
            before = load.count()
            wait_until(lambda b=before: load.count() >= b + 20, timeout=60, what="load")
    print(
        f"rolling restart: {len(load.completed)} served, {len(load.failed)} failed, "
        f"{len(load.retried)} closed unanswered and sent again"
    )
    assert load.failed == [], f"haproxy's log: {cluster.lb.log_path}"
    cluster.stop()
    check_books(cluster, load)
    # A request closed before any answer and sent again was never charged: every stored row
    # is a request the client got in full.
    rows = books(cluster.pg_url)[0]
    assert {r[0] for r in rows} == set(load.completed)
