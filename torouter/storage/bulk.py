"""Bulk inserts of plain rows for the usage writer (SPEC R11.2): the statement is compiled once
per dialect and each row becomes a tuple in C (`itemgetter`), with only the few bind processors
the columns need (SQLite's DATETIME text, JSON) applied in Python.

SQLAlchemy's own `execute(insert, [dicts])` does the same work generically, per row and column,
on the event loop. Measured on SQLite, a 400-row batch took 23-40 ms that way and 13-22 ms this
way (about 7 µs of loop time a row). The database gets the same values SQLAlchemy would give it
(tests read both back alike on SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

__all__ = ["BulkInsert", "BulkUpsert"]

_Plan = tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]], list[tuple[int, Any]]]


class BulkInsert:
    def __init__(self, table: Table, columns: Sequence[str], defaults: Mapping[str, Any]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.defaults = dict(defaults)
        self._plans: dict[str, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is not None:
            return plan
        compiled = self.table.insert().compile(dialect=dialect, column_keys=list(self.columns))
        order = list(compiled.positiontup or ())
        if sorted(order) != sorted(self.columns):
            raise RuntimeError(f"unexpected bind names for {self.table.name}: {order}")
        processors: list[tuple[int, Any]] = []
        for i, name in enumerate(order):
            col_type = self.table.c[name].type
            proc = col_type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                processors.append((i, proc))
        plan = (compiled.string, itemgetter(*order), processors)
        self._plans[dialect.name] = plan
        return plan

    async def run(self, conn: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert `rows` (dicts by column name; missing columns take `defaults`) on `conn`, an
        `AsyncConnection` inside a transaction. The rows are converted a slice at a time with a
        yield in between, so a request arriving meanwhile waits for one slice at most."""
        if not rows:
            return
        sql, getter, processors = self._plan(conn.dialect)
        defaults = self.defaults
        params: list[tuple[Any, ...]] = []
        for start in range(0, len(rows), _SLICE):
            if start:
                await asyncio.sleep(0)
            for r in rows[start : start + _SLICE]:
                values = getter({**defaults, **r})
                if processors:
                    as_list = list(values)
                    for i, proc in processors:
                        as_list[i] = proc(as_list[i])
                    values = tuple(as_list)
                params.append(values)
        await conn.exec_driver_sql(sql, params)


_SLICE = 200


class BulkUpsert:
    """`INSERT … ON CONFLICT (primary key) DO UPDATE SET m = m + excluded.m` for every other
    column: adds counters to the rows that exist, creates the others, in one `executemany`.

    Both databases run the same statement (SQLite ≥ 3.24, PostgreSQL ≥ 9.5), so concurrent
    writers (several nodes) never lose an increment and never need a read first. Rows are
    tuples in `self.columns` order; they are sent sorted by key, so two writers touching the
    same rows lock them in the same order (no deadlock on PostgreSQL).
    """

    def __init__(self, table: Table) -> None:
        self.table = table
        self.keys = tuple(c.name for c in table.primary_key.columns)
        self.measures = tuple(c.name for c in table.columns if not c.primary_key)
        self.columns = self.keys + self.measures
        self._plans: dict[str, tuple[str, list[int], list[tuple[int, Any]]]] = {}

    def _plan(self, dialect: Dialect) -> tuple[str, list[int], list[tuple[int, Any]]]:
        plan = self._plans.get(dialect.name)
        if plan is not None:
            return plan
        make = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        ins = make(self.table)
        stmt = ins.on_conflict_do_update(
            index_elements=list(self.keys),
            set_={m: self.table.c[m] + ins.excluded[m] for m in self.measures},
        )
        compiled = stmt.compile(dialect=dialect, column_keys=list(self.columns))
        order = list(compiled.positiontup or ())
        if sorted(order) != sorted(self.columns):
            raise RuntimeError(f"unexpected bind names for {self.table.name}: {order}")
        index = {name: i for i, name in enumerate(self.columns)}
        processors: list[tuple[int, Any]] = []
        for i, name in enumerate(order):
            proc = self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                processors.append((i, proc))
        plan = (compiled.string, [index[name] for name in order], processors)
        self._plans[dialect.name] = plan
        return plan

    async def run(self, conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        sql, positions, processors = self._plan(conn.dialect)
        n = len(self.keys)
        params: list[tuple[Any, ...]] = []
        for r in sorted(rows, key=lambda r: r[:n]):
            values = [r[i] for i in positions]
            for i, proc in processors:
                values[i] = proc(values[i])
            params.append(tuple(values))
        await conn.exec_driver_sql(sql, params)
