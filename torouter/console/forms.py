"""Form posts of the console: read, CSRF-checked (R12.3), and errors put next to fields.

Every unsafe request carries the `csrf_token` field. Signed in, it must equal the session's
CSRF value (derived from the session token, as the JSON API checks it) and so must the
`torouter_csrf` cookie; before sign-in it must equal that cookie (double submit). A failed
check is a 403 page, never a silent action.

Failures of the services arrive as `GatewayError`s (the same ones the JSON API renders) or as
pydantic `ValidationError`s of the same input models; `FormErrors` maps both to the fields of
the form, in the page's language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.requests import Request

from torouter.accounts.messages import translate
from torouter.accounts.sessions import CSRF_COOKIE, CSRF_FIELD
from torouter.accounts.tokens import same_digest
from torouter.api.errors import field_path
from torouter.console.i18n import Translator
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError

__all__ = ["MAX_FORM_BYTES", "CsrfFailed", "FormErrors", "FormTooLarge", "read_form"]

MAX_FORM_BYTES = 256 * 1024  # key IP lists are the largest fields (1,000 lines)
_FORM_TYPE = "application/x-www-form-urlencoded"


class CsrfFailed(Exception):
    """The form's CSRF value is missing or wrong: answered with a 403 page."""


class FormTooLarge(Exception):
    """The form is over `MAX_FORM_BYTES`: answered with a 413 page."""


async def read_form(request: Request, v: Visitor) -> dict[str, str]:
    """The posted fields (a repeated field keeps its last value), after the CSRF check."""
    ctype = request.headers.get("content-type", "")
    body = b""
    if ctype.startswith(_FORM_TYPE):
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                raise FormTooLarge
            chunks.append(chunk)
        body = b"".join(chunks)
    fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    submitted = fields.pop(CSRF_FIELD, "")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    ok = bool(submitted) and same_digest(submitted, v.csrf)
    if v.session is not None or not v.new_csrf_cookie:
        ok = ok and same_digest(cookie, v.csrf)
    else:
        ok = False  # no cookie yet: the form did not come from a page of this site
    if not ok:
        raise CsrfFailed
    return fields


# Messages of the shared field validators (`api/fields.py`) that carry a value.
_KNOWN = (
    (re.compile(r'^"(?P<value>.*)" is not an IP address or CIDR$'), "errors.field.not_ip"),
    # USD amounts (`api/schemas.py` UsdAmount and the validators built on it).
    (re.compile(r"^must not be negative$"), "errors.money.negative"),
    (re.compile(r"^must be a decimal number of USD$"), "errors.money.not_number"),
    (re.compile(r"^must have at most (?P<n>\d+) decimals$"), "errors.money.decimals"),
    (re.compile(r"^must be at most (?P<max>\d+) USD in absolute value$"), "errors.money.too_large"),
)


def _pydantic_message(t: Translator, err: Mapping[str, Any]) -> str:
    kind = str(err.get("type", ""))
    if err.get("input") == "" and kind != "value_error":
        return t("errors.field.missing")  # an empty field says so, whatever rule it broke
    text = str(err.get("msg", "")).removeprefix("Value error, ")
    for pattern, key in _KNOWN:
        if match := pattern.match(text):
            return t(key, **match.groupdict())
    ctx = err.get("ctx") or {}
    key = f"errors.field.{kind}"
    if t.has(key):
        values = {k: v for k, v in ctx.items() if isinstance(v, int | float | str)}
        try:
            return t(key, **values)
        except KeyError:
            pass
    return translate(text, t.lang)


@dataclass
class FormErrors:
    """Messages by field name, plus `general` for what belongs to no field."""

    t: Translator
    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def get(self, name: str) -> str | None:
        return self.fields.get(name)

    def add(self, name: str | None, message: str) -> None:
        if name is None:
            self.general.append(message)
        else:
            self.fields.setdefault(name, message)

    def from_error(self, exc: GatewayError, known: Iterable[str] = ()) -> FormErrors:
        """A service error: next to its field when the form has it, else at the top."""
        key = f"errors.code.{exc.code}"
        if exc.message is not None:
            text = translate(exc.message, self.t.lang)
            # "ip_whitelist[2]: …" and "group_id: …" name the field already.
            head, sep, tail = text.partition(": ")
            if sep and exc.param and head == exc.param:
                text = translate(tail, self.t.lang)
        elif self.t.has(key):
            text = self.t(key)
        else:
            text = exc.text(self.t.lang)
        if exc.retry_after:
            minutes = max(1, round(exc.retry_after / 60))
            text = f"{text} {self.t('errors.retry_after', minutes=minutes)}"
        name = _field_of(exc.param, known)
        self.add(name, text)
        return self

    def from_validation(self, exc: ValidationError, known: Iterable[str] = ()) -> FormErrors:
        for err in exc.errors():
            path = field_path(err.get("loc", ()))
            self.add(_field_of(path, known), _pydantic_message(self.t, err))
        return self


def _field_of(param: str | None, known: Iterable[str]) -> str | None:
    """`ip_whitelist[2]` → `ip_whitelist` when the form has that field; None otherwise."""
    if not param:
        return None
    names = set(known)
    stem = param.split("[", 1)[0]
    base = stem.split(".", 1)[0]
    for name in (param, stem, base):  # `a.b[2]` → `a.b`, then `a`
        if name in names:
            return name
    return None
