"""Request translation, table by table (SPEC R5.4 what survives, R5.6 signatures, R5.7 drops,
R6.4 thinking, R3.4 max_tokens)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from torouter.errors import GatewayError
from torouter.protocols import anthropic, gemini, openai_chat
from torouter.protocols.internal import (
    ImagePart,
    Message,
    Reasoning,
    Request,
    ResponseFormat,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def _e16(fn: Any, *args: Any, **kw: Any) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        fn(*args, **kw)
    assert info.value.code == "INVALID_REQUEST"
    return info.value


def tool_turns() -> Request:
    """A user question, an assistant tool call and its result, then a follow-up."""
    return Request(
        "m",
        system=[TextPart("Be brief.")],
        messages=[
            Message("user", [TextPart("Weather in Paris?")]),
            Message(
                "assistant",
                [TextPart("Checking."), ToolCallPart("call_1", "weather", '{"city":"Paris"}')],
            ),
            Message("tool", [ToolResultPart("call_1", "weather", [TextPart("sunny")])]),
            Message("user", [TextPart("Thanks")]),
        ],
        tools=[Tool("weather", "Weather for a city", WEATHER)],
    )


# ── OpenAI chat: parse ──────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "n": 2, "messages": [{"role": "user", "content": "x"}]}, "n"),
        (
            {
                "model": "m",
                "modalities": ["text", "audio"],
                "messages": [{"role": "user", "content": "x"}],
            },
            "modalities",
        ),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        (
            {"model": "m", "temperature": "hot", "messages": [{"role": "user", "content": "x"}]},
            "temperature",
        ),
    ],
)
def test_openai_refusals(body: dict[str, Any], param: str) -> None:
    assert _e16(openai_chat.parse_request, body).param == param


def test_openai_parse_request() -> None:
    body = {
        "model": "gpt-x",
        "messages": [
            {"role": "system", "content": "sys one"},
            {"role": "developer", "content": [{"type": "text", "text": "sys two"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "image_url", "image_url": {"url": "https://x/y.jpg", "detail": "low"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": "hmm",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": WEATHER}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": False,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "out", "schema": WEATHER},
        },
        "max_completion_tokens": 100,
        "stop": "END",
        "reasoning_effort": "low",
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "u1",
        "logprobs": True,
        "logit_bias": {"1": 2},
        "service_tier": "flex",
        "metadata": {"k": "v"},
    }
    req = openai_chat.parse_request(body)
    assert [p.text for p in req.system] == ["sys one", "sys two"]
    user = req.messages[0].parts
    assert user[0] == TextPart("look", {"type": "ephemeral"})
    assert user[1] == ImagePart(data="AAAA", media_type="image/png")
    assert user[2] == ImagePart(url="https://x/y.jpg", detail="low")
    assert req.messages[1].parts == [ThinkingPart("hmm"), ToolCallPart("c1", "f", "{}")]
    assert req.messages[2] == Message("tool", [ToolResultPart("c1", "f", [TextPart("done")])])
    assert req.tool_choice == ToolChoice("tool", "f")
    assert req.parallel_tool_calls is False
    assert req.response_format == ResponseFormat("json_schema", WEATHER, "out")
    assert (req.max_tokens, req.stop, req.stream, req.include_usage) == (100, ["END"], True, True)
    assert req.reasoning == Reasoning(True, None, "low")
    assert req.session == "u1"
    assert req.dropped == ["logprobs", "logit_bias", "service_tier", "metadata"]


# ── → Anthropic ─────────────────────────────────────────────────────────────────────────────


def test_anthropic_render_merges_turns_and_maps_fields() -> None:
    req = tool_turns()
    req.messages.insert(1, Message("user", [ImagePart(url="https://x/y.png")]))
    req.stop, req.user, req.temperature = ["END"], "u1", 1.5
    req.presence_penalty, req.seed = 0.5, 7
    body = anthropic.render_request(req, upstream_model="claude-x")
    assert body["model"] == "claude-x"
    assert body["max_tokens"] == anthropic.DEFAULT_MAX_TOKENS  # R5.4: absent → 8192
    assert body["system"] == "Be brief."
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in Paris?"},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
                {"type": "text", "text": "Thanks"},
            ],
        },
    ]
    assert body["tools"] == [
        {"name": "weather", "description": "Weather for a city", "input_schema": WEATHER}
    ]
    assert body["stop_sequences"] == ["END"]
    assert body["metadata"] == {"user_id": "u1"}
    assert body["temperature"] == 1.0
    assert req.dropped == ["presence_penalty", "seed"]


def test_anthropic_render_max_tokens_parameter() -> None:
    req = Request("m", messages=[Message("user", [TextPart("hi")])])
    assert (
        anthropic.render_request(req, upstream_model="c", max_output_tokens=4096)["max_tokens"]
        == 4096
    )
    req.max_tokens = 10
    assert anthropic.render_request(req, upstream_model="c")["max_tokens"] == 10


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (ToolChoice("required"), None, {"type": "any"}),
        (
            ToolChoice("tool", "weather"),
            False,
            {"type": "tool", "name": "weather", "disable_parallel_tool_use": True},
        ),
        (ToolChoice("none"), None, {"type": "none"}),
        (ToolChoice("auto"), True, {"type": "auto"}),
    ],
)
def test_anthropic_tool_choice(
    choice: ToolChoice | None, parallel: bool | None, expected: Any
) -> None:
    req = tool_turns()
    req.tool_choice, req.parallel_tool_calls = choice, parallel
    assert anthropic.render_request(req, upstream_model="c")["tool_choice"] == expected


@pytest.mark.parametrize(
    ("fmt", "schema"),
    [
        (ResponseFormat("json_object"), {"type": "object"}),
        (ResponseFormat("json_schema", WEATHER, "out"), WEATHER),
    ],
)
def test_anthropic_json_mode_is_a_forced_tool(fmt: ResponseFormat, schema: Any) -> None:
    req = Request("m", messages=[Message("user", [TextPart("hi")])], response_format=fmt)
    req.reasoning = Reasoning(True, 2048)
    body = anthropic.render_request(req, upstream_model="c")
    assert body["tools"][-1]["name"] == "json_response"
    assert body["tools"][-1]["input_schema"] == schema
    assert body["tool_choice"] == {"type": "tool", "name": "json_response"}
    assert "thinking" not in body and req.dropped == ["thinking"]  # forced tools forbid it


def test_anthropic_json_response_becomes_text() -> None:
    resp = anthropic.parse_response(
        {
            "id": "msg_1",
            "model": "c",
            "content": [
                {"type": "tool_use", "id": "t", "name": "json_response", "input": {"a": 1}}
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 3, "output_tokens": 4},
        }
    )
    assert resp.parts == [TextPart('{"a":1}')] and resp.stop_reason == "end"


@pytest.mark.parametrize(
    ("reasoning", "max_tokens", "budget", "expected_max"),
    [
        (Reasoning(True, None, "high"), None, 8192, 8192 + 8192),  # 8192 ≤ B → += B (R6.4)
        (Reasoning(True, None, "low"), 4000, 1024, 4000),
        (Reasoning(True, 3000), 1000, 3000, 4000),
        (Reasoning(True, 10), 20000, 1024, 20000),  # Anthropic's minimum budget
    ],
)
def test_anthropic_thinking(
    reasoning: Reasoning, max_tokens: int | None, budget: int, expected_max: int
) -> None:
    req = Request("m", messages=[Message("user", [TextPart("hi")])], max_tokens=max_tokens)
    req.reasoning, req.temperature, req.top_k = reasoning, 0.2, 5
    body = anthropic.render_request(req, upstream_model="c")
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == expected_max
    assert "temperature" not in body and "top_k" not in body
    assert req.dropped == ["temperature", "top_k"]


def test_anthropic_tool_turn_without_thinking_turns_thinking_off() -> None:
    """R5.6: the last tool-use turn lost its thinking block (an OpenAI caller)."""
    req = tool_turns()
    req.messages.pop()  # ends with the tool result
    req.reasoning = Reasoning(True, None, "high")
    body = anthropic.render_request(req, upstream_model="c")
    assert "thinking" not in body and req.dropped == ["thinking"]
    signed = tool_turns()
    signed.messages.pop()
    signed.messages[1].parts.insert(0, ThinkingPart("plan", "sig"))
    signed.reasoning = Reasoning(True, None, "high")
    body = anthropic.render_request(signed, upstream_model="c")
    assert body["thinking"]["type"] == "enabled" and signed.dropped == []
    assert body["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "plan",
        "signature": "sig",
    }


def test_anthropic_parse_request() -> None:
    body = {
        "model": "claude",
        "max_tokens": 50,
        "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "opaque"},
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": "ok",
                        "is_error": True,
                    },
                    {"type": "text", "text": "and?"},
                ],
            },
        ],
        "tools": [
            {"name": "f", "input_schema": WEATHER},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "metadata": {"user_id": "u9"},
        "stop_sequences": ["X"],
        "top_k": 3,
        "service_tier": "auto",
    }
    req = anthropic.parse_request(body)
    assert req.system == [TextPart("S", {"type": "ephemeral"})]
    assert [m.role for m in req.messages] == ["user", "assistant", "tool", "user"]
    assert req.messages[1].parts == [
        ThinkingPart("t", "sig"),
        ThinkingPart("", "opaque", redacted=True),
        ToolCallPart("toolu_1", "f", '{"a":1}'),
    ]
    assert req.messages[2].parts == [
        ToolResultPart("toolu_1", "f", [TextPart("ok")], is_error=True)
    ]
    assert [t.name for t in req.tools] == ["f"]
    assert req.tool_choice == ToolChoice("required") and req.parallel_tool_calls is False
    assert req.reasoning == Reasoning(True, 2048)
    assert (req.user, req.stop, req.top_k, req.max_tokens) == ("u9", ["X"], 3, 50)
    assert req.dropped == ["web_search_20250305", "service_tier"]


def test_anthropic_front_requires_max_tokens() -> None:
    body = {"model": "c", "messages": [{"role": "user", "content": "x"}]}
    assert _e16(anthropic.parse_request, body).param == "max_tokens"  # R3.4


# ── → OpenAI chat ───────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("platform", "limit_key", "keeps_top_k", "keeps_cache"),
    [
        ("openai", "max_completion_tokens", False, False),
        ("openrouter", "max_tokens", True, True),
        ("openai-compatible", "max_tokens", True, True),
    ],
)
def test_openai_render_request(
    platform: str, limit_key: str, keeps_top_k: bool, keeps_cache: bool
) -> None:
    req = tool_turns()
    req.system[0].cache_control = {"type": "ephemeral"}
    req.messages[1].parts.insert(0, ThinkingPart("plan", "sig"))
    req.top_k, req.max_tokens, req.stream = 4, 99, True
    req.reasoning = Reasoning(True, 2048)
    body = openai_chat.render_request(req, upstream_model="up", platform=platform)
    assert body[limit_key] == 99
    assert ("top_k" in body) is keeps_top_k
    assert body["stream_options"] == {"include_usage": True}  # R4.2
    system = body["messages"][0]
    if keeps_cache:
        assert system["content"] == [
            {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}
        ]
    else:
        assert system == {"role": "system", "content": "Be brief."}
        assert req.dropped == ["cache_control", "top_k"]
    assert body["messages"][2] == {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
    if platform == "openrouter":
        assert body["reasoning"] == {"max_tokens": 2048}
    else:
        assert body["reasoning_effort"] == "medium"


def test_openai_send_reasoning_history() -> None:
    req = tool_turns()
    req.messages[1].parts.insert(0, ThinkingPart("plan"))
    body = openai_chat.render_request(req, upstream_model="m", send_reasoning=True)
    assert body["messages"][2]["reasoning_content"] == "plan"
    body = openai_chat.render_request(req, upstream_model="m")
    assert "reasoning_content" not in body["messages"][2]


# ── Gemini ──────────────────────────────────────────────────────────────────────────────────


def test_gemini_render_request() -> None:
    req = tool_turns()
    req.tool_choice, req.parallel_tool_calls = ToolChoice("tool", "weather"), True
    req.response_format = ResponseFormat("json_schema", WEATHER)
    req.reasoning, req.max_tokens, req.top_k, req.stop = Reasoning(True, 512), 64, 3, ["Z"]
    body = gemini.render_request(req, upstream_model="gemini-x")
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Checking."},
                {
                    "functionCall": {"name": "weather", "args": {"city": "Paris"}},
                    "thoughtSignature": gemini.SKIP_SIGNATURE,  # R5.6: none recoverable
                },
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "weather", "response": {"result": "sunny"}}},
                {"text": "Thanks"},
            ],
        },
    ]
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "weather",
                    "description": "Weather for a city",
                    "parametersJsonSchema": WEATHER,
                }
            ]
        }
    ]
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}
    }
    assert body["generationConfig"] == {
        "topK": 3,
        "maxOutputTokens": 64,
        "stopSequences": ["Z"],
        "responseMimeType": "application/json",
        "responseJsonSchema": WEATHER,
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 512},
    }
    assert req.dropped == ["parallel_tool_calls"]


def test_gemini_signature_round_trip() -> None:
    """R5.6: a functionCall's thoughtSignature → a thinking block's signature → back."""
    raw = [
        {"text": "thinking…", "thought": True},
        {"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "SIG"},
        {"functionCall": {"name": "b", "args": {}}},
    ]
    parts = gemini.model_parts(raw, random.Random(1))
    assert isinstance(parts[0], ThinkingPart) and parts[0].signature == "SIG"
    ids = [p.id for p in parts if isinstance(p, ToolCallPart)]
    assert all(i.startswith("call_") and len(i) == 29 for i in ids)
    anth = anthropic.render_response(
        anthropic.parse_response(
            anthropic.render_response(gemini.parse_response(_candidate(raw)), model="c")
        ),
        model="c",
    )
    assert anth["content"][0] == {"type": "thinking", "thinking": "thinking…", "signature": "SIG"}
    req = anthropic.parse_request(
        {
            "model": "c",
            "max_tokens": 10,
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": anth["content"]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": b["id"], "content": '{"ok": true}'}
                        for b in anth["content"]
                        if b["type"] == "tool_use"
                    ],
                },
            ],
        }
    )
    body = gemini.render_request(req, upstream_model="g")
    assert body["contents"][1]["parts"] == [
        {"text": "thinking…", "thought": True},
        {"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "SIG"},
        {"functionCall": {"name": "b", "args": {}}},
    ]
    assert body["contents"][2]["parts"][0] == {
        "functionResponse": {"name": "a", "response": {"ok": True}}
    }


def _candidate(parts: list[Any]) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}],
        "responseId": "r1",
        "modelVersion": "g",
    }


def test_gemini_parse_request_snake_case_and_pairing() -> None:
    body = {
        "system_instruction": {"parts": [{"text": "S"}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "hi"},
                    {"inline_data": {"mime_type": "image/png", "data": "a-b_"}},
                ],
            },
            {"role": "model", "parts": [{"function_call": {"name": "f", "args": {"q": 1}}}]},
            {
                "role": "user",
                "parts": [{"function_response": {"name": "f", "response": {"result": 5}}}],
            },
        ],
        "tools": [
            {
                "function_declarations": [
                    {
                        "name": "f",
                        "parameters": {"type": "OBJECT", "properties": {"q": {"type": "INTEGER"}}},
                    }
                ]
            },
            {"google_search": {}},
        ],
        "tool_config": {"function_calling_config": {"mode": "ANY"}},
        "generation_config": {
            "max_output_tokens": 30,
            "temperature": 0.5,
            "response_mime_type": "application/json",
            "thinking_config": {"thinking_budget": 0},
        },
        "safetySettings": [{"category": "x"}],
    }
    req = gemini.parse_request(body, model="gemini-x", rng=random.Random(2))
    assert req.model == "gemini-x" and req.system == [TextPart("S")]
    assert req.messages[0].parts[1] == ImagePart(data="a+b/", media_type="image/png")
    call = req.messages[1].parts[0]
    assert isinstance(call, ToolCallPart) and call.id.startswith("call_")
    assert req.messages[2].parts == [ToolResultPart(call.id, "f", [TextPart("5")])]
    assert req.tools[0].parameters == {"type": "object", "properties": {"q": {"type": "integer"}}}
    assert req.tool_choice == ToolChoice("required")
    assert (req.max_tokens, req.temperature) == (30, 0.5)
    assert req.response_format == ResponseFormat("json_object")
    assert req.reasoning is not None and req.reasoning.enabled is False
    assert req.dropped == ["google_search", "safetySettings"]


@pytest.mark.parametrize(
    ("config", "param"),
    [
        ({"candidateCount": 2}, "generationConfig.candidateCount"),
        ({"responseModalities": ["AUDIO"]}, "generationConfig.responseModalities"),
    ],
)
def test_gemini_refusals(config: dict[str, Any], param: str) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "x"}]}], "generationConfig": config}
    assert _e16(gemini.parse_request, body).param == param
    assert _e16(gemini.parse_request, {"contents": []}).param == "contents"


@pytest.mark.parametrize(
    ("render", "key"),
    [
        (
            lambda r: openai_chat.render_request(r, upstream_model="m", supports_reasoning=False),
            "reasoning_effort",
        ),
        (
            lambda r: anthropic.render_request(r, upstream_model="m", supports_reasoning=False),
            "thinking",
        ),
        (
            lambda r: gemini.render_request(r, upstream_model="m", supports_reasoning=False),
            "generationConfig",
        ),
    ],
)
def test_models_without_thinking_get_no_reasoning_switch(render: Any, key: str) -> None:
    req = Request("m", messages=[Message("user", [TextPart("hi")])])
    req.reasoning = Reasoning(True, None, "high")
    assert key not in render(req)
    assert req.dropped == ["reasoning"]


def test_anthropic_mid_conversation_system_message_joins_the_system_prompt() -> None:
    """Claude Code sends `{"role": "system"}` after the user turn; translated routes keep it."""
    from torouter.protocols import anthropic as anth
    from torouter.protocols import openai_chat as oai

    req = anth.parse_request(
        {
            "model": "m",
            "max_tokens": 5,
            "system": "base",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            ],
        }
    )
    assert [p.text for p in req.system] == ["base", "Be brief."]
    assert [m.role for m in req.messages] == ["user"]
    body = oai.render_request(req, upstream_model="x")
    assert body["messages"][0]["role"] in ("system", "developer")
    assert "Be brief." in str(body["messages"][0]["content"])
