"""Bulk statements for the usage writer (SPEC R11.2): a batch of any size is a fixed handful of
statements, whatever the number of rows, keys and users in it.

- On PostgreSQL each helper sends ONE statement over column arrays
  (`… FROM unnest($1::type[], $2::type[], …)`): one parse, one plan, one executor start for the
  whole batch. asyncpg pipelines an `executemany`, but the server still runs it once per row:
  measured, 500 usage rows took 17.5 ms of backend CPU that way, 17.7 ms as one multi-row
  `VALUES` (20,000 parameters to parse) and 13.4 ms over arrays; key spend 3.8 vs 2.8 ms
  (bench/results/usage-2026-12-07.md).
- On SQLite, `executemany` is the fast form (the statement is prepared once and stepped in C per
  row, in process) and stays.

The statements are compiled once per dialect. Rows become tuples in C (`itemgetter`); only the few
bind processors the columns need (DATETIME text, JSON, booleans) run in Python. The database gets
the same values SQLAlchemy's own insert would give it (tests read both back alike).

Array casts use the unbounded base type (`text[]`, not `varchar(40)[]`): an explicit cast to
`varchar(n)` truncates silently, where the insert's own assignment cast rejects a value that is
too long, as a plain insert does.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

__all__ = ["BulkInsert", "BulkUpdate", "BulkUpsert"]

_Plan = tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]], list[tuple[int, Any]]]

# Rows are converted a slice at a time with a yield in between, so a request arriving meanwhile
# waits for one slice at most (the writer shares the gateway's event loop).
_SLICE = 200


def _is_pg(dialect: Dialect) -> bool:
    return dialect.name == "postgresql"


def _processors(table: Table, names: Sequence[str], dialect: Dialect) -> list[tuple[int, Any]]:
    """(position, bind processor) of the columns `names` that need one on `dialect`."""
    key = (table.name, tuple(names), dialect.name)
    cached = _PROCESSORS.get(key)
    if cached is not None:
        return cached
    out = []
    for i, name in enumerate(names):
        proc = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            out.append((i, proc))
    _PROCESSORS[key] = out
    return out


_PROCESSORS: dict[tuple[str, tuple[str, ...], str], list[tuple[int, Any]]] = {}


def _array_cast(table: Table, name: str, dialect: Dialect) -> tuple[str, str]:
    """(the parameter's array type, the expression reading one element back as the column)."""
    col_type = table.c[name].type
    if isinstance(col_type, JSON):  # sent as text: its bind processor already serialized it
        return "text[]", f"{name}::{col_type.compile(dialect=dialect)}"
    base = re.sub(r"\(\d+\)$", "", col_type.compile(dialect=dialect))
    if base in ("VARCHAR", "CHAR"):
        base = "text"
    return f"{base}[]", name


def _unnest(table: Table, names: Sequence[str], dialect: Dialect) -> tuple[str, str]:
    """(`unnest($1::t[], …) AS v(a, …)`, the select list) for columns `names` of `table`."""
    casts = [_array_cast(table, name, dialect) for name in names]
    params = ", ".join(f"${i + 1}::{arr}" for i, (arr, _) in enumerate(casts))
    return f"unnest({params}) AS v({', '.join(names)})", ", ".join(expr for _, expr in casts)


def _columns(
    rows: Iterable[tuple[Any, ...]], width: int, processors: list[tuple[int, Any]]
) -> list[list[Any]]:
    """Rows of `width` values → one list per column, the columns' bind processors applied."""
    columns = [list(col) for col in zip(*rows, strict=True)] or [[] for _ in range(width)]
    for i, proc in processors:
        columns[i] = [proc(v) for v in columns[i]]
    return columns


class BulkInsert:
    """Insert plain rows (dicts by column name; missing columns take `defaults`)."""

    def __init__(self, table: Table, columns: Sequence[str], defaults: Mapping[str, Any]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.defaults = dict(defaults)
        self._getter = itemgetter(*self.columns)
        self._plans: dict[str, _Plan] = {}
        self._arrays: dict[tuple[str, str | None], str] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is not None:
            return plan
        compiled = self.table.insert().compile(dialect=dialect, column_keys=list(self.columns))
        order = list(compiled.positiontup or ())
        if sorted(order) != sorted(self.columns):
            raise RuntimeError(f"unexpected bind names for {self.table.name}: {order}")
        plan = (compiled.string, itemgetter(*order), _processors(self.table, order, dialect))
        self._plans[dialect.name] = plan
        return plan

    def _array_sql(self, dialect: Dialect, unique: str | None) -> str:
        sql = self._arrays.get((dialect.name, unique))
        if sql is None:
            source, exprs = _unnest(self.table, self.columns, dialect)
            sql = (
                f"INSERT INTO {self.table.name} ({', '.join(self.columns)}) "
                f"SELECT {exprs} FROM {source}"
            )
            if unique is not None:
                sql += f" ON CONFLICT ({unique}) DO NOTHING RETURNING {unique}"
            self._arrays[(dialect.name, unique)] = sql
        return sql

    async def _tuples(
        self, rows: Sequence[Mapping[str, Any]], getter: Callable[[Any], tuple[Any, ...]]
    ) -> list[tuple[Any, ...]]:
        defaults = self.defaults
        out: list[tuple[Any, ...]] = []
        for start in range(0, len(rows), _SLICE):
            if start:
                await asyncio.sleep(0)
            out.extend(getter({**defaults, **r}) for r in rows[start : start + _SLICE])
        return out

    async def run(self, conn: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert every row of `rows` on `conn`, an `AsyncConnection` inside a transaction."""
        if not rows:
            return
        if _is_pg(conn.dialect):
            await self._run_arrays(conn, rows, None)
            return
        sql, getter, processors = self._plan(conn.dialect)
        params = await self._tuples(rows, getter)
        if processors:
            for n, values in enumerate(params):
                as_list = list(values)
                for i, proc in processors:
                    as_list[i] = proc(as_list[i])
                params[n] = tuple(as_list)
        await conn.exec_driver_sql(sql, params)

    async def run_new(self, conn: Any, rows: Sequence[Mapping[str, Any]], unique: str) -> set[Any]:
        """Insert the rows whose `unique` column value is not stored yet; return those values.

        `rows` must not repeat a value among themselves. On PostgreSQL one statement does both
        (`ON CONFLICT (unique) DO NOTHING RETURNING`), which also holds when another writer
        inserts the same value concurrently; on SQLite (one writer at a time) a read of the
        values already stored comes first."""
        if not rows:
            return set()
        if _is_pg(conn.dialect):
            result = await self._run_arrays(conn, rows, unique)
            return {r[0] for r in result}
        col = self.table.c[unique]
        seen = {
            r[0] for r in await conn.execute(select(col).where(col.in_([r[unique] for r in rows])))
        }
        fresh = [r for r in rows if r[unique] not in seen]
        await self.run(conn, fresh)
        return {r[unique] for r in fresh}

    async def _run_arrays(
        self, conn: Any, rows: Sequence[Mapping[str, Any]], unique: str | None
    ) -> Any:
        dialect = conn.dialect
        tuples = await self._tuples(rows, self._getter)
        columns = _columns(
            tuples, len(self.columns), _processors(self.table, self.columns, dialect)
        )
        return await conn.exec_driver_sql(self._array_sql(dialect, unique), tuple(columns))


class BulkUpdate:
    """`UPDATE table SET a = a + ?, …, b = ?, … WHERE key = ?` for many rows, as tuples
    `(key, *add, *assign)`: relative `add` columns (never lose a concurrent increment) and
    absolute `assign` ones. Keys that match no row are skipped, as a plain update skips them.

    On PostgreSQL, one statement over arrays. Its `FOR UPDATE … ORDER BY key` sub-select takes
    the row locks in key order and the update only touches rows it has locked (whatever join
    the planner picks: the sub-select is either read in order as the join proceeds or read
    whole before), so two writers sharing keys never deadlock, as `executemany` over sorted
    rows guaranteed before. A batch must not repeat a key (aggregate first): the statement
    would update the row once with one of them.
    """

    def __init__(
        self, table: Table, key: str, add: Sequence[str] = (), assign: Sequence[str] = ()
    ) -> None:
        self.table = table
        self.key = key
        self.add = tuple(add)
        self.assign = tuple(assign)
        self.columns = (key, *self.add, *self.assign)
        c = table.c
        values = {a: c[a] + bindparam(f"b_{a}", type_=c[a].type) for a in self.add}
        values.update({s: bindparam(f"b_{s}", type_=c[s].type) for s in self.assign})
        self._stmt = update(table).where(c[key] == bindparam(f"b_{key}")).values(values)
        self._names = [f"b_{name}" for name in self.columns]
        self._sql: dict[str, str] = {}

    def _array_sql(self, dialect: Dialect) -> str:
        sql = self._sql.get(dialect.name)
        if sql is None:
            t, k = self.table.name, self.key
            source, exprs = _unnest(self.table, self.columns, dialect)
            key_array = _array_cast(self.table, k, dialect)[0]
            sets = [f"{a} = {t}.{a} + v.{a}" for a in self.add]
            sets += [f"{s} = v.{s}" for s in self.assign]
            sql = self._sql[dialect.name] = (
                f"UPDATE {t} SET {', '.join(sets)} "
                f"FROM (SELECT {exprs} FROM {source}) AS v, "
                f"(SELECT {k} FROM {t} WHERE {k} = ANY($1::{key_array}) ORDER BY {k} FOR UPDATE) "
                "AS locked "
                f"WHERE {t}.{k} = v.{k} AND locked.{k} = v.{k}"
            )
        return sql

    async def run(self, conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        ordered = sorted(rows, key=itemgetter(0))
        dialect = conn.dialect
        if _is_pg(dialect):
            processors = _processors(self.table, self.columns, dialect)
            columns = _columns(ordered, len(self.columns), processors)
            await conn.exec_driver_sql(self._array_sql(dialect), tuple(columns))
            return
        await conn.execute(self._stmt, [dict(zip(self._names, r, strict=True)) for r in ordered])


class BulkUpsert:
    """`INSERT … ON CONFLICT (primary key) DO UPDATE SET m = m + excluded.m` for every other
    column: adds counters to the rows that exist, creates the others.

    Both databases run the same upsert (SQLite ≥ 3.24, PostgreSQL ≥ 9.5), so concurrent
    writers (several nodes) never lose an increment and never need a read first. Rows are
    tuples in `self.columns` order, with distinct keys (an aggregate); they are sent sorted by
    key, so two writers touching the same rows lock them in the same order (no deadlock on
    PostgreSQL, where `INSERT … SELECT FROM unnest(sorted arrays)` inserts in array order).
    """

    def __init__(self, table: Table) -> None:
        self.table = table
        self.keys = tuple(c.name for c in table.primary_key.columns)
        self.measures = tuple(c.name for c in table.columns if not c.primary_key)
        self.columns = self.keys + self.measures
        self._plans: dict[str, tuple[str, list[int], list[tuple[int, Any]]]] = {}
        self._arrays: dict[str, str] = {}

    def _plan(self, dialect: Dialect) -> tuple[str, list[int], list[tuple[int, Any]]]:
        plan = self._plans.get(dialect.name)
        if plan is not None:
            return plan
        make = postgresql.insert if _is_pg(dialect) else sqlite.insert
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
        plan = (
            compiled.string,
            [index[name] for name in order],
            _processors(self.table, order, dialect),
        )
        self._plans[dialect.name] = plan
        return plan

    def _array_sql(self, dialect: Dialect) -> str:
        sql = self._arrays.get(dialect.name)
        if sql is None:
            t = self.table.name
            source, exprs = _unnest(self.table, self.columns, dialect)
            sets = ", ".join(f"{m} = {t}.{m} + excluded.{m}" for m in self.measures)
            sql = self._arrays[dialect.name] = (
                f"INSERT INTO {t} ({', '.join(self.columns)}) SELECT {exprs} FROM {source} "
                f"ON CONFLICT ({', '.join(self.keys)}) DO UPDATE SET {sets}"
            )
        return sql

    async def run(self, conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        n = len(self.keys)
        ordered = sorted(rows, key=lambda r: r[:n])
        dialect = conn.dialect
        if _is_pg(dialect):
            processors = _processors(self.table, self.columns, dialect)
            columns = _columns(ordered, len(self.columns), processors)
            await conn.exec_driver_sql(self._array_sql(dialect), tuple(columns))
            return
        sql, params = self.positional(ordered, dialect)
        await conn.exec_driver_sql(sql, params)

    def positional(
        self, rows: Sequence[tuple[Any, ...]], dialect: Dialect
    ) -> tuple[str, list[tuple[Any, ...]]]:
        """The statement and its parameter rows for an `executemany` on SQLite, by anyone's
        connection (the writer thread's own `sqlite3` one too): `rows` in key order, each
        reordered to the statement's parameters, the columns' bind processors applied."""
        n = len(self.keys)
        sql, positions, processors = self._plan(dialect)
        params: list[tuple[Any, ...]] = []
        for r in sorted(rows, key=lambda r: r[:n]):
            values = [r[i] for i in positions]
            for i, proc in processors:
                values[i] = proc(values[i])
            params.append(tuple(values))
        return sql, params
