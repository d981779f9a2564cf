"""The Responses API through the real gateway with the official SDK, old and new majors
(issue 9): native on openai channels, translated through chat completions, Anthropic and Gemini.

SPEC R3.3, R4.3, R4.6, R5.2, R5.4, R5.5, R5.7, R9.5, R10.2, R10.4.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from ulid import ULID

from tests.e2e.conftest import KEY, MEDIA_KEY
from tests.e2e.harness import GatewayProcess
from tests.e2e.sdks import OPENAI_MAJORS, run_sdk
from tests.e2e.test_openai_chat import usage_row

TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
# (model, key): native openai; translated to Anthropic, Gemini and chat completions.
TRANSLATED = [
    pytest.param("claude-only", KEY, id="anthropic"),
    pytest.param("gemini-test", KEY, id="gemini"),
    pytest.param("compat-test", MEDIA_KEY, id="openai-compatible"),
]
PRICES = {  # USD per 1M (input, output, cache read) and the group multiplier
    "gpt-test": (Decimal(2), 10, Decimal(2), Decimal("1.5")),
    "claude-only": (Decimal(3), 15, Decimal("0.3"), Decimal("1.5")),
    "gemini-test": (Decimal(1), 4, Decimal(1), Decimal("1.5")),
    "compat-test": (Decimal(2), 10, Decimal(2), Decimal(1)),
}


def sdk(
    gw: GatewayProcess, venv: str | None, op: str, key: str = KEY, **params: Any
) -> dict[str, Any]:
    rid = f"req-resp-{ULID()}"
    out = run_sdk(
        "openai_media_call.py",
        venv,
        {"op": op, "base_url": gw.url + "/v1", "key": key, "request_id": rid, "params": params},
    )
    out["request_id"] = rid
    return out


def cost(model: str, row: dict[str, Any]) -> int:
    """R10.4 for these text models."""
    inp, outp, cached, mult = PRICES[model]
    tokens = row["input_tokens"] * inp + row["cache_read_tokens"] * cached
    tokens += row["output_tokens"] * outp
    return int((tokens * 1000 * mult).to_integral_value(rounding="ROUND_HALF_UP"))


def events_of(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in raw.split(b"\n\n"):
        if not block.strip():
            continue
        lines = block.split(b"\n")
        assert lines[0].startswith(b"event: "), block[:200]
        assert lines[1].startswith(b"data: "), block[:200]
        out.append((lines[0][7:].decode(), json.loads(lines[1][6:])))
    return out


def stream_raw(gw: GatewayProcess, body: dict[str, Any], key: str = KEY) -> httpx.Response:
    with gw.client() as c:
        return c.post(
            "/api/v1/responses",
            json={**body, "stream": True},
            headers={"Authorization": f"Bearer {key}"},
        )


# ── native ──────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("venv", OPENAI_MAJORS)
def test_native_create_and_stream(gateway: GatewayProcess, venv: str | None) -> None:
    params = {"model": "gpt-test", "input": "Tell me about gateways", "max_output_tokens": 60}
    out = sdk(gateway, venv, "responses_create", **params)
    assert "error" not in out, out
    assert out["status"] == "completed" and out["text"] and out["types"] == ["message"]
    row = usage_row(gateway, out["request_id"])
    assert row["endpoint"] == "responses" and row["outcome"] == "success"
    assert row["input_tokens"] + row["cache_read_tokens"] == out["usage"]["input_tokens"]
    assert row["output_tokens"] == out["usage"]["output_tokens"] > 0
    assert row["cost_nusd"] == cost("gpt-test", row) > 0 and row["estimated"] is False

    streamed = sdk(gateway, venv, "responses_stream", **params)
    assert "error" not in streamed, streamed
    assert streamed["text"] == streamed["final_text"] == out["text"]
    assert streamed["events"][:2] == ["response.created", "response.in_progress"]
    assert streamed["events"][-1] == "response.completed"
    assert streamed["sequence"] == list(range(len(streamed["sequence"])))
    srow = usage_row(gateway, streamed["request_id"])
    assert srow["stream"] is True and srow["estimated"] is False
    # usage from the final response.completed event (R4.3)
    assert srow["output_tokens"] == streamed["usage"]["output_tokens"]
    assert srow["cost_nusd"] == cost("gpt-test", srow)


def test_native_stream_relays_every_event(gateway: GatewayProcess) -> None:
    """Pass-through (R4.3, R5.3): the upstream's events, in order, with their own numbers."""
    body = {"model": "gpt-test", "input": "Weather? [[mock:tool]]", "tools": [TOOL]}
    r = stream_raw(gateway, body)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert b"[DONE]" not in r.content
    with gateway.client() as c:
        direct = c.post(
            "/mock/openai/v1/responses",
            json={**body, "stream": True},
            headers={"Authorization": "Bearer mock-key-1"},
        )
    relayed, upstream = events_of(r.content), events_of(direct.content)
    assert [n for n, _ in relayed] == [n for n, _ in upstream]
    assert all(name == data["type"] for name, data in relayed)
    assert [d["sequence_number"] for _, d in relayed] == list(range(len(relayed)))
    kinds = [n for n, _ in relayed]
    assert "response.function_call_arguments.delta" in kinds
    assert kinds[-1] == "response.completed" and relayed[-1][1]["response"]["usage"]


