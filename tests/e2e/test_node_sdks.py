"""The Node SDKs (`openai`, `@anthropic-ai/sdk`, `@google/genai`) unchanged against the gateway,
native and translated, streaming and not (SPEC R21.1, R21.2; issue 7 item 6).

Each answer must be the mock's answer to the same prompt, as a plain HTTP call on the target
model's native front door gets it, with the same output token count. The SDKs are installed by
scripts/setup-node.sh; see tests/e2e/node/runtime.py for when these tests skip.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import KEY
from tests.e2e.harness import GatewayProcess
from tests.e2e.node.runtime import run_node, skip_without_sdks
from tests.e2e.test_openai_chat import usage_row

pytestmark = skip_without_sdks

PROMPT = "Explain how a gateway relays Node requests"
MAX_TOKENS = 300
TOOL_PROMPT = "Weather in Paris? [[mock:tool]]"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def _ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    return r.json()


@cache
def _native(url: str, model: str) -> tuple[str, int]:
    """(text, output tokens) of `model` answering PROMPT on its own front door, plain HTTP."""
    with httpx.Client(base_url=url, timeout=30) as c:
        if model == "gpt-test":
            body = _ok(
                c.post(
                    "/v1/chat/completions",
                    headers={"Authorization": f"Bearer {KEY}"},
                    json={
                        "model": model,
                        "max_tokens": MAX_TOKENS,
                        "messages": [{"role": "user", "content": PROMPT}],
                    },
                )
            )
            return body["choices"][0]["message"]["content"], body["usage"]["completion_tokens"]
        if model == "claude-only":
            body = _ok(
                c.post(
                    "/v1/messages",
                    headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
                    json={
                        "model": model,
                        "max_tokens": MAX_TOKENS,
                        "messages": [{"role": "user", "content": PROMPT}],
                    },
                )
            )
            text = "".join(b["text"] for b in body["content"] if b["type"] == "text")
            return text, body["usage"]["output_tokens"]
        body = _ok(
            c.post(
                f"/v1beta/models/{model}:generateContent",
                headers={"x-goog-api-key": KEY},
                json={
                    "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
                    "generationConfig": {"maxOutputTokens": MAX_TOKENS},
                },
            )
        )
        parts = body["candidates"][0]["content"]["parts"]
        text = "".join(p.get("text", "") for p in parts if not p.get("thought"))
        return text, body["usageMetadata"]["candidatesTokenCount"]


def expected(gw: GatewayProcess, model: str) -> tuple[str, int]:
    text, out_tokens = _native(gw.url, model)
    assert text.startswith("This is a mock response to: Explain how a gateway"), text
    return text, out_tokens


def node_openai(gw: GatewayProcess, **params: Any) -> dict[str, Any]:
    return run_node(
        "openai_call.mjs", {"op": "chat", "base_url": gw.url + "/v1", "key": KEY, "params": params}
    )


def node_anthropic(gw: GatewayProcess, op: str, **params: Any) -> dict[str, Any]:
    return run_node(
        "anthropic_call.mjs", {"op": op, "base_url": gw.url, "key": KEY, "params": params}
    )


def node_genai(gw: GatewayProcess, op: str, model: str, **extra: Any) -> dict[str, Any]:
    spec = {"op": op, "base_url": gw.url, "key": KEY, "model": model, **extra}
    spec.setdefault("contents", PROMPT)
    spec.setdefault("config", {"maxOutputTokens": MAX_TOKENS})
    return run_node("genai_call.mjs", spec)


CASES = [
    pytest.param("gpt-test", False, id="native"),
    pytest.param("gpt-test", True, id="native-stream"),
    pytest.param("claude-only", True, id="to-anthropic-stream"),
]


@pytest.mark.parametrize(("model", "stream"), CASES)
def test_node_openai(gateway: GatewayProcess, model: str, stream: bool) -> None:
    text, out_tokens = expected(gateway, model)
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": MAX_TOKENS,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    if stream:
        params.update(stream=True, stream_options={"include_usage": True})
    out = node_openai(gateway, **params)
    assert "error" not in out, out
    assert out["text"] == text and out["finish"] == "stop"
    assert out["usage"]["completion_tokens"] == out_tokens
    assert out["usage"]["prompt_tokens"] > 0
    if stream:
        assert out["chunks"] > 2
    row = usage_row(gateway, out["request_id"])
    assert row["stream"] is stream and row["output_tokens"] == out_tokens
    assert row["estimated"] is False


@pytest.mark.parametrize(
    ("model", "stream"),
    [
        pytest.param("claude-only", False, id="native"),
        pytest.param("claude-only", True, id="native-stream"),
        pytest.param("gpt-test", True, id="to-openai-stream"),
    ],
)
def test_node_anthropic(gateway: GatewayProcess, model: str, stream: bool) -> None:
    text, out_tokens = expected(gateway, model)
    msgs = [{"role": "user", "content": PROMPT}]
    out = node_anthropic(
        gateway, "stream" if stream else "create", model=model, max_tokens=MAX_TOKENS, messages=msgs
    )
    assert "error" not in out, out
    assert out["text"] == text and out["stop_reason"] == "end_turn"
    usage = out["usage"]
    assert usage["output_tokens"] == out_tokens
    assert usage["input_tokens"] + (usage.get("cache_read_input_tokens") or 0) > 0
    if stream:
        assert out["events"][0] == "message_start" and out["events"][-1] == "message_stop"
    else:
        row = usage_row(gateway, out["request_id"])
        assert row["output_tokens"] == out_tokens and row["estimated"] is False


@pytest.mark.parametrize(
    ("model", "stream"),
    [
        pytest.param("gemini-test", False, id="native"),
        pytest.param("gemini-test", True, id="native-stream"),
        pytest.param("claude-only", True, id="to-anthropic-stream"),
    ],
)
def test_node_genai(gateway: GatewayProcess, model: str, stream: bool) -> None:
    text, out_tokens = expected(gateway, model)
    out = node_genai(gateway, "stream" if stream else "generate", model)
    assert "error" not in out, out
    assert out["text"] == text and out["finish"] == "STOP"
    assert out["usage"]["candidatesTokenCount"] == out_tokens
    assert out["usage"]["promptTokenCount"] > 0
    if stream:
        assert out["chunks"] > 2


def test_node_tool_calls_translated(gateway: GatewayProcess) -> None:
    """A tool call comes back through each SDK from a channel of another platform."""
    oai = node_openai(
        gateway,
        model="claude-only",
        messages=[{"role": "user", "content": TOOL_PROMPT}],
        tools=[
            {
                "type": "function",
                "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA},
            }
        ],
        stream=True,
    )
    assert oai["finish"] == "tool_calls" and oai["tools"] == ["get_weather"], oai
    ant = node_anthropic(
        gateway,
        "create",
        model="gemini-test",
        max_tokens=MAX_TOKENS,
        messages=[{"role": "user", "content": TOOL_PROMPT}],
        tools=[{"name": "get_weather", "input_schema": WEATHER_SCHEMA}],
    )
    assert ant["stop_reason"] == "tool_use", ant
    assert [t["name"] for t in ant["tools"]] == ["get_weather"]
    gen = node_genai(
        gateway,
        "generate",
        "gpt-test",
        contents=TOOL_PROMPT,
        config={
            "tools": [
                {"functionDeclarations": [{"name": "get_weather", "parameters": WEATHER_SCHEMA}]}
            ]
        },
    )
    assert gen["calls"] == ["get_weather"], gen


def test_node_sdk_errors(gateway: GatewayProcess) -> None:
    """An unknown key raises each SDK's authentication error; an unknown model its not-found."""
    bad = "sk-" + "x" * 48
    msgs = [{"role": "user", "content": "hi"}]
    oai = run_node(
        "openai_call.mjs",
        {
            "op": "chat",
            "base_url": gateway.url + "/v1",
            "key": bad,
            "params": {"model": "gpt-test", "messages": msgs},
        },
    )
    assert oai["error"]["class"] == "AuthenticationError" and oai["error"]["status"] == 401
    assert oai["error"]["request_id"].startswith("req_")
    ant = run_node(
        "anthropic_call.mjs",
        {
            "op": "create",
            "base_url": gateway.url,
            "key": KEY,
            "params": {"model": "no-such-model", "max_tokens": 10, "messages": msgs},
        },
    )
    assert ant["error"]["class"] == "NotFoundError" and ant["error"]["status"] == 404
    assert ant["error"]["body"]["error"]["type"] == "MODEL_NOT_FOUND"
    gen = run_node(
        "genai_call.mjs",
        {
            "op": "generate",
            "base_url": gateway.url,
            "key": bad,
            "model": "gemini-test",
            "contents": "hi",
        },
    )
    assert gen["error"]["class"] == "ApiError" and gen["error"]["status"] == 401, gen


