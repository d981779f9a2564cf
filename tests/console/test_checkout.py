"""Where payment forms may lead (R14.2, R18.5): the checkout origins a page names in its CSP
`form-action`, and the middleware folding them in. Browsers hold the redirect after a form
post to `form-action` too, so without this a top-up could not reach Stripe's page."""

from __future__ import annotations

import pytest

from torouter.console.checkout import STRIPE_CHECKOUT, checkout_origins, leads_to, origin
from torouter.console.security import CSP, FORM_ACTION_HEADER, SecurityHeaders, policy


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://checkout.stripe.com/c/pay/cs_test_1#fid", "https://checkout.stripe.com"),
        ("http://127.0.0.1:12111/c/pay/cs_1", "http://127.0.0.1:12111"),
        ("HTTPS://Pay.Example.COM:8443/x", "https://pay.example.com:8443"),
        ("javascript:alert(1)", None),
        ("ftp://files.example.com/", None),
        ("https://[::1]:8080/x", None),  # not a host a source expression here may name
        ("https://exa mple.com/", None),
        ("https://example.com:99999/", None),
        ("", None),
        (None, None),
    ],
)
def test_origin(url: str | None, expected: str | None) -> None:
    assert origin(url) == expected


def test_checkout_origins() -> None:
    assert checkout_origins(None) == (STRIPE_CHECKOUT,)
    assert checkout_origins("http://127.0.0.1:9/v1") == ("http://127.0.0.1:9",)
    # The stored links of open orders join, without repeats or junk.
    assert checkout_origins(
        None, ["https://pay.example.com/c/1", None, "https://checkout.stripe.com/c/2", "x"]
    ) == (STRIPE_CHECKOUT, "https://pay.example.com")


def test_leads_to() -> None:
    allowed = checkout_origins(None)
    assert leads_to("https://checkout.stripe.com/c/pay/cs_1", allowed, "https://gw.example")
    assert leads_to("https://gw.example/mock/stripe/c/pay/cs_1", allowed, "https://gw.example")
    assert not leads_to("https://pay.example.com/c/pay/cs_1", allowed, "https://gw.example")
    assert not leads_to("javascript:x", allowed, None)


def test_policy_names_only_plain_origins() -> None:
    assert policy() == CSP and "form-action 'self';" in CSP
    widened = policy(["https://checkout.stripe.com", "http://127.0.0.1:12111"])
    assert "form-action 'self' https://checkout.stripe.com http://127.0.0.1:12111;" in widened
    # Anything else is dropped: nothing can smuggle a directive or a wildcard in.
    for bad in ("*", "https://x.com; script-src *", "'unsafe-inline'", "https:", "data:"):
        assert policy([bad]) == CSP


async def test_the_middleware_folds_the_page_origins_in_and_drops_the_header() -> None:
    sent: list[dict[str, object]] = []

    async def app(scope: object, receive: object, send: object) -> None:
        headers = [(FORM_ACTION_HEADER, b"https://checkout.stripe.com"), (b"x-other", b"1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]

    async def capture(message: dict[str, object]) -> None:
        sent.append(message)

    await SecurityHeaders(app)({"type": "http"}, None, capture)  # type: ignore[arg-type]
    headers = dict(sent[0]["headers"])  # type: ignore[arg-type]
    assert FORM_ACTION_HEADER not in headers and headers[b"x-other"] == b"1"
    csp = headers[b"content-security-policy"].decode()
    assert "form-action 'self' https://checkout.stripe.com;" in csp
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
