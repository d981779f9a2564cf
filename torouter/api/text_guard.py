"""No NUL character in any text a client sends (path, query or JSON body).

PostgreSQL cannot store U+0000 in a text column and fails the statement (a 500 where SQLite
stores it, issue 12), and no name, email or model id needs one. Checked once for every route,
before any handler: a path holding one names nothing (404); elsewhere E16.
"""

from __future__ import annotations

import re

from starlette.requests import Request

from torouter.errors import error

__all__ = ["refuse_nul"]

# A `\u0000` escape in JSON text: the backslash before `u` is not itself escaped, i.e. it is
# preceded by an even number of backslashes. (A raw NUL byte is not valid JSON at all.)
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


async def refuse_nul(request: Request) -> None:
    if "\x00" in request.scope["path"]:
        raise error("E19")
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise error("E16", f"{name}: must not contain NUL characters", param=name)
    if request.method in ("POST", "PUT", "PATCH"):
        body = await request.body()  # cached: the route reads the same bytes
        if _JSON_NUL.search(body) or b"\x00" in body:
            raise error("E16", "The body must not contain NUL characters")