def test_node_count_tokens(gateway: GatewayProcess) -> None:
    ant = node_anthropic(
        gateway, "count", model="claude-only", messages=[{"role": "user", "content": PROMPT}]
    )
    assert ant["input_tokens"] > 0, ant
    gen = node_genai(gateway, "count", "gemini-test")
    assert gen["total_tokens"] > 0, gen


def test_node_alternate_bases(gateway: GatewayProcess) -> None:
    """R2.1: `/api/v1` for openai, `/api` for anthropic, and genai's `/v1` API version."""
    msgs = [{"role": "user", "content": PROMPT}]
    oai = run_node(
        "openai_call.mjs",
        {
            "op": "chat",
            "base_url": gateway.url + "/api/v1",
            "key": KEY,
            "params": {"model": "gpt-test", "max_tokens": MAX_TOKENS, "messages": msgs},
        },
    )
    assert oai.get("text") == expected(gateway, "gpt-test")[0], oai
    ant = run_node(
        "anthropic_call.mjs",
        {
            "op": "create",
            "base_url": gateway.url + "/api",
            "key": KEY,
            "params": {"model": "claude-only", "max_tokens": MAX_TOKENS, "messages": msgs},
        },
    )
    assert ant.get("text") == expected(gateway, "claude-only")[0], ant
    gen = node_genai(gateway, "generate", "gemini-test", http_options={"apiVersion": "v1"})
    assert gen.get("text") == expected(gateway, "gemini-test")[0], gen
