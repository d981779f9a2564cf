"""The stream codecs' fast paths, against golden bytes and their general paths.

The translated stream route (an OpenAI-wire channel relayed to an Anthropic, OpenAI or Gemini
client, SPEC R4.2/R4.4/R5.1) takes shortcuts for its common events: the SSE parser splits a
read's events at once (`sse.SSEParser.feed`), the chat completion decoder reads a plain text
delta without the general walk and shape check (`openai_chat_stream.StreamDecoder.fast`), and
the Messages encoder writes a text delta from a byte template. The cases here are the edges of
those shortcuts: multi-byte UTF-8 split across reads, escapes, empty deltas, text after tool
calls, usage-only chunks, errors and malformed events mid-stream. Their client bytes are golden
files (written by the code before the fast paths: the bytes clients see did not change), and
the decoder gives the same events with its fast path off, however the upstream bytes are split.
"""

from __future__ import annotations

import random
import zlib
from typing import Any

import orjson
import pytest

from tests.protocols.harness import (
    PROTOCOL,
    case_params,
    check_golden,
    decode_all,
    pair_params,
    sse_bytes,
)
from torouter.protocols import anthropic, anthropic_stream, gemini, openai_chat
from torouter.protocols import openai_chat_stream as chat_stream
from torouter.protocols.internal import (
    BlockStart,
    BlockStop,
    Event,
    Finish,
    SignatureDelta,
    Start,
    TextDelta,
    ThinkingDelta,
    Usage,
    UsageEvent,
)
from torouter.protocols.openai_chat_stream import StreamDecoder

_HEAD = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1796668260,
    "model": "gpt-x",
}


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return b"data: " + orjson.dumps({**_HEAD, "choices": choices, **extra}) + b"\n\n"


def _text(*texts: str) -> list[bytes]:
    return [_chunk({"content": t}) for t in texts]


_START = _chunk({"role": "assistant", "content": "", "refusal": None})
_STOP = _chunk({}, "stop")
_USAGE = _chunk(None, usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12})
_DONE = b"data: [DONE]\n\n"
_TOOL = _chunk(
    {
        "tool_calls": [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "f", "arguments": ""},
            }
        ]
    }
)
_ARGS = _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a": "\\u00e9"}'}}]})

_ONE_TEXT = b'"choices":[{"index":0,"delta":{"content":"%b"},"finish_reason":null}]'


def _raw(fields: bytes) -> bytes:
    """An event of exactly these top-level fields, as written (duplicates, bad UTF-8)."""
    return b"data: {" + fields + b"}\n\n"


