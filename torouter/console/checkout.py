"""Where a payment form may lead: the origins of Stripe's hosted checkout (R14.2).

Browsers hold a form post, and the redirects that follow it, to the page's CSP `form-action`
(`security.py`). Pages whose forms answer with a redirect to the checkout name its origin:
Stripe's own checkout host, or — with `stripe_api_base` set (a Stripe-compatible service, the
fake Stripe of the tests and the demo) — the origin of that base, whose hosted page is served
beside its API; plus the origins of the checkout links already stored on the user's open
orders. A checkout URL elsewhere (a custom checkout domain) is not redirected to: the console
shows a page with a link to it instead (`leads_to`). Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["STRIPE_CHECKOUT", "checkout_origins", "leads_to", "origin"]

STRIPE_CHECKOUT = "https://checkout.stripe.com"
_HOST = re.compile(r"[A-Za-z0-9.-]+")


def origin(url: str | None) -> str | None:
    """`https://checkout.stripe.com/c/pay/cs_…` → `https://checkout.stripe.com`; None for
    anything that is not a plain http(s) URL with a host name or IPv4 address."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not _HOST.fullmatch(host):
        return None
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def checkout_origins(api_base: str | None, urls: Iterable[str | None] = ()) -> tuple[str, ...]:
    """The origins payment forms may redirect to, in a stable order, without repeats."""
    found = [STRIPE_CHECKOUT if not api_base else origin(api_base)]
    found += [origin(u) for u in urls]
    return tuple(dict.fromkeys(o for o in found if o))


def leads_to(url: str, allowed: Iterable[str], self_origin: str | None) -> bool:
    """Whether a redirect to `url` passes the form-action of a page that allowed `allowed`."""
    target = origin(url)
    return target is not None and (target == self_origin or target in set(allowed))
