"""Every front door against channels of the other platforms, through the official SDKs
(SPEC R5.2, R5.4, R5.5, R4.2–R4.5, R10.2; issue 7 items 3 and 6)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from tests.e2e.conftest import KEY
from tests.e2e.harness import GatewayProcess
from tests.e2e.sdks import ANTHROPIC_MAJORS, GENAI_MAJORS, OPENAI_MAJORS, run_sdk
from tests.e2e.test_openai_chat import usage_row

PROMPT = "Describe a routing gateway"
TOOL_OAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def openai(gw: GatewayProcess, venv: str | None, **params: Any) -> dict[str, Any]:
    return run_sdk(
        "openai_call.py",
        venv,
        {"op": "chat", "base_url": gw.url + "/v1", "key": KEY, "params": params},
    )


@pytest.mark.parametrize("venv", OPENAI_MAJORS)
@pytest.mark.parametrize("model", ["claude-only", "gemini-test"])
def test_openai_sdk_on_other_platforms(
    gateway: GatewayProcess, venv: str | None, model: str
) -> None:
    msgs = [{"role": "user", "content": PROMPT}]
    out = openai(gateway, venv, model=model, messages=msgs, max_tokens=300)
    assert "error" not in out, out
    assert out["text"] and out["finish"] == "stop"
    row = usage_row(gateway, out["request_id"])
    assert row["output_tokens"] == out["usage"]["completion_tokens"] > 0
    assert row["estimated"] is False and row["cost_nusd"] > 0
    streamed = openai(
        gateway,
        venv,
        model=model,
        messages=msgs,
        max_tokens=300,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert streamed["text"] == out["text"]
    assert streamed["usage"]["completion_tokens"] == out["usage"]["completion_tokens"]
    srow = usage_row(gateway, streamed["request_id"])
    assert srow["stream"] is True and srow["estimated"] is False


@pytest.mark.parametrize("model", ["claude-only", "gemini-test"])
def test_openai_tool_calls_translated(gateway: GatewayProcess, model: str) -> None:
    msgs = [{"role": "user", "content": "Weather in Paris? [[mock:tool]]"}]
    for stream in (False, True):
        out = openai(gateway, None, model=model, messages=msgs, tools=[TOOL_OAI], stream=stream)
        assert out["finish"] == "tool_calls", out


def anthropic(gw: GatewayProcess, venv: str | None, op: str, **params: Any) -> dict[str, Any]:
    return run_sdk(
        "anthropic_call.py", venv, {"op": op, "base_url": gw.url, "key": KEY, "params": params}
    )


@pytest.mark.parametrize("venv", ANTHROPIC_MAJORS)
@pytest.mark.parametrize("model", ["gpt-test", "gemini-test"])
def test_anthropic_sdk_on_other_platforms(
    gateway: GatewayProcess, venv: str | None, model: str
) -> None:
    msgs = [{"role": "user", "content": PROMPT}]
    out = anthropic(gateway, venv, "create", model=model, max_tokens=300, messages=msgs)
    assert "error" not in out, out
    assert out["text"] and out["stop_reason"] == "end_turn"
    streamed = anthropic(gateway, venv, "stream", model=model, max_tokens=300, messages=msgs)
    assert streamed["text"] == out["text"]
    assert streamed["events"][0] == "message_start" and streamed["stop_reason"] == "end_turn"
    assert streamed["usage"]["output_tokens"] == out["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("venv", GENAI_MAJORS)
@pytest.mark.parametrize("model", ["gpt-test", "claude-only"])
def test_genai_sdk_on_other_platforms(
    gateway: GatewayProcess, venv: str | None, model: str
) -> None:
    spec = {"base_url": gateway.url, "key": KEY, "model": model, "contents": PROMPT}
    out = run_sdk("genai_call.py", venv, {"op": "generate", **spec})
    assert "error" not in out, out
    assert out["text"] and "STOP" in out["finish"]
    streamed = run_sdk("genai_call.py", venv, {"op": "stream", **spec})
    assert streamed["text"] == out["text"]


def test_anthropic_count_tokens_translated_to_gemini(gateway: GatewayProcess) -> None:
    out = anthropic(
        gateway, None, "count", model="gemini-test", messages=[{"role": "user", "content": "hi"}]
    )
    assert out["input_tokens"] > 0 and out["estimated"] is None


def test_translated_message_start_announces_the_local_count(gateway: GatewayProcess) -> None:
    """Issue 12 item 12 (R4.4, R10.7): an Anthropic client on an OpenAI channel sees in
    `message_start` the count `count_tokens` answers for the same body, not body size / 4;
    `message_delta` and the usage row carry the upstream's own count."""
    body = {
        "model": "gpt-test",
        "system": "You answer in one short sentence. " * 10,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    with gateway.client() as c:
        counted = c.post("/v1/messages/count_tokens", json=body, headers=headers)
        assert counted.status_code == 200 and counted.headers["x-torouter-estimated"] == "true"
        r = c.post("/v1/messages", json={**body, "max_tokens": 50, "stream": True}, headers=headers)
    assert r.status_code == 200, r.text
    events = [json.loads(line[6:]) for line in r.text.split("\n") if line.startswith("data: ")]
    start = events[0]["message"]["usage"]["input_tokens"]
    assert start == counted.json()["input_tokens"]
    final = next(e for e in events if e["type"] == "message_delta")["usage"]
    row = usage_row(gateway, r.headers["x-request-id"])
    assert row["input_tokens"] == final["input_tokens"] > 0 and row["estimated"] is False


def test_one_hour_cache_writes_charged_alike_on_both_routes(gateway: GatewayProcess) -> None:
    """Issue 12 item 12 (R10.2): the mock reports 1 h cache writes like Anthropic does (the
    5m/1h breakdown in `message_start`, the bare total in `message_delta`); the native relay
    and the translated stream both bill them once, as 1 h writes, at the same price."""

    def system(tag: str) -> str:  # a fresh prefix: writes, no reads from earlier runs
        return f"{tag}-{secrets.token_hex(8)} " + "Answer as a routing expert. " * 40

    ttl = {"type": "ephemeral", "ttl": "1h"}
    ask = [{"role": "user", "content": PROMPT + " [[mock:tokens=20]]"}]
    native_body = {
        "model": "claude-only",
        "max_tokens": 100,
        "system": [{"type": "text", "text": system("nat"), "cache_control": ttl}],
        "messages": ask,
        "stream": True,
    }
    translated_body = {
        "model": "claude-only",
        "max_tokens": 100,
        "messages": [
            {
                "role": "system",
                "content": [{"type": "text", "text": system("trn"), "cache_control": ttl}],
            },
            *ask,
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with gateway.client() as c:
        native = c.post(
            "/v1/messages",
            json=native_body,
            headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
        )
        translated = c.post(
            "/v1/chat/completions",
            json=translated_body,
            headers={"authorization": f"Bearer {KEY}"},
        )
    assert native.status_code == translated.status_code == 200
    rows = [usage_row(gateway, r.headers["x-request-id"]) for r in (native, translated)]
    kinds = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens")
    for row in rows:
        assert row["cache_write_1h_tokens"] > 0 and row["cache_write_5m_tokens"] == 0, row
        assert row["estimated"] is False
    assert [rows[0][k] for k in (*kinds, "cache_write_1h_tokens", "output_tokens")] == [
        rows[1][k] for k in (*kinds, "cache_write_1h_tokens", "output_tokens")
    ]
    assert rows[0]["cost_nusd"] == rows[1]["cost_nusd"] > 0