CASES: dict[str, list[bytes]] = {
    "plain": [_START, *_text("Hello", " world"), _STOP, _USAGE, _DONE],
    "escapes": [
        _START,
        *_text('quote " back \\ slash', "tab\tnew\nline", "\u2028sep\u2029", "ctl \x01\x1f"),
        _STOP,
        _DONE,
    ],
    "multibyte": [_START, *_text("héllo wörld", " 日本語", " 🙂🙂", " ok"), _STOP, _DONE],
    "empty_deltas": [_START, *_text("a", "", "b"), _chunk({}), _chunk({"content": None}), _STOP],
    "content_with_finish": [_START, *_text("a"), _chunk({"content": "end"}, "length"), _DONE],
    "text_then_tools_then_text": [
        _START,
        *_text("let me call"),
        _TOOL,
        _ARGS,
        *_text("after"),
        _chunk({}, "tool_calls"),
        _USAGE,
        _DONE,
    ],
    "reasoning_then_text": [
        _chunk({"role": "assistant", "reasoning_content": "think"}),
        _chunk({"reasoning_content": " more"}),
        *_text("answer", " here"),
        _chunk({"content": "x", "reasoning_content": "late"}),
        _STOP,
        _DONE,
    ],
    "refusal": [_START, _chunk({"refusal": "no"}), *_text("text"), _STOP, _DONE],
    "usage_in_text_chunk": [
        _START,
        *_text("a"),
        _chunk({"content": "b"}, usage={"prompt_tokens": 1, "completion_tokens": 2}),
        _STOP,
        _DONE,
    ],
    "usage_null_and_other_fields": [
        _START,
        _chunk({"content": "a"}, usage=None, obfuscation="xyz", system_fingerprint="fp"),
        _STOP,
        _DONE,
    ],
    "keys_missing": [
        _START,
        b'data: {"choices":[{"delta":{"content":"no index"}}]}\n\n',
        b'data: {"choices":[{"index":0,"delta":{"content":" no finish"}}]}\n\n',
        b'data: {"choices":[{"index":0,"finish_reason":null}]}\n\n',
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":null}]}\n\n',
        *_text("end"),
        _STOP,
        _DONE,
    ],
    "second_choice_index": [
        _START,
        *_text("a"),
        b'data: {"choices":[{"index":1,"delta":{"content":"other"}}]}\n\n',
        *_text("b"),
        _STOP,
        _DONE,
    ],
    "error_mid_stream": [
        _START,
        *_text("partial"),
        b'data: {"error":{"message":"overloaded","type":"server_error","code":502}}\n\n',
        *_text("never"),
    ],
    "malformed_mid_stream": [_START, *_text("partial"), b"data: {not json\n\n", *_text("never")],
    "wrong_type_mid_stream": [
        _START,
        *_text("partial"),
        b'data: {"choices":[{"index":0,"delta":{"content":"x","tool_calls":{}}}]}\n\n',
        *_text("never"),
    ],
    # The fast path's typed reading (msgspec) against the whole parse (orjson): what it refuses
    # goes the general way, what it accepts must give the general path's events.
    "typed_reading_edges": [
        _START,
        *_text("a"),
        _raw(b'"choices":[{"index":false,"delta":{"content":"bool"},"finish_reason":null}]'),
        _raw(b'"choices":[{"index":0.0,"delta":{"content":"float"},"finish_reason":null}]'),
        _raw(b'"error":null,' + _ONE_TEXT % b"null error"),
        _raw(
            b'"choices":[{"index":0,"delta":{"content":"x","refusal":null},"finish_reason":null}]'
        ),
        _raw(b'"choices":[{"index":0,"delta":{"content":"a","content":"b"},"finish_reason":null}]'),
        _raw(b'"choices":[],' + _ONE_TEXT % b"last"),
        _raw(_ONE_TEXT % b"first" + b',"choices":[]'),
        _raw(_ONE_TEXT % "é utf-8".encode()),
        _raw(_ONE_TEXT % b"big" + b',"created":123456789012345678901234567890'),
        *_text("end"),
        _STOP,
        _DONE,
    ],
    "plain_chunk_edges": [
        _chunk({"role": "assistant", "reasoning_content": "think"}),
        *_text("after thinking"),
        _chunk({"content": None}, ""),
        _chunk({}),
        _TOOL,
        *_text("after a tool"),
        _chunk({"content": ""}, "stop"),
        *_text("after the finish"),
        _USAGE,
        _DONE,
    ],
    # Not UTF-8 in a field the fast path skips: the whole parse refuses it, and so must it.
    "invalid_utf8_in_a_skipped_field": [
        _START,
        *_text("partial"),
        _raw(b'"id":"\xff",' + _ONE_TEXT % b"x"),
        *_text("never"),
    ],
    "lone_surrogate_in_a_skipped_field": [
        _START,
        *_text("partial"),
        _raw(b'"id":"\\ud800",' + _ONE_TEXT % b"x"),
        *_text("never"),
    ],
    "crlf_and_comments": [
        _START.replace(b"\n", b"\r\n"),
        b": OPENROUTER PROCESSING\n\n",
        *(t.replace(b"\n", b"\r\n") for t in _text("a", "b")),
        _STOP,
        _DONE.replace(b"\n", b"\r\n"),
    ],
}


