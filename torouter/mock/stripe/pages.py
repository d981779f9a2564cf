"""The fake's hosted pages: the checkout page at a session's `url`, and a charge receipt.

Server-rendered, no script: three forms whose buttons are named Pay, Fail and Cancel, so a
person or a browser test (by role and name) can drive a payment. The forms post to paths
relative to the page, which therefore works at any mount point (`/c/pay/<id>` standalone,
`/mock/stripe/c/pay/<id>` inside the demo).
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["checkout_page", "receipt_page"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;"
    "color:#1a1a1a}main{border:1px solid #ccc;border-radius:.5rem;padding:1.5rem}"
    "form{display:inline-block;margin:.25rem .5rem .25rem 0}"
    "button{font-size:1rem;padding:.5rem 1.25rem;border-radius:.25rem;border:1px solid #555;"
    "background:#fff;color:#1a1a1a;cursor:pointer}button.pay{background:#1d4ed8;color:#fff;"
    "border-color:#1d4ed8}p.note{color:#444;font-size:.875rem}"
)


def money(amount: int | None, currency: str | None) -> str:
    return f"{(amount or 0) / 100:,.2f} {(currency or '').upper()}"


def _doc(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def checkout_page(session: dict[str, Any], product: str | None, error: str | None = None) -> str:
    sid = escape(session["id"])
    amount = escape(money(session["amount_total"], session["currency"]))
    head = f"<h1>Pay {amount}</h1><p>{escape(product or 'Payment')}</p>"
    if session.get("customer_email"):
        head += f"<p>Billed to {escape(session['customer_email'])}</p>"
    if session["status"] != "open":
        state = {"complete": "This payment is complete.", "expired": "This session has expired."}
        return _doc("Checkout", head + f'<p role="status">{state.get(session["status"], "")}</p>')
    alert = f'<p role="alert">{escape(error)}</p>' if error else ""
    buttons = "".join(
        f'<form method="post" action="{sid}/{action}"><button type="submit" class="{action}">'
        f"{label}</button></form>"
        for action, label in (("pay", "Pay"), ("fail", "Fail"), ("cancel", "Cancel"))
    )
    note = (
        '<p class="note">Test mode: a fake Stripe on this machine. No card is needed and no '
        "money moves. Pay completes the payment, Fail makes it fail, Cancel returns to the "
        "shop.</p>"
    )
    return _doc("Checkout", head + alert + buttons + note)


def receipt_page(charge: dict[str, Any]) -> str:
    body = (
        f"<h1>Receipt</h1><p>Charge {escape(charge['id'])}</p>"
        f"<p>Amount paid: {escape(money(charge['amount'], charge['currency']))}</p>"
    )
    if charge.get("amount_refunded"):
        body += f"<p>Refunded: {escape(money(charge['amount_refunded'], charge['currency']))}</p>"
    return _doc("Receipt", body)
