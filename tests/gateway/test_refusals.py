"""Failed-lookup blocking per client IP (SPEC R18.3) and the sample of refusal rows (R7.1)."""

from __future__ import annotations

import pytest

from torouter.access.keys import FAILED_LOOKUPS_PER_MINUTE
from torouter.errors import GatewayError
from torouter.gateway.refusals import LookupThrottle, RefusalSampler

T0 = 1_800_000_000.0 + 15  # 15 s into a minute


class Counter:
    """The state backend's per-minute count of failed lookups, per IP."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    async def __call__(self, ip: str) -> int:
        self.counts[ip] = self.counts.get(ip, 0) + 1
        return self.counts[ip]


async def test_an_ip_is_blocked_at_the_limit_until_its_minute_ends() -> None:
    counter = Counter()
    throttle = LookupThrottle(counter)
    for _ in range(FAILED_LOOKUPS_PER_MINUTE - 1):
        await throttle.failed("10.0.0.1", T0)
    throttle.check("10.0.0.1", T0)  # one below the limit: still looked up
    await throttle.failed("10.0.0.1", T0)
    with pytest.raises(GatewayError) as info:
        throttle.check("10.0.0.1", T0 + 1)
    assert (info.value.status, info.value.code) == (429, "RATE_LIMIT_EXCEEDED")
    assert info.value.retry_after == pytest.approx(44)
    assert ("x-torouter-limit", "ip") in info.value.headers
    throttle.check("10.0.0.2", T0 + 1)  # another client is not affected
    throttle.check("10.0.0.1", T0 + 45)  # the next minute: looked up again
    assert counter.counts == {"10.0.0.1": FAILED_LOOKUPS_PER_MINUTE}


async def test_a_client_without_an_address_is_one_bucket() -> None:
    throttle = LookupThrottle(Counter())
    for _ in range(FAILED_LOOKUPS_PER_MINUTE):
        await throttle.failed(None, T0)
    with pytest.raises(GatewayError):
        throttle.check(None, T0)


def test_refusals_are_sampled_ten_per_key_code_and_minute() -> None:
    sampler = RefusalSampler()
    taken = [sampler.take(1, "INSUFFICIENT_BALANCE", T0) for _ in range(12)]
    assert taken == [True] * 10 + [False] * 2
    assert sampler.take(2, "INSUFFICIENT_BALANCE", T0)  # another key
    assert sampler.take(1, "model_not_allowed", T0)  # another code
    assert sampler.take(1, "INSUFFICIENT_BALANCE", T0 + 60)  # the next minute


@pytest.mark.parametrize("code", ["INVALID_API_KEY", "API_KEY_REQUIRED"])
def test_refusals_without_a_key_are_never_sampled(code: str) -> None:
    assert not RefusalSampler().take(1, code, T0)


def test_the_sample_forgets_old_minutes_when_full() -> None:
    sampler = RefusalSampler()
    for key in range(10_001):
        sampler.take(key, "E", T0)
    assert sampler.take(0, "E", T0 + 60)
    assert len(sampler._counts) == 1  # only the current minute kept
