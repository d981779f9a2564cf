"""The JSON-lines sink (observability/logging.py): what it holds between flushes (R17.1, R20.1)."""

from __future__ import annotations

import io
import tracemalloc

import orjson

from torouter.observability.logging import JsonSink


async def test_buffered_lines_cost_their_bytes_not_orjsons_room() -> None:
    """Between flushes the sink keeps each line's bytes only: orjson's results carry ~4 KB of
    room each, and a list of them held ~1 MB at the gateway's rate (256 lines)."""
    out = io.BytesIO()
    sink = JsonSink(out)
    sink.start(interval=3600)  # the periodic flush never comes within the test
    try:
        fields = {"request_id": "req_01JBOOT0000000000000000000", "status": 200, "ms": 1.25}
        sink.line("info", "warm-up", **fields)  # the buffer's first growth
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i in range(200):
                sink.line("info", "request", n=i, **fields)
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert out.getvalue() == b""  # nothing written yet: all 201 lines are held
        assert held < 200 * 400, held  # a list of orjson results: ~200 * 4,100 bytes
    finally:
        await sink.stop()
    lines = out.getvalue().splitlines()
    assert [orjson.loads(x)["msg"] for x in lines] == ["warm-up"] + ["request"] * 200
    assert [orjson.loads(x).get("n") for x in lines[1:]] == list(range(200))


async def test_the_256th_line_flushes_and_the_count_starts_again() -> None:
    out = io.BytesIO()
    sink = JsonSink(out)
    sink.start(interval=3600)
    try:
        for i in range(JsonSink.FLUSH_LINES - 1):
            sink.line("info", "x", n=i)
        assert out.getvalue() == b""
        sink.line("info", "x", n=255)
        assert len(out.getvalue().splitlines()) == 256
        for i in range(JsonSink.FLUSH_LINES - 1):
            sink.line("info", "y", n=i)
        assert len(out.getvalue().splitlines()) == 256  # the count restarted at the flush
    finally:
        await sink.stop()
    assert len(out.getvalue().splitlines()) == 511


def test_without_the_periodic_flush_every_line_is_written_at_once() -> None:
    out = io.BytesIO()
    sink = JsonSink(out)
    sink.line("warning", "alone", a=1)
    assert orjson.loads(out.getvalue()) | {"ts": None} == {
        "ts": None,
        "level": "warning",
        "msg": "alone",
        "a": 1,
    }
