"""Channel routing, failover and health against mock-provider faults (SPEC §9; issue 8).

Each channel points at its own mock process, so faults are per channel.
"""

from __future__ import annotations

import concurrent.futures
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.conftest import KEY
from tests.e2e.harness import GatewayProcess, MockProcess, wait_until
from tests.e2e.test_openai_chat import usage_row

OAI = {"Authorization": f"Bearer {KEY}"}

CONFIG = """
data_dir = "{dir}/data"
[server]
port = {port}
[demo]
enabled = false
[mock]
mount = false
[usage]
flush_interval_s = 0.05
[routing]
lru_granularity_ms = 0
probe_interval_s = 1

[[groups]]
name = "default"
models = ["m-5xx", "m-429", "m-auth", "m-aff", "m-chaos", "m-cool", "m-400", "m-probe"]

%(models)s

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


def channel(name: str, url: str, model: str, *, priority: int = 0, cred: str = "k") -> str:
    return (
        f'[[channels]]\nname = "{name}"\nplatform = "openai"\nbase_url = "{url}/v1"\n'
        f'credential = "{cred}"\nmodels = ["{model}"]\ngroups = ["default"]\n'
        f"priority = {priority}\n"
    )


class Setup:
    gw: GatewayProcess
    ids: dict[str, int]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    work: Path = tmp_path_factory.mktemp("failover")
    mocks = {
        "healthy": MockProcess(work),
        "always500": MockProcess(work, '[faults]\n"500" = 1.0\n'),
        "flaky": MockProcess(work, 'seed = 11\n[faults]\n"500" = 0.5\n'),
        # 6 s: the second call must land inside the cooldown although awaiting the first call's
        # usage row can take seconds on a loaded machine.
        "limited": MockProcess(work, 'retry_after_s = 6\n[faults]\n"429" = 1.0\n'),
        "limited_long": MockProcess(work, 'retry_after_s = 4\n[faults]\n"429" = 1.0\n'),
        "cooling": MockProcess(work, 'retry_after_s = 30\n[faults]\n"429" = 1.0\n'),
    }
    u = {k: m.url for k, m in mocks.items()}
    chans = [
        channel("c-5xx-bad", u["always500"], "m-5xx"),
        channel("c-5xx-good", u["healthy"], "m-5xx", priority=1),
        channel("c-429-limited", u["limited"], "m-429"),
        channel("c-429-good", u["healthy"], "m-429", priority=1),
        channel("c-auth-bad", u["healthy"], "m-auth", cred="nocredit-credential"),
        channel("c-auth-good", u["healthy"], "m-auth", priority=1),
        *[channel(f"c-aff-{i}", u["healthy"], "m-aff", cred=f"aff-{i}") for i in range(5)],
        channel("c-chaos-flaky", u["flaky"], "m-chaos"),
        channel("c-chaos-limited", u["limited_long"], "m-chaos"),
        channel("c-chaos-good", u["healthy"], "m-chaos"),
        channel("c-cool", u["cooling"], "m-cool"),
        channel("c-400", u["healthy"], "m-400"),
    ]
    models = "\n".join(
        f'[[models]]\nid = "{m}"\nvendor = "openai"\nendpoints = ["chat"]\n'
        "prices = { input = 1, output = 2 }\n"
        for m in ("m-5xx", "m-429", "m-auth", "m-aff", "m-chaos", "m-cool", "m-400", "m-probe")
    )
    cfg = CONFIG % {"models": models, "channels": "\n".join(chans), "key": KEY}
    gw = GatewayProcess(work, cfg).start()
    con = sqlite3.connect(work / "data" / "torouter.db")
    ids = dict(con.execute("SELECT name, id FROM channels").fetchall())
    con.close()
    s = Setup()
    s.gw, s.ids = gw, ids
    gw.admin_token = gw.cli(  # type: ignore[attr-defined]
        "create-admin-token", "--config", str(gw.config_path), "--email", "e2e@example.com"
    ).stdout.strip()
    yield s
    gw.stop()
    for m in mocks.values():
        m.stop()


def call(gw: GatewayProcess, model: str, text: str = "hello", **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    with gw.client() as c:
        return c.post("/v1/chat/completions", json=body, headers=OAI)


def chain(s: Setup, r: httpx.Response) -> list[tuple[int, str]]:
    row = usage_row(s.gw, r.headers["x-request-id"])
    return [(a["channel_id"], a["class"]) for a in row["attempt_chain"]]


def test_5xx_fails_over_to_the_next_tier(setup: Setup) -> None:
    r = call(setup.gw, "m-5xx")
    assert r.status_code == 200
    assert chain(setup, r) == [
        (setup.ids["c-5xx-bad"], "server"),
        (setup.ids["c-5xx-good"], "success"),
    ]
    line = setup.gw.access_line(r.headers["x-request-id"])
    assert [a["status"] for a in line["attempts"]] == [500, 200]


def test_429_cools_the_channel_until_the_upstream_reset(setup: Setup) -> None:
    t0 = time.monotonic()
    first = call(setup.gw, "m-429")
    second = call(setup.gw, "m-429")
    assert chain(setup, first)[0] == (setup.ids["c-429-limited"], "rate_limited")
    assert chain(setup, second) == [(setup.ids["c-429-good"], "success")]  # not tried again
    cooling = setup.gw.wait_log(
        lambda r: (
            r.get("msg") == "channel cooling" and r.get("channel") == setup.ids["c-429-limited"]
        )
    )
    assert cooling["reason"] == "rate_limited" and 5 <= cooling["seconds"] <= 6.5

    def retried() -> bool:
        r = call(setup.gw, "m-429")
        return chain(setup, r)[0][0] == setup.ids["c-429-limited"]

    wait_until(retried, timeout=20, what="the limited channel tried again after its reset")
    assert time.monotonic() - t0 >= 5


def test_out_of_credit_disables_the_channel(setup: Setup) -> None:
    """An out-of-credit answer (a billing pattern) auto-disables at once (R9.6)."""
    r = call(setup.gw, "m-auth")
    assert r.status_code == 200  # failed over, never a client error
    assert chain(setup, r)[0] == (setup.ids["c-auth-bad"], "auth_billing")
    setup.gw.wait_log(
        lambda r: (
            r.get("msg") == "channel status changed" and r.get("channel") == setup.ids["c-auth-bad"]
        )
    )
    r = call(setup.gw, "m-auth")
    assert chain(setup, r) == [(setup.ids["c-auth-good"], "success")]
    con = sqlite3.connect(setup.gw.workdir / "data" / "torouter.db")
    status = con.execute(
        "SELECT status, status_reason FROM channels WHERE id = ?", (setup.ids["c-auth-bad"],)
    ).fetchone()
    con.close()
    assert status == ("auto_disabled", "billing")


def test_client_errors_never_fail_over(setup: Setup) -> None:
    r = call(setup.gw, "m-400", "[[mock:status=400]]")
    assert r.status_code == 400
    assert len(chain(setup, r)) == 1


def test_no_eligible_channel_is_503_with_retry_after(setup: Setup) -> None:
    r = call(setup.gw, "m-cool")
    assert r.status_code == 502  # the only channel answered 429
    assert int(r.headers["retry-after"]) >= 25  # all tried channels cool
    r = call(setup.gw, "m-cool")
    assert r.status_code == 503 and r.json()["error"]["code"] == "upstream_unavailable"
    assert 25 <= int(r.headers["retry-after"]) <= 30


def test_affinity_earns_prompt_cache_hits(setup: Setup) -> None:
    """R9.2: a session sticks to one channel, so the mock's per-credential cache hits."""
    prompt = "Summarise this long shared context. " * 40

    def cached(session: str | None, n: int) -> int:
        extra = {"user": session} if session else {}
        r = call(setup.gw, "m-aff", f"{prompt} #{n}", **extra)
        assert r.status_code == 200
        return int(r.json()["usage"]["prompt_tokens_details"]["cached_tokens"])

    sticky = sum(cached("session-a", n) for n in range(6) for _ in range(2))
    plain = sum(cached(None, 100 + n) for n in range(6) for _ in range(2))
    assert sticky > 0
    assert plain == 0  # least recently used rotates every request to another credential
    assert sticky > plain


