"""The composition root: build the ASGI app (dispatcher + lifespan) from `Settings`.

Importing this module creates nothing; `build_app(settings)` builds, the ASGI lifespan starts
and stops. The dispatcher is a prefix test per request:

    /v1 /api/v1 /v1beta /api/v1beta    → gateway (raw ASGI, the hot path)
    /api/…                             → management API (FastAPI)
    /mock/…                            → mock providers (when mounted)
    /healthz /readyz /metrics          → operations
    / /login /keys … /static/…         → console (server-rendered pages, R15)
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

import orjson
from ulid import ULID

from torouter import native_heap
from torouter.asgi import ASGIApp, Receive, Scope, Send, respond
from torouter.billing.ledger import Ledger
from torouter.config import Settings
from torouter.console.paths import is_console_path
from torouter.gateway.entry import Gateway
from torouter.gateway.relay import Relay
from torouter.gateway.response_routes import ResponseRoutes
from torouter.ids import request_id_for
from torouter.observability.logging import JsonSink, sink
from torouter.observability.metrics import Metrics
from torouter.observability.readiness import Check, Readiness
from torouter.private_files import private_folder
from torouter.routing.affinity import Affinity
from torouter.routing.health import HealthBook
from torouter.schema_gate import StartupError, hold_process_lock, prepare_schema
from torouter.snapshot import Snapshot, SnapshotHolder
from torouter.state.base import StateBackend, StateUnavailable
from torouter.state.bus import Bus, MemoryBus
from torouter.state.lock import LockFactory, local_lock
from torouter.state.memory import MemoryState
from torouter.storage.db import Database
from torouter.upstreams.choice import upstream_client
from torouter.upstreams.egress import EgressTransports
from torouter.usage.journal import Journal
from torouter.usage.journal_slots import JournalSlot, adopted_segments
from torouter.usage.recorder import UsageRecorder
from torouter.usage.settlement import Settlement

if TYPE_CHECKING:  # built on demand or only in some deployments: imported where built
    from torouter.accounts.service import Accounts
    from torouter.app_payments import PaymentsWiring
    from torouter.channel_status import ChannelStatusWriter
    from torouter.demo import DemoInfo
    from torouter.jobs.subscriptions import SubscriptionJobs
    from torouter.operations.jobs import JobLog
    from torouter.operations.nodes import Heartbeat
    from torouter.site_config import SiteConfig
    from torouter.state.redis_bus import RedisBus
    from torouter.storage.lock import ProcessLock
    from torouter.usage.notices import LowBalanceMailer
    from torouter.usage.retention import UsageRetention
    from torouter.usage.shared_journal import SharedJournal

__all__ = ["ToRouterApp", "build_app"]

log = logging.getLogger("torouter.app")


_GATEWAY_PREFIXES = ("/v1/", "/v1beta/", "/api/v1/", "/api/v1beta/")
_GATEWAY_EXACT = frozenset({"/v1", "/v1beta", "/api/v1", "/api/v1beta"})


@dataclass
class Components:
    settings: Settings
    db: Database
    state: StateBackend
    ledger: Ledger
    snapshot: SnapshotHolder
    recorder: UsageRecorder
    http: EgressTransports
    metrics: Metrics
    gateway: Gateway
    sink: JsonSink
    api: ASGIApp | None = None
    console: ASGIApp | None = None
    accounts: Accounts | None = None  # built with the management API, on its first request
    mock: ASGIApp | None = None
    lock: ProcessLock | None = None  # the one process on the database, without Redis
    demo: DemoInfo | None = None  # the demo data created on this run
    bus: Bus | None = None
    jobs: SubscriptionJobs | None = None
    payments: PaymentsWiring | None = None
    fake_stripe: ASGIApp | None = None  # mounted at /mock/stripe with the mocks (the demo)
    readiness: Readiness | None = None
    retention: UsageRetention | None = None
    # Always built; keyword-only so that they may follow the optional fields.
    notices: LowBalanceMailer = field(kw_only=True)  # the usage writer's mailer (R15.4)
    heartbeat: Heartbeat = field(kw_only=True)
    job_log: JobLog = field(kw_only=True)
    site_config: SiteConfig = field(kw_only=True)
    journal_slot: JournalSlot | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


class ToRouterApp:
    def __init__(self, settings: Settings, *, state: StateBackend | None = None) -> None:
        self.settings = settings
        self._state = state
        self.c: Components | None = None
        self.ready = False
        self.draining = False
        self.startup_error: str | None = None
        # A worker under the multi-process supervisor says why it failed on stderr itself:
        # its parent only sees the exit code.
        self.report_startup_error = False
        self._signal: int | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self._probe_task: asyncio.Task[None] | None = None
        self._status_writer: ChannelStatusWriter | None = None
        self._build_management: Callable[[], None] | None = None

    # -- dispatch ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            c = self.c
            if c is None:
                await _plain(scope, send, 503, b"starting")
                return
            if path.startswith(_GATEWAY_PREFIXES) or path in _GATEWAY_EXACT:
                await c.gateway(scope, receive, send)
            elif path.startswith("/api/") or path == "/api":
                if c.api is None and not self._management_ready():
                    await _respond(scope, send, 500, _INTERNAL, b"application/json")
                elif c.api is None:
                    await _respond(scope, send, 404, _NOT_FOUND, b"application/json")
                else:
                    await c.api(scope, receive, send)
            elif path.startswith("/mock/stripe/") and c.fake_stripe is not None:
                await c.fake_stripe(scope, receive, send)
            elif path.startswith("/mock/") and c.mock is not None:
                await c.mock(scope, receive, send)
            elif path == "/healthz":
                await _plain(scope, send, 200, b"ok")
            elif path == "/readyz":
                failing = await self._not_ready()
                if failing:
                    await _plain(scope, send, 503, b"not ready: " + ", ".join(failing).encode())
                else:
                    await _plain(scope, send, 200, b"ready")
            elif path == "/metrics":
                await self._metrics(scope, send)
            elif is_console_path(path) and (c.console is not None or self._build_management):
                if c.console is None and not self._management_ready():
                    await _plain(scope, send, 500, b"the console could not start; see the log")
                elif c.console is not None:
                    await c.console(scope, receive, send)
                else:
                    await _respond(scope, send, 404, _NOT_FOUND, b"application/json")
            else:
                await _respond(scope, send, 404, _NOT_FOUND, b"application/json")
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def _not_ready(self) -> list[str]:
        """Why `/readyz` is 503 (R17.3): starting, draining, or the stores that do not answer."""
        c = self.c
        if self.draining:
            return ["draining"]
        if not self.ready or c is None or c.readiness is None:
            return ["starting"]
        return await c.readiness.failing()

    async def _metrics(self, scope: Scope, send: Send) -> None:
        c = self.c
        assert c is not None
        client = scope.get("client")
        allowed = False
        if client:
            try:
                ip = ipaddress.ip_address(client[0])
                allowed = ip.is_loopback or ip.is_private
            except ValueError:
                allowed = False
        token = self.settings.metrics.token
        if token:
            auth = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            allowed = allowed or auth == f"Bearer {token}"
        if not allowed:
            await _plain(scope, send, 403, b"forbidden")
            return
        c.metrics.queue_depth.set(c.recorder.depth)
        health = c.gateway.relay.health
        for ch in c.snapshot.current.channels.values():
            state = health.view(ch)["status"]
            if health.cooling_until(ch, "") is not None:
                state = "cooling"
            for name in ("enabled", "disabled", "auto_disabled", "cooling"):
                c.metrics.channel_state.labels(str(ch.id), name).set(1 if state == name else 0)
        body = c.metrics.render()
        await _respond(scope, send, 200, body, b"text/plain; version=0.0.4; charset=utf-8")

    # -- lifespan ----------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    self.startup_error = str(exc)
                    log.error("startup failed: %s", exc, exc_info=not isinstance(exc, StartupError))
                    sink.flush()
                    if self.report_startup_error:
                        for line in str(exc).splitlines():
                            sys.stderr.write(f"ToRouter: worker {os.getpid()}: {line}\n")
                        sys.stderr.flush()
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                _settle_heap()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                self.draining = True
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        from torouter import crypto, provisioning

        s = self.settings
        private_folder(Path(s.data_dir))
        keyring = crypto.keyring_for(s)
        db = Database(s.database_url)
        process_lock = None
        if not s.redis.url:
            try:
                process_lock = await hold_process_lock(db, Path(s.data_dir))
            except StartupError:
                await db.dispose()
                raise
        try:
            await prepare_schema(db, keyring)
        except BaseException:
            if process_lock is not None:
                await process_lock.release()
            await db.dispose()
            raise
        from torouter.site_config import SiteConfig

        site_config = SiteConfig(s, keyring)  # which settings the file fixed, before any overlay
        async with db.connect() as conn:
            await site_config.apply_stored(conn, start=True)  # admin-saved settings (R17.5)
        if s.has_provisioning:
            try:
                await provisioning.apply(db, s, keyring)
            except provisioning.ProvisioningError as exc:
                raise StartupError(str(exc)) from exc
        demo_info = None
        if s.embedded and s.demo.enabled:
            from torouter import demo

            demo_info = await demo.ensure_demo(db, s, keyring, self.base_url())
            if demo_info is None:
                await demo.follow_base_url(db, s, self.base_url())  # a new port: links follow
        state, bus, lock = self._shared_state()
        ledger = Ledger(
            state,
            db=db,
            tz=ZoneInfo(s.timezone),
            lease_s=s.billing.reservation_lease_s,
            renew_every_s=s.billing.lease_renew_s,
            ip_rpm=s.gateway.ip_rpm,
            lock=lock,
        )

        # The direct client and one per egress proxy (R9.1, R20.3); a load retires the
        # proxies no channel names any more.
        http = EgressTransports(upstream_client(s.upstream.client))

        async def seed(snap: Snapshot) -> None:
            await ledger.on_snapshot(snap)  # counters of users not seen yet
            health.sync_status(snap.channels.values())  # built below, before the first load
            http.retain(c.proxy for c in snap.channels.values())

        slot = JournalSlot(Path(s.data_dir) / "journal")  # one per worker (R11.2)
        journal = Journal(slot.path)
        notices = _low_balance_mailer(s, self.base_url())
        shared_journal = _shared_journal(s, db, notices)
        recorder = UsageRecorder(
            db,
            journal,
            queue_size=max(s.usage.queue_size, 0),
            batch_size=s.usage.batch_size,
            flush_interval_s=s.usage.flush_interval_s,
            zone=ZoneInfo(s.timezone),  # roll-up days and hours (R11.3)
            on_low_balance=notices,
            shared=shared_journal,
            # A second connection to a file: SQLite's in-memory database is per connection.
            writer_thread=s.usage.writer_thread
            and s.is_sqlite
            and shared_journal is None
            and ":memory:" not in s.database_url,
        )
        with adopted_segments(slot.root, slot.path) as adopted:  # dead processes' leftovers
            # Before seeding: balances must include what the journals held.
            await recorder.replay(adopted)
        heartbeat, job_log = self._operations(db, recorder)
        snapshot = SnapshotHolder(db, lambda tok: crypto.decrypt(tok, keyring), on_load=seed)
        metrics = Metrics()
        health, affinity = self._channel_state(db, snapshot, bus, metrics)
        try:
            await snapshot.reload()
        except StateUnavailable as exc:
            raise StartupError(f"Redis is not reachable at redis.url: {exc}") from exc
        snapshot.attach(bus, f"{socket.gethostname()}-{os.getpid()}-{ULID()}")
        if process_lock is not None:
            self._reload_on_signal(snapshot)
        await http.start()
        settlement = Settlement(ledger=ledger, recorder=recorder)
        relay = Relay(
            transport=http, settings=s, settle=settlement.settle, health=health, affinity=affinity
        )
        gateway = Gateway(
            settings=s,
            snapshot=snapshot,
            ledger=ledger,
            recorder=recorder,
            relay=relay,
            settlement=settlement,
            # Responses id → channel, for previous_response_id follow-ups (R3.3).
            response_routes=ResponseRoutes(db),
            metrics=metrics,
            sink=sink,
            db=db,
        )
        self._start_probes(health, snapshot, http, lock, job_log)
        await bus.start()  # after every subscription: the Redis bus subscribes at start
        c = Components(
            settings=s,
            db=db,
            state=state,
            ledger=ledger,
            snapshot=snapshot,
            recorder=recorder,
            http=http,
            metrics=metrics,
            gateway=gateway,
            sink=sink,
            lock=process_lock,
            demo=demo_info,
            bus=bus,
            readiness=Readiness(
                _store_checks(db, state, cast("RedisBus", bus) if s.redis.url else None)
            ),
            notices=notices,
            heartbeat=heartbeat,
            job_log=job_log,
            site_config=site_config,
            journal_slot=slot,
        )
        mount = s.mock.mount if s.mock.mount is not None else (s.embedded and s.demo.enabled)
        from torouter.app_payments import wire_payments

        c.payments = await wire_payments(
            s,
            db=db,
            ledger=ledger,
            snapshot=snapshot,
            keyring=keyring,
            base_url=self.base_url(),
            lock=lock,
            mount_fake=mount,
            demo_created=demo_info is not None,
            job_log=job_log,
        )
        if c.payments.fake_stripe is not None:
            c.fake_stripe = _strip_prefix("/mock/stripe", c.payments.fake_stripe)
        # The management API and the console (FastAPI, pydantic schemas, Jinja2, Babel: about
        # 28 MB) are built when the first request for them arrives, so a worker that only relays
        # model traffic never holds them (R20.2); see `_management_ready`.
        self._build_management = lambda: self._build_api(c, keyring)
        if mount:
            from torouter.mock import MockApp

            c.mock = _strip_prefix("/mock", MockApp())
        recorder.start()
        sink.start()
        ledger.start()
        c.tasks.append(
            asyncio.create_task(
                _periodic_reload(snapshot, c.job_log, db, site_config), name="snapshot-reload"
            )
        )
        c.heartbeat.start()
        if s.jobs.enabled:
            from torouter.jobs.subscriptions import SubscriptionJobs

            c.jobs = SubscriptionJobs(
                db,
                ledger,
                snapshot,
                lock=lock,
                interval_s=s.jobs.subscriptions_interval_s,
                job_log=c.job_log,
            )
            c.jobs.start()
            from torouter.usage.retention import UsageRetention

            c.retention = UsageRetention(
                db,
                retention_days=s.usage.retention_days,
                zone=ZoneInfo(s.timezone),
                lock=lock,
                job_log=c.job_log,
            )
            c.retention.start()
        self.c = c
        self.ready = True
        if demo_info is not None:
            # The one place the demo secrets are shown: stderr, once (R17.9), never the JSON log.
            from torouter import demo

            sys.stderr.write("\n" + demo.banner(demo_info, self.base_url()) + "\n")
            sys.stderr.flush()
        log.info("ready", extra={"url": self.base_url(), "pid": os.getpid()})
        sink.flush()

    def _reload_on_signal(self, snapshot: SnapshotHolder) -> None:
        """A CLI write (`apply`…) reaches this Redis-less process by a signal: reload now, as
        after an API edit (R7.12). The lock makes this the only process on the database."""
        from torouter.invalidation import RELOAD_SIGNAL

        loop = asyncio.get_running_loop()

        async def reload() -> None:
            try:
                await snapshot.invalidate()
                log.info("snapshot reloaded on request")
            except Exception:
                log.exception("snapshot reload on request failed")

        try:
            loop.add_signal_handler(RELOAD_SIGNAL, self._keep, reload)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            return
        self._signal = RELOAD_SIGNAL

    def _keep(self, job: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.ensure_future(job())
        self._tasks.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._tasks.discard)

    def _channel_state(
        self, db: Database, snapshot: SnapshotHolder, bus: Bus, metrics: Metrics
    ) -> tuple[HealthBook, Affinity]:
        """Channel health (R9.6) and session affinity (R9.2), built with their listeners:
        cooldowns and affinity moves mirrored to other nodes, disables persisted off the hot
        path (the status writer)."""
        from torouter.channel_status import ChannelStatusWriter
        from torouter.routing.shared import ChannelMirror

        writer = ChannelStatusWriter(db, snapshot)
        mirror = ChannelMirror(bus, f"{socket.gethostname()}-{os.getpid()}-{ULID()}")

        def changed(cooldown: Any, channel_id: int | None, reason: str | None) -> None:
            if cooldown is not None:
                mirror.cooldown(cooldown)
                metrics.cooldowns.labels(str(cooldown.channel_id), cooldown.reason).inc()
            if channel_id is not None:
                writer.schedule(channel_id, "auto_disabled", reason)

        health = HealthBook(on_change=changed)
        affinity = Affinity(self.settings.routing.affinity_ttl_s, on_move=mirror.affinity_moved)
        mirror.attach(health, affinity)
        self._status_writer = writer
        return health, affinity

    def _start_probes(
        self,
        health: HealthBook,
        snapshot: SnapshotHolder,
        http: EgressTransports,
        lock: LockFactory,
        job_log: Any = None,
    ) -> None:
        """Probes re-enable auto-disabled channels (R9.6), one node per round."""
        from torouter.routing import probe

        assert self._status_writer is not None  # `_channel_state` made it, before the probes
        self._probe_task = asyncio.create_task(
            probe.run_probes(
                http,
                snapshot,
                health,
                self._status_writer,
                float(self.settings.routing.probe_interval_s),
                lock=lock,
                job_log=job_log,
            ),
            name="channel-probes",
        )

    def _operations(self, db: Database, recorder: UsageRecorder) -> tuple[Heartbeat, JobLog]:
        """This node's heartbeat row and the background jobs' run log (operations page)."""
        from torouter import __version__
        from torouter.operations.jobs import JobLog
        from torouter.operations.nodes import Heartbeat, NodeIdentity

        s = self.settings
        identity = NodeIdentity.here(__version__)
        info = {
            "database": "sqlite" if s.is_sqlite else "postgresql",
            "redis": bool(s.redis.url),
            "workers": s.server.workers,
        }
        heartbeat = Heartbeat(db, identity, depth=lambda: recorder.depth, info=info)
        return heartbeat, JobLog(db, identity.id)

    def _shared_state(self) -> tuple[StateBackend, Bus, LockFactory]:
        """In-process counters and bus, or Redis ones when `redis.url` is set (R1.4)."""
        s = self.settings
        if not s.redis.url:
            return self._state or MemoryState(), MemoryBus(), local_lock
        from torouter.state.redis import RedisState, connect
        from torouter.state.redis_bus import RedisBus
        from torouter.state.redis_lock import redis_lock_factory

        client = connect(s.redis.url, timeout_s=s.redis.socket_timeout_s)
        # Pub/sub blocks on reads: its own connection, with a longer timeout.
        bus = RedisBus(connect(s.redis.url, timeout_s=max(s.redis.socket_timeout_s, 5.0)))
        return self._state or RedisState(client), bus, redis_lock_factory(client)

    def _management_ready(self) -> bool:
        """Build the management API and the console on their first request (once; the build
        has no await, so concurrent first requests cannot both start it). False, with the
        error logged, when the build fails: the next request tries again."""
        build = self._build_management
        if build is None:
            return True
        t0 = time.perf_counter()
        try:
            build()
        except Exception:
            log.exception("the management API and console could not be built")
            return False
        self._build_management = None
        gc.freeze()  # like the start-up heap: long-lived, kept out of the collector's walks
        log.info(
            "management API and console built",
            extra={"ms": round((time.perf_counter() - t0) * 1000, 1)},
        )
        return True

    def _build_api(self, c: Components, keyring: Any) -> None:
        from torouter.api.app import DOCS_URL
        from torouter.observability.api_access import RouteTemplates, with_access_log

        api = self._build_fastapi(c, keyring)
        templates = RouteTemplates(api.openapi, extra=[DOCS_URL])
        c.api = with_access_log(api, templates, c.sink)  # management requests logged (R17.1)

    def _build_fastapi(self, c: Components, keyring: Any) -> Any:
        from torouter.accounts.clock import SystemClock
        from torouter.accounts.service import Accounts
        from torouter.api import ApiDeps, build_management_api

        # Sessions, sign-up, TOTP: mail goes to SMTP when `smtp.host` is set (now: the file,
        # else the settings page), else to the outbox folder; a verification or suspension
        # reloads the gateway's snapshot.
        clock = SystemClock()
        c.accounts = Accounts.build(
            c.settings,
            c.db,
            keyring,
            on_users_changed=c.snapshot.invalidate,
            base_url=self.base_url(),
            mailer=c.notices.postman.mailer,  # one mail seam for the process (live SMTP settings)
            clock=clock,
            limiter=_account_limiter(c.state, clock) if c.settings.redis.url else None,
        )
        deps = ApiDeps(
            settings=c.settings,
            db=c.db,
            snapshot=c.snapshot,
            ledger=c.ledger,
            accounts=c.accounts,
            health=c.gateway.relay.health,
            http=c.http,
            gateway=c.gateway,
            payments=c.payments.payments if c.payments else None,
        )
        from torouter.console.app import build_console  # Jinja2, Babel: loaded with the API
        from torouter.operations.context import OpsContext

        s = c.settings
        checks = _store_checks(c.db, c.state, cast("RedisBus", c.bus) if s.redis.url else None)
        ops = OpsContext(
            node=c.heartbeat.identity if c.heartbeat is not None else None,
            queue_depth=lambda: c.recorder.depth,
            queue_size=s.usage.queue_size,
            checks=checks,
            redis=bool(s.redis.url),
        )
        c.console = build_console(
            deps, base_url=self.base_url(), ops=ops, site_config=c.site_config
        )
        return build_management_api(deps)

    def base_url(self) -> str:
        s = self.settings
        if s.public_base_url:
            return s.public_base_url.rstrip("/")
        host = s.server.host if s.server.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{s.server.port}"

    async def shutdown(self) -> None:
        c = self.c
        if c is None:
            return
        self.ready = False
        if self._signal is not None:
            asyncio.get_running_loop().remove_signal_handler(self._signal)
        for t in c.tasks:
            t.cancel()
        if c.jobs is not None:
            await c.jobs.close()
        if c.payments is not None:
            await c.payments.close()
        if c.retention is not None:
            await c.retention.close()
        if self._probe_task is not None:
            self._probe_task.cancel()
        if self._status_writer is not None:
            await self._status_writer.drain()
        if c.accounts is not None:
            await c.accounts.postman.drain()  # mail already accepted is still sent
        await c.recorder.close()  # flush every queued row (R17.4)
        if c.journal_slot is not None:
            c.journal_slot.release()
        await c.notices.postman.drain()  # and the notices its last batches raised
        if c.heartbeat is not None:
            await c.heartbeat.stop()  # the node's row says it stopped cleanly
        await c.gateway.response_routes.close()
        log.info(
            "shutdown complete",
            extra={"usage_rows_written": c.recorder.written, "usage_queue_depth": c.recorder.depth},
        )
        await c.http.close()
        await c.ledger.close()
        if c.bus is not None:
            await c.bus.close()
        await c.state.close()
        await c.sink.stop()
        if c.lock is not None:
            await c.lock.release()
        await c.db.dispose()


def build_app(settings: Settings, *, state: StateBackend | None = None) -> ToRouterApp:
    return ToRouterApp(settings, state=state)


def from_environment() -> ToRouterApp:
    """Factory for `uvicorn --factory` with several workers: settings from the environment."""
    from torouter.config import load_settings
    from torouter.observability.logging import setup_logging

    settings = load_settings()
    setup_logging(settings.log.level)
    app = build_app(settings)
    app.report_startup_error = True
    return app


def _store_checks(
    db: Database, state: StateBackend, redis_bus: RedisBus | None
) -> dict[str, Check]:
    """The database always; Redis when configured: its counters answer and the pub/sub that
    carries invalidations is subscribed (while it is not, this node may serve stale edits)."""
    checks: dict[str, Check] = {"database": db.ping}
    if redis_bus is not None:
        subscribed = redis_bus.subscribed

        async def redis() -> bool:
            return subscribed.is_set() and await state.ping()

        checks["redis"] = redis
    return checks


def _shared_journal(s: Settings, db: Database, notices: Any) -> SharedJournal | None:
    """Scaled out, settled rows also go to a Redis stream, so another node writes a killed
    node's rows (R11.2; `usage/shared_journal.py`). None on the embedded default."""
    if not s.redis.url:
        return None
    from functools import partial

    from torouter.state.redis import connect
    from torouter.usage.recorder import write_rows
    from torouter.usage.shared_journal import SharedJournal

    write = partial(write_rows, db, zone=ZoneInfo(s.timezone), on_low_balance=notices)
    name = f"{socket.gethostname()}-{os.getpid()}-{ULID()}"
    return SharedJournal(connect(s.redis.url, timeout_s=s.redis.socket_timeout_s), name, write)


