"""Mail through whatever SMTP settings are in force when the mail is sent (R17.7, R15.2).

The SMTP fields can be changed on the admin settings page while the server runs: this mailer
chooses SMTP or the outbox, and reads host, port and credentials, at each send, from the
running `Settings` (file values, else the stored ones that `site_config` put there).
"""

from __future__ import annotations

from torouter.accounts.mailer import Mail
from torouter.accounts.service import default_mailer
from torouter.config import Settings

__all__ = ["LiveMailer"]


class LiveMailer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, mail: Mail) -> None:
        await default_mailer(self._settings).send(mail)
