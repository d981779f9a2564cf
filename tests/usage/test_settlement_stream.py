"""Settlement scaled out (R11.2, R20.3; issue 18 point 3): the usage row goes to the shared
journal's stream in the settlement's own round trip, so the moment `settle` returns the row is
in Redis with its charge. Nothing else may run in between: the checks read Redis with a
blocking client before the event loop turns again, which is what a node killed right after
settlement leaves behind. Real Redis, SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
import redis.asyncio as aioredis

from tests.e2e.harness import free_port
from tests.gateway.kit import context
from tests.state.conftest import redis_url
from tests.usage.test_recorder import add_user
from torouter.access.limits import Ticket, balance_counter
from torouter.billing.ledger import Ledger
from torouter.gateway.context import RequestContext
from torouter.protocols.internal import Usage
from torouter.state.base import AdmitRequest, Hold
from torouter.state.redis import RedisState, connect
from torouter.storage.db import Database
from torouter.usage.journal import Journal
from torouter.usage.recorder import UsageRecorder, write_rows
from torouter.usage.settlement import Settlement
from torouter.usage.shared_journal import SharedJournal

pytestmark = pytest.mark.redis

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}
BALANCE = 10**12
ESTIMATE = 5_000


@pytest.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    c = connect(redis_url())
    yield c
    await c.aclose()


@pytest.fixture
def sync() -> Any:
    """A blocking client: reading with it lets no task of the test's loop run meanwhile."""
    c = redis.Redis.from_url(redis_url())
    yield c
    c.close()


class Node:
    """One gateway's settlement side: Redis counters, the recorder (its writer not started:
    the node is 'killed' whenever the test stops awaiting it) and the shared journal."""

    def __init__(
        self,
        state_client: aioredis.Redis,
        journal_client: aioredis.Redis,
        db: Database,
        tmp: Path,
        stream: str,
        shared: SharedJournal | None = None,
    ) -> None:
        self.state = RedisState(state_client)
        self.admitter = RedisState(journal_client)
        self.ledger = Ledger(self.state)
        self.shared = shared or SharedJournal(
            journal_client, f"node-{secrets.token_hex(3)}", partial(write_rows, db), stream=stream
        )
        self.recorder = UsageRecorder(db, Journal(tmp / "journal"), shared=self.shared)
        self.settlement = Settlement(ledger=self.ledger, recorder=self.recorder)

    async def admitted(self, user: Payer, outcome: str = "success") -> RequestContext:
        """A request admitted for real: its estimate reserved against the user's balance."""
        aid = self.settlement.admission_id()
        hold = Hold(user.counter, 0, "balance")
        req = AdmitRequest(aid, str(user.id), hold.counter, now=1e9, amount=ESTIMATE,
                           lease_s=120, holds=(hold,))  # fmt: skip
        assert (await self.admitter.admit(req)).ok
        ctx = context("chat", CHAT)
        ctx.admission_id = aid
        ctx.ticket = Ticket(aid, str(user.id), (hold,), None)
        ctx.reserved = True
        ctx.user_id = user.id
        ctx.estimate_nusd = ESTIMATE
        ctx.outcome = outcome
        ctx.status = 200
        ctx.usage = Usage(input=100, output=20)
        return ctx


@dataclass(frozen=True)
class Payer:
    id: int  # in the database
    counter: str  # the balance counter in Redis


@pytest.fixture
async def user(db: Database, client: aioredis.Redis) -> Payer:
    """A user in the database, with a balance counter in Redis no other test shares (tests
    share one Redis, and every fresh database numbers its users from 1)."""
    uid = await add_user(db, BALANCE)
    payer = Payer(uid, f"{balance_counter(uid)}:{secrets.token_hex(4)}")
    await RedisState(client).seed(payer.counter, -BALANCE)
    return payer


def stream_rows(sync: redis.Redis, stream: str) -> dict[str, dict[str, Any]]:
    return {
        (row := orjson.loads(fields[b"row"]))["admission_id"]: row
        for _, fields in sync.xrange(stream)
    }


def pending_under(sync: redis.Redis, stream: str) -> dict[str, int]:
    info = sync.xpending(stream, "writers")
    return {c["name"].decode(): int(c["pending"]) for c in info["consumers"]}


