"""Run the fake Stripe standalone: ``torouter fake-stripe --port N``.

Prints where it listens (and the webhook secret it signs with) on stdout before serving, so a
test or a person can point the product's `[payments]` settings at it.
"""

from __future__ import annotations

import secrets
import socket
import sys

import uvicorn

from torouter.mock.stripe.app import FakeStripe

__all__ = ["run"]


def run(
    host: str,
    port: int,
    *,
    webhook_url: str | None,
    webhook_secret: str | None,
    api_key: str | None,
) -> None:
    """Serve until interrupted. Port 0 picks a free one (printed)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    secret = webhook_secret or "whsec_" + secrets.token_urlsafe(24)
    fake = FakeStripe(url, api_key=api_key, webhook_url=webhook_url, webhook_secret=secret)
    sys.stdout.write(f"fake Stripe listening on {url}\n")
    sys.stdout.write(f'  stripe_api_base = "{url}"\n')
    sys.stdout.write(f"  webhook secret:  {secret}\n")
    sys.stdout.write(f"  webhooks to:     {webhook_url or '(none: set with POST /_fake/config)'}\n")
    sys.stdout.flush()
    config = uvicorn.Config(
        fake,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="on",
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])
