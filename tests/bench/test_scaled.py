"""`bench/run.py --scaled-out` (issue 18 point 5): the gateway's TOML on PostgreSQL + Redis,
and the options it refuses."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bench.scaled import ScaledStores
from bench.stack import gateway_config
from bench.suite import parse_args


def test_the_scaled_out_config_names_both_stores(tmp_path: Path) -> None:
    stores = ScaledStores("postgresql+asyncpg://u@h:1/postgres", "redis://h:2/9")
    stores.database_url = "postgresql+asyncpg://u@h:1/torouter_bench_x"
    parsed = tomllib.loads(gateway_config(tmp_path, "http://mock", stores.toml("k" * 44)))
    assert parsed["database"]["url"] == stores.database_url
    assert parsed["redis"]["url"] == "redis://h:2/9"
    assert parsed["encryption_key"] == "k" * 44
    assert parsed["demo"] == {"enabled": False}  # the rest of the embedded run's file, unchanged
    assert "database" not in tomllib.loads(gateway_config(tmp_path, "http://mock"))


def test_workers_need_the_scaled_out_stores(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--workers", "2"])
    assert "--workers above 1 needs --scaled-out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["--scaled-out", "--pg-url", "", "--redis-url", ""])
    args = parse_args(["--scaled-out", "--pg-url", "p", "--redis-url", "r", "--workers", "2"])
    assert (args.scaled_out, args.workers) == (True, 2)
