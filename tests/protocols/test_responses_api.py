"""The OpenAI Responses codec (issue 9): recorded Responses traffic decoded to internal events
and relayed as is; recorded chat traffic of every protocol encoded for Responses clients;
recorded Responses requests translated for each platform. Golden files as in test_golden.py.

SPEC R4.3, R4.6, R4.10, R5.1, R5.4, R5.5, R5.7.
"""

from __future__ import annotations

import itertools
import json
import random
import zlib
from typing import Any

import pytest

from tests.protocols.harness import (
    CASES,
    MODULES,
    case_params,
    check_golden,
    decode_all,
    dump_json,
    parse,
    summarize_events,
    summarize_response,
    to_jsonable,
    upstream,
)
from tests.recorded import recorded_dir
from torouter.errors import GatewayError
from torouter.gateway.passthrough import ResponsesPassthrough
from torouter.protocols import openai_responses as resp_api
from torouter.protocols.internal import (
    BlockStart,
    BlockStop,
    ErrorEvent,
    Finish,
    ImagePart,
    Start,
    TextDelta,
    TextPart,
    ThinkingDelta,
    ThinkingPart,
    ToolArgsDelta,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    Usage,
    UsageEvent,
)

MODEL = "test-model"
EVERY_OFFSET = (
    "openai-responses-stream-text",
    "openai-responses-stream-tools",
    "openai-responses-stream-failed",
)


def _responses_cases() -> list[dict[str, Any]]:
    base = recorded_dir()
    if base is None:
        return []
    index = json.loads((base / "index.json").read_text())["cases"]
    out = []
    for entry in index:
        if entry["api"] == "responses":
            case = json.loads((base / entry["file"]).read_text())
            if case["response"]["status"] == 200:
                out.append(case)
    return out


RESP = _responses_cases()


def resp_params(*, stream: bool | None = None, request: bool = False) -> list[Any]:
    if not RESP:
        return [pytest.param(None, marks=pytest.mark.skip(reason="recorded fixtures absent"))]
    return [
        pytest.param(c, id=c["id"])
        for c in RESP
        if (stream is None or c["stream"] == stream)
        and (not request or isinstance(c["request"]["body"], dict))
    ]


def sse(case: dict[str, Any]) -> bytes:
    return case["response"]["sse"].encode()


def decode_chunks(chunks: list[bytes]) -> list[Any]:
    dec = resp_api.StreamDecoder()
    return [ev for c in chunks for ev in dec.decode(c)] + dec.flush()


def encoder() -> resp_api.StreamEncoder:
    return resp_api.StreamEncoder(MODEL, input_estimate=7, rng=random.Random(0), created=0)


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Named events, each checked for R4.3 framing: `event:` equals the data's type."""
    out = []
    for block in raw.split(b"\n\n"):
        if not block:
            continue
        head, data = block.split(b"\n", 1)
        assert head.startswith(b"event: ") and data.startswith(b"data: "), block[:100]
        obj = json.loads(data[6:])
        assert obj["type"] == head[7:].decode()
        out.append((obj["type"], obj))
    return out


# ── Responses upstream → internal; relayed as is ───────────────────────────────────────────


@pytest.mark.parametrize("case", resp_params(stream=True))
def test_stream_decodes_to_golden_events(case: dict[str, Any]) -> None:
    events = decode_chunks([sse(case)])
    check_golden(f"responses_to_internal/{case['id']}.json", dump_json(to_jsonable(events)))


@pytest.mark.parametrize("case", resp_params(stream=False))
def test_body_parses_to_golden_response(case: dict[str, Any]) -> None:
    resp = resp_api.parse_response(case["response"]["body"])
    check_golden(f"responses_to_internal/{case['id']}.json", dump_json(to_jsonable(resp)))


@pytest.mark.parametrize("case", resp_params(stream=True))
def test_stream_split_anywhere(case: dict[str, Any]) -> None:
    """The decoder and the pass-through relay give the same result however bytes are split."""
    data = sse(case)
    whole = decode_chunks([data])
    relay = _relay([data])
    rng = random.Random(zlib.crc32(case["id"].encode()))
    for _ in range(40):
        cuts = sorted(rng.sample(range(1, len(data)), k=rng.randint(1, 15)))
        chunks = [data[a:b] for a, b in itertools.pairwise([0, *cuts, len(data)])]
        assert decode_chunks(chunks) == whole, cuts
        assert _relay(chunks) == relay, cuts


