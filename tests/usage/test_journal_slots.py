"""One usage journal per process, and every dead process's leftovers replayed (R11.2).

Several workers used to share one journal folder: a worker's flush deleted the segment another
worker was still appending to, so a kill -9 lost that worker's queued rows. Each process now
holds its own slot; a process that starts adopts what dead ones left.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import func, select

from tests.usage.test_recorder import add_user, make_rows
from torouter.storage import tables as t
from torouter.storage.db import Database
from torouter.usage.journal import Journal
from torouter.usage.journal_slots import JournalSlot, adopted_segments
from torouter.usage.recorder import UsageRecorder


def test_each_live_process_has_its_own_slot_and_a_free_one_is_reused(tmp_path: Path) -> None:
    root = tmp_path / "journal"
    first, second = JournalSlot(root), JournalSlot(root)
    assert (first.path.name, second.path.name) == ("w0", "w1")
    first.release()  # its process ended: the next process takes the lowest free slot
    third = JournalSlot(root)
    assert third.path.name == "w0"
    assert stat.S_IMODE((root / "w0" / ".lock").stat().st_mode) == 0o600
    second.release()
    third.release()


def test_adopts_dead_slots_and_the_flat_layout_never_a_live_slot(tmp_path: Path) -> None:
    root = tmp_path / "journal"
    legacy = Journal(root)  # what a version before slots wrote
    legacy.append({"admission_id": "old"})
    legacy.close()
    dead, live, me = JournalSlot(root), JournalSlot(root), JournalSlot(root)
    for slot, aid in ((dead, "dead"), (live, "live")):
        j = Journal(slot.path)
        j.append({"admission_id": aid})
        j.close()
    dead.release()
    with adopted_segments(root, me.path) as adopted:
        assert sorted(r["admission_id"] for r in Journal.read(adopted)) == ["dead", "old"]
        # While adopted, no other starting process may replay them too.
        with adopted_segments(root, tmp_path / "other") as again:
            assert again == []
    live.release()
    me.release()


async def test_a_flush_never_deletes_another_workers_rows(db: Database, tmp_path: Path) -> None:
    """Two workers on one data folder: A flushes while B still queues; both die (kill -9);
    the next process writes every row exactly once."""
    user = await add_user(db)
    rows = make_rows(10, [user])
    root = tmp_path / "journal"
    slot_a, slot_b = JournalSlot(root), JournalSlot(root)
    a = UsageRecorder(db, Journal(slot_a.path), batch_size=10_000)
    b = UsageRecorder(db, Journal(slot_b.path), batch_size=10_000)
    for row in rows[:4]:
        a.record(row)
    for row in rows[4:]:
        b.record(row)
    await a.flush()  # A's rows committed, its segments deleted; B's untouched
    assert sorted(os.listdir(slot_b.path)) == [".lock", "usage-000000000001.jsonl"]
    slot_a.release()  # both processes die with B's rows only on disk
    slot_b.release()

    slot = JournalSlot(root)
    recorder = UsageRecorder(db, Journal(slot.path))
    with adopted_segments(root, slot.path) as adopted:
        assert await recorder.replay(adopted) == 6
    async with db.connect() as conn:
        ids = (await conn.execute(select(t.usage_logs.c.admission_id))).scalars().all()
        balance = (
            await conn.execute(select(t.users.c.balance_nusd).where(t.users.c.id == user))
        ).scalar_one()
        ledger = (
            await conn.execute(
                select(func.sum(t.ledger.c.amount_nusd)).where(t.ledger.c.user_id == user)
            )
        ).scalar_one()
    assert sorted(ids) == sorted(r["admission_id"] for r in rows)
    charged = sum(r["cost_nusd"] for r in rows if r.get("debit_balance", True))
    assert balance == 10**12 - charged
    assert ledger == -charged
    # Replayed segments are gone: a second start replays nothing.
    with adopted_segments(root, slot.path) as adopted:
        assert adopted == []
    slot.release()
