"""Run the built app under uvicorn with exit codes a supervisor can trust (R17.6).

uvicorn binds its socket only after the application's start-up, and a failed bind ends in a
`SystemExit` that used to be swallowed: `serve` printed a demo banner and "ready", then exited
0 without ever listening. Here the socket is bound first, by us, so that:
- a port already in use stops `serve` before anything starts (exit 1, the address named);
- the start-up's banner and "ready" line come after the socket listens (connections queue in
  its backlog until the loop accepts them);
- `--port 0` works: the real port is known before start-up, for links and the demo banner;
- with several workers, one that fails its start-up stops the parent with a non-zero code
  instead of leaving it serving with fewer workers, or exiting 0.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torouter.config import Settings

__all__ = ["EXIT_CONFIG", "EXIT_RUNTIME", "ServeFailed", "bind", "run_single", "run_workers"]

EXIT_RUNTIME = 1  # could not listen, a worker died at start-up: the environment, not the file
EXIT_CONFIG = 2  # the configuration, the database's state or the lock: fix, then start again

# uvicorn's exit code for a worker that failed before serving.
_STARTUP_FAILURE = 3


class ServeFailed(Exception):
    """`serve` must stop with `code`; the message says why, for stderr."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def bind(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on host:port, or `ServeFailed` naming the address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        # create_server sets SO_REUSEADDR (a restart is not blocked by TIME_WAIT), never
        # SO_REUSEPORT: a second process on the same port must fail, not share it.
        return socket.create_server((host, port), family=family, backlog=backlog)
    except OSError as exc:
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        raise ServeFailed(
            f"cannot listen on {where}: {exc.strerror or exc} (is another server using "
            "this port? set server.port or --port)",
            EXIT_RUNTIME,
        ) from None


def run_single(settings: Settings, options: dict[str, Any]) -> None:
    """Serve in this process until a signal; `ServeFailed` when it cannot start."""
    from torouter.migrate_apart import migrate_apart
    from torouter.native_heap import limit_arenas
    from torouter.schema_gate import StartupError

    limit_arenas()  # before any thread: the writer's and aiosqlite's share one arena (R20.1)
    sock = bind(settings.server.host, settings.server.port)
    try:
        migrate_apart(settings)  # before the app is imported: alembic never loads here (R20.1)
    except StartupError as exc:
        sock.close()
        raise ServeFailed(str(exc), EXIT_CONFIG) from None

    import uvicorn

    from torouter.app import build_app

    settings.server.port = sock.getsockname()[1]  # `--port 0`: the port the kernel chose
    app = build_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, **options))
    try:
        server.run(sockets=[sock])
    except SystemExit:
        pass  # uvicorn's own exit on a failed start-up: the reason is on the app
    finally:
        sock.close()
    if app.startup_error:
        raise ServeFailed(app.startup_error, EXIT_CONFIG)
    if not server.started:
        raise ServeFailed("the server did not start (see the log above)", EXIT_RUNTIME)


def run_workers(settings: Settings, options: dict[str, Any]) -> None:
    """Serve with `server.workers` processes sharing one socket bound here."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from torouter.native_heap import limit_arenas

    limit_arenas()  # set in the environment the workers inherit (R20.1)
    _prepare_schema(settings)  # once, here: workers migrating one SQLite file at once would race
    sock = bind(settings.server.host, settings.server.port)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    # Workers read their settings again (uvicorn's factory): carry the command line's choices.
    if settings.config_file:
        os.environ["TOROUTER_CONFIG"] = str(settings.config_file)
    os.environ["TOROUTER_SERVER__HOST"] = settings.server.host
    os.environ["TOROUTER_SERVER__PORT"] = str(port)
    os.environ["TOROUTER_SERVER__WORKERS"] = str(settings.server.workers)
    config = uvicorn.Config(
        "torouter.app:from_environment",
        factory=True,
        workers=settings.server.workers,
        **options,
    )
    supervisor = Multiprocess(config, sockets=[sock])
    try:
        supervisor.run()
    finally:
        sock.close()
    failed = [p.pid for p in supervisor.processes if p.exitcode == _STARTUP_FAILURE]
    if failed:
        raise ServeFailed(
            f"worker {failed[0]} failed to start (its reason is above); stopped every worker",
            EXIT_RUNTIME,
        )


def _prepare_schema(settings: Settings) -> None:
    import asyncio

    from torouter.schema_gate import StartupError, prepare_schema
    from torouter.storage.db import Database

    async def run() -> None:
        if settings.is_sqlite:
            from pathlib import Path

            from torouter.private_files import private_folder

            private_folder(Path(settings.data_dir))
        db = Database(settings.database_url)
        try:
            await prepare_schema(db)
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except StartupError as exc:
        raise ServeFailed(str(exc), EXIT_CONFIG) from None


def report(exc: ServeFailed) -> int:
    sys.stderr.write(f"ToRouter: {exc}\n")
    sys.stderr.flush()
    return exc.code
