"""`Accounts`: what the account flows are built from, chosen once by the composition root.

Side effects sit behind the pieces passed in: the database, the mail `Postman`, the
`Limiter` and the `Clock`. `on_users_changed` is awaited after any change that alters
whether a user's API keys work (verification, suspension), so the gateway's snapshot
sees it on the very next request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from torouter.accounts.clock import Clock, SystemClock
from torouter.accounts.limits import Limiter, MemoryLimiter
from torouter.accounts.mailer import Mailer, NoMailer, OutboxMailer, Postman, SmtpMailer
from torouter.config import Settings
from torouter.crypto import Keyring
from torouter.storage.db import Database

__all__ = ["Accounts", "base_url_of", "default_mailer", "mail_warning"]

log = logging.getLogger("torouter.accounts")


async def _nothing() -> None:
    return None


def base_url_of(settings: Settings) -> str:
    """Where links in mail point: `public_base_url`, else `http://<host>:<port>`."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    host = settings.server.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.server.port}"


def mail_warning(settings: Settings) -> str | None:
    """Why account mail cannot be sent with these settings, if it cannot (shown by `serve`
    and `check-config`)."""
    if settings.smtp.host or settings.embedded:
        return None
    return (
        "smtp.host is not set: verification and password-reset mail cannot be sent "
        "(the outbox folder is for the embedded default only; set [smtp] host)"
    )


def default_mailer(settings: Settings) -> Mailer:
    """SMTP when `smtp.host` is set; else the outbox folder in the embedded default, and no
    mail at all elsewhere: links are never written to files or logs there (R18.3)."""
    if settings.smtp.host:
        return SmtpMailer(settings.smtp)
    if settings.embedded:
        return OutboxMailer(Path(settings.data_dir) / "outbox", settings.smtp.sender)
    log.warning(mail_warning(settings))
    return NoMailer()


@dataclass(slots=True)
class Accounts:
    settings: Settings
    db: Database
    keyring: Keyring
    postman: Postman
    limiter: Limiter
    clock: Clock
    base_url: str
    on_users_changed: Callable[[], Awaitable[object]] = _nothing

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        keyring: Keyring,
        *,
        on_users_changed: Callable[[], Awaitable[object]] = _nothing,
        mailer: Mailer | None = None,
        limiter: Limiter | None = None,
        clock: Clock | None = None,
        base_url: str | None = None,
    ) -> Accounts:
        clock = clock or SystemClock()
        return cls(
            settings=settings,
            db=db,
            keyring=keyring,
            postman=Postman(mailer or default_mailer(settings)),
            limiter=limiter or MemoryLimiter(clock),
            clock=clock,
            base_url=(base_url or base_url_of(settings)).rstrip("/"),
            on_users_changed=on_users_changed,
        )

    @property
    def secure_cookies(self) -> bool:
        """Cookies get `Secure` when the deployment is served over HTTPS (R12.3)."""
        return self.base_url.startswith("https://")
