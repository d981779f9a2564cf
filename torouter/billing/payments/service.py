"""`Payments`: what the API, the console and the jobs call (R14.2–R14.6).

It owns the collaborators (database, the gateway's ledger and snapshot, the settings, the
provider) and does the order of things: a transaction, then — only after it committed — the
side effects on the gateway's in-memory state (balance counters, snapshot), so a counter
never shows money the database does not have. Provider calls happen outside transactions.

The provider is built from the effective settings on first use and rebuilt when they change
(`provider_factory`; tests pass a fake one, production the Stripe seam, imported lazily).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import RowMapping
from ulid import ULID

from torouter.billing.ledger import Ledger, balance_counter
from torouter.billing.payments import refunds as rf
from torouter.billing.payments.amounts import STRIPE_MIN_CENTS, minor_units
from torouter.billing.payments.config import PaymentsConfig, load_config, save_config
from torouter.billing.payments.provider import (
    CheckoutRequest,
    CheckoutSession,
    PaymentProvider,
    ProviderError,
    SignatureError,
)
from torouter.billing.payments.settle import (
    Outcome,
    Subscribe,
    settle_paid,
    settle_unpaid,
    store_receipt,
)
from torouter.config import PaymentsSettings
from torouter.crypto import Keyring
from torouter.errors import GatewayError, error
from torouter.records import Row
from torouter.snapshot import SnapshotHolder
from torouter.storage.db import Database
from torouter.storage.repos.ledger import debit_if_covered
from torouter.storage.repos.orders import (
    count_open_orders,
    get_order,
    insert_event,
    insert_order,
    move_order,
    set_event_outcome,
)
from torouter.storage.repos.users import lock_user

__all__ = ["Payments", "ProviderFactory", "utc_now"]

log = logging.getLogger("torouter.payments")

ProviderFactory = Callable[[PaymentsConfig], PaymentProvider]
Clock = Callable[[], dt.datetime]
_EXPIRY_MARGIN = dt.timedelta(seconds=60)  # Stripe wants ≥ 30 min at *its* receipt time
_RECEIPT_TIMEOUT_S = 5.0
_PROCESSING = "This order's payment is being processed; it cannot be resumed or cancelled"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def stripe_provider(cfg: PaymentsConfig) -> PaymentProvider:
    from torouter.billing.payments.stripe_api import StripeProvider  # the SDK, on first use

    assert cfg.stripe_secret_key and cfg.stripe_webhook_secret
    return StripeProvider(
        secret_key=cfg.stripe_secret_key,
        webhook_secret=cfg.stripe_webhook_secret,
        api_base=cfg.stripe_api_base,
    )


def unavailable(exc: ProviderError, what: str) -> GatewayError:
    """A provider failure as the API answers it (502), without its internals."""
    log.warning("payment provider call failed", extra={"call": what, "code": exc.code})
    if exc.retryable:
        return error("E21", "The payment provider is unavailable; please try again")
    return error("E21", f"The payment provider refused the request: {exc.message}")


class Payments:
    def __init__(
        self,
        *,
        db: Database,
        ledger: Ledger,
        snapshot: SnapshotHolder,
        file_settings: PaymentsSettings,
        keyring: Keyring,
        base_url: str,
        subscribe: Subscribe,
        clock: Clock = utc_now,
        provider_factory: ProviderFactory = stripe_provider,
    ) -> None:
        self.db = db
        self.ledger = ledger
        self.snapshot = snapshot
        self.file_settings = file_settings
        self.keyring = keyring
        self.base_url = base_url.rstrip("/")
        self.subscribe = subscribe
        self.clock = clock
        self._factory = provider_factory
        self._providers: dict[tuple[str | None, ...], PaymentProvider] = {}

    # -- configuration -------------------------------------------------------------------------

    async def config(self) -> PaymentsConfig:
        async with self.db.connect() as conn:
            return await load_config(conn, self.file_settings, self.keyring)

    async def save_config(self, changes: dict[str, Any]) -> PaymentsConfig:
        async with self.db.begin() as conn:
            return await save_config(conn, changes, self.file_settings, self.keyring)

    async def provider(self) -> tuple[PaymentsConfig, PaymentProvider]:
        """The provider for the current settings; 503 PAYMENTS_NOT_CONFIGURED without them."""
        cfg = await self.config()
        if not cfg.configured:
            raise error("PAYMENTS_NOT_CONFIGURED")
        key = (cfg.stripe_secret_key, cfg.stripe_webhook_secret, cfg.stripe_api_base)
        found = self._providers.get(key)
        if found is None:
            found = self._providers[key] = self._factory(cfg)
        return cfg, found

    async def aclose(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        for p in providers:
            await p.aclose()

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/api/payments/stripe/webhook"

    # -- after a commit ------------------------------------------------------------------------

    async def after(self, outcome: Outcome) -> None:
        """Mirror a committed balance or subscription change in the gateway's state."""
        if outcome.credited_nusd and outcome.user_id is not None:
            await self.ledger.credit(outcome.user_id, outcome.credited_nusd)
        if outcome.subscription_changed:
            await self.snapshot.invalidate()

    async def _receipt(self, provider: PaymentProvider, outcome: Outcome, session_id: str) -> None:
        """Best effort: the receipt link of a payment just credited (the session of a webhook
        does not carry it)."""
        if outcome.result != "credited" or outcome.order_id is None:
            return
        try:
            async with asyncio.timeout(_RECEIPT_TIMEOUT_S):
                full = await provider.retrieve_session(session_id, with_receipt=True)
        except (ProviderError, TimeoutError):
            return
        if full.receipt_url:
            async with self.db.begin() as conn:
                await store_receipt(conn, outcome.order_id, full.receipt_url)

    # -- orders --------------------------------------------------------------------------------

    async def order(self, order_id: str, *, user_id: int | None = None) -> RowMapping:
        """An order; 404 when missing or (with `user_id`) someone else's."""
        async with self.db.connect() as conn:
            row = await get_order(conn, order_id)
        if row is None or (user_id is not None and row["user_id"] != user_id):
            raise error("E19", "Order not found")
        return row

    async def create_checkout(
        self,
        *,
        user_id: int,
        email: str | None,
        kind: str,
        amount_nusd: int,
        product: str,
        plan_id: int | None = None,
    ) -> RowMapping:
        """A pending order and its Stripe Checkout Session (R14.2); 409 beyond
        `max_pending_orders`, 503 without payments, 502 when Stripe fails (the order is then
        `failed`)."""
        cfg, provider = await self.provider()
        param = "amount_usd" if kind == "topup" else "plan_id"
        try:
            cents = minor_units(amount_nusd)
        except ValueError:
            raise error("E16", f"{param}: not a whole number of cents", param=param) from None
        if cents < STRIPE_MIN_CENTS:
            raise error("E16", f"{param}: Stripe cannot charge less than 0.50 USD", param=param)
        now = self.clock()
        expires = now + dt.timedelta(minutes=cfg.order_expiry_min)
        order_id = f"ord_{ULID()}"
        async with self.db.begin() as conn:
            await lock_user(conn, user_id=user_id)  # first write: one creation per user at a time
            if await count_open_orders(conn, user_id=user_id, now=now) >= cfg.max_pending_orders:
                raise error(
                    "CONFLICT",
                    f"You have {cfg.max_pending_orders} unpaid orders open; pay or cancel one "
                    "first",
                )
            await insert_order(
                conn,
                {
                    "id": order_id,
                    "user_id": user_id,
                    "kind": kind,
                    "plan_id": plan_id,
                    "amount_nusd": amount_nusd,
                    "currency": "usd",
                    "method": "stripe",
                    "status": "pending",
                    "session_expires_at": expires,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        request = CheckoutRequest(
            order_id=order_id,
            user_id=user_id,
            kind=kind,
            amount_minor=cents,
            currency="usd",
            product_name=product,
            success_url=f"{self.base_url}/payment/result?order={order_id}",
            cancel_url=f"{self.base_url}/purchase",
            expires_at=int((expires + _EXPIRY_MARGIN).timestamp()),
            customer_email=email,
        )
        try:
            session = await provider.create_session(request)
        except ProviderError as exc:
            async with self.db.begin() as conn:
                await move_order(
                    conn,
                    order_id,
                    from_status=("pending",),
                    values={"status": "failed", "note": "the checkout could not be created"},
                )
            raise unavailable(exc, "create_session") from exc
        async with self.db.begin() as conn:
            await move_order(
                conn,
                order_id,
                from_status=("pending",),
                values={
                    "stripe_session_id": session.id,
                    "stripe_session_url": session.url,
                    "session_expires_at": _from_unix(session.expires_at) or expires,
                },
            )
        return await self.order(order_id)

    async def buy_plan_from_balance(self, *, user_id: int, plan: Row, actor: str) -> RowMapping:
        """A subscription paid from the balance (R14.6): paid at once, or 402
        INSUFFICIENT_BALANCE with nothing charged. Same rules as buying on the plans page."""
        price = int(plan["price_nusd"])
        _, in_flight = await self.ledger.state.used(balance_counter(user_id))
        now = self.clock()
        order_id = f"ord_{ULID()}"
        async with self.db.begin() as conn:
            await lock_user(conn, user_id=user_id)  # one purchase at a time per user
            sub_id = await self.subscribe(conn, user_id, plan, now, True)
            await insert_order(
                conn,
                {
                    "id": order_id,
                    "user_id": user_id,
                    "kind": "subscription",
                    "plan_id": plan["id"],
                    "amount_nusd": price,
                    "currency": "usd",
                    "method": "balance",
                    "status": "paid",
                    "subscription_id": sub_id,
                    "created_at": now,
                    "paid_at": now,
                    "updated_at": now,
                },
            )
            if price > 0:
                entry = await debit_if_covered(
                    conn,
                    user_id=user_id,
                    amount_nusd=price,
                    reason="subscription_purchase",
                    reference=order_id,
                    actor=actor,
                    note=f"plan {plan['name']}",
                    keep_nusd=max(int(in_flight), 0),
                )
                if entry is None:  # rolls the subscription and the order back too
                    raise error("E11")
        if price > 0:
            await self.ledger.credit(user_id, -price)
        await self.snapshot.invalidate()
        return await self.order(order_id)

    async def resume(self, order_id: str, *, user_id: int) -> str:
        """The checkout URL of a pending order while its session can be paid; else 409 with
        the order now `expired` (or credited, if Stripe says it was paid meanwhile)."""
        order = await self.order(order_id, user_id=user_id)
        if order["status"] != "pending" or order["method"] != "stripe":
            raise error("CONFLICT", f"This order is {order['status']}")
        now = self.clock()
        session: CheckoutSession | None = None
        if order["stripe_session_id"]:
            try:
                _, provider = await self.provider()
                session = await provider.retrieve_session(order["stripe_session_id"])
            except ProviderError:
                session = None  # decide from what we know
        if session is not None and session.paid:
            await self.apply_session(session, source="resume")
            raise error("CONFLICT", "This order has been paid")
        if session is not None and session.status == "complete":
            raise error("CONFLICT", _PROCESSING)  # a delayed payment method is still running
        open_ = (
            order["stripe_session_url"]
            and order["session_expires_at"] is not None
            and order["session_expires_at"] > now
            and (session is None or session.status == "open")
        )
        if open_:
            return str(order["stripe_session_url"])
        async with self.db.begin() as conn:
            await move_order(
                conn,
                order_id,
                from_status=("pending",),
                values={"status": "expired", "updated_at": now},
            )
        raise error("CONFLICT", "This order has expired; start a new one")

    async def cancel(self, order_id: str, *, user_id: int) -> RowMapping:
        """pending → cancelled, after expiring the Stripe session (so it cannot be paid)."""
        order = await self.order(order_id, user_id=user_id)
        if order["status"] != "pending" or order["method"] != "stripe":
            raise error("CONFLICT", f"This order is {order['status']}")
        if order["stripe_session_id"]:
            _, provider = await self.provider()
            sid = order["stripe_session_id"]
            try:
                await provider.expire_session(sid)
            except ProviderError as exc:
                if exc.retryable:
                    raise unavailable(exc, "expire_session") from exc
                try:  # not open any more: paid, or expired already?
                    session = await provider.retrieve_session(sid)
                except ProviderError as again:
                    raise unavailable(again, "retrieve_session") from again
                if session.paid:
                    await self.apply_session(session, source="cancel")
                    raise error("CONFLICT", "This order has been paid") from None
                if session.status == "complete":
                    raise error("CONFLICT", _PROCESSING) from None
        now = self.clock()
        async with self.db.begin() as conn:
            # `expired` too: Stripe's expiry webhook for our own expire call may come first.
            await move_order(
                conn,
                order_id,
                from_status=("pending", "expired"),
                values={"status": "cancelled", "updated_at": now},
            )
        return await self.order(order_id)

    async def apply_session(self, session: CheckoutSession, *, source: str) -> Outcome:
        """What a session at Stripe means for its order, through the exactly-once path."""
        now = self.clock()
        async with self.db.begin() as conn:
            if session.paid:
                outcome = await settle_paid(
                    conn, session, now=now, subscribe=self.subscribe, source=source
                )
            elif session.status == "expired":
                outcome = await settle_unpaid(conn, session, "expired", now=now, source=source)
            else:
                outcome = Outcome("pending", session.client_reference_id)
        await self.after(outcome)
        return outcome

    async def sync(self, order_id: str, *, user_id: int | None = None) -> RowMapping:
        """Fetch the order's session from Stripe now and apply it (`/payment/result` after
        60 s of polling, the admin's Sync, the job)."""
        order = await self.order(order_id, user_id=user_id)
        if order["method"] != "stripe" or not order["stripe_session_id"]:
            return order
        _, provider = await self.provider()
        try:
            session = await provider.retrieve_session(order["stripe_session_id"], with_receipt=True)
        except ProviderError as exc:
            raise unavailable(exc, "retrieve_session") from exc
        await self.apply_session(session, source="sync")
        if session.paid and session.receipt_url and not order["receipt_url"]:
            async with self.db.begin() as conn:
                await store_receipt(conn, order_id, session.receipt_url)
        return await self.order(order_id)

    # -- webhook -------------------------------------------------------------------------------

    async def handle_webhook(self, payload: bytes, signature: str | None) -> Outcome:
        """R14.3. 400 (E16) for a payload whose signature or timestamp does not verify."""
        _, provider = await self.provider()
        try:
            event = provider.parse_webhook(payload, signature)
        except SignatureError as exc:
            log.warning("stripe webhook refused", extra={"reason": exc.message})
            raise error("E16", "Invalid Stripe signature") from exc
        now = self.clock()
        async with self.db.begin() as conn:
            if not await insert_event(conn, event_id=event.id, type_=event.type, at=now):
                return Outcome("duplicate")
            outcome = await self._dispatch(conn, event.type, event, now)
            await set_event_outcome(
                conn, event_id=event.id, order_id=outcome.order_id, outcome=outcome.result
            )
        await self.after(outcome)
        if event.session is not None:
            await self._receipt(provider, outcome, event.session.id)
        log.info(
            "stripe webhook",
            extra={
                "event": event.id,
                "type": event.type,
                "outcome": outcome.result,
                "order_id": outcome.order_id,
            },
        )
        return outcome

    async def _dispatch(self, conn: Any, type_: str, event: Any, now: dt.datetime) -> Outcome:
        session: CheckoutSession | None = event.session
        if session is not None and type_ in (
            "checkout.session.completed",
            "checkout.session.async_payment_succeeded",
        ):
            return await settle_paid(
                conn, session, now=now, subscribe=self.subscribe, source="webhook"
            )
        if session is not None and type_ == "checkout.session.async_payment_failed":
            return await settle_unpaid(conn, session, "failed", now=now, source="webhook")
        if session is not None and type_ == "checkout.session.expired":
            return await settle_unpaid(conn, session, "expired", now=now, source="webhook")
        if event.refund is not None and type_ == "refund.failed":
            order_id, user_id, back = await rf.refund_failed_later(conn, event.refund, now=now)
            return Outcome("refund_failed", order_id, user_id, credited_nusd=back)
        return Outcome("ignored")


def _from_unix(ts: int | None) -> dt.datetime | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC)
