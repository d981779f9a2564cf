"""The fake Stripe's account: Checkout Sessions, PaymentIntents, Charges, Refunds and Events.

Objects are kept in Stripe's wire shape (plain dicts with `id` and `object`) and changed in
place the way Stripe changes them; reads hand out deep copies. Every change that Stripe
announces becomes an Event, passed to `on_event` (the webhook deliverer). No I/O here: the
HTTP layer (`app.py`) parses requests and renders what these methods return or raise.

Time is the wall clock plus `offset` (tests move it forward to expire sessions).
"""

from __future__ import annotations

import copy
import secrets
import string
import time
from collections.abc import Callable
from typing import Any

from torouter.mock.stripe.forms import FormError, form_int

__all__ = ["API_VERSION", "FakeAccount", "StripeError"]

API_VERSION = "2026-10-28.endive"  # what the pinned SDK sends as Stripe-Version
_ALNUM = string.ascii_letters + string.digits
_MIN_EXPIRY_S = 30 * 60
_MAX_EXPIRY_S = 24 * 3600

Obj = dict[str, Any]


def new_id(prefix: str, n: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(n))


class StripeError(Exception):
    """An API error in Stripe's envelope. `saved`: whether an idempotency key remembers it
    (Stripe saves the result of every request that began executing, errors included, but not
    of requests refused while their parameters were validated)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        saved: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.saved = saved

    def body(self) -> Obj:
        err: Obj = {"type": self.type, "message": self.message}
        if self.code is not None:
            err["code"] = self.code
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            err["param"] = self.param
        return {"error": err}


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    """A parameter refused while validating: nothing ran, so nothing is saved."""
    return StripeError(
        400, message, code=code or "parameter_invalid_empty", param=param, saved=False
    )


def missing(kind: str, ident: str, param: str) -> StripeError:
    return StripeError(
        404, f"No such {kind}: '{ident}'", code="resource_missing", param=param, saved=False
    )


class FakeAccount:
    def __init__(self, public_url: str, *, clock: Callable[[], float] = time.time) -> None:
        self.public_url = public_url.rstrip("/")
        self._clock = clock
        self.offset = 0.0
        self.sessions: dict[str, Obj] = {}
        self.intents: dict[str, Obj] = {}
        self.charges: dict[str, Obj] = {}
        self.refunds: dict[str, Obj] = {}
        self.events: dict[str, Obj] = {}
        self._session_extra: dict[str, Obj] = {}  # payment_intent_data kept for the payment
        self.on_event: Callable[[Obj], None] = lambda event: None
        self.refund_failures: list[StripeError] = []  # the next refunds fail with these

    def now(self) -> int:
        return int(self._clock() + self.offset)

    # -- events --------------------------------------------------------------------------------

    def _emit(self, type_: str, obj: Obj) -> Obj:
        event: Obj = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }
        self.events[event["id"]] = event
        self.on_event(copy.deepcopy(event))
        return event

    def get_event(self, event_id: str) -> Obj:
        if event_id not in self.events:
            raise missing("event", event_id, "id")
        return copy.deepcopy(self.events[event_id])

    # -- Checkout Sessions ---------------------------------------------------------------------

    def create_session(self, params: Obj) -> Obj:
        mode = params.get("mode")
        if not mode:
            raise invalid("Missing required param: mode.", "mode", "parameter_missing")
        if mode != "payment":
            raise invalid(f"Invalid mode: this fake supports only `payment`, not {mode}.", "mode")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise invalid(
                "You must provide line_items when using mode `payment`.",
                "line_items",
                "parameter_missing",
            )
        total, currency = 0, None
        for i, item in enumerate(items):
            amount, cur = self._line_item(item, i)
            if currency not in (None, cur):
                raise invalid("All line items must share one currency.", f"line_items[{i}]")
            currency = cur
            total += amount
        now = self.now()
        expires_at = form_int(params, "expires_at", default=now + _MAX_EXPIRY_S)
        assert expires_at is not None
        if not _MIN_EXPIRY_S <= expires_at - now <= _MAX_EXPIRY_S:
            raise invalid(
                "The `expires_at` timestamp must be at least 30 minutes and at most 24 hours "
                "from Checkout Session creation.",
                "expires_at",
                "parameter_invalid_integer",
            )
        ref = params.get("client_reference_id")
        if ref is not None and (not isinstance(ref, str) or len(ref) > 200):
            raise invalid(
                "client_reference_id must be at most 200 characters.", "client_reference_id"
            )
        metadata = _metadata(params.get("metadata"), "metadata")
        session_id = new_id("cs_test_", 58)
        session: Obj = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": ref,
            "created": now,
            "currency": currency,
            "customer": None,
            "customer_email": params.get("customer_email"),
            "expires_at": expires_at,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": metadata,
            "mode": "payment",
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "ui_mode": "hosted",
            "url": f"{self.public_url}/c/pay/{session_id}",
        }
        pi_data = params.get("payment_intent_data") or {}
        self._session_extra[session_id] = {
            "metadata": _metadata(pi_data.get("metadata"), "payment_intent_data[metadata]"),
            "description": pi_data.get("description"),
            "items": items,
        }
        self.sessions[session_id] = session
        return copy.deepcopy(session)

    def _line_item(self, item: Any, i: int) -> tuple[int, str]:
        if not isinstance(item, dict):
            raise invalid("Invalid line item.", f"line_items[{i}]")
        if "price" in item:
            raise missing("price", str(item["price"]), f"line_items[{i}][price]")
        data = item.get("price_data")
        if not isinstance(data, dict):
            raise invalid(
                "You must specify either `price` or `price_data`.",
                f"line_items[{i}][price_data]",
                "parameter_missing",
            )
        currency = str(data.get("currency", "")).lower()
        if len(currency) != 3:
            raise invalid(
                "Missing required param: currency.", f"line_items[{i}][price_data][currency]"
            )
        try:
            unit = form_int(data, "unit_amount")
            qty = form_int(item, "quantity", default=1)
        except FormError as exc:
            raise invalid(str(exc), f"line_items[{i}][{exc.param}]") from None
        if unit is None or unit < 0:
            raise invalid(
                "Missing required param: unit_amount.", f"line_items[{i}][price_data][unit_amount]"
            )
        assert qty is not None
        if qty < 1:
            raise invalid("Quantity must be at least 1.", f"line_items[{i}][quantity]")
        if not isinstance(data.get("product_data"), dict) and "product" not in data:
            raise invalid(
                "You must specify either `product` or `product_data`.",
                f"line_items[{i}][price_data][product_data]",
                "parameter_missing",
            )
        return unit * qty, currency

    def _session(self, session_id: str) -> Obj:
        session = self.sessions.get(session_id)
        if session is None:
            raise missing("checkout.session", session_id, "session")
        return session

    def get_session(self, session_id: str, expand: list[str] | None = None) -> Obj:
        out = copy.deepcopy(self._session(session_id))
        fields = set(expand or ())
        if out["payment_intent"] and fields & {"payment_intent", "payment_intent.latest_charge"}:
            intent = copy.deepcopy(self.intents[out["payment_intent"]])
            if "payment_intent.latest_charge" in fields and intent.get("latest_charge"):
                intent["latest_charge"] = copy.deepcopy(self.charges[intent["latest_charge"]])
            out["payment_intent"] = intent
        return out

    def expire_session(self, session_id: str) -> Obj:
        session = self._session(session_id)
        if session["status"] != "open":
            raise StripeError(
                400,
                f'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f'Checkout Session has a status of "{session["status"]}".',
            )
        self._expire(session)
        return copy.deepcopy(session)

    def _expire(self, session: Obj) -> None:
        session.update(status="expired", url=None)
        self._emit("checkout.session.expired", session)

    def sweep(self) -> int:
        """Expire every open session past its `expires_at` (Stripe does this on its own)."""
        now = self.now()
        due = [
            s for s in self.sessions.values() if s["status"] == "open" and s["expires_at"] <= now
        ]
        for session in due:
            self._expire(session)
        return len(due)

    # -- paying (the hosted page's buttons and the controls) -----------------------------------

    def _open(self, session_id: str) -> Obj:
        session = self._session(session_id)
        if session["status"] != "open":
            raise StripeError(400, f"This Checkout Session is {session['status']}.")
        return session

    def _intent(self, session: Obj, status: str) -> Obj:
        extra = self._session_extra.get(session["id"], {})
        intent = {
            "id": new_id("pi_"),
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_received": 0,
            "created": self.now(),
            "currency": session["currency"],
            "description": extra.get("description"),
            "latest_charge": None,
            "livemode": False,
            "metadata": dict(extra.get("metadata") or {}),
            "status": status,
        }
        self.intents[intent["id"]] = intent
        session["payment_intent"] = intent["id"]
        return intent

    def _charge(self, intent: Obj) -> Obj:
        charge_id = new_id("ch_")
        charge = {
            "id": charge_id,
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"],
            "amount_refunded": 0,
            "created": self.now(),
            "currency": intent["currency"],
            "paid": True,
            "payment_intent": intent["id"],
            "receipt_url": f"{self.public_url}/receipts/{charge_id}",
            "refunded": False,
            "status": "succeeded",
        }
        self.charges[charge_id] = charge
        intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=charge_id)
        self._emit("charge.succeeded", charge)
        self._emit("payment_intent.succeeded", intent)
        return charge

    def pay(self, session_id: str) -> Obj:
        """A card payment that succeeds: the session completes, paid."""
        session = self._open(session_id)
        intent = self._intent(session, "processing")
        self._charge(intent)
        session.update(status="complete", payment_status="paid", url=None)
        self._emit("checkout.session.completed", session)
        return copy.deepcopy(session)

    def pay_async(self, session_id: str) -> Obj:
        """A delayed payment method: the session completes unpaid while the payment runs."""
        session = self._open(session_id)
        self._intent(session, "processing")
        session.update(status="complete", payment_status="unpaid", url=None)
        self._emit("checkout.session.completed", session)
        return copy.deepcopy(session)

    def settle_async(self, session_id: str, *, succeed: bool) -> Obj:
        session = self._session(session_id)
        if session["status"] != "complete" or session["payment_status"] != "unpaid":
            raise StripeError(400, "This Checkout Session has no payment in progress.")
        intent = self.intents[session["payment_intent"]]
        if succeed:
            self._charge(intent)
            session["payment_status"] = "paid"
            self._emit("checkout.session.async_payment_succeeded", session)
        else:
            intent["status"] = "requires_payment_method"
            self._emit("payment_intent.payment_failed", intent)
            self._emit("checkout.session.async_payment_failed", session)
        return copy.deepcopy(session)

    def fail(self, session_id: str) -> Obj:
        """The hosted page's Fail: the payment fails as a delayed method's would."""
        self.pay_async(session_id)
        return self.settle_async(session_id, succeed=False)

    # -- PaymentIntents ------------------------------------------------------------------------

    def get_intent(self, intent_id: str, expand: list[str] | None = None) -> Obj:
        intent = self.intents.get(intent_id)
        if intent is None:
            raise missing("payment_intent", intent_id, "intent")
        out = copy.deepcopy(intent)
        if "latest_charge" in (expand or ()) and out.get("latest_charge"):
            out["latest_charge"] = copy.deepcopy(self.charges[out["latest_charge"]])
        return out

    # -- Refunds -------------------------------------------------------------------------------

    def create_refund(self, params: Obj) -> Obj:
        intent_id, charge_id = params.get("payment_intent"), params.get("charge")
        if not intent_id and not charge_id:
            raise invalid(
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                "payment_intent",
                "parameter_missing",
            )
        try:
            amount = form_int(params, "amount")
        except FormError as exc:
            raise invalid(str(exc), exc.param, "parameter_invalid_integer") from None
        reason = params.get("reason")
        if reason not in (None, "", "duplicate", "fraudulent", "requested_by_customer"):
            raise invalid(f"Invalid reason: {reason}", "reason")
        metadata = _metadata(params.get("metadata"), "metadata")
        if intent_id:
            intent = self.intents.get(intent_id)
            if intent is None:
                raise missing("payment_intent", intent_id, "payment_intent")
            charge_id = intent.get("latest_charge")
            if intent["status"] != "succeeded" or not charge_id:
                raise StripeError(
                    400,
                    f"This PaymentIntent ({intent_id}) does not have a successful charge to "
                    "refund.",
                    param="payment_intent",
                )
        charge = self.charges.get(str(charge_id))
        if charge is None:
            raise missing("charge", str(charge_id), "charge")
        left = charge["amount"] - charge["amount_refunded"]
        if self.refund_failures:
            raise self.refund_failures.pop(0)
        if left <= 0:
            raise StripeError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = left if amount is None else amount
        if amount <= 0:
            raise invalid("Refund amount must be positive.", "amount", "parameter_invalid_integer")
        if amount > left:
            raise StripeError(
                400,
                f"Refund amount (${amount / 100:.2f}) is greater than unrefunded amount on charge "
                f"(${left / 100:.2f})",
                code="amount_too_large",
                param="amount",
            )
        refund = {
            "id": new_id("re_"),
            "object": "refund",
            "amount": amount,
            "balance_transaction": new_id("txn_"),
            "charge": charge["id"],
            "created": self.now(),
            "currency": charge["currency"],
            "metadata": metadata,
            "payment_intent": charge["payment_intent"],
            "reason": reason or None,
            "receipt_number": None,
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        self._emit("refund.created", refund)
        self._emit("charge.refunded", charge)
        return copy.deepcopy(refund)

    def get_refund(self, refund_id: str) -> Obj:
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise missing("refund", refund_id, "refund")
        return copy.deepcopy(refund)

    def fail_refund_later(self, refund_id: str, reason: str = "unknown") -> Obj:
        """A refund that Stripe accepted fails afterwards (`refund.failed`)."""
        refund = self.refunds.get(refund_id)
        if refund is None:
            raise missing("refund", refund_id, "refund")
        if refund["status"] != "failed":
            refund.update(status="failed", failure_reason=reason)
            charge = self.charges[refund["charge"]]
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = False
            self._emit("refund.failed", refund)
        return copy.deepcopy(refund)

    # -- lists ---------------------------------------------------------------------------------

    def list(self, kind: str, params: Obj) -> Obj:
        """`GET /v1/<kind>`: newest first, `limit` (1–100, default 10), `starting_after`,
        `ending_before`, `created[gt|gte|lt|lte]` and the kind's filters."""
        source, url = {
            "checkout.session": (self.sessions, "/v1/checkout/sessions"),
            "refund": (self.refunds, "/v1/refunds"),
            "event": (self.events, "/v1/events"),
        }[kind]
        try:
            limit = form_int(params, "limit", default=10)
        except FormError as exc:
            raise invalid(str(exc), "limit", "parameter_invalid_integer") from None
        assert limit is not None
        if not 1 <= limit <= 100:
            raise invalid("Invalid limit: must be between 1 and 100", "limit")
        # Newest first; among equal `created` seconds, the later-made object first.
        ordered = [
            o
            for _, o in sorted(
                enumerate(source.values()), key=lambda p: (p[1]["created"], p[0]), reverse=True
            )
        ]
        items = [o for o in ordered if _matches(o, params, kind)]
        after, before = params.get("starting_after"), params.get("ending_before")
        ids = [o["id"] for o in items]
        if after:
            if after not in source:
                raise missing(kind, after, "starting_after")
            items = items[ids.index(after) + 1 :] if after in ids else []
        elif before:
            if before not in source:
                raise missing(kind, before, "ending_before")
            items = items[: ids.index(before)][-limit:] if before in ids else []
        page = items[:limit]
        return {
            "object": "list",
            "data": [copy.deepcopy(o) for o in page],
            "has_more": len(items) > limit,
            "url": url,
        }


def _matches(obj: Obj, params: Obj, kind: str) -> bool:
    created = params.get("created")
    if isinstance(created, dict):
        for op, raw in created.items():
            try:
                bound = int(raw)
            except ValueError:
                raise invalid(f"Invalid integer: {raw}", f"created[{op}]") from None
            value = obj["created"]
            ok = {
                "gt": value > bound,
                "gte": value >= bound,
                "lt": value < bound,
                "lte": value <= bound,
            }.get(op)
            if ok is None:
                raise invalid(f"Received unknown parameter: created[{op}]", f"created[{op}]")
            if not ok:
                return False
    elif created is not None:
        if obj["created"] != form_int(params, "created"):
            return False
    for name in ("payment_intent", "charge", "type", "status"):
        if name in params and (kind != "event" or name == "type"):
            if obj.get(name) != params[name]:
                return False
    return True


def _metadata(value: Any, param: str) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid hash", param)
    if len(value) > 50:
        raise invalid("Metadata can have at most 50 keys.", param)
    out = {}
    for k, v in value.items():
        if not isinstance(v, str) or len(k) > 40 or len(v) > 500:
            raise invalid("Invalid metadata value.", f"{param}[{k}]")
        if v != "":
            out[k] = v
    return out
