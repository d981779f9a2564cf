"""Malformed upstream events on same-protocol streams (SPEC R4.6; issue 12 point 8): the bytes
before the first malformed event are relayed, it and what follows are not."""

from __future__ import annotations

import random

import pytest

from torouter.gateway.passthrough import (
    _UNCOUNTED_MAX,
    AnthropicPassthrough,
    GeminiPassthrough,
    OpenAIPassthrough,
    ResponsesPassthrough,
    parsed_prefix,
    valid_prefix,
)

CHUNK = b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
NL = b"\n\n"
QUOTED = CHUNK.replace(b'"hi"', b'"data: x"')


@pytest.mark.parametrize(
    ("events", "good"),
    [
        (CHUNK * 3, 3 * len(CHUNK)),
        (CHUNK + b"data: [DONE]\n\n", len(CHUNK) + 14),
        (b": keep-alive\n\n" + CHUNK, 14 + len(CHUNK)),
        # Anthropic: event lines, padded data JSON.
        (b'event: ping\ndata: {"type":"ping"     }\n\n', 40),
        # `data:` inside a string: the slow path, still whole.
        (QUOTED, len(QUOTED)),
        # Whitespace after the brace, and a multi-line data field (SSE joins them).
        (b'data: {"a":1}  \n\n', 17),
        (b'data: {"a":\ndata: 1}\n\n', 22),
        # Truncated, spliced, foreign, or not an object: cut before it.
        (CHUNK + b'data: {"choices":[{"delta":{"cont\n\n' + CHUNK, len(CHUNK)),
        (b'data: {"a":1data: {"b":2}\n\n', 0),
        (CHUNK + b"data: <html>Bad gateway</html>\n\n", len(CHUNK)),
        (b'data: "text"\n\n', 0),
        (b"data: 42\n\n" + CHUNK, 0),
    ],
)
def test_valid_prefix(events: bytes, good: int) -> None:
    assert valid_prefix(events, NL) == good


def test_gemini_separators() -> None:
    ok = b'data: {"candidates":[]}\r\n\r\n'
    assert valid_prefix(ok * 2, b"\r\n\r\n") == 2 * len(ok)
    assert valid_prefix(ok + b'data: {"candi\r\n\r\n', b"\r\n\r\n") == len(ok)


def test_openai_relays_up_to_the_malformed_event_only() -> None:
    relay = OpenAIPassthrough(1 << 20, keep_usage=True)
    out = relay.feed(CHUNK + b'data: {"choices":[{"del\n\n' + CHUNK + b"data: [DONE]\n\n")
    assert out == CHUNK and relay.malformed and not relay.done


def test_a_malformed_event_split_over_reads_is_caught_at_its_end() -> None:
    relay = AnthropicPassthrough(1 << 20)
    assert relay.feed(b'event: content_block_delta\ndata: {"type":"content_bl') == b""
    assert not relay.malformed
    assert relay.feed(b"\n\nevent: message_stop\n") == b""
    assert relay.malformed and not relay.done


def test_malformed_gemini_stream_is_not_complete_at_eof() -> None:
    relay = GeminiPassthrough(1 << 20, as_array=True)
    out = relay.feed(b'data: {"candidates":[]}\r\n\r\ndata: {"cand')
    out += relay.close()
    assert relay.malformed and not relay.done
    assert out == b'[{"candidates":[]}]'  # the array is still closed


def test_a_usage_block_of_the_wrong_types_ends_the_stream_as_malformed() -> None:
    """R9.4, R4.6: usage the gateway cannot meter is a broken upstream, not a `TypeError` of
    ours: the read that carried it is not relayed and the relay ends the stream."""
    relay = OpenAIPassthrough(1 << 20, keep_usage=True)
    assert relay.feed(CHUNK) == CHUNK
    bad = b'data: {"choices":[],"usage":{"prompt_tokens":3,"prompt_tokens_details":[1]}}\n\n'
    assert relay.feed(bad + b"data: [DONE]\n\n") == b""
    assert relay.malformed and not relay.done and relay.usage is None

    responses = ResponsesPassthrough(1 << 20)
    done = (
        b'event: response.completed\ndata: {"type":"response.completed","response":'
        b'{"id":"r1","usage":{"input_tokens":1,"output_tokens_details":"x"}}}\n\n'
    )
    assert responses.feed(done) == b""
    assert responses.malformed and not responses.done


_PIECES = (
    CHUNK,
    QUOTED,
    b"data: [DONE]\n\n",
    b": keep-alive\n\n",
    b'event: ping\ndata: {"type":"ping"}\n\n',
    b'data: {"a":1}  \n\n',
    b'data: {"a":\ndata: 1}\n\n',
    b'data: {"a":1}\nid: 7\n\n',
    b'data: {"choices":[{"delta":{"cont\n\n',
    b'data: {"a":1data: {"b":2}\n\n',
    b"data: <html>Bad gateway</html>\n\n",
    b"data: 42\n\n",
)


@pytest.mark.parametrize("seed", range(300))
def test_valid_prefix_agrees_with_parsing_every_event(seed: int) -> None:
    """The counting shortcut (and its `[DONE]` arithmetic: one last, several, one inside a
    string) never passes a read that parsing event by event would cut."""
    rng = random.Random(seed)
    events = b"".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 8)))
    assert valid_prefix(events, NL) == parsed_prefix(events, NL)


def test_characters_are_counted_when_asked_and_held_back_within_a_bound() -> None:
    """R10.1: `chars` counts every content string relayed, whenever it is asked for; until
    then the reads wait, never more than `_UNCOUNTED_MAX` bytes of them (a long stream that
    reports no usage is counted as it goes, not kept)."""
    relay = OpenAIPassthrough(1 << 20, keep_usage=True)
    sent = 0
    for _ in range(2_000):  # ~100 KB
        assert relay.feed(CHUNK) == CHUNK
        sent += 1
        assert relay._uncounted_size <= _UNCOUNTED_MAX + len(CHUNK)
    assert relay.chars == 2 * sent
    assert relay._uncounted == []
    relay.feed(CHUNK * 3)
    relay.chars += 5  # a translation adds to it the same way
    assert relay.chars == 2 * (sent + 3) + 5

    anthropic = AnthropicPassthrough(1 << 20)
    delta = (
        b"event: content_block_delta\n"
        b'data: {"type":"content_block_delta","delta":{"text":"abc"}}\n\n'
    )
    anthropic.feed(delta * 4)
    assert anthropic.chars == 12
