"""What the admin pages share: their dependencies, list paging, ids from the path, and one
way to call the admin API's handlers and put their refusals next to the form's fields.

The admin pages act through the management API's own handlers (`torouter/api/admin/*`),
called as the plain coroutines they are with the same `ApiDeps`, the admin's `Principal` and
the same pydantic input models. So every rule, every refusal and every audit row exists once:
a page and a script doing the same thing leave the same trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from pydantic import ValidationError
from starlette.requests import Request

from torouter.api.pagination import MAX_PAGE_SIZE, PageParams
from torouter.console.deps import ConsoleDeps
from torouter.console.forms import FormErrors
from torouter.errors import GatewayError

__all__ = ["attempt", "deps", "page_params", "path_id", "query_choice", "query_text"]

T = TypeVar("T")


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


def query_choice(request: Request, name: str, choices: Iterable[str]) -> str | None:
    """A filter value from a fixed list, else None (no filter)."""
    value = request.query_params.get(name, "")
    return value if value in set(choices) else None


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
