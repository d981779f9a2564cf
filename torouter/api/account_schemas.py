"""Bodies shared by `/api/auth` and `/api/me` (R12, R16.5)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from torouter.accounts import messages as m
from torouter.accounts.passwords import MIN_LENGTH
from torouter.api.schemas import ApiModel, ErrorBody, InputModel, Timestamp, Usd

__all__ = [
    "Email",
    "LoginChallenge",
    "Message",
    "NewPassword",
    "Password",
    "ProfileRead",
    "SessionStarted",
    "TwicePassword",
    "confirm_matches",
]

# Deliberately loose: the mailed link is what proves an address.
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
NewPassword = Annotated[str, StringConstraints(min_length=MIN_LENGTH, max_length=1024)]


def confirm_matches(value: str, info: ValidationInfo) -> str:
    """`password_confirm` equals `password` (typed twice, R12.1)."""
    if "password" in info.data and value != info.data["password"]:
        raise ValueError(m.PASSWORDS_DIFFER)
    return value


class TwicePassword(InputModel):
    """A new password typed twice; fields of subclasses come after these two."""

    password: NewPassword
    password_confirm: str

    @field_validator("password_confirm")
    @classmethod
    def _same(cls, value: str, info: ValidationInfo) -> str:
        return confirm_matches(value, info)


class ProfileRead(ApiModel):
    id: int
    email: str
    username: str | None
    role: str
    state: str
    email_verified_at: Timestamp | None
    language: str | None
    display_currency: str | None
    totp_enabled: bool
    low_balance_threshold_nusd: int | None = Field(
        None, description="Mail me once when my balance falls below this (R15.4); null: off"
    )
    low_balance_threshold_usd: Usd | None = None
    created_at: Timestamp


class SessionStarted(ApiModel):
    """A signed-in session: the cookies are set; `csrf_token` is also the `torouter_csrf`
    cookie, to echo in `X-CSRF-Token` on unsafe requests."""

    user: ProfileRead
    csrf_token: str


class LoginChallenge(ApiModel):
    """401 `TOTP_REQUIRED`: the password was right; finish with `POST /api/auth/login/totp`."""

    error: ErrorBody
    login_ticket: str


class Message(ApiModel):
    message: str
