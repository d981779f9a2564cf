"""Usage analytics through the real gateway (issue 14): a request that fails over, then read
back by its owner and by an admin: request detail with every attempt and the billing
breakdown (R15.4), the roll-ups behind the summary and dashboard (R11.3), the CSV (R11.5).

The gateway is a real process; the first channel's mock always answers 500, so the request
is served by the second after one failover.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import GatewayProcess, MockProcess, wait_until

KEY = "sk-e2eUsageKey000000000000000000000000000000000000U"
assert len(KEY) == 51
PASSWORD = "usage-e2e-password"

CONFIG = """
data_dir = "{dir}/data"
timezone = "Asia/Shanghai"
[server]
port = {port}
[demo]
enabled = false
[mock]
mount = false
[usage]
flush_interval_s = 0.05

[[groups]]
name = "default"
price_multiplier = 1.5
models = ["m-fo"]

[[models]]
id = "m-fo"
vendor = "openai"
endpoints = ["chat"]
prices = { input = 1, output = 2 }

[[channels]]
name = "c-broken"
platform = "openai"
base_url = "%(bad)s/v1"
credential = "k"
models = ["m-fo"]
groups = ["default"]

[[channels]]
name = "c-fine"
platform = "openai"
base_url = "%(good)s/v1"
credential = "k"
models = ["m-fo"]
groups = ["default"]
priority = 1

[[users]]
email = "boss@example.com"
role = "admin"
verified = true

[[users]]
email = "user@example.com"
verified = true
balance_usd = 10
password = "env:USAGE_E2E_PASSWORD"

[[keys]]
name = "laptop"
user = "user@example.com"
group = "default"
key = "%(key)s"
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    work: Path = tmp_path_factory.mktemp("usage-views")
    bad = MockProcess(work, '[faults]\n"500" = 1.0\n')
    good = MockProcess(work)
    cfg = CONFIG % {"bad": bad.url, "good": good.url, "key": KEY}
    gw = GatewayProcess(work, cfg, env={"USAGE_E2E_PASSWORD": PASSWORD}).start()
    gw.admin_token = gw.cli(  # type: ignore[attr-defined]
        "create-admin-token", "--config", str(gw.config_path), "--email", "boss@example.com"
    ).stdout.strip()
    yield gw
    gw.stop()
    bad.stop()
    good.stop()


def signed_in(gw: GatewayProcess) -> httpx.Client:
    c = gw.client()
    r = c.post("/api/auth/login", json={"email": "user@example.com", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c


def test_a_failed_over_request_in_every_view(gw: GatewayProcess) -> None:
    with gw.client() as c:
        r = c.post(
            "/v1/chat/completions",
            json={"model": "m-fo", "messages": [{"role": "user", "content": "secret prompt"}]},
            headers={"Authorization": f"Bearer {KEY}", "x-request-id": "e2e-usage-1"},
        )
    assert r.status_code == 200, r.text
    with contextlib.closing(signed_in(gw)) as me:

        def detail() -> dict[str, Any] | None:
            got = me.get("/api/me/usage/logs/e2e-usage-1")
            return got.json() if got.status_code == 200 else None

        d = wait_until(detail, timeout=15, what="the request's usage row")
        assert [(a["number"], a["status"], a["failure_class"]) for a in d["attempts"]] == [
            (1, 500, "server"),
            (2, 200, "success"),
        ]
        assert "channel" not in str(d["attempts"]) and "secret prompt" not in str(d)
        b = d["billing"]
        assert (b["charged"], b["reconciles"], b["multiplier"]) == (True, True, "1.5")
        assert b["unit_prices"]["input"] == "1" and b["unit_prices"]["output"] == "2"
        assert b["estimate_nusd"] > 0 and b["settled_nusd"] == d["request"]["cost_nusd"] > 0
        assert [line["kind"] for line in b["lines"]] == ["input", "output"]

        # The writer's roll-ups, in the deployment timezone, behind the summary and dashboard.
        s = me.get("/api/me/usage/summary").json()
        assert (s["requests"], s["cost_nusd"]) == (1, b["settled_nusd"])
        dash = me.get("/api/me/dashboard").json()
        (health,) = dash["model_health"]
        assert (health["model"], health["success_rate"], health["requests"]) == ("m-fo", 1.0, 1)
        assert health["p50_latency_ms"] is not None
        assert dash["recent"][0]["request_id"] == "e2e-usage-1"
        assert dash["balance"]["balance_nusd"] == 10 * 10**9 - b["settled_nusd"]
        assert dash["runway"]["burn_7d_nusd"] == b["settled_nusd"]
        (key,) = dash["keys"]
        assert key["name"] == "laptop"

        lines = list(csv.reader(io.StringIO(me.get("/api/me/usage/export.csv").text)))
        assert lines[1][1] == "e2e-usage-1" and lines[1][0].endswith("+08:00")
        ledger = me.get("/api/me/ledger?reason=usage").json()["data"]
        assert ledger[0]["reference_kind"] == "usage_batch"

    admin = gw.client(headers={"Authorization": f"Bearer {gw.admin_token}"})  # type: ignore[attr-defined]
    with admin:
        a = admin.get("/api/admin/usage/logs/e2e-usage-1").json()
        assert [x["channel_name"] for x in a["attempts"]] == ["c-broken", "c-fine"]
        assert a["user_email"] == "user@example.com"
        s = admin.get("/api/admin/usage/summary", params={"outcome": "success"}).json()
        assert s["requests"] == 1