def test_chaos(setup: Setup) -> None:
    """Issue 8 item 8: one flapping channel, one 429 channel with a reset header, one healthy."""
    n, workers = 2000, 16
    started = time.monotonic()

    def one(i: int) -> tuple[int, str, bool]:
        stream = i % 2 == 0
        body = {
            "model": "m-chaos",
            "stream": stream,
            "messages": [{"role": "user", "content": f"chaos {i}"}],
        }
        with httpx.Client(base_url=setup.gw.url, timeout=30) as c:
            r = c.post("/v1/chat/completions", json=body, headers=OAI)
        ok = r.status_code == 200 and (
            r.text.rstrip().endswith("data: [DONE]") and b'"error"' not in r.content
            if stream
            else "usage" in r.json()
        )
        return r.status_code, r.headers["x-request-id"], ok

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, range(n)))
    elapsed = time.monotonic() - started
    failures = [r for r in results if not r[2]]
    assert not failures, f"{len(failures)} client-visible errors: {Counter(r[0] for r in failures)}"
    ids = {r[1] for r in results}

    def rows() -> list[dict[str, Any]]:
        con = sqlite3.connect(setup.gw.workdir / "data" / "torouter.db")
        try:
            return [
                {"request_id": a, "admission_id": b, "chain": orjson.loads(c)}
                for a, b, c in con.execute(
                    "SELECT request_id, admission_id, attempt_chain FROM usage_logs "
                    "WHERE model_requested = 'm-chaos'"
                )
            ]
        finally:
            con.close()

    got = wait_until(lambda: (x := rows()) and len(x) >= n and x, timeout=30, what="rows")
    assert len(got) == n and {r["request_id"] for r in got} == ids  # one row per request
    assert len({r["admission_id"] for r in got}) == n  # never charged twice
    limited = setup.ids["c-chaos-limited"]
    flaky = setup.ids["c-chaos-flaky"]
    attempts = Counter(a["channel_id"] for r in got for a in r["chain"])
    # The 429 channel is untouched while it cools (reset 4 s): a handful of attempts per reset
    # window (the requests already in flight when the first 429 came back), not a share.
    windows = int(elapsed // 4) + 1
    assert attempts[limited] <= windows * workers, (attempts, elapsed)
    assert attempts[limited] < n / 10
    cooled = [
        r for r in setup.gw.lines if r.get("msg") == "channel cooling" and r.get("channel") == flaky
    ]
    assert cooled, "the flapping channel was never cooled down"
    print(
        f"chaos: {n} requests in {elapsed:.1f}s, attempts per channel {dict(attempts)}, "
        f"flaky cooldowns {len(cooled)}"
    )


def test_channel_admin_api_create_test_disable_and_health(setup: Setup) -> None:
    """R9.1/R9.9: admin JSON API for channels; edits apply on the next request."""
    gw = setup.gw
    admin = {"Authorization": f"Bearer {gw.admin_token}"}  # type: ignore[attr-defined]
    healthy = gw.config_text.split('name = "c-400"')[1].split('base_url = "')[1].split('"')[0]
    with gw.client(headers=admin) as c:
        r = c.post(
            "/api/admin/channels",
            json={
                "name": "c-new",
                "platform": "openai",
                "base_url": healthy,
                "credential": "fresh-secret",
                "models": ["m-400"],
                "groups": ["default"],
                "priority": -1,
            },
        )
        assert r.status_code == 201, r.text
        new = r.json()
        assert new["has_credential"] is True and "fresh-secret" not in r.text
        r = call(gw, "m-400")
        assert chain(setup, r) == [(new["id"], "success")]  # the very next request
        t = c.post(f"/api/admin/channels/{new['id']}/test").json()
        assert t["ok"] is True and t["status"] == 200 and t["latency_ms"] >= 0
        bad = c.post(f"/api/admin/channels/{setup.ids['c-5xx-bad']}/test").json()
        assert bad["ok"] is False and bad["status"] == 500
        assert c.post(f"/api/admin/channels/{new['id']}/disable").json()["status"] == "disabled"
        r = call(gw, "m-400")
        assert chain(setup, r) == [(setup.ids["c-400"], "success")]
        r = c.patch(f"/api/admin/channels/{setup.ids['c-400']}", json={"priority": 3})
        assert r.status_code == 409  # declared in the config file: read-only
        r = c.post(
            "/api/admin/channels",
            json={"name": "x", "platform": "openai", "base_url": "ftp://nope"},
        )
        assert r.status_code == 400 and r.json()["error"]["param"] == "base_url"
        assert call(gw, "m-5xx").status_code == 200
        view = c.get(f"/api/admin/channels/{setup.ids['c-5xx-good']}/health").json()
        assert view["window_5m"]["requests"] >= 1 and view["window_5m"]["success_rate"] == 1.0
        everything = c.get("/api/admin/channels/health").json()["data"]
        assert {v["channel_id"] for v in everything} >= set(setup.ids.values())


def test_probe_re_enables_a_fixed_channel(setup: Setup) -> None:
    """R9.6: an auto-disabled channel comes back once a probe to its test_model succeeds."""
    gw = setup.gw
    admin = {"Authorization": f"Bearer {gw.admin_token}"}  # type: ignore[attr-defined]
    healthy = gw.config_text.split('name = "c-400"')[1].split('base_url = "')[1].split('"')[0]
    with gw.client(headers=admin) as c:
        r = c.post(
            "/api/admin/channels",
            json={
                "name": "c-probe",
                "platform": "openai",
                "base_url": healthy,
                "credential": "nocredit-until-fixed",
                "models": ["m-probe"],
                "groups": ["default"],
                "test_model": "m-probe",
            },
        )
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        assert call(gw, "m-probe").status_code == 502  # out of credit: disabled at once
        gw.wait_log(
            lambda x: (
                x.get("msg") == "channel status changed"
                and x.get("channel") == cid
                and x.get("status") == "auto_disabled"
            )
        )
        assert (
            c.patch(f"/api/admin/channels/{cid}", json={"credential": "paid-now"}).status_code
            == 200
        )
        gw.wait_log(
            lambda x: (
                x.get("msg") == "channel status changed"
                and x.get("channel") == cid
                and x.get("status") == "enabled"
            ),
            timeout=15,
            what="the probe to re-enable the channel",
        )
    assert call(gw, "m-probe").status_code == 200
