"""What a process knows about itself for the operations page, handed to the console by the
composition root: its node identity, its usage queue and how to ask its stores."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from torouter.operations.checks import Check
from torouter.operations.nodes import NodeIdentity

__all__ = ["OpsContext"]


@dataclass(frozen=True, slots=True)
class OpsContext:
    node: NodeIdentity | None = None
    queue_depth: Callable[[], int] | None = None
    queue_size: int = 0
    checks: Mapping[str, Check] = field(default_factory=dict)
    redis: bool = False  # scale-out: counters and channel state shared through Redis
