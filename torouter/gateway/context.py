"""The typed per-request context that flows through the steps of the hot path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from torouter.access.admission import Admission
from torouter.access.limits import Ticket
from torouter.gateway.routes import Route
from torouter.gateway.upload import Upload
from torouter.protocols.envelopes import Surface
from torouter.protocols.internal import Request, Usage
from torouter.records import KeyRec
from torouter.routing.classify import Outcome
from torouter.usage.row import RequestOutcome

__all__ = ["Attempt", "RequestContext"]


@dataclass(slots=True)
class Attempt:
    channel_id: int
    status: int
    cls: Outcome | Literal["client_cancelled"]  # how the attempt ended (R9.3)
    latency_ms: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "status": self.status,
            "class": self.cls,
            "latency_ms": self.latency_ms,
        }


@dataclass(slots=True)
class RequestContext:
    request_id: str
    method: str
    path: str
    route: Route
    surface: Surface  # the envelope errors are rendered in
    lang: str
    client_ip: str | None
    user_agent: str
    started: float  # perf_counter
    started_wall: float  # unix seconds
    headers: dict[bytes, bytes]
    key_rec: KeyRec | None = None
    user_id: int | None = None
    query: dict[str, str] = field(default_factory=dict)
    raw_query: str = ""
    admission: Admission | None = None
    admission_id: str = ""
    body: bytes = b""
    payload: dict[str, Any] | None = None
    model_id: str = ""
    stream: bool = False
    include_usage: bool = False
    max_output: int | None = None
    internal: Request | None = None  # the parsed internal request, when translating
    upload: Upload | None = None  # a multipart body held for replay (R3.3)
    response_id: str | None = None  # a native Responses id, remembered for follow-ups (R3.3)
    estimate_nusd: int = 0
    estimate_input_tokens: int = 0
    reserved: bool = False
    settled: bool = False
    response_started: bool = False
    attempts: list[Attempt] = field(default_factory=list)
    channel_id: int | None = None
    model_upstream: str | None = None
    upstream_request_id: str | None = None
    upstream_wait: float = 0.0  # seconds spent waiting on the upstream
    ttft: float | None = None  # seconds until the first byte went to the client
    status: int = 0
    outcome: RequestOutcome | Literal[""] = ""  # "" until the request ends
    code: str | None = None
    usage: Usage | None = None
    estimated: bool = False
    cost_nusd: int = 0
    delivered_chars: int = 0
    ticket: Ticket | None = None  # what settlement charges (steps 10–11)
    # Added to a success response's headers by the relay (R7.5 rate-limit headers).
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
