"""Settings of the mock providers, read once from a TOML file.

The file holds the keys below at the top level or under a ``[mock]`` table (so the main ToRouter
config can carry them). Fault probabilities use the directive syntax of ``faults.py`` as keys::

    ttft_ms = 0                 # delay before the first body byte of a stream
    chunk_interval_ms = 0       # delay between content chunks
    chunks = 20                 # content chunks per stream
    output_tokens = 32          # length of the generated answer
    thinking_tokens = 32        # length of generated reasoning
    keys = ["sk-mock-1"]        # accepted credentials; empty accepts any
    retry_after_s = 1           # reset announced by 429 answers
    cache_max_entries = 100000  # prompt prefixes remembered across all credentials
    seed = 7                    # seeds the fault dice (omit for a random seed)
    replay_dir = "/path/to/fixtures/recorded"

    [faults]
    "429" = 0.01
    "disconnect_after=3" = 0.001
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torouter.mock.faults import Directives, parse_tokens

__all__ = ["MockConfig", "config_from_mapping", "load_mock_config"]


@dataclass(frozen=True, slots=True)
class MockConfig:
    ttft_ms: int = 0
    chunk_interval_ms: int = 0
    chunks: int = 20
    output_tokens: int = 32
    thinking_tokens: int = 32
    keys: tuple[str, ...] = ()
    retry_after_s: float = 1.0
    cache_max_entries: int = 100_000
    seed: int | None = None
    replay_dir: str | None = None
    faults: tuple[tuple[Directives, float], ...] = field(default=())

    @property
    def instant(self) -> bool:
        return self.ttft_ms == 0 and self.chunk_interval_ms == 0


_INT_FIELDS = (
    "ttft_ms",
    "chunk_interval_ms",
    "chunks",
    "output_tokens",
    "thinking_tokens",
    "cache_max_entries",
)


def config_from_mapping(data: Mapping[str, Any]) -> MockConfig:
    """Validate a parsed TOML mapping; unknown keys and wrong types raise ``ValueError``."""
    if isinstance(data.get("mock"), Mapping):
        data = data["mock"]
    known = {f.name for f in dataclasses.fields(MockConfig)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ValueError(f"mock config: unknown key {key!r}")
        if key in _INT_FIELDS:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"mock config: {key} must be a non-negative integer")
            values[key] = value
        elif key == "keys":
            if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
                raise ValueError("mock config: keys must be a list of strings")
            values[key] = tuple(value)
        elif key == "retry_after_s":
            if not isinstance(value, int | float) or value < 0:
                raise ValueError("mock config: retry_after_s must be a non-negative number")
            values[key] = float(value)
        elif key == "seed":
            if value is not None and not isinstance(value, int):
                raise ValueError("mock config: seed must be an integer")
            values[key] = value
        elif key == "replay_dir":
            if not isinstance(value, str):
                raise ValueError("mock config: replay_dir must be a string")
            values[key] = value
        elif key == "faults":
            values[key] = _faults(value)
    if values.get("chunks") == 0:
        raise ValueError("mock config: chunks must be at least 1")
    return MockConfig(**values)


def _faults(value: Any) -> tuple[tuple[Directives, float], ...]:
    if not isinstance(value, Mapping):
        raise ValueError("mock config: [faults] must be a table of directive = probability")
    out = []
    for spec, probability in value.items():
        if not isinstance(probability, int | float) or not 0 <= probability <= 1:
            raise ValueError(f"mock config: fault {spec!r} needs a probability in [0, 1]")
        directives = parse_tokens(str(spec))
        if directives.is_empty():
            raise ValueError(f"mock config: fault {spec!r} is not a known directive")
        if probability > 0:
            out.append((directives, float(probability)))
    return tuple(out)


def load_mock_config(path: str | None) -> MockConfig:
    """Read the TOML file at ``path``; ``None`` gives the defaults (instant mode, any key)."""
    if path is None:
        return MockConfig()
    with Path(path).open("rb") as fh:
        return config_from_mapping(tomllib.load(fh))