# ── translated ──────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("venv", OPENAI_MAJORS)
@pytest.mark.parametrize(("model", "key"), TRANSLATED)
def test_translated_text(gateway: GatewayProcess, venv: str | None, model: str, key: str) -> None:
    params = {
        "model": model,
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Describe a gateway"}]}
        ],
        "max_output_tokens": 300,
    }
    out = sdk(gateway, venv, "responses_create", key, **params)
    assert "error" not in out, out
    assert out["status"] == "completed" and out["text"] and out["model"] == model
    row = usage_row(gateway, out["request_id"])
    assert row["outcome"] == "success" and row["estimated"] is False
    assert row["output_tokens"] == out["usage"]["output_tokens"] > 0
    assert row["cost_nusd"] == cost(model, row) > 0
    streamed = sdk(gateway, venv, "responses_stream", key, **params)
    assert "error" not in streamed, streamed
    assert streamed["text"] == streamed["final_text"] == out["text"]
    assert streamed["sequence"] == list(range(len(streamed["sequence"])))  # from 0 (R4.3)
    assert streamed["events"][-1] == "response.completed"
    assert streamed["usage"]["output_tokens"] == out["usage"]["output_tokens"]
    srow = usage_row(gateway, streamed["request_id"])
    assert srow["stream"] is True and srow["estimated"] is False


@pytest.mark.parametrize("venv", OPENAI_MAJORS)
@pytest.mark.parametrize(("model", "key"), TRANSLATED)
def test_translated_function_call(
    gateway: GatewayProcess, venv: str | None, model: str, key: str
) -> None:
    params = {"model": model, "input": "Weather in Paris? [[mock:tool]]", "tools": [TOOL]}
    for op in ("responses_create", "responses_stream"):
        out = sdk(gateway, venv, op, key, **params)
        assert "error" not in out, out
        assert out["status"] == "completed" and out["types"] == ["function_call"], out
        call = out["calls"][0]
        assert call["name"] == "get_weather" and call["call_id"]
        assert isinstance(json.loads(call["arguments"]), dict)
        if op == "responses_stream":
            assert "response.function_call_arguments.delta" in out["events"]
            assert "response.function_call_arguments.done" in out["events"]
    # The next turn carries the call and its output as input items.
    follow = {
        "model": model,
        "tools": [TOOL],
        "input": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": call["call_id"],
                "name": "get_weather",
                "arguments": call["arguments"],
            },
            {"type": "function_call_output", "call_id": call["call_id"], "output": "Sunny, 21C"},
        ],
    }
    out = sdk(gateway, venv, "responses_create", key, **follow)
    assert "error" not in out, out
    assert out["status"] == "completed" and out["text"]


