"""Composition of payments, part of the composition root (`app.py` calls it at start-up).

Builds the `Payments` service from the settings (the file's `[payments]` over what admins
saved), its jobs, and — where the mock providers are mounted (the demo) — the fake Stripe at
`/mock/stripe`, wired to this server's webhook and to the payment settings' secrets. This is
the one place that knows the fake exists; the payment code only sees a Stripe API base.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection
from ulid import ULID

from torouter.billing.ledger import Ledger
from torouter.billing.payments.service import Payments
from torouter.config import Settings
from torouter.crypto import Keyring
from torouter.snapshot import SnapshotHolder
from torouter.state.lock import LockFactory
from torouter.storage.db import Database

if TYPE_CHECKING:  # imported only when the jobs run or the fake is mounted
    from torouter.jobs.payments import PaymentJobs
    from torouter.mock.stripe.app import FakeStripe

__all__ = ["FAKE_STRIPE_PATH", "PaymentsWiring", "subscribe_paid_plan", "wire_payments"]

log = logging.getLogger("torouter.app")

FAKE_STRIPE_PATH = "/mock/stripe"


async def subscribe_paid_plan(
    conn: AsyncConnection,
    user_id: int,
    plan: Mapping[str, Any],
    at: dt.datetime,
    enforce_max: bool,
) -> int:
    """A plan applied by the payment code, with the subscription rules of the API (extend,
    restart, 409 for another live plan of the group; `max_per_user` when asked — a payment
    already received is not refused for it)."""
    from torouter.api.subscription_service import subscribe

    sub_id, _ = await subscribe(conn, user_id=user_id, plan=plan, at=at, enforce_max=enforce_max)
    return sub_id


@dataclass
class PaymentsWiring:
    payments: Payments
    jobs: PaymentJobs | None = None  # with `jobs.enabled`
    fake_stripe: FakeStripe | None = None  # the demo's Stripe, when the mocks are mounted

    async def close(self) -> None:
        if self.jobs is not None:
            await self.jobs.close()
        if self.fake_stripe is not None:
            await self.fake_stripe.close()
        await self.payments.aclose()


async def wire_payments(
    settings: Settings,
    *,
    db: Database,
    ledger: Ledger,
    snapshot: SnapshotHolder,
    keyring: Keyring,
    base_url: str,
    lock: LockFactory,
    mount_fake: bool,
    demo_created: bool,
    job_log: Any = None,
) -> PaymentsWiring:
    payments = Payments(
        db=db,
        ledger=ledger,
        snapshot=snapshot,
        file_settings=settings.payments,
        keyring=keyring,
        base_url=base_url,
        subscribe=subscribe_paid_plan,
    )
    wiring = PaymentsWiring(payments)
    if mount_fake:
        from torouter.mock.stripe import FakeStripe

        async def secret_key() -> str | None:
            return (await payments.config()).stripe_secret_key

        async def webhook_secret() -> str | None:
            return (await payments.config()).stripe_webhook_secret

        wiring.fake_stripe = FakeStripe(
            base_url + FAKE_STRIPE_PATH,
            api_key=secret_key,
            webhook_url=payments.webhook_url,
            webhook_secret=webhook_secret,
        )
        wiring.fake_stripe.start()
        await _demo_settings(payments, base_url + FAKE_STRIPE_PATH, created=demo_created)
    if settings.jobs.enabled:
        from torouter.jobs.payments import PaymentJobs

        wiring.jobs = PaymentJobs(
            payments,
            lock=lock,
            interval_s=settings.jobs.payments_interval_s,
            reconcile_interval_s=settings.jobs.reconcile_interval_s,
            node=f"{socket.gethostname()}-{os.getpid()}-{ULID()}",
            job_log=job_log,
        )
        wiring.jobs.start()
    return wiring


_STRIPE_FIELDS = frozenset({"stripe_secret_key", "stripe_webhook_secret", "stripe_api_base"})


async def _demo_settings(payments: Payments, fake_base: str, *, created: bool) -> None:
    """The demo pays through the mounted fake Stripe (R17.9, R14.11): on the first run its
    secrets are generated and saved like an admin would; later runs follow the listener if
    its address changed. An operator's own Stripe settings are never touched."""
    if payments.file_settings.model_fields_set & _STRIPE_FIELDS:
        return
    cfg = await payments.config()
    if created and not cfg.configured:
        await payments.save_config(
            {
                "stripe_secret_key": "sk_test_demo_" + secrets.token_urlsafe(18),
                "stripe_webhook_secret": "whsec_" + secrets.token_urlsafe(24),
                "stripe_api_base": fake_base,
            }
        )
        log.info("demo payments use the built-in fake Stripe", extra={"api_base": fake_base})
    elif (cfg.stripe_api_base or "").endswith(
        FAKE_STRIPE_PATH
    ) and cfg.stripe_api_base != fake_base:
        await payments.save_config({"stripe_api_base": fake_base})
