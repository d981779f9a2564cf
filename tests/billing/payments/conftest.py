"""Every payments test runs on the shop bench, whose teardown checks the invariant."""

from tests.billing.payments.shop import shop

__all__ = ["shop"]
