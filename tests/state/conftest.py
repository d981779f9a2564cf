"""The state backend fixture: every test here runs on the in-process and the Redis backend."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import pytest

from torouter.state.memory import MemoryState


def redis_url() -> str:
    url = os.environ.get("TOROUTER_TEST_REDIS_URL")
    if not url:
        reason = 'TOROUTER_TEST_REDIS_URL is not set (eval "$(scripts/services.sh start)")'
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[object]:
    if request.param == "memory":
        yield MemoryState()
        return
    from torouter.state.redis import RedisState, connect

    backend = RedisState(connect(redis_url()))
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
def scope() -> str:
    """A user id no other test uses, so tests can share one Redis."""
    return str(secrets.randbelow(10**12) + 10**6)