@pytest.mark.parametrize(
    "case", [c for c in RESP if c["id"] in EVERY_OFFSET] or resp_params(), ids=lambda c: c["id"]
)
def test_stream_split_at_every_offset(case: dict[str, Any]) -> None:
    data = sse(case)
    whole = decode_chunks([data])
    relay = _relay([data])
    for k in range(len(data) + 1):
        assert decode_chunks([data[:k], data[k:]]) == whole, k
        assert _relay([data[:k], data[k:]]) == relay, k


def test_every_offset_cases_exist() -> None:
    if RESP:
        assert {c["id"] for c in RESP} >= set(EVERY_OFFSET)


def _relay(chunks: list[bytes]) -> tuple[bytes, Any, bool, Any, str | None]:
    r = ResponsesPassthrough(1 << 24)
    out = b"".join(r.feed(c) for c in chunks) + r.close()
    return out, r.usage, r.done, r.upstream_error, r.response_id


@pytest.mark.parametrize("case", resp_params(stream=True))
def test_passthrough_relays_every_byte_and_reads_usage(case: dict[str, Any]) -> None:
    """R4.3/R5.3: the bytes go out unchanged; usage comes from the final event."""
    data = sse(case)
    out, usage, done, err, rid = _relay([data])
    assert out == data.replace(b"\r\n", b"\n")
    assert done
    events = parse_sse(out) if b"sequence_number" in out else []
    final = decode_chunks([data])[-1]
    if case["id"] == "openai-responses-stream-failed":
        assert isinstance(final, ErrorEvent) and err == ("insufficient_quota", final.message)
    else:
        assert isinstance(final, Finish) and usage is not None and usage.output > 0
        assert (
            rid and rid == json.loads(out.split(b"data: ", 1)[1].split(b"\n")[0])["response"]["id"]
        )
    seq = [e["sequence_number"] for _, e in events]
    assert seq == sorted(seq)  # the upstream's own numbers, untouched


def test_passthrough_error_tail_continues_the_numbering() -> None:
    r = ResponsesPassthrough(1 << 24)
    head = (
        b'event: response.created\ndata: {"type":"response.created","sequence_number":0,'
        b'"response":{"id":"resp_1","status":"in_progress","output":[]}}\n\n'
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
        b'"sequence_number":1,"delta":"Hi"}\n\n'
    )
    assert r.feed(head) == head and not r.done and r.chars == 2
    tail = parse_sse(
        r.error_tail("responses", "Upstream connection lost", "x", "upstream_unavailable", sse=True)
    )
    assert [k for k, _ in tail] == ["error", "response.failed"]
    assert tail[0][1] == {
        "type": "error",
        "sequence_number": 2,
        "code": "upstream_unavailable",
        "message": "Upstream connection lost",
        "param": None,
    }
    failed = tail[1][1]
    assert failed["sequence_number"] == 3 and failed["response"]["id"] == "resp_1"
    assert failed["response"]["status"] == "failed"


# ── internal → Responses clients (recorded chat traffic of each protocol) ───────────────────


def _chat_stream_cases() -> list[Any]:
    return case_params(stream=True)


