"""Every front door against channels of the other platforms, through the official SDKs
(SPEC R5.2, R5.4, R5.5, R4.2–R4.5, R10.2; issue 7 items 3 and 6)."""

from __future__ import annotations

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
