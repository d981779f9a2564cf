"""Channel health: cooldowns, failure streaks, auto-disable (SPEC R9.4–R9.6, R9.9).

Bookkeeping is synchronous and in memory (one node's view); `HealthBook.on_change` lets the
composition root mirror cooldowns and disables to other nodes and persist auto-disables. Times
are wall-clock seconds so that nodes can share them.

Rules:
- 429 cools the (channel, model) until the upstream's reset, else 30 s doubling per consecutive
  429 up to 600 s.
- 3 consecutive network, timeout or 5xx failures within 60 s cool the channel 30 s, doubling on
  repeat up to 300 s; 529 cools 30 s at once; a success resets the counters.
- auth/billing cools the channel 300 s; 3 consecutive (1 with a billing pattern) auto-disable it
  when its `auto_disable` is on.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from torouter.records import ChannelRec
from torouter.routing.classify import Outcome, has_billing_pattern
from torouter.routing.recent import RecentResults
from torouter.routing.resets import reset_after

__all__ = ["ChannelHealth", "Cooldown", "HealthBook"]

RATE_BASE_S, RATE_MAX_S = 30.0, 600.0
FAIL_WINDOW_S, FAIL_THRESHOLD = 60.0, 3
FAIL_BASE_S, FAIL_MAX_S = 30.0, 300.0
AUTH_COOL_S, AUTH_THRESHOLD = 300.0, 3
OVERLOADED_S = 30.0


@dataclass(frozen=True, slots=True)
class Cooldown:
    channel_id: int
    model: str | None  # None: the whole channel
    until: float
    reason: str


@dataclass(slots=True)
class ChannelHealth:
    """One channel's counters, and a short history for the health view (R9.9)."""

    failures: deque[float] = field(default_factory=deque)  # times of consecutive failures
    fail_cooldowns: int = 0  # consecutive cooldowns for failures (doubling)
    rate_streak: dict[str, int] = field(default_factory=dict)  # per model
    auth_streak: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    # (time, ok, latency ms, ttft ms) of the last 2,000 results, in arrays (`recent.py`).
    results: RecentResults = field(default_factory=RecentResults)
    disabled_reason: str | None = None
    # The last probe or admin Test: (time, ok, HTTP status or 0, short detail).
    last_probe: tuple[float, bool, int, str] | None = None