class GeneralDecoder(StreamDecoder):
    fast = False


def _decode(decoder: StreamDecoder, reads: list[bytes]) -> list[Event]:
    events: list[Event] = []
    for read in reads:
        events += decoder.decode(read)
    return events + decoder.flush()


def _reads(data: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted({rng.randrange(1, len(data)) for _ in range(rng.randint(1, 20))})
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_decoder_gives_the_general_events(case: str) -> None:
    data = b"".join(CASES[case])
    whole = _decode(GeneralDecoder(), [data])
    assert _decode(StreamDecoder(), [data]) == whole
    assert _decode(StreamDecoder(), [data[:1], data[1:]]) == whole
    rng = random.Random(zlib.crc32(case.encode()))
    for _ in range(30):
        assert _decode(StreamDecoder(), _reads(data, rng)) == whole


def test_multibyte_text_split_inside_a_character() -> None:
    data = b"".join(CASES["multibyte"])
    cut = data.index("日".encode()) + 1  # inside the three bytes of one character
    events = _decode(StreamDecoder(), [data[:cut], data[cut:]])
    assert events == _decode(GeneralDecoder(), [data])


@pytest.mark.parametrize("front", ["anthropic", "gemini"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_translated_bytes_are_golden(case: str, front: str) -> None:
    events = _decode(StreamDecoder(), [b"".join(CASES[case])])
    codec = {"anthropic": anthropic, "gemini": gemini}[front]
    out = codec.StreamEncoder("test-model", input_estimate=3).encode(events)
    check_golden(f"openai_to_{front}_fast_paths/{case}.sse", out.decode())
    one_by_one = codec.StreamEncoder("test-model", input_estimate=3)
    assert b"".join(one_by_one.encode([ev]) for ev in events) == out


def test_anthropic_text_template_is_the_encoded_event() -> None:
    """The template is byte for byte what the general event writer gives, at any index."""
    texts = ["", "a", '"\\', "\n\t\r", "\x00\x7f", "é日🙂", "\u2028", "</script>"]
    for index in (0, 1, 9, 10, 123):
        for text in texts:
            payload = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": text},
            }
            expected = anthropic_stream._event("content_block_delta", payload)
            got = anthropic_stream._TEXT_HEAD % index + orjson.dumps(text) + b"}}\n\n"
            assert got == expected
        stop = {"type": "content_block_stop", "index": index}
        assert anthropic_stream._BLOCK_STOP % index == anthropic_stream._event(stop["type"], stop)
    assert anthropic_stream._PING == anthropic_stream._event("ping", {"type": "ping"})
    stop_message = {"type": "message_stop"}
    assert anthropic_stream._MESSAGE_STOP == anthropic_stream._event("message_stop", stop_message)


def test_openai_front_is_unchanged_by_the_decoder_path() -> None:
    """A chat client on a chat channel translated (R5.1 test path): same bytes both ways."""
    for case, chunks in CASES.items():
        data = b"".join(chunks)
        fast = openai_chat.StreamEncoder("m", created=1).encode(_decode(StreamDecoder(), [data]))
        general = openai_chat.StreamEncoder("m", created=1).encode(
            _decode(GeneralDecoder(), [data])
        )
        assert fast == general, case


# ── the encoders' text templates against their general writers ─────────────────────────────

_FRONTS: dict[str, Any] = {
    "openai": lambda: openai_chat.StreamEncoder("m\u00e9", include_usage=True, created=5),
    "anthropic": lambda: anthropic.StreamEncoder("m\u00e9", input_estimate=3),
    "gemini": lambda: gemini.StreamEncoder("m\u00e9", input_estimate=3),
    "gemini-array": lambda: gemini.StreamEncoder("m\u00e9", input_estimate=3, sse=False),
}
_U1, _U2 = Usage(input=4, output=1), Usage(input=4, output=9, cache_read=2)
# Event sequences that move what a template depends on: the id and time (a late or repeated
# Start), the block (its index), usage (Gemini writes it in each event), a signature waiting.
_SEQUENCES: dict[str, list[Event]] = {
    "text_only": [Start("id1", "m", 7), TextDelta(0, "a"), TextDelta(0, '"\\\n\u2028é🙂')],
    "text_before_start": [TextDelta(0, "a"), Start('id"2', "m", 0), TextDelta(0, "b")],
    "restarted": [Start("x", "m", 1), TextDelta(0, "a"), Start("y", "m", 2), TextDelta(0, "b")],
    "blocks": [
        Start("id", "m", 1),
        BlockStart(0, "thinking"),
        ThinkingDelta(0, "t"),
        SignatureDelta(0, "sig"),
        BlockStop(0),
        BlockStart(1, "text"),
        TextDelta(1, "x"),
        UsageEvent(_U1),
        TextDelta(1, "y"),
        UsageEvent(_U2),
        TextDelta(1, ""),
        BlockStop(1),
        TextDelta(2, "new block"),
        Finish("end", "stop"),
    ],
}


def _general(front: str) -> Any:
    enc = _FRONTS[front]()
    enc.fast = False
    return enc


def _both(front: str, events: list[Event]) -> None:
    fast, general = _FRONTS[front](), _general(front)
    assert fast.encode(events) == general.encode(events)
    fast, general = _FRONTS[front](), _general(front)
    assert b"".join(fast.encode([ev]) for ev in events) == general.encode(events)


@pytest.mark.parametrize("front", sorted(_FRONTS))
@pytest.mark.parametrize("seq", sorted(_SEQUENCES))
def test_encoder_templates_write_the_general_bytes(front: str, seq: str) -> None:
    _both(front, _SEQUENCES[seq])


@pytest.mark.parametrize("front", sorted(_FRONTS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_encoder_templates_on_the_edge_cases(front: str, case: str) -> None:
    _both(front, _decode(GeneralDecoder(), [b"".join(CASES[case])]))


@pytest.mark.parametrize(("case", "front"), pair_params(stream=True))
def test_encoder_templates_on_recorded_streams(case: dict[str, Any], front: str) -> None:
    events = decode_all(case)
    _both(front, events)
    if front == "gemini":
        _both("gemini-array", events)


# ── the decoders' fast paths on recorded streams ───────────────────────────────────────────


class GeneralAnthropicDecoder(anthropic_stream.StreamDecoder):
    fast = False


_DECODERS: dict[str, tuple[type[Any], type[Any]]] = {
    "openai": (chat_stream.StreamDecoder, GeneralDecoder),
    "anthropic": (anthropic_stream.StreamDecoder, GeneralAnthropicDecoder),
}


def _decoder_params() -> list[Any]:
    """The recorded streams of the protocols whose decoder has a fast path."""
    return [
        p
        for p in case_params(stream=True)
        if p.values[0] is None or PROTOCOL[p.values[0]["provider"]] in _DECODERS
    ]


@pytest.mark.parametrize("case", _decoder_params())
def test_fast_decoders_on_recorded_streams(case: dict[str, Any]) -> None:
    fast, general = _DECODERS[PROTOCOL[case["provider"]]]
    data = sse_bytes(case)
    whole = _decode(general(), [data])
    assert _decode(fast(), [data]) == whole
    rng = random.Random(zlib.crc32(case["id"].encode()))
    for _ in range(10):
        assert _decode(fast(), _reads(data, rng)) == whole


def test_anthropic_delta_with_more_fields_takes_the_general_path() -> None:
    """A delta event with an extra field goes through the shape check (R9.4): a wrong-typed
    `usage` there ends the stream as malformed, as before the fast path."""
    head = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":{}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n'
    )
    bad = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"x"},"usage":[]}\n\n'
    )
    for decoder in (anthropic_stream.StreamDecoder(), GeneralAnthropicDecoder()):
        events = decoder.decode(head + bad)
        assert type(events[-1]).__name__ == "ErrorEvent"
