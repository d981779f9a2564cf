"""Settlement (SPEC R10.1, R10.5, R10.6, R11.1, R15.4): charged outcomes pay what was delivered,
the others release; once per admission; counters down still leave the row; the row's fields are
exactly the `UsageRow` the recorder, journal and writer share."""

from __future__ import annotations

import logging
import math
from typing import Any, get_type_hints

import pytest

from tests.gateway.kit import context
from torouter.access.limits import Ticket
from torouter.billing.pricing import cost_nusd
from torouter.gateway.context import Attempt, RequestContext
from torouter.protocols.internal import Usage
from torouter.state.base import StateUnavailable, StreamAppend
from torouter.storage import tables as t
from torouter.usage.row import UsageRow
from torouter.usage.settlement import Settlement, usage_row

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}


class Ledger:
    def __init__(self, down: bool = False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.down = down

    async def settle(
        self, ticket: Ticket, cost: int, tokens: int = 0, append: StreamAppend | None = None
    ) -> bool:
        self.calls.append(("settle", (ticket.admission_id, cost, tokens)))
        if self.down:
            raise StateUnavailable("redis gone")
        return True

    async def release(self, ticket: Ticket, append: StreamAppend | None = None) -> bool:
        self.calls.append(("release", ticket.admission_id))
        return True


class Recorder:
    def __init__(self) -> None:
        self.rows: list[UsageRow] = []

    def stage(self, row: UsageRow) -> StreamAppend | None:
        return None  # no shared journal (the embedded default)

    def record(self, row: UsageRow, staged: StreamAppend | None = None) -> None:
        self.rows.append(row)


def admitted(outcome: str, **kw: Any) -> RequestContext:
    ctx = context("chat", CHAT)
    ctx.admission_id = "boot-1"
    ctx.ticket = Ticket("boot-1", "user:1", (), None)
    ctx.reserved = True
    ctx.estimate_nusd = 5000
    ctx.outcome = outcome
    ctx.status = 200
    for name, value in kw.items():
        setattr(ctx, name, value)
    return ctx


def settlement(ledger: Ledger | None = None) -> tuple[Settlement, Ledger, Recorder]:
    ledger = ledger or Ledger()
    recorder = Recorder()
    return Settlement(ledger=ledger, recorder=recorder), ledger, recorder  # type: ignore[arg-type]


async def test_a_success_is_charged_its_usage_once() -> None:
    s, ledger, recorder = settlement()
    ctx = admitted("success", usage=Usage(input=100, output=20))
    await s.settle(ctx)
    await s.settle(ctx)  # the relay's and the entry's `finally`: still once (R10.5)
    assert ctx.admission is not None
    adm = ctx.admission
    expected = cost_nusd(Usage(input=100, output=20), adm.model.prices, adm.group.multiplier)
    assert ledger.calls == [("settle", ("boot-1", expected, 120))]
    (row,) = recorder.rows
    assert (row["cost_nusd"], row["input_tokens"], row["output_tokens"]) == (expected, 100, 20)
    assert row["estimated"] is False and row["estimate_nusd"] == 5000


async def test_no_usage_reported_charges_the_estimate_and_the_delivered_text() -> None:
    """R10.1, R10.6: estimated input, output from the characters delivered (4 per token)."""
    s, _, recorder = settlement()
    ctx = admitted("partial", delivered_chars=10)
    await s.settle(ctx)
    assert ctx.usage == Usage(input=ctx.estimate_input_tokens, output=math.ceil(10 / 4))
    assert ctx.estimated and recorder.rows[0]["estimated"] is True


@pytest.mark.parametrize("outcome", ["failed", "upstream_error", "refused"])
async def test_uncharged_outcomes_release_the_reservation(outcome: str) -> None:
    s, ledger, recorder = settlement()
    await s.settle(admitted(outcome, usage=Usage(input=100, output=20)))
    assert ledger.calls == [("release", "boot-1")]
    assert recorder.rows[0]["cost_nusd"] == 0 and recorder.rows[0]["outcome"] == outcome


async def test_unreserved_requests_are_not_settled() -> None:
    s, ledger, recorder = settlement()
    ctx = admitted("success")
    ctx.reserved = False
    await s.settle(ctx)
    assert ledger.calls == [] and recorder.rows == [] and not ctx.settled


async def test_counters_down_still_journal_the_charge(caplog: pytest.LogCaptureFixture) -> None:
    """The row carries the charge to the database, which reseeds the counters."""
    s, _, recorder = settlement(Ledger(down=True))
    with caplog.at_level(logging.ERROR, "torouter.gateway"):
        await s.settle(admitted("success", usage=Usage(input=10, output=1)))
    assert recorder.rows[0]["cost_nusd"] > 0
    assert "settlement counters unavailable" in caplog.text


async def test_a_refusal_row_gets_its_own_admission_id() -> None:
    s, _, recorder = settlement()
    ctx = admitted("refused", reserved=False, admission_id="")
    s.record(ctx)
    s.record(ctx)
    first, second = (r["admission_id"] for r in recorder.rows)
    assert first != second and first.rsplit("-", 1)[0] == s.admission_id().rsplit("-", 1)[0]


def test_the_row_is_exactly_the_typed_row_and_fits_the_table() -> None:
    ctx = admitted("success", usage=Usage(input=1), channel_id=3)
    ctx.attempts.append(Attempt(3, 200, "success", 12))
    row = usage_row(ctx, "boot-9")
    assert set(row) == set(get_type_hints(UsageRow))
    assert row["attempt_chain"] == [
        {"channel_id": 3, "status": 200, "class": "success", "latency_ms": 12}
    ]
    assert row["attempts"] == 1 and row["debit_balance"] is True
    # Every field but the balance switch (read by the money step) is a usage_logs column.
    assert set(row) - {"debit_balance"} <= set(t.usage_logs.c.keys())