def _account_limiter(state: StateBackend, clock: Any) -> Any:
    """Login, sign-up and reset limits shared by every worker and node through the Redis the
    counters use: per-process windows would allow five guesses per worker (R12.1)."""
    from torouter.accounts.redis_limits import RedisLimiter

    client = getattr(state, "client", None)
    if client is None:  # a state backend given by a test: keep the process's own windows
        return None
    return RedisLimiter(client, clock)


def _low_balance_mailer(settings: Settings, base_url: str) -> Any:
    from torouter.accounts.live_mailer import LiveMailer
    from torouter.accounts.mailer import Postman
    from torouter.usage.notices import LowBalanceMailer

    # Live: SMTP as the file, else the admin settings page, leaves it at each send.
    return LowBalanceMailer(Postman(LiveMailer(settings)), base_url, settings.default_language)


async def _periodic_reload(
    snapshot: SnapshotHolder,
    job_log: Any = None,
    db: Database | None = None,
    site_config: Any = None,
    interval: float = 60.0,
) -> None:
    """A full reload covers any missed invalidation (R7.12); settings saved on another node
    are picked up here too."""
    while True:
        await asyncio.sleep(interval)
        try:
            if job_log is None:
                await snapshot.reload()
                continue
            async with job_log.run("snapshot-reload") as run:
                await snapshot.reload()
                if db is not None and site_config is not None:
                    async with db.connect() as conn:
                        await site_config.apply_stored(conn, start=False)
                current = snapshot.current
                run.detail = f"{len(current.keys)} keys, {len(current.channels)} channels"
        except Exception:
            log.exception("periodic snapshot reload failed")


