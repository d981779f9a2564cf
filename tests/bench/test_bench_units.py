"""Pure parts of the benchmark: body sizes, stream checks, wrk output parsing, the verdicts."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench.loadgen import _parse
from bench.payloads import BODIES, BODY_BYTES, CONTENT_CHUNKS, Probe, _check_stream, chat_body
from bench.report import render, spec_rows
from bench.serial import percentiles


@pytest.mark.parametrize("name", list(BODIES))
def test_every_body_is_230_bytes_of_chat(name: str) -> None:
    stream, directive = BODIES[name]
    raw = chat_body("bench-gpt", stream=stream, directive=directive)
    assert len(raw) == BODY_BYTES
    body = orjson.loads(raw)
    assert body["model"] == "bench-gpt" and body.get("stream", False) is stream
    assert body["messages"][0]["content"].endswith(directive)


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


def test_serial_percentiles_are_nearest_rank_in_microseconds() -> None:
    samples = [1000 * i for i in range(1, 1001)]  # 1 µs .. 1000 µs
    pct = percentiles(samples)
    assert pct["min"] == 1 and pct["max"] == 1000 and pct["mean"] == 500.5
    assert pct["p50"] == 500 and pct["p99"] == 990 and pct["p99.9"] == 999
    assert percentiles([]) == {}
