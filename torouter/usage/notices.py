"""Low-balance notices (SPEC R15.4) to mail: the writer's `on_low_balance` hook.

The writer hands over the notices of a committed batch; each becomes one mail through the
mail seam (`accounts/mailer.py`), posted off the writer's path (`Postman.post` returns at
once), in the user's language or the deployment's default.
"""

from __future__ import annotations

from collections.abc import Sequence

from torouter.accounts.emails import low_balance_mail
from torouter.accounts.mailer import Postman
from torouter.usage.low_balance import LowBalance

__all__ = ["LowBalanceMailer"]


class LowBalanceMailer:
    def __init__(self, postman: Postman, base_url: str, default_language: str = "en") -> None:
        self.postman = postman
        self._top_up = f"{base_url.rstrip('/')}/purchase"  # the console's top-up page (R14.2)
        self._language = default_language

    def __call__(self, notices: Sequence[LowBalance]) -> None:
        for n in notices:
            mail = low_balance_mail(
                n.email,
                n.balance_nusd,
                n.threshold_nusd,
                self._top_up,
                n.language or self._language,
            )
            self.postman.post(mail)
