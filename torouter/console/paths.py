"""Which request paths the console serves (R2.1): a pure test the dispatcher calls.

Kept apart from the console itself so that the dispatcher can ask without importing Jinja2 or
Babel; the console is built (and those loaded) only when the management API is.
"""

from __future__ import annotations

__all__ = ["is_console_path"]

# `/billing` is the money timeline, `/billing/topup` the top-up page's alias (R14.2); the
# rest of `/billing` is not ours.
_EXACT = frozenset({"/", "/favicon.ico", "/billing", "/billing/topup"})
# Each entry is served as `/name` and `/name/…`.
_SECTIONS = (
    "login",
    "logout",
    "signup",
    "verify",
    "forgot",
    "reset",
    "dashboard",
    "keys",
    "models",
    "profile",
    "playground",
    "pricing",
    "language",
    "onboarding",
    "purchase",
    "payment",
    "orders",
    "subscriptions",
    "usage",
    "admin",
    "static",
)
_PREFIXES = tuple(f"/{name}/" for name in _SECTIONS)
_NAMES = frozenset(f"/{name}" for name in _SECTIONS)


def is_console_path(path: str) -> bool:
    return path in _EXACT or path in _NAMES or path.startswith(_PREFIXES)
