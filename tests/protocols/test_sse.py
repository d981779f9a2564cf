"""The SSE parser's block fast path against its line-by-line path (torouter/protocols/sse.py).

`SSEParser.feed` splits a read's events on blank lines at once; `_lines` is the reference path,
one line at a time (the WHATWG rules, R4.10's bound). Both must give the same events and raise
`EventTooLarge` at the same point however the bytes are split, for LF, CRLF, mixed and stray-CR
streams, comments, named events, multi-line data and repeated blank lines.
"""

from __future__ import annotations

import random

import pytest

from torouter.protocols.sse import EventTooLarge, SSEEvent, SSEParser


class LineParser(SSEParser):
    """The reference: every read through the line path."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return self._lines(chunk)


_PIECES = (
    b'data: {"a":1}\n\n',
    b'data:{"a":"\xc3\xa9"}\n\n',
    b'data: {"t":"x\\ny"}\r\n\r\n',
    b"event: content_block_delta\ndata: {}\n\n",
    b"event: ping\r\ndata: {}\r\n\r\n",
    b"data: line1\ndata: line2\n\n",
    b": OPENROUTER PROCESSING\n\n",
    b"id: 7\nretry: 100\ndata: x\n\n",
    b"\n",
    b"\r\n",
    b"data: [DONE]\n\n",
    b"data: stray\rcr\n\n",
    b"event: only-a-name\n\n",
    b"data:  two spaces\n\n",
    b"data\n\n",
    b'data: {"big":"' + b"z" * 40 + b'"}\n\n',
)


def _run(parser: SSEParser, reads: list[bytes]) -> list[object]:
    out: list[object] = []
    try:
        for read in reads:
            out.extend(parser.feed(read))
        out.extend(parser.flush())
    except EventTooLarge:
        out.append("too large")
    return out


def _split(rng: random.Random, data: bytes) -> list[bytes]:
    if len(data) < 2:
        return [data]
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 6))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@pytest.mark.parametrize("seed", range(300))
def test_fast_path_gives_the_line_path_events(seed: int) -> None:
    rng = random.Random(seed)
    data = b"".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 12)))
    if rng.random() < 0.3:
        data = data.rstrip(b"\n")  # ends without its blank line: flush() dispatches it
    reads = _split(rng, data)
    limit = rng.choice((1 << 20, 30, 50))
    assert _run(SSEParser(limit), reads) == _run(LineParser(limit), reads)


def test_whole_events_in_one_read() -> None:
    p = SSEParser()
    read = b'data: {"a":1}\n\nevent: e\ndata: 2\n\n: c\n\ndata: 3\n\ndata: 4'
    assert p.feed(read) == [
        SSEEvent(None, b'{"a":1}'),
        SSEEvent("e", b"2"),
        SSEEvent(None, b"3"),
    ]
    assert p.flush() == [SSEEvent(None, b"4")]


def test_an_event_split_across_reads_then_whole_ones() -> None:
    p = SSEParser()
    assert p.feed(b"data: 1") == []
    assert p.feed(b"2\n\ndata: 3\n\ndata: 4\n") == [SSEEvent(None, b"12"), SSEEvent(None, b"3")]
    assert p.feed(b"\ndata: 5\n\n") == [SSEEvent(None, b"4"), SSEEvent(None, b"5")]


def test_crlf_split_between_cr_and_lf() -> None:
    p = SSEParser()
    assert p.feed(b"data: 1\r\n\r") == []
    assert p.feed(b"\ndata: 2\r\n\r\n") == [SSEEvent(None, b"1"), SSEEvent(None, b"2")]


def test_the_fast_path_keeps_the_limit() -> None:
    p = SSEParser(max_event_bytes=10)
    assert p.feed(b"data: 123456789\n\n") == [SSEEvent(None, b"123456789")]  # 9 + 1
    with pytest.raises(EventTooLarge):
        p.feed(b"data: 1234567890\n\n")


_ONE_LINERS = (
    b'data: {"a":1}\n\n',
    b'data: {"t":"x\\ny"}\n\n',
    b"data: [DONE]\n\n",
    b"data: \n\n",
    b'data: {"big":"' + b"z" * 40 + b'"}\n\n',
)


@pytest.mark.parametrize("seed", range(300))
def test_data_lines_answers_only_for_whole_one_line_events(seed: int) -> None:
    """`data_lines` (the decoders' shortcut) gives exactly the events' data `feed` would, all
    unnamed, or None: never for a read with a named, multi-line, commented, CRLF or partial
    event, past the size limit, or while an earlier read's event is open."""
    rng = random.Random(seed)
    pieces = _ONE_LINERS if rng.random() < 0.5 else _ONE_LINERS + _PIECES
    data = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 10)))
    if rng.random() < 0.2:
        data = data[: rng.randint(1, len(data))]
    limit = rng.choice((1 << 20, 60))
    held = rng.random() < 0.2
    parser = SSEParser(limit)
    reference = LineParser(limit)
    if held:
        parser.feed(b"data: open")
        reference.feed(b"data: open")
    got = parser.data_lines(data)
    if got is None:
        return
    assert not held and len(data) <= limit
    events = reference.feed(data)
    assert [e.event for e in events] == [None] * len(events)
    assert got == [e.data for e in events]
    assert parser.feed(b'data: {"next":1}\n\n') == [SSEEvent(None, b'{"next":1}')]  # no state


def test_data_lines_on_a_usual_openai_read() -> None:
    read = b'data: {"a":1}\n\ndata: {"b":"c\\nd"}\n\ndata: [DONE]\n\n'
    assert SSEParser().data_lines(read) == [b'{"a":1}', b'{"b":"c\\nd"}', b"[DONE]"]
    assert SSEParser().data_lines(read.replace(b"\n\n", b"\r\n\r\n")) is None
    assert SSEParser().data_lines(b": ping\n\n" + read) is None
