"""The benchmark works end to end: ``bench/run.py --quick`` as CI's smoke test (SPEC R20.1).

Only that it runs is asserted (every scenario completes requests, without errors, on each of its
targets, the translated Anthropic -> openai route included); never how fast: timed unit tests are
forbidden, and CI shares its cores with the other tests.
It starts its own mock and gateway on free ports, so it runs beside any other test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bench.payloads import BODIES
from bench.scenarios import SCENARIOS, TRANSLATED

REPO = Path(__file__).resolve().parents[2]


def _tools_or_skip() -> None:
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (scripts/setup.sh --test installs wrk)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.mark.timeout(180)
def test_quick_benchmark_runs(tmp_path: Path) -> None:
    _tools_or_skip()
    out = tmp_path / "quick.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = orjson.loads(out.read_bytes())

    assert result["flags"] == []
    for body, spec in BODIES.items():
        targets = ("direct", "gateway", "floor") if spec.front == "openai" else ("gateway",)
        for target in targets:
            assert result["probes"][target][body]["problems"] == [], (target, body)
    for scenario in SCENARIOS:
        entry = result["scenarios"][scenario.key]
        targets = ("direct", "gateway", "floor") if scenario.front == "openai" else ("gateway",)
        assert set(targets) <= set(entry), (scenario.key, list(entry))
        for target in targets:
            run = entry[target]
            assert run["requests"] > 0 and run["rate"] > 0, (scenario.key, target)
            assert run["error_count"] == 0, (scenario.key, target, run["errors"])
        assert entry["gateway"]["cpu_ms_per_request"] > 0
        if scenario.serial:
            for target in ("direct", "gateway"):
                exact = entry[target]["serial"]
                assert exact["requests"] > 0 and exact["non_2xx"] == 0, (target, exact)
    assert result["gateway"]["peak_rss_mb"] > 0
    assert result["machine"]["nproc"] >= 1 and result["machine"]["python"]
    metrics = [row["metric"] for row in result["table"]]
    assert "non-stream req/s (c=32)" in metrics and "peak RSS per worker, MB" in metrics
    assert "translated non-stream req/s (c=32)" in metrics
    assert "translated 20-chunk streams/s (c=32)" in metrics
    for scenario in TRANSLATED:  # Anthropic front door -> openai channel, stream and not
        summary = result["translated"][scenario.key]
        assert summary["error_count"] == 0 and summary["rate"] > 0, summary
        assert summary["ratio"] is not None and summary["verdict"] != "n/a", summary
    assert "saved" in proc.stdout


@pytest.mark.timeout(180)
def test_the_big_stream_bench_relays_a_whole_stream(tmp_path: Path) -> None:
    """`bench/big_stream.py` (R20.2) runs end to end; 2 MB here, 100 MB on the bench machine."""
    _tools_or_skip()
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "big_stream.py"), "--mb", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = orjson.loads(proc.stdout.splitlines()[-1])
    assert result["complete"] and result["bytes"] >= 1_800_000
    assert result["verdict"] == "PASS"


@pytest.mark.timeout(180)
def test_the_rss_load_bench_reads_the_peak_after_each_scenario() -> None:
    """`bench/rss_load.py` (R20.1 peak RSS) runs end to end, with a variant's environment."""
    _tools_or_skip()
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "rss_load.py"),
            "--seconds",
            "1",
            "--scenarios",
            "nonstream_c32,translated_stream_c32",
            "--env",
            "MALLOC_ARENA_MAX=16",
            "--maps",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = orjson.loads(proc.stdout.splitlines()[-1])
    assert result["env"] == ["MALLOC_ARENA_MAX=16"]
    assert 20 < result["ready"]["rss_mb"] <= result["nonstream_c32"]["peak_mb"]
    for key in ("nonstream_c32", "translated_stream_c32"):
        assert result[key]["requests"] > 0 and result[key]["errors"] == 0, result[key]
    assert result["translated_stream_c32"]["peak_mb"] >= result["nonstream_c32"]["peak_mb"]
    assert result["maps"] and all(m["rss_mb"] >= 0 for m in result["maps"])


@pytest.mark.timeout(180)
@pytest.mark.parametrize("writer", ["loop", "thread"])
def test_the_usage_backlog_bench_drains_every_row(writer: str) -> None:
    script = str(REPO / "bench" / "usage_backlog.py")
    proc = subprocess.run(
        [sys.executable, script, "--writer", writer, "--seconds", "0.5"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = orjson.loads(proc.stdout.splitlines()[-1])
    assert result["writer"] == writer and result["recorded"] > 0
