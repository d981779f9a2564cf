"""Fixtures of the mock-provider tests: one mock server per test session (per xdist worker), and
the recorded provider responses (skipped when absent, a failure under CI=true)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from torouter.mock import MockConfig, replay
from torouter.mock.testing import MockServer


@pytest.fixture(scope="session")
def mock_server() -> Iterator[MockServer]:
    with MockServer(MockConfig()) as server:
        yield server


@pytest.fixture(scope="session")
def base_url(mock_server: MockServer) -> str:
    return mock_server.url


def _recorded_folder() -> Path | None:
    folder = replay.default_dir()
    return folder if (folder / "index.json").is_file() else None


def _missing() -> None:
    message = f"recorded fixtures not found at {replay.default_dir()} (set {replay.ENV})"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def recorded_dir() -> Path:
    folder = _recorded_folder()
    if folder is None:
        _missing()
    assert folder is not None
    return folder


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``case`` (or ``stream_case`` / ``json_case``) parametrizes over the recorded cases."""
    folder = _recorded_folder()
    entries = replay.list_cases(folder) if folder else []
    for name, keep in (
        ("case", lambda e: True),
        ("stream_case", lambda e: e["stream"]),
        ("json_case", lambda e: not e["stream"]),
    ):
        if name in metafunc.fixturenames:
            ids = [e["id"] for e in entries if keep(e)]
            metafunc.parametrize(name, ids or [None], ids=ids or ["recorded-fixtures-missing"])


@pytest.fixture
def loaded_case(request: pytest.FixtureRequest) -> dict[str, Any]:
    for name in ("case", "stream_case", "json_case"):
        if name in request.fixturenames:
            case_id = request.getfixturevalue(name)
            if case_id is None:
                _missing()
            return replay.load_case(case_id)
    raise LookupError("loaded_case needs a case parameter")
