"""OpenAI chat through the real gateway with the official SDK, old and new majors (issue 3).

SPEC R3.3, R4.1, R4.2, R5.3, R6.5, R8.6, R10.2, R10.4, R11.1, R11.2.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import KEY
from tests.e2e.harness import GatewayProcess, wait_until
from tests.e2e.sdks import OPENAI_MAJORS, run_sdk

MSG = [{"role": "user", "content": "Tell me about routing gateways"}]


def admin(gw: GatewayProcess) -> httpx.Client:
    return gw.client(headers={"Authorization": f"Bearer {gw.admin_token}"})


def usage_row(gw: GatewayProcess, request_id: str) -> dict[str, Any]:
    """The usage row of a request, once the batched writer has committed it (R11.2)."""
    with admin(gw) as c:

        def fetch() -> dict[str, Any] | None:
            r = c.get("/api/admin/usage", params={"request_id": request_id})
            assert r.status_code == 200, r.text
            rows = r.json()["data"]
            return rows[0] if rows else None

        return wait_until(fetch, timeout=10, what=f"usage row {request_id}")


def balance(gw: GatewayProcess, email: str = "e2e@example.com") -> int:
    with admin(gw) as c:
        users = c.get("/api/admin/users", params={"q": email}).json()["data"]
        uid = users[0]["id"]
        return int(c.get(f"/api/admin/users/{uid}").json()["balance_nusd"])


def expected_cost(row: dict[str, Any]) -> int:
    """R10.4 with the test prices: $2/M input (cache read defaults to it), $10/M output, ×1.5."""
    tokens = (row["input_tokens"] + row["cache_read_tokens"]) * 2 + row["output_tokens"] * 10
    return int((Decimal(tokens) * 1000 * Decimal("1.5")).to_integral_value())


def wait_idle(gw: GatewayProcess) -> None:
    """Every settled row committed (the usage queue gauge is back to 0)."""

    def idle() -> bool:
        with gw.client() as c:
            text = c.get("/metrics").text
        return "torouter_usage_queue_depth 0.0" in text

    wait_until(idle, timeout=10, what="usage queue drained")


@pytest.mark.parametrize("venv", OPENAI_MAJORS)
def test_non_stream_call_meters_and_charges(gateway: GatewayProcess, venv: str | None) -> None:
    wait_idle(gateway)
    before = balance(gateway)
    out = run_sdk(
        "openai_call.py",
        venv,
        {
            "op": "chat",
            "base_url": gateway.url + "/v1",
            "key": KEY,
            "params": {"model": "gpt-test", "messages": MSG, "max_tokens": 50},
        },
    )
    assert "error" not in out, out
    assert out["text"] and out["finish"] == "stop"
    assert out["request_id"].startswith("req_")
    row = usage_row(gateway, out["request_id"])
    assert row["outcome"] == "success" and row["status"] == 200
    assert row["model_requested"] == "gpt-test" and row["stream"] is False
    usage = out["usage"]
    assert row["input_tokens"] + row["cache_read_tokens"] == usage["prompt_tokens"]
    assert row["output_tokens"] == usage["completion_tokens"]
    assert row["cost_nusd"] == expected_cost(row) > 0
    assert row["estimated"] is False
    assert row["attempts"] == 1
    wait_idle(gateway)
    assert before - balance(gateway) == row["cost_nusd"]
    line = gateway.access_line(out["request_id"])
    assert line["status"] == 200 and line["model"] == "gpt-test"
    assert line["key"].startswith("sk-") and KEY not in str(line)


@pytest.mark.parametrize("venv", OPENAI_MAJORS)
@pytest.mark.parametrize("include_usage", [False, True])
def test_stream_relays_and_meters(
    gateway: GatewayProcess, venv: str | None, include_usage: bool
) -> None:
    params: dict[str, Any] = {"model": "gpt-test", "messages": MSG, "stream": True}
    if include_usage:
        params["stream_options"] = {"include_usage": True}
    out = run_sdk(
        "openai_call.py",
        venv,
        {"op": "chat", "base_url": gateway.url + "/v1", "key": KEY, "params": params},
    )
    assert "error" not in out, out
    plain = run_sdk(
        "openai_call.py",
        venv,
        {
            "op": "chat",
            "base_url": gateway.url + "/v1",
            "key": KEY,
            "params": {"model": "gpt-test", "messages": MSG},
        },
    )
    assert out["text"] == plain["text"]
    assert out["finish"] == "stop"
    row = usage_row(gateway, out["request_id"])
    assert row["stream"] is True and row["outcome"] == "success"
    assert row["estimated"] is False  # include_usage was injected upstream (R4.2)
    if include_usage:
        assert out["usage"]["completion_tokens"] == row["output_tokens"]
    else:
        assert out["usage"] is None  # the usage-only chunk was stripped again
    assert row["cost_nusd"] == expected_cost(row) > 0


def test_stream_wire_format(gateway: GatewayProcess) -> None:
    """R4.1/R4.2: headers, data-only events, [DONE] last, usage chunk only when asked."""
    body = {"model": "gpt-test", "messages": MSG, "stream": True}
    with (
        gateway.client() as c,
        c.stream(
            "POST",
            "/api/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {KEY}"},
        ) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["x-accel-buffering"] == "no"
        assert r.headers["x-request-id"].startswith("req_")
        raw = r.read()
    events = [e for e in raw.split(b"\n\n") if e]
    assert all(e.startswith(b"data: ") for e in events)
    assert events[-1] == b"data: [DONE]"
    assert b'"choices":[]' not in raw


def test_model_mapping_sends_the_upstream_id(gateway: GatewayProcess) -> None:
    out = run_sdk(
        "openai_call.py",
        None,
        {
            "op": "chat",
            "base_url": gateway.url + "/v1",
            "key": KEY,
            "params": {"model": "gpt-mapped", "messages": MSG},
        },
    )
    assert out["model"] == "upstream-model-x"  # relayed as received (R5.3)
    row = usage_row(gateway, out["request_id"])
    assert (row["model_requested"], row["model_upstream"]) == ("gpt-mapped", "upstream-model-x")


@pytest.mark.parametrize("venv", OPENAI_MAJORS)
def test_models_list(gateway: GatewayProcess, venv: str | None) -> None:
    out = run_sdk(
        "openai_call.py", venv, {"op": "models", "base_url": gateway.url + "/v1", "key": KEY}
    )
    assert out["ids"][:5] == [
        "gpt-test",
        "gpt-mapped",
        "gpt-slow",
        "claude-only",
        "claude-only-thinking",
    ]


def test_models_list_and_get_formats(gateway: GatewayProcess) -> None:
    with gateway.client() as c:
        r = c.get("/api/v1/models", headers={"Authorization": f"Bearer {KEY}"})
        assert r.json()["object"] == "list"
        r = c.get("/v1/models", headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"})
        body = r.json()
        assert body["has_more"] is False and body["data"][0]["type"] == "model"
        r = c.get("/v1/models", headers={"x-goog-api-key": KEY})
        assert r.json()["models"][0]["name"] == "models/gpt-test"
        r = c.get("/v1/models/gpt-test", headers={"Authorization": f"Bearer {KEY}"})
        assert r.json() == {
            "id": "gpt-test",
            "object": "model",
            "created": r.json()["created"],
            "owned_by": "openai",
        }
        r = c.get("/v1/models/nope", headers={"Authorization": f"Bearer {KEY}"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "MODEL_NOT_FOUND"
