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
    """Serve the mock providers until interrupted (instant mode unless configured otherwise)."""
    app = MockApp(load_mock_config(config_path))
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="on",
        server_header=False,
    )
    server = uvicorn.Server(config)
    quiet_dropped_responses()
    server.run()
