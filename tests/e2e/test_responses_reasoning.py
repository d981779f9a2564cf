"""Extended thinking with tool use through the Responses API on translated routes (R5.6):
the signed thinking block comes back to a Responses client as a reasoning item whose
`encrypted_content` carries its signature, and a stateless client (Codex: `store: false`, the
previous output items sent back as input) gives it back to the upstream on the next turn.

SPEC R4.3, R5.4, R5.6, R5.7.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.conftest import KEY
from tests.e2e.harness import GatewayProcess
from tests.e2e.node.runtime import skip_without_cli
from tests.e2e.test_clis import TOOL_PROMPT, check_run, codex, run_cli
from tests.e2e.test_openai_chat import usage_row
from tests.e2e.test_responses import TOOL, events_of

QUESTION = {"role": "user", "content": "Weather in Paris? [[mock:tool]]"}
PARAMS: dict[str, Any] = {
    "tools": [TOOL],
    "reasoning": {"effort": "low"},
    "max_output_tokens": 3000,
}


def _client(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=KEY, max_retries=0)


def _next_input(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The question, the previous output items as they came, and each call's result."""
    results = [
        {"type": "function_call_output", "call_id": o["call_id"], "output": "Sunny, 21C"}
        for o in output
        if o["type"] == "function_call"
    ]
    return [QUESTION, *output, *results]


def _dropped(headers: httpx.Headers) -> set[str]:
    return set(filter(None, headers.get("x-torouter-dropped", "").split(",")))


def test_anthropic_tool_loop_sends_the_signed_thinking_back(gateway: GatewayProcess) -> None:
    """Turn 1 (official SDK): a reasoning item with our `encrypted_content`, then the call.
    Turn 2 sends both back with the call's output: thinking stays on, and the upstream gets the
    thinking block (the mock counts its text in the input tokens; the gateway sends an
    Anthropic thinking block only with its signature)."""
    client = _client(gateway)
    first = client.responses.create(model="claude-only", input=[QUESTION], **PARAMS)
    assert first.status == "completed"
    assert [o.type for o in first.output] == ["reasoning", "function_call"]
    reasoning = first.output[0]
    assert reasoning.type == "reasoning" and reasoning.content
    thinking = reasoning.content[0].text
    assert thinking and (reasoning.encrypted_content or "").startswith("trr1:s:")

    history = _next_input([o.model_dump(exclude_none=True) for o in first.output])
    raw = client.responses.with_raw_response.create(model="claude-only", input=history, **PARAMS)
    second = raw.parse()
    assert raw.status_code == 200 and second.status == "completed" and second.output_text
    assert "thinking" not in _dropped(raw.headers)  # R5.6: the tool turn kept its thinking
    assert [o.type for o in second.output] == ["reasoning", "message"]  # thinking still on

    # The same turn without our `encrypted_content` (what clients got before): the thinking
    # block cannot be sent unsigned, so thinking is turned off and named as dropped.
    unsigned = [{k: v for k, v in i.items() if k != "encrypted_content"} for i in history]
    raw = client.responses.with_raw_response.create(model="claude-only", input=unsigned, **PARAMS)
    control = raw.parse()
    assert raw.status_code == 200 and "thinking" in _dropped(raw.headers)
    assert [o.type for o in control.output] == ["message"]
    # What the mock received differs by exactly the thinking block's text (ceil(chars / 4)).
    assert second.usage is not None and control.usage is not None
    extra = second.usage.input_tokens - control.usage.input_tokens
    assert abs(extra - len(thinking) / 4) < 1, (extra, len(thinking))


@pytest.mark.parametrize("model", ["claude-only", "gemini-test"])
def test_streamed_tool_loop_like_codex(gateway: GatewayProcess, model: str) -> None:
    """Codex streams with `store: false` and sends `response.completed`'s output back: the
    reasoning item's `output_item.done` and the final output carry `encrypted_content`, and the
    next turn succeeds with thinking on."""
    body = {
        "model": model,
        **PARAMS,
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "stream": True,
    }
    auth = {"Authorization": f"Bearer {KEY}"}
    with gateway.client() as c:
        r = c.post("/v1/responses", json={**body, "input": [QUESTION]}, headers=auth)
        assert r.status_code == 200, r.text
        events = events_of(r.content)
        assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
        done = [d["item"] for n, d in events if n == "response.output_item.done"]
        kind, final = events[-1]
        assert kind == "response.completed" and final["response"]["output"] == done
        assert [o["type"] for o in done] == ["reasoning", "function_call"]
        assert done[0]["encrypted_content"].startswith("trr1:s:")

        r = c.post("/v1/responses", json={**body, "input": _next_input(done)}, headers=auth)
        assert r.status_code == 200, r.text
        assert "thinking" not in _dropped(r.headers)
        events = events_of(r.content)
        kind, final = events[-1]
        assert kind == "response.completed", events[-2:]
        output = final["response"]["output"]
        assert [o["type"] for o in output] == ["reasoning", "message"]
        assert output[1]["content"][0]["text"]


def test_redacted_and_foreign_reasoning_items_are_accepted(gateway: GatewayProcess) -> None:
    """Input reasoning items the gateway did not produce this turn: a redacted block in our
    form goes back as `redacted_thinking`, an OpenAI `encrypted_content` is ignored (its text
    kept). Both are valid next turns for the Anthropic channel."""
    client = _client(gateway)
    first = client.responses.create(model="claude-only", input=[QUESTION], **PARAMS)
    output = [o.model_dump(exclude_none=True) for o in first.output]
    redacted = {
        "type": "reasoning",
        "summary": [],
        "encrypted_content": "trr1:r::" + "RWRhY3RlZA==",
    }
    foreign = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "OpenAI reasoning"}],
        "encrypted_content": "gAAAAABoNotOurs==",
    }
    for extra in (redacted, foreign):
        raw = client.responses.with_raw_response.create(
            model="claude-only", input=_next_input([extra, *output]), **PARAMS
        )
        out = raw.parse()
        assert out.status == "completed" and out.output_text, json.dumps(out.model_dump())
        assert "thinking" not in _dropped(raw.headers)


@pytest.mark.cli
@skip_without_cli("codex")
def test_codex_tool_loop_with_thinking(gateway: GatewayProcess, tmp_path: Path) -> None:
    """The real client: `codex exec` on the Anthropic channel with thinking on (`-thinking`,
    R6.4). The mock calls Codex's `exec_command`, Codex runs it (it fails: no sandbox here) and
    sends the reasoning item, the call and its output back. The second turn ran with thinking
    on: the mock's output count includes its reasoning beside the answer Codex printed."""
    argv, env, work = codex(tmp_path, gateway.url + "/v1", KEY, "claude-only-thinking")
    argv[-1] = TOOL_PROMPT % "exec_command"
    start = len(gateway.lines)
    proc, requests = run_cli(gateway, argv, env, work, 2)
    check_run(gateway, proc, requests, "claude-only-thinking", "/v1/responses", 2)
    ids = [
        r["request_id"]
        for r in gateway.lines[start:]
        if r.get("msg") == "request" and r.get("path") == "/v1/responses"
    ]
    assert len(ids) >= 2, requests  # Codex may add a request of its own before the turn
    second = usage_row(gateway, ids[-1])  # the turn that answers the call's output
    answer = proc.stdout.strip()
    assert second["outcome"] == "success" and second["stream"] is True
    assert second["output_tokens"] > (len(answer) + 3) // 4, (second, len(answer))
