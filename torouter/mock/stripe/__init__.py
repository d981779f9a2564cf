"""A fake Stripe for tests and the demo (SPEC R14.11): Checkout Sessions, Refunds, signed
webhooks with faults, and a hosted checkout page. Nothing in the product knows it exists;
the official Stripe SDK talks to it through its API base setting."""

from torouter.mock.stripe.app import FakeStripe
from torouter.mock.stripe.store import API_VERSION, FakeAccount, StripeError
from torouter.mock.stripe.webhooks import Delivery, sign

__all__ = ["API_VERSION", "Delivery", "FakeAccount", "FakeStripe", "StripeError", "sign"]
