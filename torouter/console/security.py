"""Response headers of every console page and file (R18.5).

The policy allows scripts, styles, images and fetches from this origin only: no inline
script or style, no `eval` (the CSP build of Alpine.js and htmx with eval off need neither),
no framing, no plug-ins, forms posting only here.

One exception to "forms posting only here": a form whose answer redirects to Stripe's hosted
checkout (top up, pay for a plan, resume an order). Browsers apply `form-action` to the
redirects that follow a form post too, so such a page names the checkout's origin: it sets the
internal header `x-console-form-action` (see `console/checkout.py`), which this middleware
folds into the policy and never sends.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

__all__ = ["CSP", "FORM_ACTION_HEADER", "SECURITY_HEADERS", "SecurityHeaders", "policy"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FORM_ACTION_HEADER = b"x-console-form-action"
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def policy(form_targets: Sequence[str] = ()) -> str:
    """The CSP; `form_targets` are origins forms may also lead to (anything that is not a
    plain `http(s)://host[:port]` is dropped, so nothing can widen the policy otherwise)."""
    form_action = " ".join(("'self'", *(t for t in form_targets if _ORIGIN.fullmatch(t))))
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self'; font-src 'self'; form-action {form_action}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


CSP = policy()
_CSP_HEADER = (b"content-security-policy", CSP.encode())
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    _CSP_HEADER,
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)
_NAMES = frozenset(name for name, _ in SECURITY_HEADERS) | {FORM_ACTION_HEADER}


class SecurityHeaders:
    """Pure ASGI middleware: adds the headers above to every response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                kept = [h for h in headers if h[0].lower() not in _NAMES]
                added = list(SECURITY_HEADERS)
                targets = [v for k, v in headers if k.lower() == FORM_ACTION_HEADER]
                if targets:
                    added[0] = (_CSP_HEADER[0], policy(targets[0].decode().split()).encode())
                message = {**message, "headers": [*kept, *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
