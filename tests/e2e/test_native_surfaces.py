"""The Anthropic and Gemini front doors on native channels, with the official SDKs old and new
(SPEC R2.1–R2.4, R3.4, R3.5, R4.4, R4.5, R5.3, R8.3, R10.2, R10.7)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import KEY
from tests.e2e.harness import GatewayProcess
from tests.e2e.sdks import ANTHROPIC_MAJORS, GENAI_MAJORS, run_sdk
from tests.e2e.test_openai_chat import usage_row

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def anthropic(gw: GatewayProcess, venv: str | None, op: str, **params: Any) -> dict[str, Any]:
    return run_sdk(
        "anthropic_call.py", venv, {"op": op, "base_url": gw.url, "key": KEY, "params": params}
    )


@pytest.mark.parametrize("venv", ANTHROPIC_MAJORS)
def test_anthropic_create_and_stream(gateway: GatewayProcess, venv: str | None) -> None:
    msgs = [{"role": "user", "content": "Describe a gateway"}]
    out = anthropic(gateway, venv, "create", model="claude-only", max_tokens=200, messages=msgs)
    assert "error" not in out, out
    assert out["text"] and out["stop_reason"] == "end_turn"
    row = usage_row(gateway, out["request_id"])
    assert row["output_tokens"] == out["usage"]["output_tokens"]
    assert row["input_tokens"] == out["usage"]["input_tokens"]
    assert row["endpoint"] == "messages" and row["cost_nusd"] > 0
    streamed = anthropic(
        gateway, venv, "stream", model="claude-only", max_tokens=200, messages=msgs
    )
    assert streamed["text"] == out["text"]
    assert streamed["events"][0] == "message_start"
    assert streamed["usage"]["output_tokens"] == out["usage"]["output_tokens"]


@pytest.mark.parametrize("venv", ANTHROPIC_MAJORS)
def test_anthropic_tools_and_thinking(gateway: GatewayProcess, venv: str | None) -> None:
    msgs = [{"role": "user", "content": "Weather in Paris? [[mock:tool]]"}]
    out = anthropic(
        gateway, venv, "stream", model="claude-only", max_tokens=200, messages=msgs, tools=[WEATHER]
    )
    assert out["stop_reason"] == "tool_use"
    assert out["tools"][0]["name"] == "get_weather" and "city" in out["tools"][0]["input"]
    think = anthropic(
        gateway,
        venv,
        "create",
        model="claude-only-thinking",
        max_tokens=100,
        messages=[{"role": "user", "content": "Think first"}],
    )
    assert think["thinking"] and think["signatures"][0]


@pytest.mark.parametrize("venv", ANTHROPIC_MAJORS)
def test_anthropic_count_tokens_and_errors(gateway: GatewayProcess, venv: str | None) -> None:
    msgs = [{"role": "user", "content": "count me"}]
    out = anthropic(gateway, venv, "count", model="claude-only", messages=msgs)
    assert out.get("input_tokens", 0) > 0, out
    assert out["estimated"] is None  # answered upstream
    out = anthropic(gateway, venv, "count", model="gpt-test", messages=msgs)
    assert out["input_tokens"] > 0 and out["estimated"] == "true"  # local (R10.7)
    out = anthropic(gateway, venv, "create", model="nope", max_tokens=5, messages=msgs)
    assert out["error"]["class"] == "NotFoundError"
    assert out["error"]["body"]["type"] == "error"
    assert out["error"]["body"]["error"]["type"] == "MODEL_NOT_FOUND"
    out = anthropic(
        gateway,
        venv,
        "create",
        model="gpt-flaky",
        max_tokens=5,
        messages=[{"role": "user", "content": "[[mock:429]]"}],
    )
    # An upstream 429 fails over; with no other channel the caller gets E21 or E22 (R9.5).
    assert out["error"]["status"] in (502, 503)
    assert out["error"]["body"]["error"]["type"] == "upstream_unavailable"


def test_anthropic_missing_max_tokens_and_envelope(gateway: GatewayProcess) -> None:
    with gateway.client() as c:
        r = c.post(
            "/v1/messages",
            json={"model": "claude-only", "messages": [{"role": "user", "content": "x"}]},
            headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
        )
        assert r.status_code == 400
        body = r.json()
        assert body["type"] == "error" and body["error"]["type"] == "INVALID_REQUEST"
        assert body["request_id"] == r.headers["x-request-id"]
        r = c.post("/api/v1/messages", json={}, headers={"x-api-key": "sk-bad"})
        assert r.status_code == 401 and r.json()["error"]["type"] == "INVALID_API_KEY"


def test_anthropic_stream_wire_passes_through(gateway: GatewayProcess) -> None:
    body = {
        "model": "claude-only",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with (
        gateway.client() as c,
        c.stream(
            "POST",
            "/v1/messages?beta=true",
            json=body,
            headers={
                "Authorization": f"Bearer {KEY}",
                "anthropic-beta": "prompt-caching-2024-07-31",
            },
        ) as r,
    ):
        raw = r.read()
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [e for e in raw.split(b"\n\n") if e]
    assert all(e.startswith(b"event: ") for e in events)
    assert events[0].startswith(b"event: message_start")
    assert events[-1].startswith(b"event: message_stop")


def gemini(gw: GatewayProcess, venv: str | None, op: str, **spec: Any) -> dict[str, Any]:
    return run_sdk(
        "genai_call.py",
        venv,
        {"op": op, "base_url": gw.url, "key": KEY, "model": "gemini-test", **spec},
    )


@pytest.mark.parametrize("venv", GENAI_MAJORS)
def test_gemini_generate_stream_count(gateway: GatewayProcess, venv: str | None) -> None:
    out = gemini(gateway, venv, "generate", contents="Describe a gateway")
    assert "error" not in out, out
    assert out["text"] and "STOP" in out["finish"]
    streamed = gemini(gateway, venv, "stream", contents="Describe a gateway")
    assert streamed["text"] == out["text"] and streamed["chunks"] > 1
    assert streamed["usage"]["candidates_token_count"] == out["usage"]["candidates_token_count"]
    counted = gemini(gateway, venv, "count", contents="Describe a gateway")
    assert counted["total_tokens"] > 0


@pytest.mark.parametrize("venv", GENAI_MAJORS)
def test_gemini_errors_in_gemini_envelope(gateway: GatewayProcess, venv: str | None) -> None:
    out = run_sdk(
        "genai_call.py",
        venv,
        {"op": "generate", "base_url": gateway.url, "key": KEY, "model": "nope", "contents": "x"},
    )
    assert out["error"]["status"] == 404 and out["error"]["status_text"] == "NOT_FOUND"


def test_gemini_query_key_and_models(gateway: GatewayProcess) -> None:
    with gateway.client() as c:
        r = c.get(f"/v1beta/models?key={KEY}")
        assert r.status_code == 200 and r.json()["models"]
        r = c.get(f"/v1beta/models/gemini-test?key={KEY}")
        assert r.json()["name"] == "models/gemini-test"
        r = c.post(
            f"/v1beta/models/gemini-test:generateContent?key={KEY}",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        )
        assert r.status_code == 200 and r.json()["candidates"]
        r = c.post(f"/v1/chat/completions?key={KEY}", json={"model": "gpt-test"})
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "api_key_in_query_deprecated"
        r = c.post(
            "/v1beta/models/gemini-test:generateContent",
            json={"contents": []},
            headers={"x-goog-api-key": "sk-nope"},
        )
        err = r.json()["error"]
        assert r.status_code == 401 and err["status"] == "UNAUTHENTICATED"
        assert err["details"][0]["reason"] == "INVALID_API_KEY"


def test_gemini_stream_framing(gateway: GatewayProcess) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    h = {"x-goog-api-key": KEY}
    with gateway.client() as c:
        sse = c.post(
            "/v1beta/models/gemini-test:streamGenerateContent?alt=sse", json=body, headers=h
        )
        arr = c.post("/v1beta/models/gemini-test:streamGenerateContent", json=body, headers=h)
    assert sse.headers["content-type"].startswith("text/event-stream")
    events = [e for e in sse.content.split(b"\r\n\r\n") if e]
    assert all(e.startswith(b"data: ") for e in events)
    assert arr.headers["content-type"] == "application/json"
    items = arr.json()
    assert isinstance(items, list) and len(items) == len(events)
    assert items[-1]["candidates"][0]["finishReason"] == "STOP"
