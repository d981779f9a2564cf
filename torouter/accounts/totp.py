"""Time-based one-time passwords (R12.6): RFC 6238, SHA-1, 6 digits, 30 s, ±1 step. Pure.

A code is accepted only for a step later than the last one used, so a code seen by someone
else (shoulder, phishing relay) cannot be replayed within its 90 seconds.
"""

from __future__ import annotations

import datetime as dt
import hmac
import io
import re
import secrets

import pyotp
import segno

__all__ = [
    "ISSUER",
    "RECOVERY_CODES",
    "matching_step",
    "new_recovery_codes",
    "new_secret",
    "normalize_recovery_code",
    "provisioning_uri",
    "qr_svg",
]

ISSUER = "ToRouter"
RECOVERY_CODES = 10
_CODE_RE = re.compile(r"\A\d{6}\Z")
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def new_secret() -> str:
    """160 random bits in base32 (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The `otpauth://` URI as a standalone SVG document, rendered here (no external service)."""
    buf = io.BytesIO()
    segno.make(uri, error="m").save(buf, kind="svg", scale=4, xmldecl=False, title="TOTP QR code")
    return buf.getvalue().decode()


def matching_step(
    secret: str, code: str, now: dt.datetime, last_step: int | None = None
) -> int | None:
    """The time step `code` belongs to (now ±1 step, after `last_step`), else None."""
    code = code.strip().replace(" ", "")
    if _CODE_RE.match(code) is None:
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    found = None
    for step in (current - 1, current, current + 1):  # all three compared: no early exit
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """`xxxxx-xxxxx` codes: 10 characters of a 31-letter alphabet, about 50 bits each."""
    out = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        out.append(f"{raw[:5]}-{raw[5:]}")
    return out


def normalize_recovery_code(code: str) -> str:
    """What is hashed: lower case without separators or spaces, as people retype it."""
    return re.sub(r"[\s-]", "", code).lower()
