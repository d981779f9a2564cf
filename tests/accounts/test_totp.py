"""TOTP and recovery codes, pure (R12.6): RFC 6238 SHA-1, 6 digits, 30 s, ±1 step."""

from __future__ import annotations

import datetime as dt

import pytest

from torouter.accounts import totp

# RFC 6238 appendix B (SHA-1), secret "12345678901234567890", codes cut to 6 digits.
RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
RFC_VECTORS = [(59, "287082"), (1111111109, "081804"), (1234567890, "005924")]


@pytest.mark.parametrize(("unix", "expected"), RFC_VECTORS)
def test_rfc_6238_vectors(unix: int, expected: str) -> None:
    now = dt.datetime.fromtimestamp(unix, dt.UTC)
    assert totp.matching_step(RFC_SECRET, expected, now) == unix // 30


def test_window_and_replay() -> None:
    now = dt.datetime.fromtimestamp(1111111109, dt.UTC)
    step = 1111111109 // 30
    for offset, ok in ((-2, False), (-1, True), (1, True), (2, False)):
        later = now + dt.timedelta(seconds=30 * offset)
        assert (totp.matching_step(RFC_SECRET, "081804", later) is not None) is ok
    assert totp.matching_step(RFC_SECRET, "081804", now, last_step=step - 1) == step
    assert totp.matching_step(RFC_SECRET, "081804", now, last_step=step) is None
    assert totp.matching_step(RFC_SECRET, " 081 804 ", now) == step


@pytest.mark.parametrize("bad", ["", "08180", "0818045", "abcdef", "081804\n1"])
def test_malformed_codes(bad: str) -> None:
    now = dt.datetime.fromtimestamp(1111111109, dt.UTC)
    assert totp.matching_step(RFC_SECRET, bad, now) is None


def test_recovery_codes() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 == len(set(codes))
    for c in codes:
        assert len(c) == 11 and c[5] == "-"
    assert totp.normalize_recovery_code(" ABCDE-fghjk ") == "abcdefghjk"


def test_secret_and_qr() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32
    uri = totp.provisioning_uri(secret, "a@example.com")
    assert uri == f"otpauth://totp/ToRouter:a%40example.com?secret={secret}&issuer=ToRouter"
    svg = totp.qr_svg(uri)
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and svg.endswith("</svg>\n")