def _strip_prefix(prefix: str, app: ASGIApp) -> ASGIApp:
    async def mounted(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"][len(prefix) :] or "/"
        await app({**scope, "path": path, "raw_path": path.encode()}, receive, send)

    return mounted


_NOT_FOUND = orjson.dumps(
    {"error": {"message": "Not found", "type": "NOT_FOUND", "param": None, "code": "NOT_FOUND"}}
)
_INTERNAL = orjson.dumps(
    {
        "error": {
            "message": "Internal error, please retry",
            "type": "INTERNAL_ERROR",
            "param": None,
            "code": "INTERNAL_ERROR",
        }
    }
)


async def _respond(scope: Scope, send: Send, status: int, body: bytes, content_type: bytes) -> None:
    """A response of the dispatcher itself, with `x-request-id` like every other (R8.6)."""
    incoming = next((v for n, v in scope["headers"] if n == b"x-request-id"), None)
    await respond(send, status, body, request_id_for(incoming), content_type=content_type)


async def _plain(scope: Scope, send: Send, status: int, body: bytes) -> None:
    await _respond(scope, send, status, body, b"text/plain; charset=utf-8")


def _settle_heap() -> None:
    """Move everything start-up built (modules, snapshot, schema) out of the collector's sight.

    The gateway's heap after start-up is large and lives as long as the process; without this,
    each full collection walks all of it (about 100 ms, measured under the benchmark) and the
    request churn triggers one every second or so. Frozen objects are never collected, which is
    what they are anyway.
    """
    gc.collect()
    native_heap.trim()  # start-up's temporary C memory back to the kernel (R20.1 peak RSS)
    gc.freeze()
    gc.set_threshold(5_000, 20, 20)  # fewer young collections (≈ -10 % CPU per request measured)