@pytest.mark.parametrize("case", _chat_stream_cases())
def test_chat_stream_encodes_to_golden_responses(case: dict[str, Any]) -> None:
    events = decode_all(case)
    out = encoder().encode(events)
    check_golden(f"{upstream(case)}_to_responses/{case['id']}.sse", out.decode())
    one_by_one = encoder()
    assert b"".join(one_by_one.encode([ev]) for ev in events) == out
    # What a Responses client sees equals what the upstream said.
    parsed = parse_sse(out)
    assert [e["sequence_number"] for _, e in parsed] == list(range(len(parsed)))
    want = summarize_events(events)
    kinds = [k for k, _ in parsed]
    if want.error:
        assert kinds[-2:] == ["error", "response.failed"]
        return
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] in ("response.completed", "response.incomplete")
    final = parsed[-1][1]["response"]
    text = "".join(
        c["text"] for o in final["output"] if o["type"] == "message" for c in o["content"]
    )
    assert text == want.text
    deltas = "".join(e["delta"] for k, e in parsed if k == "response.output_text.delta")
    assert deltas == want.text
    calls = [
        (o["name"], json.loads(o["arguments"]))
        for o in final["output"]
        if o["type"] == "function_call"
    ]
    assert calls == [(n, a) for _, n, a in want.tool_calls]
    reported = any(isinstance(ev, UsageEvent) for ev in events)
    assert final["usage"] == resp_api.usage_json(want.usage if reported else Usage(input=7))


@pytest.mark.parametrize("case", case_params(stream=False))
def test_chat_body_renders_to_golden_responses(case: dict[str, Any]) -> None:
    resp = parse(case)
    body = resp_api.render_response(resp, model=MODEL, rng=random.Random(0))
    check_golden(f"{upstream(case)}_to_responses/{case['id']}.json", dump_json(body))
    want = summarize_response(resp)
    text = "".join(
        c["text"] for o in body["output"] if o["type"] == "message" for c in o["content"]
    )
    assert text == want.text
    assert body["status"] == resp_api.STOP_REASONS[resp.stop_reason][0]


# ── Responses requests → each platform ──────────────────────────────────────────────────────


@pytest.mark.parametrize("target", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("case", resp_params(request=True))
def test_recorded_request_translates_to_golden_body(case: dict[str, Any], target: str) -> None:
    req = resp_api.parse_request(case["request"]["body"])
    body = MODULES[target].render_request(req, upstream_model="upstream-model")
    out = {"body": body, "dropped": req.dropped}
    check_golden(f"responses_to_{target}/{case['id']}.request.json", dump_json(out))


# ── request parsing ─────────────────────────────────────────────────────────────────────────


def test_parse_request_maps_every_field() -> None:
    body = {
        "model": "m",
        "instructions": "Be terse.",
        "input": [
            {"role": "developer", "content": "Use metric units."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Look"},
                    {
                        "type": "input_image",
                        "image_url": "data:image/png;base64,AAAA",
                        "detail": "low",
                    },
                    {"type": "input_image", "image_url": "https://x/y.png"},
                ],
            },
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [{"type": "summary_text", "text": "hmm"}],
            },
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a":1}'},
            {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "one"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "two"}],
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Done."}],
            },
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [
            {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True},
            {"type": "web_search"},
        ],
        "tool_choice": {"type": "function", "name": "f"},
        "text": {
            "format": {
                "type": "json_schema",
                "name": "out",
                "schema": {"type": "object"},
                "strict": True,
            }
        },
        "reasoning": {"effort": "low", "summary": "auto"},
        "max_output_tokens": 99,
        "temperature": 0.5,
        "top_p": 0.9,
        "parallel_tool_calls": False,
        "prompt_cache_key": "pk",
        "safety_identifier": "u1",
        "store": True,
        "include": ["reasoning.encrypted_content"],
        "stream": True,
    }
    req = resp_api.parse_request(body)
    assert [p.text for p in req.system] == ["Be terse.", "Use metric units."]
    roles = [m.role for m in req.messages]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]
    user = req.messages[0].parts
    assert isinstance(user[1], ImagePart) and user[1].data == "AAAA" and user[1].detail == "low"
    assert isinstance(user[2], ImagePart) and user[2].url == "https://x/y.png"
    turn = req.messages[1].parts
    assert isinstance(turn[0], ThinkingPart) and turn[0].text == "hmm"
    assert [(p.id, p.name, p.arguments) for p in turn[1:] if isinstance(p, ToolCallPart)] == [
        ("c1", "f", '{"a":1}'),
        ("c2", "g", "{}"),
    ]
    results = req.messages[2].parts
    assert all(isinstance(p, ToolResultPart) for p in results)
    assert [(p.tool_call_id, p.name, p.text) for p in results] == [
        ("c1", "f", "one"),
        ("c2", "g", "two"),
    ]
    assert isinstance(req.messages[3].parts[0], TextPart)
    assert [t.name for t in req.tools] == ["f"] and req.tools[0].strict is True
    assert req.tool_choice is not None and (req.tool_choice.mode, req.tool_choice.name) == (
        "tool",
        "f",
    )
    assert req.response_format is not None and req.response_format.type == "json_schema"
    assert req.response_format.name == "out" and req.response_format.strict is True
    assert req.reasoning is not None and req.reasoning.enabled and req.reasoning.effort == "low"
    assert (req.max_tokens, req.temperature, req.top_p) == (99, 0.5, 0.9)
    assert req.parallel_tool_calls is False and req.stream is True
    assert (req.prompt_cache_key, req.user) == ("pk", "u1")
    assert set(req.dropped) >= {"web_search", "store", "include"}


