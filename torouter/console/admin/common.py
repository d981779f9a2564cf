"""What the admin pages share: their dependencies, list paging, ids from the path, and one
way to call the admin API's handlers and put their refusals next to the form's fields.

The admin pages act through the management API's own handlers (`torouter/api/admin/*`),
called as the plain coroutines they are with the same `ApiDeps`, the admin's `Principal` and
the same pydantic input models. So every rule, every refusal and every audit row exists once:
a page and a script doing the same thing leave the same trace.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

from torouter.api.pagination import MAX_PAGE_SIZE, PageParams
from torouter.console.deps import ConsoleDeps
from torouter.console.forms import FormErrors
from torouter.console.render import page
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError
from torouter.storage.tables import users

__all__ = [
    "attempt",
    "confirm_delete_page",
    "deps",
    "page_params",
    "path_id",
    "query_choice",
    "query_date",
    "query_text",
    "user_of",
]

T = TypeVar("T")
Choice = TypeVar("Choice", bound=str)


def deps(request: Request) -> ConsoleDeps:
    found: ConsoleDeps = request.app.state.deps
    return found


def page_params(request: Request, size: int = 20) -> PageParams:
    """`?page=N` (from 1; anything else is page 1) with a fixed page size."""
    raw = request.query_params.get("page", "1")
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 7 else 1
    return PageParams(max(number, 1), min(size, MAX_PAGE_SIZE))


def path_id(request: Request, name: str) -> int | None:
    """A positive integer id from the path, else None (the page answers 404)."""
    raw = str(request.path_params.get(name, ""))
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or int(raw) < 1:
        return None
    return int(raw)


def query_text(request: Request, name: str, max_length: int = 200) -> str:
    return request.query_params.get(name, "").strip()[:max_length]


def query_choice(request: Request, name: str, choices: Iterable[Choice]) -> Choice | None:
    """A filter value from a fixed list, else None (no filter). The list's own value is
    returned, so a list of Literals gives that Literal."""
    value = request.query_params.get(name, "")
    return next((choice for choice in choices if choice == value), None)


def query_date(request: Request, name: str, errors: FormErrors) -> dt.date | None:
    """A `YYYY-MM-DD` filter (a date input); anything else is an error next to the field."""
    raw = query_text(request, name, 20)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors.add(name, errors.t("admin.invalid_date"))
        return None


async def user_of(request: Request, text: str, errors: FormErrors, name: str) -> int | None:
    """A user filter typed as an id or an email address (exact, any case): the user's id.
    One that matches nobody is an error next to the field (no silent "no results")."""
    if not text:
        return None
    if text.isascii() and text.isdigit() and len(text) < 13:
        return int(text)
    async with deps(request).api.db.connect() as conn:
        q = select(users.c.id).where(func.lower(users.c.email) == text.lower())
        found = await conn.scalar(q)
    if found is None:
        errors.add(name, errors.t("admin.no_such_user"))
        return None
    return int(found)


async def attempt(
    errors: FormErrors, known: Iterable[str], call: Callable[[], Awaitable[T]]
) -> T | None:
    """Run `call` (which validates its input first, then awaits a handler); a refusal goes
    into `errors` (next to its field when the form has one) and the result is None."""
    try:
        return await call()
    except ValidationError as exc:
        errors.from_validation(exc, known)
    except GatewayError as exc:
        errors.from_error(exc, known)
    return None


def confirm_delete_page(
    request: Request, v: Visitor, *, kind: str, name: str, url: str, errors: FormErrors
) -> Response:
    """The "delete this …?" page of a group, plan, channel or model at `url`; 409 with the
    reasons when the API refused the deletion."""
    return page(
        request,
        v,
        "admin/confirm_delete.html",
        status=409 if errors else 200,
        kind=kind,
        name=name,
        action=f"{url}/delete",
        back=url,
        errors=errors,
    )