@pytest.mark.parametrize("model", ["claude-only", "gemini-test"])
def test_translated_reasoning(gateway: GatewayProcess, model: str) -> None:
    """Thinking comes back as a reasoning item with `reasoning_text` (R4.3, R5.4)."""
    body = {
        "model": model,
        "input": "Think it over",
        "reasoning": {"effort": "low"},
        "max_output_tokens": 3000,
    }
    r = stream_raw(gateway, body)
    assert r.status_code == 200, r.text
    events = events_of(r.content)
    kinds = [n for n, _ in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert "response.reasoning_text.delta" in kinds and "response.reasoning_text.done" in kinds
    assert kinds.index("response.reasoning_text.done") < kinds.index("response.output_text.delta")
    final = events[-1][1]["response"]
    assert [o["type"] for o in final["output"]] == ["reasoning", "message"]
    assert final["output"][0]["content"][0]["text"]
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    with gateway.client() as c:
        whole = c.post(
            "/v1/responses", json=body, headers={"Authorization": f"Bearer {KEY}"}
        ).json()
    assert [o["type"] for o in whole["output"]] == ["reasoning", "message"]


def test_translated_json_schema_and_dropped(gateway: GatewayProcess) -> None:
    """`text.format` maps to the upstream's JSON mode; fields without a counterpart are named
    in `x-torouter-dropped` (R5.7)."""
    body = {
        "model": "claude-only",
        "input": "Give me a city",
        "text": {
            "format": {
                "type": "json_schema",
                "name": "city",
                "schema": {"type": "object", "properties": {"name": {"type": "string"}}},
            }
        },
        "metadata": {"a": "b"},
        "store": True,
        "tools": [{"type": "web_search"}],
    }
    with gateway.client() as c:
        r = c.post("/v1/responses", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200, r.text
    dropped = set(r.headers["x-torouter-dropped"].split(","))
    assert {"metadata", "store", "web_search"} <= dropped
    out = r.json()
    assert out["text"]["format"]["type"] == "json_schema" and out["output"]


def test_in_stream_errors(gateway: GatewayProcess) -> None:
    """R4.6: after the first byte, `error` then `response.failed`, numbered after the rest."""
    for model in ("gpt-test", "claude-only"):
        r = stream_raw(gateway, {"model": model, "input": "Hello [[mock:disconnect_after=4]]"})
        assert r.status_code == 200
        events = events_of(r.content)
        names = [n for n, _ in events]
        assert names[-2:] == ["error", "response.failed"], names
        err = events[-2][1]
        assert err["code"] == "upstream_unavailable" and err["param"] is None and err["message"]
        seq = [d["sequence_number"] for _, d in events]
        assert seq == list(range(len(seq))), seq
        assert events[-1][1]["response"]["status"] == "failed"
        rid = r.headers["x-request-id"]
        row = usage_row(gateway, rid)
        assert row["outcome"] == "partial" and row["estimated"] is True


def test_upstream_failed_stream_is_recorded_as_failed(gateway: GatewayProcess) -> None:
    """A native Responses stream the upstream ends with `response.failed` is relayed as sent and
    its row says partial with upstream_error, charged the usage the upstream reported."""
    r = stream_raw(gateway, {"model": "gpt-test", "input": "Hello [[mock:error_after=3]]"})
    assert r.status_code == 200
    names = [n for n, _ in events_of(r.content)]
    assert names[-2:] == ["error", "response.failed"], names
    row = usage_row(gateway, r.headers["x-request-id"])
    assert row["outcome"] == "partial" and row["error_code"] == "upstream_error", row


# ── refusals and routing ────────────────────────────────────────────────────────────────────


def test_refusals(gateway: GatewayProcess) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    with gateway.client() as c:
        r = c.post(
            "/v1/responses",
            json={"model": "gpt-test", "input": "x", "background": True},
            headers=auth,
        )
        assert r.status_code == 400 and r.json()["error"]["param"] == "background"
        for method in ("GET", "DELETE"):
            r = c.request(method, "/v1/responses/resp_123", headers=auth)
            assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
        r = c.post("/v1/responses", json={"model": "embed-only", "input": "x"}, headers=auth)
        assert r.status_code == 400
        assert r.json()["error"]["message"] == (
            "model embed-only is not available on endpoint /v1/responses"
        )
        r = c.post(
            "/v1/responses",
            json={"model": "claude-only", "input": "x", "previous_response_id": "resp_1"},
            headers=auth,
        )
        assert r.status_code == 400
        assert r.json()["error"]["param"] == "previous_response_id"


@pytest.mark.parametrize("venv", OPENAI_MAJORS)
def test_upstream_5xx_is_502_after_failover(gateway: GatewayProcess, venv: str | None) -> None:
    out = sdk(
        gateway,
        venv,
        "responses_create",
        MEDIA_KEY,
        model="flaky-responses",
        input="x [[mock:500]]",
    )
    assert out["error"]["status"] == 502, out
    assert out["error"]["body"]["code"] == "upstream_unavailable"
    row = usage_row(gateway, out["request_id"])
    assert row["attempts"] == 2 and row["cost_nusd"] == 0
    assert {a["status"] for a in row["attempt_chain"]} == {500}


def test_previous_response_id_follows_its_channel(gateway: GatewayProcess) -> None:
    """R3.3: a follow-up goes to the channel that produced the response (503 when that channel
    cannot serve it); unknown ids go to any openai channel."""
    media = {"Authorization": f"Bearer {MEDIA_KEY}"}
    with gateway.client() as c:
        first = c.post("/v1/responses", json={"model": "gpt-test", "input": "One"}, headers=media)
        assert first.status_code == 200
        rid = first.json()["id"]
        row1 = usage_row(gateway, first.headers["x-request-id"])
        for _ in range(2):
            r = c.post(
                "/v1/responses",
                json={"model": "gpt-test", "input": "Two", "previous_response_id": rid},
                headers=media,
            )
            assert r.status_code == 200, r.text
            assert usage_row(gateway, r.headers["x-request-id"])["channel_id"] == row1["channel_id"]
        unknown = c.post(
            "/v1/responses",
            json={"model": "gpt-test", "input": "Three", "previous_response_id": "resp_unknown"},
            headers=media,
        )
        assert unknown.status_code == 200
        # A response of the default group's channel, continued with a key that cannot reach it.
        other = c.post(
            "/v1/responses",
            json={"model": "gpt-test", "input": "One"},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        r = c.post(
            "/v1/responses",
            json={"model": "gpt-test", "input": "Two", "previous_response_id": other.json()["id"]},
            headers=media,
        )
        assert r.status_code == 503 and r.json()["error"]["code"] == "upstream_unavailable"