def test_parse_request_string_input_and_json_object() -> None:
    req = resp_api.parse_request(
        {
            "model": "m",
            "input": "hi",
            "text": {"format": {"type": "json_object"}},
            "tool_choice": "required",
        }
    )
    assert req.messages[0].role == "user" and req.messages[0].parts == [TextPart("hi")]
    assert req.response_format is not None and req.response_format.type == "json_object"
    assert req.tool_choice is not None and req.tool_choice.mode == "required"
    off = resp_api.parse_request({"model": "m", "input": "x", "reasoning": {"effort": "none"}})
    assert off.reasoning is not None and not off.reasoning.enabled


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "input": "x", "background": True}, "background"),
        ({"model": "m", "input": "x", "previous_response_id": "resp_1"}, "previous_response_id"),
        ({"model": "m", "input": "x", "conversation": "conv_1"}, "conversation"),
        ({"model": "m", "input": []}, "input"),
        ({"model": "m", "input": 3}, "input"),
        ({"model": "m", "input": [{"type": "function_call"}]}, "input[0]"),
        ({"model": "m", "input": "x", "reasoning": {"effort": "max"}}, "reasoning.effort"),
        ({"model": "m", "input": "x", "text": {"format": {"type": "xml"}}}, "text.format"),
        ({"model": "m", "input": "x", "tool_choice": "sometimes"}, "tool_choice"),
        ({"input": "x"}, "model"),
    ],
)
def test_parse_request_refusals(body: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as info:
        resp_api.parse_request(body)
    assert info.value.code == "INVALID_REQUEST" and info.value.param == param


def test_check_front_reads_previous_response_id() -> None:
    assert resp_api.check_front({"model": "m"}) is None
    assert resp_api.check_front({"previous_response_id": "resp_9"}) == "resp_9"
    with pytest.raises(GatewayError):
        resp_api.check_front({"background": True})


def test_render_request_round_trips() -> None:
    body = {
        "model": "m",
        "instructions": "sys",
        "input": [
            {"role": "user", "content": "q"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "r"},
        ],
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        "max_output_tokens": 10,
        "reasoning": {"effort": "high"},
        "stream": True,
    }
    req = resp_api.parse_request(body)
    again = resp_api.parse_request(resp_api.render_request(req, upstream_model="m"))
    assert again.messages == req.messages and again.system == req.system
    assert again.tools == req.tools and again.max_tokens == 10 and again.reasoning == req.reasoning


# ── encoder details ─────────────────────────────────────────────────────────────────────────


def _call_stream() -> list[Any]:
    return [
        Start("chatcmpl-1", "up", 5),
        BlockStart(0, "thinking"),
        ThinkingDelta(0, "Let me see"),
        BlockStop(0),
        BlockStart(1, "text"),
        TextDelta(1, "Checking."),
        BlockStop(1),
        ToolCallStart(2, "call_1", "get_weather"),
        ToolArgsDelta(2, '{"city":'),
        ToolArgsDelta(2, '"Paris"}'),
        BlockStop(2),
        BlockStart(3, "redacted_thinking", "opaque"),
        BlockStop(3),
        UsageEvent(Usage(input=10, cache_read=2, output=20, reasoning=5)),
        Finish("tool_call"),
    ]


def test_encoder_event_order_and_final_response() -> None:
    echo = resp_api.echo_fields(
        {"model": "x", "tools": [{"type": "function", "name": "get_weather"}]}
    )
    out = resp_api.StreamEncoder(MODEL, echo=echo, rng=random.Random(1), created=0).encode(
        _call_stream()
    )
    events = parse_sse(out)
    assert [k for k, _ in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for _, e in events] == list(range(len(events)))
    final = events[-1][1]["response"]
    assert final["status"] == "completed" and final["model"] == MODEL
    assert final["tools"] == echo["tools"] and final["store"] is False
    assert [o["type"] for o in final["output"]] == ["reasoning", "message", "function_call"]
    assert [e["output_index"] for k, e in events if k == "response.output_item.added"] == [0, 1, 2]
    call = final["output"][2]
    assert (call["call_id"], call["name"], call["arguments"]) == (
        "call_1",
        "get_weather",
        '{"city":"Paris"}',
    )
    assert final["usage"] == {
        "input_tokens": 12,
        "input_tokens_details": {"cached_tokens": 2},
        "output_tokens": 20,
        "output_tokens_details": {"reasoning_tokens": 5},
        "total_tokens": 32,
    }
    # The decoder reads it back as the same content.
    back = decode_chunks([out])
    assert summarize_events(back) == summarize_events(_call_stream())


@pytest.mark.parametrize(
    ("stop", "status", "reason"),
    [("length", "incomplete", "max_output_tokens"), ("filtered", "incomplete", "content_filter")],
)
def test_encoder_incomplete(stop: Any, status: str, reason: str) -> None:
    out = encoder().encode(
        [Start("x", "m"), BlockStart(0, "text"), TextDelta(0, "a"), Finish(stop)]
    )
    kind, last = parse_sse(out)[-1]
    assert kind == "response.incomplete"
    assert last["response"]["status"] == status
    assert last["response"]["incomplete_details"] == {"reason": reason}
    # the open text item is closed before the final event
    assert last["response"]["output"][0]["content"][0]["text"] == "a"


def test_encoder_error_after_first_byte() -> None:
    enc = encoder()
    first = enc.encode([Start("x", "m"), BlockStart(0, "text"), TextDelta(0, "partial")])
    tail = enc.encode([ErrorEvent("boom", "server_error", "server_error")])
    events = parse_sse(first + tail)
    assert [k for k, _ in events][-2:] == ["error", "response.failed"]
    assert [e["sequence_number"] for _, e in events] == list(range(len(events)))
    assert events[-2][1]["code"] == "server_error" and events[-2][1]["message"] == "boom"
    assert events[-1][1]["response"]["status"] == "failed"
    assert enc.encode([TextDelta(0, "late")]) == b""  # nothing after the end


def test_encoder_caps_what_it_holds() -> None:
    enc = resp_api.StreamEncoder(MODEL, max_held=10, rng=random.Random(0), created=0)
    out = enc.encode(
        [Start("x", "m"), BlockStart(0, "text"), TextDelta(0, "12345"), TextDelta(0, "678901")]
    )
    kinds = [k for k, _ in parse_sse(out)]
    assert kinds[-2:] == ["error", "response.failed"]


def test_render_response_of_a_tool_call() -> None:
    from torouter.protocols.internal import Response

    resp = Response(
        "msg_1",
        "up",
        [ThinkingPart("why"), TextPart("a"), TextPart("b"), ToolCallPart("c", "f", "")],
        "tool_call",
        usage=Usage(input=3, output=4),
        created=9,
    )
    body = resp_api.render_response(resp, model=MODEL, rng=random.Random(0))
    assert body["created_at"] == 9 and body["status"] == "completed"
    assert [o["type"] for o in body["output"]] == ["reasoning", "message", "function_call"]
    assert body["output"][1]["content"][0]["text"] == "ab"
    assert body["output"][2]["arguments"] == "{}"
    assert body["usage"]["total_tokens"] == 7


def test_module_is_a_front_door() -> None:
    from torouter.protocols import translate

    assert translate.FRONT["responses"] is resp_api
    assert all(
        c["provider"] in ("openai", "openai-compatible", "anthropic", "gemini") for c in CASES
    )
