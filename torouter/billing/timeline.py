"""The money timeline (SPEC R14.1, R15.4): every ledger entry of a user, with what it refers to.

A ledger reference is a short string whose form depends on who wrote the entry; `reference_of`
reads it back into parts a person can follow (pure):

    ord_…[:…]              an order (top-up, subscription, refund) → order_id
    usage:<batch>:<user>   one usage batch of the writer            → batch_id
    admin:<ulid>           an admin credit or debit                 → the actor is the admin
    sub:<sub id>:<ulid>    a subscription bought from the balance   → subscription_id
    renew:<sub id>:<time>  an automatic renewal                     → subscription_id
    demo:… / provision:…   the demo's or the config file's grant

The running balance is the entry's own `balance_after_nusd`, written with it (R14.1). Lists are
newest first by (created_at, id), the order entries are written in; the CSV is oldest first,
read by keyset on (created_at, id) 1,000 entries at a time.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, literal, select, tuple_

from torouter.billing.money import usd_text
from torouter.storage.db import Database
from torouter.storage.tables import UTCDateTime, ledger

__all__ = [
    "CSV_COLUMNS",
    "LedgerFilter",
    "Reference",
    "csv_rows",
    "reference_of",
]


@dataclass(frozen=True, slots=True)
class Reference:
    kind: str  # order | usage_batch | admin | subscription | renewal | demo | provision | other
    order_id: str | None = None
    batch_id: str | None = None
    subscription_id: int | None = None


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def reference_of(reference: str | None) -> Reference | None:
    if not reference:
        return None
    head, _, rest = reference.partition(":")
    if head.startswith("ord_"):
        return Reference("order", order_id=head)
    parts = rest.split(":")
    if head == "usage":
        return Reference("usage_batch", batch_id=parts[0] or None)
    if head == "admin":
        return Reference("admin")
    if head == "sub":
        return Reference("subscription", subscription_id=_int(parts[0]))
    if head == "renew":
        return Reference("renewal", subscription_id=_int(parts[0]))
    if head in ("demo", "provision"):
        return Reference(head)
    return Reference("other")


@dataclass(frozen=True, slots=True)
class LedgerFilter:
    user_id: int
    reasons: Collection[str] = ()
    since: dt.datetime | None = None  # inclusive
    until: dt.datetime | None = None  # exclusive

    def conditions(self) -> list[ColumnElement[bool]]:
        c = ledger.c
        out: list[ColumnElement[bool]] = [c.user_id == self.user_id]
        if self.reasons:
            out.append(c.reason.in_(sorted(self.reasons)))
        if self.since is not None:
            out.append(c.created_at >= self.since)
        if self.until is not None:
            out.append(c.created_at < self.until)
        return out

    def select(self) -> Select[Any]:
        c = ledger.c
        return select(ledger).where(*self.conditions()).order_by(c.created_at.desc(), c.id.desc())


CSV_COLUMNS = (
    "time",
    "entry_id",
    "reason",
    "amount_usd",
    "balance_after_usd",
    "reference",
    "reference_kind",
    "order_id",
    "batch_id",
    "subscription_id",
    "actor",
    "note",
)
_PAGE = 1_000


async def csv_rows(db: Database, f: LedgerFilter, *, zone: dt.tzinfo) -> AsyncIterator[bytes]:
    """The timeline as one RFC 4180 file, oldest first."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(CSV_COLUMNS)
    yield buf.getvalue().encode()
    after: tuple[dt.datetime, int] | None = None
    c = ledger.c
    async with db.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")  # nothing held between pages
        while True:
            stmt = select(ledger).order_by(c.created_at, c.id).limit(_PAGE)
            if after is None:
                stmt = stmt.where(*f.conditions())
            else:  # the position is the lower bound now (see `usage.logs.page_after`)
                mark = tuple_(literal(after[0], UTCDateTime), literal(after[1], Integer))
                stmt = stmt.where(*replace(f, since=None).conditions())
                stmt = stmt.where(tuple_(c.created_at, c.id) > mark)
            rows = (await conn.execute(stmt)).all()
            if not rows:
                return
            buf.seek(0)
            buf.truncate()
            for r in rows:
                ref = reference_of(r.reference)
                out.writerow(
                    [
                        r.created_at.astimezone(zone).isoformat(timespec="seconds"),
                        r.id,
                        r.reason,
                        usd_text(r.amount_nusd),
                        usd_text(r.balance_after_nusd),
                        r.reference or "",
                        ref.kind if ref else "",
                        (ref.order_id if ref else None) or "",
                        (ref.batch_id if ref else None) or "",
                        "" if ref is None or ref.subscription_id is None else ref.subscription_id,
                        r.actor or "",
                        r.note or "",
                    ]
                )
            yield buf.getvalue().encode()
            if len(rows) < _PAGE:
                return
            after = (rows[-1].created_at, rows[-1].id)
