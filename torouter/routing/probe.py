"""Probing auto-disabled channels and persisting disables (SPEC R9.6).

Every `routing.probe_interval_s` the node sends one one-token request to each auto-disabled
channel's `test_model`; a success re-enables it. Disables decided by the health book are
written to the database off the request path, then the snapshot reloads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import orjson
from sqlalchemy import update

from torouter.operations.jobs import JobLog
from torouter.platforms.registry import spec_for
from torouter.routing.health import HealthBook
from torouter.snapshot import ChannelRec, SnapshotHolder
from torouter.state.lock import LockFactory, local_lock
from torouter.storage import tables as t
from torouter.storage.db import Database
from torouter.upstreams.http import UpstreamHttp

__all__ = ["ChannelStatusWriter", "probe_channel", "run_probes"]

log = logging.getLogger("torouter.routing")


def probe_request(ch: ChannelRec) -> tuple[str, dict[str, str], bytes]:
    """(url, headers, body) of the platform's one-token native request to the test model."""
    spec = spec_for(ch.platform)
    model = ch.upstream_model(ch.test_model or next(iter(sorted(ch.models)), ""))
    url = spec.url(ch, spec.probe_operation, model, native=True, stream=False)
    return url, spec.headers(ch, "probe"), orjson.dumps(spec.probe_body(model))


async def probe_channel(http: UpstreamHttp, ch: ChannelRec) -> tuple[bool, int, str]:
    """(ok, status, first 200 characters of the answer)."""
    assert http.session is not None
    url, headers, body = probe_request(ch)
    try:
        async with http.session.post(
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=min(ch.first_byte_timeout, 30)),
            allow_redirects=False,
        ) as resp:
            text = (await resp.content.read(4096)).decode("utf-8", "replace")
            return 200 <= resp.status < 300, resp.status, text[:200]
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return False, 0, type(exc).__name__


class ChannelStatusWriter:
    """Persists a channel's status and reloads the snapshot, one write at a time."""

    def __init__(self, db: Database, snapshot: SnapshotHolder) -> None:
        self._db = db
        self._snapshot = snapshot
        self._tasks: set[asyncio.Task[None]] = set()

    def schedule(self, channel_id: int, status: str, reason: str | None) -> None:
        task = asyncio.get_running_loop().create_task(self.write(channel_id, status, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def write(self, channel_id: int, status: str, reason: str | None) -> None:
        try:
            async with self._db.begin() as conn:
                await conn.execute(
                    update(t.channels)
                    .where(t.channels.c.id == channel_id, t.channels.c.status != "disabled")
                    .values(
                        status=status, status_reason=reason, status_since=dt.datetime.now(dt.UTC)
                    )
                )
            await self._snapshot.invalidate()  # every node stops or resumes using it (R7.12)
            log.warning(
                "channel status changed",
                extra={"channel": channel_id, "status": status, "reason": reason},
            )
        except Exception:
            log.exception("could not persist channel status", extra={"channel": channel_id})

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def run_probes(
    http: UpstreamHttp,
    snapshot: SnapshotHolder,
    health: HealthBook,
    writer: ChannelStatusWriter,
    interval: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    lock: LockFactory = local_lock,
    job_log: JobLog | None = None,
) -> None:
    """Probe every auto-disabled channel once per `interval`; with several nodes, one node per
    round (the others find the lock held and skip it). A round that probed is recorded in
    `job_log` (the operations page)."""
    while True:
        await sleep(interval)
        disabled = [c for c in snapshot.current.channels.values() if c.status == "auto_disabled"]
        if not disabled:
            continue
        async with lock("channel-probes", max(interval, 30.0)) as held:
            if not held:
                continue
            started = dt.datetime.now(dt.UTC)
            revived = 0
            for ch in disabled:
                ok, status, text = await probe_channel(http, ch)
                health.probed(ch.id, ok, status, text)
                log.info("channel probe", extra={"channel": ch.id, "ok": ok, "status": status})
                if ok:
                    revived += 1
                    health.enable(ch.id)
                    await writer.write(ch.id, "enabled", None)
            if job_log is not None:
                detail = f"{len(disabled)} probed, {revived} re-enabled"
                await job_log.record("channel-probes", started, ok=True, detail=detail)