async def test_the_row_is_in_the_stream_the_moment_settlement_returns(
    db: Database, client: aioredis.Redis, sync: redis.Redis, user: Payer, tmp_path: Path
) -> None:
    """The gap of the batched publisher: a node killed right after settlement had the charge
    in Redis but the row only on its own disk. Now both are in Redis, and another node writes
    the row of a node that never comes back."""
    stream = f"test:usage:{secrets.token_hex(6)}"
    a = Node(client, client, db, tmp_path / "a", stream)
    ctx = await a.admitted(user)
    await a.settlement.settle(ctx)
    # No await since: node A is 'killed' here (its writer, publisher and sweeper never ran).
    rows = stream_rows(sync, stream)
    assert list(rows) == [ctx.admission_id]
    row = rows[ctx.admission_id]
    assert row["cost_nusd"] == ctx.cost_nusd > 0 and row["request_id"] == ctx.request_id
    u, f = sync.hmget(user.counter, ["u", "f"])
    assert (int(u), int(f)) == (-BALANCE + ctx.cost_nusd, 0)  # the charge, in the same call
    assert pending_under(sync, stream) == {a.shared.consumer: 1}
    assert a.shared.backlog == 0  # nothing left for a background task to send

    # Node B, another gateway, writes A's row; A never comes back.
    b = SharedJournal(client, "node-b", partial(write_rows, db), stream=stream, claim_idle_s=0)
    assert await b.recover() == 1
    assert await b.recover() == 0  # idempotent: once
    assert sync.xlen(stream) == 0


async def test_an_uncharged_outcome_releases_and_sends_its_row_in_the_same_call(
    db: Database, client: aioredis.Redis, sync: redis.Redis, user: Payer, tmp_path: Path
) -> None:
    stream = f"test:usage:{secrets.token_hex(6)}"
    a = Node(client, client, db, tmp_path / "a", stream)
    ctx = await a.admitted(user, outcome="upstream_error")
    await a.settlement.settle(ctx)
    assert stream_rows(sync, stream)[ctx.admission_id]["cost_nusd"] == 0
    u, f = sync.hmget(user.counter, ["u", "f"])
    assert (int(u), int(f)) == (-BALANCE, 0)  # released, nothing charged


async def test_committed_rows_are_acknowledged_by_the_next_settlement(
    db: Database, client: aioredis.Redis, sync: redis.Redis, user: Payer, tmp_path: Path
) -> None:
    """Acknowledgements ride on settlements: under load the publisher task makes no call."""
    stream = f"test:usage:{secrets.token_hex(6)}"
    a = Node(client, client, db, tmp_path / "a", stream)
    first = await a.admitted(user)
    await a.settlement.settle(first)
    await a.recorder.flush()  # committed: its entry is due for acknowledgement
    assert a.shared.backlog == 1
    second = await a.admitted(user)
    await a.settlement.settle(second)
    assert list(stream_rows(sync, stream)) == [second.admission_id]  # the first one deleted
    assert pending_under(sync, stream) == {a.shared.consumer: 1}
    assert a.shared.backlog == 0


async def test_redis_away_at_settlement_leaves_the_row_to_the_publisher(
    db: Database, client: aioredis.Redis, sync: redis.Redis, user: Payer, tmp_path: Path
) -> None:
    """The counters' Redis unreachable: the row is journaled and queued as ever, and goes to
    the stream (with the acknowledgements it carried) once the publisher reaches Redis."""
    stream = f"test:usage:{secrets.token_hex(6)}"
    a = Node(client, client, db, tmp_path / "a", stream)
    first = await a.admitted(user)
    await a.settlement.settle(first)
    await a.recorder.flush()
    gone = connect(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.5)
    try:
        cut = Node(gone, client, db, tmp_path / "cut", stream, shared=a.shared)
        ctx = await cut.admitted(user)
        await cut.settlement.settle(ctx)
    finally:
        await gone.aclose()
    assert cut.recorder.depth == 1  # journaled and queued: the database still gets it
    assert list(stream_rows(sync, stream)) == [first.admission_id]
    assert a.shared.backlog == 2  # the row and the acknowledgement it could not carry
    await a.shared.push()
    assert list(stream_rows(sync, stream)) == [ctx.admission_id]
    assert pending_under(sync, stream) == {a.shared.consumer: 1}
