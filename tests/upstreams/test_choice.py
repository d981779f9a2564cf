"""`upstream.client` picks the worker's upstream client (issue 20 point 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from torouter.config import ConfigError, Settings, load_settings
from torouter.upstreams.choice import upstream_client
from torouter.upstreams.http import UpstreamHttp
from torouter.upstreams.native import NativeHttp


def test_each_name_builds_its_client() -> None:
    assert isinstance(upstream_client("native"), NativeHttp)
    assert isinstance(upstream_client("aiohttp"), UpstreamHttp)


def test_the_setting_defaults_to_native_and_takes_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().upstream.client == "native"
    monkeypatch.setenv("TOROUTER_UPSTREAM__CLIENT", "aiohttp")
    assert Settings().upstream.client == "aiohttp"


def test_an_unknown_client_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "torouter.toml"
    cfg.write_text('[upstream]\nclient = "curl"\n')
    with pytest.raises(ConfigError, match=r"upstream\.client"):
        load_settings(cfg)