class HealthBook:
    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[Cooldown | None, int | None, str | None], None] | None = None,
    ) -> None:
        self.clock = clock
        self.cooldowns: dict[tuple[int, str | None], Cooldown] = {}
        self.channels: dict[int, ChannelHealth] = {}
        self.auto_disabled: dict[int, str] = {}  # channel id → reason, until persisted
        self.in_flight: dict[int, int] = {}
        # Called with every new cooldown or disable, for mirroring and persistence.
        self.on_change = on_change

    def _ch(self, channel_id: int) -> ChannelHealth:
        h = self.channels.get(channel_id)
        if h is None:
            h = self.channels[channel_id] = ChannelHealth()
        return h

    # -- queries -------------------------------------------------------------------------

    def cooling_until(self, ch: ChannelRec, model: str, now: float | None = None) -> float | None:
        now = self.clock() if now is None else now
        latest = None
        for key in ((ch.id, None), (ch.id, model)):
            cd = self.cooldowns.get(key)
            if cd is not None:
                if cd.until <= now:
                    del self.cooldowns[key]
                elif latest is None or cd.until > latest:
                    latest = cd.until
        return latest

    def available(self, ch: ChannelRec, model: str, now: float | None = None) -> bool:
        if ch.id in self.auto_disabled:
            return False
        if ch.max_concurrency and self.in_flight.get(ch.id, 0) >= ch.max_concurrency:
            return False
        return self.cooling_until(ch, model, now) is None

    def earliest_end(self, channels: Iterable[ChannelRec], model: str) -> float | None:
        now = self.clock()
        ends = [u for c in channels if (u := self.cooling_until(c, model, now)) is not None]
        return min(ends) - now if ends else None

    # -- recording -----------------------------------------------------------------------

    def acquire(self, channel_id: int) -> None:
        self.in_flight[channel_id] = self.in_flight.get(channel_id, 0) + 1

    def release(self, channel_id: int) -> None:
        n = self.in_flight.get(channel_id, 0) - 1
        if n > 0:
            self.in_flight[channel_id] = n
        else:
            self.in_flight.pop(channel_id, None)

    def success(self, ch: ChannelRec, model: str, latency_ms: int, ttft_ms: int | None) -> None:
        h = self._ch(ch.id)
        h.failures.clear()
        h.fail_cooldowns = 0
        h.auth_streak = 0
        h.rate_streak.pop(model, None)
        h.results.append(self.clock(), True, latency_ms, ttft_ms)

    def failure(
        self,
        ch: ChannelRec,
        model: str,
        outcome: Outcome,
        *,
        status: int = 0,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        latency_ms: int = 0,
    ) -> Cooldown | None:
        """Record a failover-class failure; return the cooldown it started, if any."""
        now = self.clock()
        h = self._ch(ch.id)
        h.last_error = f"{outcome.value} {status}".strip()
        h.last_error_at = now
        h.results.append(now, False, latency_ms, None)
        if outcome is Outcome.RATE_LIMITED:
            streak = h.rate_streak.get(model, 0) + 1
            h.rate_streak[model] = streak
            wait = reset_after(headers or {}, body, now)
            if wait is None:
                wait = min(RATE_BASE_S * 2 ** (streak - 1), RATE_MAX_S)
            return self._cool(ch.id, model, now + wait, "rate_limited")
        if outcome is Outcome.AUTH:
            h.auth_streak += 1
            billing = has_billing_pattern(body)
            if ch.auto_disable and (billing or h.auth_streak >= AUTH_THRESHOLD):
                self.disable(ch.id, "billing" if billing else "auth")
            return self._cool(ch.id, None, now + AUTH_COOL_S, "auth_billing")
        # network, timeout, server
        if status == 529:
            return self._cool(ch.id, None, now + OVERLOADED_S, "overloaded")
        while h.failures and now - h.failures[0] > FAIL_WINDOW_S:
            h.failures.popleft()
        h.failures.append(now)
        if len(h.failures) >= FAIL_THRESHOLD:
            h.failures.clear()
            wait = min(FAIL_BASE_S * 2**h.fail_cooldowns, FAIL_MAX_S)
            h.fail_cooldowns += 1
            return self._cool(ch.id, None, now + wait, outcome.value)
        return None

    def _cool(self, channel_id: int, model: str | None, until: float, reason: str) -> Cooldown:
        cd = Cooldown(channel_id, model, until, reason)
        self.apply(cd)
        if self.on_change is not None:
            self.on_change(cd, None, None)
        return cd

    def apply(self, cd: Cooldown) -> None:
        """A cooldown decided here or by another node."""
        key = (cd.channel_id, cd.model)
        old = self.cooldowns.get(key)
        if old is None or old.until < cd.until:
            self.cooldowns[key] = cd

    def disable(self, channel_id: int, reason: str, *, mirror: bool = True) -> None:
        self.auto_disabled[channel_id] = reason
        self._ch(channel_id).disabled_reason = reason
        if mirror and self.on_change is not None:
            self.on_change(None, channel_id, reason)

    def enable(self, channel_id: int) -> None:
        self.auto_disabled.pop(channel_id, None)
        h = self._ch(channel_id)
        h.disabled_reason = None
        h.auth_streak = 0
        for key in [k for k in self.cooldowns if k[0] == channel_id]:
            del self.cooldowns[key]

    def probed(self, channel_id: int, ok: bool, status: int, detail: str = "") -> None:
        """A probe or an admin Test ran (R9.9 shows the last one); counters are untouched."""
        self._ch(channel_id).last_probe = (self.clock(), ok, status, detail[:200])

    def sync_status(self, channels: Iterable[ChannelRec]) -> None:
        """After a snapshot load: persisted `auto_disabled` channels stay out."""
        for ch in channels:
            if ch.status == "auto_disabled":
                self.auto_disabled.setdefault(ch.id, "persisted")
            elif ch.id in self.auto_disabled and self.auto_disabled[ch.id] == "persisted":
                self.auto_disabled.pop(ch.id, None)

    # -- health view (R9.9) ---------------------------------------------------------------

    def view(self, ch: ChannelRec) -> dict[str, object]:
        now = self.clock()
        h = self._ch(ch.id)
        out: dict[str, object] = {
            "channel_id": ch.id,
            "status": "auto_disabled" if ch.id in self.auto_disabled else ch.status,
            "disabled_reason": self.auto_disabled.get(ch.id),
            "cooldowns": [
                {"model": cd.model, "until": cd.until, "reason": cd.reason}
                for (cid, _), cd in self.cooldowns.items()
                if cid == ch.id and cd.until > now
            ],
            "consecutive_failures": len(h.failures),
            "last_error": h.last_error,
            "last_error_at": h.last_error_at,
            "in_flight": self.in_flight.get(ch.id, 0),
            "last_probe": None
            if h.last_probe is None
            else dict(zip(("at", "ok", "status", "detail"), h.last_probe, strict=True)),
        }
        for label, span in (("5m", 300.0), ("1h", 3600.0)):
            recent = [r for r in h.results if now - r[0] <= span]
            ok = [r for r in recent if r[1]]
            lat = sorted(r[2] for r in ok)
            ttft = sorted(r[3] for r in ok if r[3] is not None)
            out[f"window_{label}"] = {
                "requests": len(recent),
                "success_rate": round(len(ok) / len(recent), 4) if recent else None,
                "latency_p50_ms": _pct(lat, 0.5),
                "latency_p95_ms": _pct(lat, 0.95),
                "ttft_p50_ms": _pct(ttft, 0.5),
                "ttft_p95_ms": _pct(ttft, 0.95),
            }
        return out


def _pct(values: list[int], q: float) -> int | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]
