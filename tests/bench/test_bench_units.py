"""Pure parts of the benchmark: body sizes, stream checks, wrk output parsing, the verdicts."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench.loadgen import _parse
from bench.payloads import (
    BODIES,
    BODY_BYTES,
    CONTENT_CHUNKS,
    Probe,
    _check_message,
    _check_message_stream,
    _check_stream,
    chat_body,
)
from bench.report import render, spec_rows, translated_summary
from bench.serial import percentiles


@pytest.mark.parametrize("name", list(BODIES))
def test_every_body_is_230_bytes_of_chat(name: str) -> None:
    spec = BODIES[name]
    raw = chat_body("bench-gpt", stream=spec.stream, directive=spec.directive, front=spec.front)
    assert len(raw) == BODY_BYTES
    body = orjson.loads(raw)
    assert body["model"] == "bench-gpt" and body.get("stream", False) is spec.stream
    assert body["messages"][0]["content"].endswith(spec.directive)
    assert body["max_tokens"] > 0  # required at the Anthropic front door
    # stream_options is OpenAI's; an Anthropic body carries only Messages fields
    assert ("stream_options" in body) is (spec.stream and spec.front == "openai")


def _stream(chunks: int, *, done: bool = True) -> bytes:
    def event(obj: object) -> bytes:
        return b"data: " + orjson.dumps(obj) + b"\n\n"

    out = event({"choices": [{"delta": {"role": "assistant", "content": ""}}]})
    for i in range(chunks):
        out += event({"choices": [{"delta": {"content": f" w{i}"}, "finish_reason": None}]})
    out += event({"choices": [{"delta": {}, "finish_reason": "stop"}]})
    out += event({"choices": [], "usage": {"completion_tokens": 3}})
    return out + (b"data: [DONE]\n\n" if done else b"")


def test_stream_check_accepts_the_spec_shape_and_names_what_is_missing() -> None:
    good = Probe()
    _check_stream(_stream(CONTENT_CHUNKS), good)
    assert good.problems == [] and good.content_chunks == CONTENT_CHUNKS
    bad = Probe()
    _check_stream(_stream(3, done=False), bad)
    assert any("[DONE]" in p for p in bad.problems)
    assert any("3 content chunks" in p for p in bad.problems)


def _message_stream(deltas: int, *, stop: bool = True) -> bytes:
    def event(name: str, obj: object) -> bytes:
        return f"event: {name}\ndata: ".encode() + orjson.dumps(obj) + b"\n\n"

    out = event("message_start", {"type": "message_start", "message": {"type": "message"}})
    out += event("content_block_start", {"type": "content_block_start", "index": 0})
    for i in range(deltas):
        delta = {"type": "text_delta", "text": f" w{i}"}
        out += event("content_block_delta", {"type": "content_block_delta", "delta": delta})
    out += event("content_block_stop", {"type": "content_block_stop", "index": 0})
    end = {"stop_reason": "end_turn"}
    out += event("message_delta", {"delta": end, "usage": {"output_tokens": 3}})
    return out + (event("message_stop", {"type": "message_stop"}) if stop else b"")


def test_anthropic_checks_accept_a_message_and_reject_other_shapes() -> None:
    good = Probe()
    _check_message_stream(_message_stream(CONTENT_CHUNKS), good)
    assert good.problems == [] and good.content_chunks == CONTENT_CHUNKS
    bad = Probe()
    _check_message_stream(_message_stream(3, stop=False), bad)
    assert any("message_stop" in p for p in bad.problems)
    assert any("3 text deltas" in p for p in bad.problems)
    openai = Probe()  # an OpenAI stream where an Anthropic one is due
    _check_message_stream(_stream(CONTENT_CHUNKS), openai)
    assert any("message_start" in p for p in openai.problems)

    message = {
        "type": "message",
        "content": [{"type": "text", "text": "hi"}],
        "usage": {"output_tokens": 1},
    }
    ok = Probe()
    _check_message(orjson.dumps(message), ok)
    assert ok.problems == []
    chat = Probe()  # an OpenAI completion is not an Anthropic message
    _check_message(orjson.dumps({"choices": [{"message": {"content": "hi"}}]}), chat)
    assert chat.problems and "not an Anthropic message" in chat.problems[0]


def test_wrk_line_is_parsed() -> None:
    line = (
        '@@WRK {"requests":100,"duration_us":2000000,"bytes":70000,'
        '"errors":{"connect":0,"read":1,"write":0,"status":2,"timeout":0},'
        '"latency_us":{"min":50,"max":900,"mean":80.5,"stdev":3.0,'
        '"percentiles":{"50":78,"75":80,"90":86,"99":137,"99.9":225}}}'
    )
    run = _parse(f"Running 2s test\n{line}\n", 32, 0.5)
    assert run.rate == 50 and run.error_count == 3
    assert run.latency_us["p99"] == 137 and run.latency_us["p99.9"] == 225


def _side(rate: float, p50: float, p99: float, errors: int = 0) -> dict[str, object]:
    lat = {"p50": p50, "p99": p99}
    return {"rate": rate, "latency_us": lat, "error_count": errors, "cpu_ms_per_request": 0.2}


def test_verdicts_follow_the_spec_table(tmp_path: Path) -> None:
    result = {
        "scenarios": {
            "nonstream_c32": {"direct": _side(15000, 0, 0), "gateway": _side(3500, 0, 0)},
            "stream_c32": {"direct": _side(10000, 0, 0), "gateway": _side(1500, 0, 0)},
            "latency_c1": {"direct": _side(0, 80, 200), "gateway": _side(0, 500, 1400)},
            "slow_streams_c128": {
                "direct": _side(300, 400_000, 430_000),
                "gateway": _side(299, 401_000, 440_000),
            },
        },
        "gateway": {"peak_rss_mb": 90.0},
        "errors": {"direct": 0, "gateway": 0},
    }
    verdicts = {row.metric: row.verdict for row in spec_rows(result)}
    assert verdicts["non-stream req/s (c=32)"] == "PASS min"
    assert verdicts["20-chunk streams/s (c=32)"] == "FAIL"
    assert verdicts["added latency p50, ms (c=1)"] == "PASS goal"  # +0.42 ms
    assert verdicts["added latency p99, ms (c=1)"] == "PASS min"  # +1.2 ms
    assert verdicts["slow streams/s (128 x 20 ms)"] == "PASS goal"
    assert verdicts["slow stream p99, ms (added)"] == "PASS goal"
    assert verdicts["peak RSS per worker, MB"] == "PASS goal"
    table = render(spec_rows(result), markdown=True)
    assert table.startswith("| metric |") and "| FAIL |" in table


def test_translated_routes_are_judged_against_pass_through() -> None:
    result = {
        "scenarios": {
            "nonstream_c32": {"gateway": _side(3000, 0, 0)},
            "translated_nonstream_c32": {"gateway": _side(2200, 0, 0)},  # 0.73x
            "stream_c32": {"gateway": _side(2000, 0, 0)},
            "translated_stream_c32": {"gateway": _side(900, 0, 0)},  # 0.45x
        },
    }
    summary = translated_summary(result)
    assert summary["translated_nonstream_c32"]["ratio"] == 0.733
    assert summary["translated_nonstream_c32"]["verdict"] == "PASS goal"
    assert summary["translated_stream_c32"]["verdict"] == "FAIL"
    verdicts = {row.metric: row.verdict for row in spec_rows(result)}
    assert verdicts["translated non-stream req/s (c=32)"] == "PASS goal"
    assert verdicts["translated 20-chunk streams/s (c=32)"] == "FAIL"
    # a fast route that answers errors fails whatever its rate
    result["scenarios"]["translated_stream_c32"]["gateway"] = _side(5000, 0, 0, errors=7)
    assert translated_summary(result)["translated_stream_c32"]["verdict"] == "FAIL"


def test_the_gateway_is_judged_against_the_floor_of_the_same_run() -> None:
    """Issue 20 item 1: throughput goals as a ratio to the bare proxy measured side by side."""
    result = {
        "scenarios": {
            "nonstream_c32": {"gateway": _side(3000, 0, 0), "floor": _side(4800, 0, 0)},
            "stream_c32": {"gateway": _side(2000, 0, 0), "floor": _side(4000, 0, 0)},
        },
    }
    rows = {row.metric: row for row in spec_rows(result)}
    nonstream = rows["non-stream vs the floor (bench/floor.py)"]
    assert (nonstream.compare, nonstream.verdict) == ("0.62x of floor", "PASS goal")
    streams = rows["streams vs the floor (bench/floor.py)"]
    assert (streams.compare, streams.verdict) == ("0.50x of floor", "info")
    del result["scenarios"]["stream_c32"]["floor"]  # --no-floor: no row
    assert "streams vs the floor (bench/floor.py)" not in {r.metric for r in spec_rows(result)}


def test_serial_percentiles_are_nearest_rank_in_microseconds() -> None:
    samples = [1000 * i for i in range(1, 1001)]  # 1 µs .. 1000 µs
    pct = percentiles(samples)
    assert pct["min"] == 1 and pct["max"] == 1000 and pct["mean"] == 500.5
    assert pct["p50"] == 500 and pct["p99"] == 990 and pct["p99.9"] == 999
    assert percentiles([]) == {}


def test_strace_counts_are_read_per_call(tmp_path: Path) -> None:
    """bench/syscalls.py reads `strace -c`'s table (errors column present or not)."""
    from bench.syscalls import _counts

    report = tmp_path / "strace.txt"
    report.write_text(
        "% time     seconds  usecs/call     calls    errors syscall\n"
        "------ ----------- ----------- --------- --------- ----------------\n"
        " 66.77    1.251881          64     19362      2249 futex\n"
        "  5.50    0.103146           6     15254         4 write\n"
        "  1.22    0.022839           2      7695           read\n"
        "------ ----------- ----------- --------- --------- ----------------\n"
        "100.00    1.874879          29     42311      2253 total\n"
    )
    assert _counts(report) == {"futex": 19362, "write": 15254, "read": 7695}
