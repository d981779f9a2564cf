"""The accounts stack (management API + a real SMTP server) for the low-balance notice tests."""

from tests.accounts.conftest import smtp_server, stack

__all__ = ["smtp_server", "stack"]
