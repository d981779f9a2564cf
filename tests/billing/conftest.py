"""The billing tests run on both state backends, like tests/state."""

from tests.state.conftest import scope, state

__all__ = ["scope", "state"]
