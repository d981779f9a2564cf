"""Probing auto-disabled channels (SPEC R9.6).

Every `routing.probe_interval_s` the node sends one one-token request to each auto-disabled
channel's `test_model`; a success re-enables it through the `StatusWriter` it is handed
(`torouter/channel_status.py` persists the status off the request path, then the snapshot
reloads). Routing itself touches no database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from torouter.platforms.registry import spec_for
from torouter.records import ChannelRec, ChannelStatus
from torouter.routing.health import HealthBook
from torouter.state.lock import LockFactory, local_lock
from torouter.upstreams.egress import transport_for
from torouter.upstreams.transport import UpstreamFailure, UpstreamTransport

if TYPE_CHECKING:  # annotations only: routing imports no SQL (DESIGN §2)
    from torouter.operations.jobs import JobLog
    from torouter.snapshot import SnapshotHolder

__all__ = ["StatusWriter", "probe_channel", "run_probes"]

log = logging.getLogger("torouter.routing")


def probe_request(ch: ChannelRec) -> tuple[str, dict[str, str], bytes]:
    """(url, headers, body) of the platform's one-token native request to the test model."""
    spec = spec_for(ch.platform)
    model = ch.upstream_model(ch.test_model or next(iter(sorted(ch.models)), ""))
    url = spec.url(ch, spec.probe_operation, model, native=True, stream=False)
    return url, spec.headers(ch, "probe"), orjson.dumps(spec.probe_body(model))


async def probe_channel(http: UpstreamTransport, ch: ChannelRec) -> tuple[bool, int, str]:
    """(ok, status, first 200 characters of the answer, or the failure's cause)."""
    url, headers, body = probe_request(ch)
    try:
        resp = await transport_for(http, ch.proxy).send(
            "POST", url, body=body, headers=headers, total_s=min(ch.first_byte_timeout, 30)
        )
        try:
            text = (await resp.read(4096)).decode("utf-8", "replace")
        finally:
            resp.close()
    except UpstreamFailure as exc:
        return False, 0, str(exc)
    return 200 <= resp.status < 300, resp.status, text[:200]


class StatusWriter(Protocol):
    """Persists a channel's status (`torouter.channel_status.ChannelStatusWriter`)."""

    async def write(self, channel_id: int, status: ChannelStatus, reason: str | None) -> None: ...


def __getattr__(name: str) -> Any:
    """`probe.ChannelStatusWriter`, the writer's old home, still resolves (loaded on use)."""
    if name == "ChannelStatusWriter":
        from torouter.channel_status import ChannelStatusWriter

        return ChannelStatusWriter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


async def run_probes(
    http: UpstreamTransport,
    snapshot: SnapshotHolder,
    health: HealthBook,
    writer: StatusWriter,
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
