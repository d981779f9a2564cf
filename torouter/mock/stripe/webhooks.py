"""Webhook delivery as Stripe does it, plus the faults a receiver must survive.

Each event is POSTed as JSON to the endpoint URL with `Stripe-Signature: t=<unix>,v1=<hex>`,
the HMAC-SHA256 (key: the endpoint secret) of `"<t>.<payload>"`. A non-2xx answer or a
connection error is retried (`max_retries` times, back-off from `retry_base_s` doubling: about
15 s in all by default; Stripe itself retries for three days).

Faults, set by the control API:
- `mode`: `deliver` (default), `hold` (queue events until `release`, which sends them in
  order or reversed: reordering), `drop` (record and never send: a lost webhook);
- `duplicate`: send every event N times at once (concurrent duplicate deliveries);
- `delay_s`: wait before sending (a slow network).
Every attempt is recorded in `deliveries`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

__all__ = ["Delivery", "WebhookSender", "sign"]

SecretSource = Callable[[], Awaitable[str | None]]


def sign(payload: str, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


@dataclass(frozen=True, slots=True)
class Delivery:
    event_id: str
    type: str
    attempt: int
    status: int | None  # None: not sent (dropped, no endpoint) or a connection error
    error: str | None
    at: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _static(value: str | None) -> SecretSource:
    async def source() -> str | None:
        return value

    return source


class WebhookSender:
    def __init__(
        self,
        url: str | None = None,
        secret: str | SecretSource | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_retries: int = 5,
        retry_base_s: float = 0.5,
    ) -> None:
        self.url = url
        self.secret: SecretSource = secret if callable(secret) else _static(secret)
        self._clock = clock
        self.max_retries = max_retries
        self.retry_base_s = retry_base_s
        self.mode = "deliver"
        self.duplicate = 1
        self.delay_s = 0.0
        self.held: list[dict[str, Any]] = []
        self.deliveries: list[Delivery] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._changed = asyncio.Condition()

    def configure(
        self, *, mode: str | None = None, duplicate: int | None = None, delay_s: float | None = None
    ) -> None:
        if mode is not None:
            if mode not in ("deliver", "hold", "drop"):
                raise ValueError("mode must be deliver, hold or drop")
            self.mode = mode
        if duplicate is not None:
            if not 1 <= duplicate <= 100:
                raise ValueError("duplicate must be 1 to 100")
            self.duplicate = duplicate
        if delay_s is not None:
            if not 0 <= delay_s <= 600:
                raise ValueError("delay_s must be 0 to 600")
            self.delay_s = delay_s

    # -- intake (called synchronously by the account when an event happens) -----------------

    def submit(self, event: dict[str, Any]) -> None:
        if self.mode == "drop":
            self._record(event, 0, None, "dropped")
        elif self.mode == "hold":
            self.held.append(event)
        else:
            self._spawn(self._deliver(event, self.duplicate, self.delay_s))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def release(self, order: str = "fifo") -> int:
        """Send the held events one after the other (`reverse`: newest first)."""
        events, self.held = self.held, []
        if order == "reverse":
            events.reverse()
        for event in events:
            await self._deliver(event, self.duplicate, 0.0)
        return len(events)

    async def resend(self, event: dict[str, Any]) -> None:
        """Deliver an event again, freshly signed (Stripe's "Resend")."""
        await self._deliver(event, 1, 0.0)

    # -- sending -------------------------------------------------------------------------------

    async def _deliver(self, event: dict[str, Any], copies: int, delay_s: float) -> None:
        if delay_s:
            await asyncio.sleep(delay_s)
        await asyncio.gather(*(self._send(event) for _ in range(copies)))

    async def _send(self, event: dict[str, Any]) -> None:
        payload = json.dumps(event, indent=2)
        for attempt in range(1, self.max_retries + 2):
            status, err = await self._post(payload)
            self._record(event, attempt, status, err)
            if status is not None and 200 <= status < 300:
                return
            if self.url is None:
                return
            await asyncio.sleep(self.retry_base_s * 2 ** (attempt - 1))

    async def _post(self, payload: str) -> tuple[int | None, str | None]:
        secret = await self.secret()
        if not self.url or not secret:
            return None, "no webhook endpoint configured"
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign(payload, secret, int(self._clock())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            async with self._session.post(self.url, data=payload.encode(), headers=headers) as r:
                await r.read()
                return r.status, None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, type(exc).__name__

    def _record(
        self, event: dict[str, Any], attempt: int, status: int | None, err: str | None
    ) -> None:
        self.deliveries.append(
            Delivery(event["id"], event["type"], attempt, status, err, self._clock())
        )
        self._spawn(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- waiting and closing -------------------------------------------------------------------

    async def wait_for(self, check: Callable[[list[Delivery]], bool]) -> None:
        """Until `check(deliveries)` holds (tests await deliveries, never a fixed time; the
        caller bounds the wait with `asyncio.timeout`)."""
        async with self._changed:
            await self._changed.wait_for(lambda: check(self.deliveries))

    async def idle(self) -> None:
        """Until nothing is being sent."""
        while any(not t.done() for t in self._tasks):
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None
