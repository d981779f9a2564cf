"""List conventions (R16.4): numbered pages for resources, an opaque cursor for usage logs.

    GET …?page=2&page_size=20   → {"data": […], "page": 2, "page_size": 20, "total": 57}
    GET …?cursor=…&page_size=50 → {"data": […], "next_cursor": "…" | null}

Cursors walk by keyset on a descending integer id, so rows written while a client pages never
shift or repeat what it sees; they are opaque to clients (base64url of a small tag and the id).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from torouter.errors import error

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE",
    "MAX_PAGE_SIZE",
    "CursorPage",
    "Page",
    "PageParams",
    "Paging",
    "cursor_after",
    "decode_cursor",
    "encode_cursor",
    "fetch_page",
]

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# Any page past the last is empty; the bound keeps the row offset a small integer for the
# database (an unbounded page overflowed the driver's int64: a 500, issue 12).
MAX_PAGE = 2**31 - 1

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageParams:
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def _page_params(
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1")] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page (max 100)")
    ] = DEFAULT_PAGE_SIZE,
) -> PageParams:
    return PageParams(page, page_size)


Paging = Annotated[PageParams, Depends(_page_params)]


class Page(BaseModel, Generic[T]):
    data: list[T]
    page: int
    page_size: int
    total: int


class CursorPage(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None


async def fetch_page(
    conn: AsyncConnection,
    stmt: Select[Any],
    params: PageParams,
    build: Callable[[Any], T],
) -> Page[T]:
    """Run `stmt` (already ordered) for one page, with the total of all its rows."""
    total = await conn.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = await conn.execute(stmt.limit(params.page_size).offset(params.offset))
    return Page(
        data=[build(r) for r in rows.mappings()],
        page=params.page,
        page_size=params.page_size,
        total=int(total or 0),
    )


_CURSOR_TAG = "id:"
_INT64 = 2**63 - 1  # a cursor holds a BIGINT row id


def encode_cursor(last_id: int) -> str:
    raw = f"{_CURSOR_TAG}{last_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, param: str = "cursor") -> int:
    """The id a cursor continues below; E16 naming `param` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    body = raw.removeprefix(_CURSOR_TAG)
    if (
        raw == body
        or not (body.isascii() and body.isdigit())
        or len(body) > 19
        or int(body) > _INT64
    ):
        raise error("E16", "Invalid cursor", param=param)
    return int(body)


def cursor_after(rows: Sequence[Any], page_size: int, id_of: Callable[[Any], int]) -> str | None:
    """Given up to page_size + 1 rows, the cursor to the next page (None on the last one)."""
    if len(rows) <= page_size:
        return None
    return encode_cursor(id_of(rows[page_size - 1]))
