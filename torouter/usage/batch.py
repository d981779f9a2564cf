"""What every usage writer does to a batch before storing it (SPEC R11.2), whichever store:
transactions sized by the backlog, rows deduplicated by admission id, `created_at` from unix
seconds to an aware datetime. Shared by the SQLAlchemy writer (`recorder.write_rows`) and the
writer thread's SQLite store (`sqlite_store.py`), so both see the same rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Column

from torouter.storage import tables as t
from torouter.storage.bulk import BulkInsert

__all__ = ["MAX_CHUNK", "USAGE_INSERT", "chunk_size", "parse_time", "unique_rows"]

# Transactions of 100 rows when the writer keeps up (the loop is never held long: p99), up to
# 2,000 when a backlog builds under load: each transaction costs a fixed number of round trips,
# each waiting its turn on a busy loop, so only larger ones let the writer catch up.
_CHUNK = 100
MAX_CHUNK = 2_000  # also the writer thread's transaction: it holds no loop, only SQLite's lock


def chunk_size(pending: int) -> int:
    return max(_CHUNK, min(pending // 2, MAX_CHUNK))


def _default(col: Column[Any]) -> Any:
    d = col.default
    if d is None:
        return None
    if d.is_scalar:
        return d.arg  # type: ignore[attr-defined]
    return [] if isinstance(col.type, JSON) else None


# Every column but the id, in table order; a row lacking one (an older journal's) takes its
# default, as SQLAlchemy's own insert would give it.
USAGE_INSERT = BulkInsert(
    t.usage_logs,
    [c.name for c in t.usage_logs.columns if c.name != "id"],
    {c.name: _default(c) for c in t.usage_logs.columns if c.name != "id"},
)


def unique_rows(chunk: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The chunk's rows, one per admission id (the last of a repeated id): charged once."""
    unique: dict[str, Mapping[str, Any]] = {}
    for r in chunk:
        unique[r["admission_id"]] = r
    return list(unique.values())


def parse_time(row: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `row` with an aware `created_at` (the journal keeps unix seconds)."""
    out = dict(row)  # keys that are not columns are ignored by the insert
    out["created_at"] = dt.datetime.fromtimestamp(row["created_at"], dt.UTC)
    out["debit_balance"] = row.get("debit_balance", True)  # read by the money, not stored
    return out
