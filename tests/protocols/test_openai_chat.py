"""Pass-through stream scanning (SPEC R4.2): usage found, usage chunk stripped when not asked,
and the result independent of how the upstream bytes were split."""

import itertools
import random

import orjson
import pytest

from tests.recorded import recorded_cases
from torouter.protocols import openai_chat

CHUNK = (
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hi \\"x\\""}}],"usage":null}\n\n'
)
FINISH = (
    b'data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n'
)
USAGE = (
    b'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,'
    b'"total_tokens":12}}\n\n'
)
DONE = b"data: [DONE]\n\n"
STREAM = CHUNK + FINISH + USAGE + DONE


def feed(stream: bytes, cuts: list[int], keep: bool) -> tuple[bytes, dict | None]:
    """Feed the stream split at `cuts` the way the relay does: complete events only."""
    out, usage, buf = b"", None, b""
    bounds = [0, *cuts, len(stream)]
    for a, b in itertools.pairwise(bounds):
        buf += stream[a:b]
        cut = buf.rfind(b"\n\n")
        if cut >= 0:
            events, buf = buf[: cut + 2], buf[cut + 2 :]
            sent, u = openai_chat.scan_stream(events, keep)
            out += sent
            usage = u or usage
    if buf.strip():  # an upstream that ends without the last blank line
        sent, u = openai_chat.scan_stream(buf.rstrip(b"\n") + b"\n\n", keep)
        out, usage = out + sent, u or usage
    return out, usage


@pytest.mark.parametrize("keep", [True, False])
def test_every_split_gives_the_same_result(keep: bool) -> None:
    expected = STREAM if keep else CHUNK + FINISH + DONE
    for i in range(1, len(STREAM)):
        out, usage = feed(STREAM, [i], keep)
        assert out == expected, i
        assert usage == {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}


def test_usage_in_a_content_chunk_is_kept() -> None:
    ev = b'data: {"choices":[{"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}\n\n'
    out, usage = openai_chat.scan_stream(ev, keep_usage_chunk=False)
    assert out == ev and usage == {"prompt_tokens": 1}


def test_content_chars_counts_escaped_text() -> None:
    assert openai_chat.string_chars(CHUNK, openai_chat.CHAR_MARKS) == len('Hi \\"x\\"')


def test_in_stream_error_shape() -> None:
    tail = openai_chat.in_stream_error("lost", "upstream_error", "upstream_unavailable")
    first, second, _ = tail.split(b"\n\n")
    assert orjson.loads(first[6:]) == {
        "error": {
            "message": "lost",
            "type": "upstream_error",
            "param": None,
            "code": "upstream_unavailable",
        }
    }
    assert second == b"data: [DONE]"


@pytest.mark.parametrize("case", recorded_cases(api="chat.completions", stream=True))
def test_recorded_streams_split_anywhere(case: dict) -> None:
    raw = case["response"]["sse"].encode()
    whole, usage_whole = feed(raw, [], keep=True)
    step = max(1, len(raw) // 40)
    for i in range(1, len(raw), step):
        out, usage = feed(raw, [i], keep=True)
        assert out == whole
        assert usage == usage_whole


_PIECES = (
    CHUNK,
    FINISH,
    USAGE,
    USAGE.replace(b'"usage":{', b'"usage": {'),
    b'data: {"choices":[],"usage":null}\n\n',
    b'data: {"choices":[{"delta":{"content":"\\"usage\\":{"}}]}\n\n',
    b'data: {"choices":[],"usage":{"a":1},"x":{"usage":{"b":2}}}\n\n',
    b'data: {"choices":[],"usage":{"bad json"\n\n',
    b'data: {"choices":[{"delta":{}}],"usage":{"prompt_tokens":4}}\n\n',
    b'event: x\ndata: {"choices":[],"usage":{"prompt_tokens":5}}\n\n',
    b': comment "usage":{\n\n',
    b"\n",
    DONE,
)


@pytest.mark.parametrize("seed", range(200))
def test_scan_stream_matches_the_event_by_event_scan(seed: int) -> None:
    """The `find`-driven scan gives what splitting the read on its blank lines gives, including
    repeated blank lines, several usage events, a last event without its blank line."""
    rng = random.Random(seed)
    events = b"".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 10)))
    if rng.random() < 0.2:
        events = events.rstrip(b"\n")
    for keep in (True, False):
        assert openai_chat.scan_stream(events, keep) == openai_chat._scan_split(events, keep)
