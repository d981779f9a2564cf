"""The engine comparison's own parts (issue 20 point 4): the paced load, the summaries, the
probe's reading of answers. granian itself is not installed with the project (it lost: see
bench/README.md), so nothing here starts it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.engine_limits import _statuses, fill, many
from bench.engines import _summary, _table
from bench.loadgen import wrk
from bench.payloads import write_bodies
from bench.stack import MOCK_AUTH, MODEL, mock_server


def _run(cpu: float, rate: float = 100.0, errors: int = 0) -> dict[str, object]:
    return {"cpu_ms_per_request": cpu, "rate": rate, "errors": errors, "machine_busy_cores": 1.0}


def test_the_summary_is_the_median_of_the_rounds_per_target_and_load() -> None:
    results = {
        "floor": {"paced": [_run(0.3), _run(0.1), _run(0.2)], "c32": [_run(0.5, errors=1)]},
        "gateway-uvicorn": {"paced": [_run(0.9)], "c32": [_run(0.7), _run(0.6)]},
    }
    summary = _summary(results)  # type: ignore[arg-type]
    assert summary["floor"]["paced"]["cpu_ms_per_request_median"] == 0.2
    assert summary["floor"]["c32"]["errors"] == 1
    assert summary["gateway-uvicorn"]["c32"]["cpu_ms_per_request_median"] == 0.65
    table = _table(summary, "nonstream")
    assert "gateway-uvicorn" in table and "0.65" in table


def test_the_probe_reads_every_status_line_of_pipelined_answers() -> None:
    two = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 431 Too Large\r\n\r\n"
    assert _statuses(two) == "HTTP/1.1 200 OK; HTTP/1.1 431 Too Large"
    assert _statuses(b"HTTP/1.1 400 Bad\r\nX-Request-Id: r\r\n\r\n").endswith("(x-request-id)")
    assert _statuses(b"") == "no answer"


def test_the_probe_heads_have_the_sizes_they_name() -> None:
    assert 65 * 1024 <= len(fill(65 * 1024)) < 67 * 1024
    assert many(100).count(b"\r\n") == 100


@pytest.mark.timeout(120)
def test_wrk_delay_ms_paces_each_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One connection pausing 200 ms after each answer completes at most ~5 requests a second
    (a bound that a loaded machine only makes safer); without the variable it saturates."""
    if shutil.which("wrk") is None:
        pytest.skip("wrk not installed (scripts/setup.sh --test installs it)")
    body = write_bodies(tmp_path, MODEL)["chat"]
    with mock_server(tmp_path, None) as mock:

        def run() -> int:
            url = mock.base_url + "/v1/chat/completions"
            auth = {"authorization": MOCK_AUTH}
            return wrk(url, body, connections=1, seconds=2, headers=auth, cpu=None).requests

        monkeypatch.setenv("WRK_DELAY_MS", "200")
        paced = run()
        monkeypatch.delenv("WRK_DELAY_MS")
        free = run()
    assert 1 <= paced <= 11
    assert free > paced
