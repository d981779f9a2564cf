"""The one internal shape the core speaks (SPEC R5.1, R10.2).

Wire formats are converted to and from these at the edges (`protocols/*`); same-protocol routes
skip the conversion and only extract what metering needs into `Usage`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Usage"]


@dataclass(slots=True)
class Usage:
    """Normalised usage (R10.2): `input` excludes cached tokens; `output` includes reasoning."""

    input: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    output: int = 0
    reasoning: int = 0  # informational subset of output
    images: int = 0
    audio_seconds: float = 0.0
    characters: int = 0

    @property
    def total_tokens(self) -> int:
        return (
            self.input + self.cache_read + self.cache_write_5m + self.cache_write_1h + self.output
        )
