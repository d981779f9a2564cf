"""Run the mock providers standalone: ``torouter mock-provider --port N [--config F]``."""

from __future__ import annotations

import logging

import uvicorn

from torouter.mock.app import MockApp
from torouter.mock.config import load_mock_config

__all__ = ["quiet_dropped_responses", "run"]

_DROPPED = "ASGI callable returned without completing response."


class _DropFilter(logging.Filter):
    """``disconnect_after`` ends responses on purpose; uvicorn would log each one as an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != _DROPPED


def quiet_dropped_responses() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropFilter) for f in logger.filters):
        logger.addFilter(_DropFilter())


def run(host: str, port: int, config_path: str | None) -> None:
    """Serve the mock providers until interrupted (instant mode unless configured otherwise).

    Binds first and says where it listens (port 0 picks a free one); a port in use is an
    error on stderr and exit code 1, never a silent exit.
    """
    import sys

    from torouter.serving import ServeFailed, bind, report

    app = MockApp(load_mock_config(config_path))
    try:
        sock = bind(host, port)
    except ServeFailed as exc:
        raise SystemExit(report(exc)) from None
    port = sock.getsockname()[1]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    sys.stdout.write(
        f"mock providers listening on {url}\n"
        f"  OpenAI base URL:    {url}/v1\n"
        f"  Anthropic base URL: {url}\n"
        f"  Gemini base URL:    {url}\n"
    )
    sys.stdout.flush()
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="on",
        server_header=False,
    )
    server = uvicorn.Server(config)
    quiet_dropped_responses()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
