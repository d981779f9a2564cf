"""Settling a request: its cost, the reservation swapped for it, and its usage row journaled
(SPEC R10.1, R10.5, R10.6, R11.1, R11.2, R15.4).

Built by the composition root and passed to both the entry (refusals, the safety net in its
`finally`) and the relay (which settles *before* the final bytes reach the client, so an answer
the client has in full is always on disk). Neither calls back into the other.

The request is read through `Settleable`, the fields settlement needs of the gateway's
`RequestContext`, so this module does not import the gateway (imports point down, DESIGN §2).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from typing import TYPE_CHECKING, Any, Literal, Protocol

from torouter.billing.pricing import cost_nusd
from torouter.ids import new_ulid
from torouter.protocols.internal import Usage
from torouter.state.base import StateUnavailable
from torouter.usage.billing_snapshot import billing_snapshot
from torouter.usage.row import RequestOutcome, UsageRow

if TYPE_CHECKING:
    from torouter.access.admission import Admission
    from torouter.access.limits import Ticket
    from torouter.billing.ledger import Ledger
    from torouter.snapshot import KeyRec
    from torouter.usage.recorder import UsageRecorder

__all__ = ["Settleable", "Settlement", "UsageRow", "usage_row"]

log = logging.getLogger("torouter.gateway")

# Outcomes that are charged what was delivered; the others release the reservation.
_CHARGED = frozenset({"success", "partial", "client_cancelled"})


class _Operation(Protocol):
    @property
    def operation(self) -> str: ...


class _Attempt(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


class Settleable(Protocol):
    """What settlement reads of a request, and the few fields it sets (`settled`, `usage`,
    `estimated`, `cost_nusd`)."""

    @property
    def route(self) -> _Operation: ...  # read-only here, so the gateway's `Route` fits

    request_id: str
    started: float
    started_wall: float
    client_ip: str | None
    user_agent: str
    key_rec: KeyRec | None
    user_id: int | None
    admission: Admission | None
    admission_id: str
    model_id: str
    stream: bool
    estimate_nusd: int
    estimate_input_tokens: int
    reserved: bool
    settled: bool
    channel_id: int | None
    model_upstream: str | None
    upstream_request_id: str | None
    ttft: float | None
    status: int
    outcome: RequestOutcome | Literal[""]  # "" until the request ends
    code: str | None
    usage: Usage | None
    estimated: bool
    cost_nusd: int
    delivered_chars: int
    ticket: Ticket | None

    @property
    def attempts(self) -> list[Any]: ...


class Settlement:
    """Settles admitted requests once each and records rows; owns the admission ids."""

    def __init__(self, *, ledger: Ledger, recorder: UsageRecorder) -> None:
        self._ledger = ledger
        self._recorder = recorder
        # Admission ids: unique per process start, so journal replays are idempotent.
        self._boot = new_ulid()
        self._seq = itertools.count(1)

    def admission_id(self) -> str:
        return f"{self._boot}-{next(self._seq)}"

    async def settle(self, ctx: Settleable) -> None:
        """Charge what was delivered and journal the usage row; once per admission (R10.5)."""
        if ctx.settled or not ctx.reserved:
            return
        ctx.settled = True
        adm = ctx.admission
        assert adm is not None
        charge = ctx.outcome in _CHARGED
        usage = ctx.usage
        if charge:
            if usage is None:
                ctx.estimated = True
                usage = ctx.usage = Usage(
                    input=ctx.estimate_input_tokens, output=math.ceil(ctx.delivered_chars / 4)
                )
            ctx.cost_nusd = cost_nusd(usage, adm.model.prices, adm.group.multiplier)
        ticket = ctx.ticket
        assert ticket is not None  # reserved, so admitted with a ticket
        # The row is built first: scaled out, it goes to the shared journal's stream in the
        # settlement's own round trip, so it is there as soon as the charge is (R11.2).
        row = usage_row(ctx, ctx.admission_id)
        staged = self._recorder.stage(row)
        try:
            if usage is not None and charge:
                await self._ledger.settle(ticket, ctx.cost_nusd, usage.total_tokens, staged)
            else:
                await self._ledger.release(ticket, staged)
        except StateUnavailable as exc:
            # The usage row below still carries the charge to the database, which reseeds.
            log.error(
                "settlement counters unavailable: %s", exc, extra={"request_id": ctx.request_id}
            )
        self._recorder.record(row, staged)

    def record(self, ctx: Settleable) -> None:
        """Queue the request's row (a settled request, or a sampled refusal)."""
        self._recorder.record(usage_row(ctx, ctx.admission_id or self.admission_id()))


def usage_row(ctx: Settleable, admission_id: str) -> UsageRow:
    """The row of one request, as it stands now (latency up to this moment)."""
    adm = ctx.admission
    key = ctx.key_rec
    u = ctx.usage or Usage()
    snap = billing_snapshot(  # what it was billed at, for the request detail (R15.4)
        adm.model.prices if adm else None,
        adm.group.multiplier if adm else None,
        ctx.estimate_nusd if ctx.reserved else None,
    )
    return {
        "admission_id": admission_id,
        "created_at": ctx.started_wall,
        "request_id": ctx.request_id,
        "upstream_request_id": ctx.upstream_request_id,
        "user_id": ctx.user_id,
        "key_id": key.id if key else None,
        "key_name": key.name if key else None,
        "group_id": adm.group.id if adm else (key.group_id if key else None),
        "model_requested": ctx.model_id or None,
        "model_upstream": ctx.model_upstream,
        "endpoint": ctx.route.operation,
        "stream": ctx.stream,
        "status": ctx.status,
        "outcome": ctx.outcome or "failed",  # undecided: ended without an answer
        "error_code": ctx.code,
        "channel_id": ctx.channel_id,
        "attempts": len(ctx.attempts),
        "attempt_chain": [a.as_dict() for a in ctx.attempts],
        "latency_ms": int((time.perf_counter() - ctx.started) * 1000),
        "ttft_ms": int(ctx.ttft * 1000) if ctx.ttft is not None else None,
        "input_tokens": u.input,
        "cache_read_tokens": u.cache_read,
        "cache_write_5m_tokens": u.cache_write_5m,
        "cache_write_1h_tokens": u.cache_write_1h,
        "output_tokens": u.output,
        "reasoning_tokens": u.reasoning,
        "images": u.images,
        "audio_seconds": u.audio_seconds,
        "characters": u.characters,
        "cost_nusd": ctx.cost_nusd,
        "estimated": ctx.estimated,
        "client_ip": ctx.client_ip,
        "user_agent": ctx.user_agent,
        "estimate_nusd": snap["estimate_nusd"],
        "price_multiplier": snap["price_multiplier"],
        "unit_prices": snap["unit_prices"],
        # Subscription usage spends windows and key cap, never the balance (R7.7).
        "debit_balance": bool(adm and adm.group.billing_type != "subscription"),
    }
