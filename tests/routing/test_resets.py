"""Upstream reset hints (SPEC R9.6): every source, clamped to 1 s – 1 h."""

import email.utils

import pytest

from torouter.routing.resets import parse_duration, reset_after

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360),
        ("1h2m3s", 3723),
        ("1.5s", 1.5),
        ("200ms", 0.2),
        ("30s", 30),
        ("12", 12),
        ("", None),
        ("soon", None),
    ],
)
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"retry-after-ms": "2500"}, b"", 2.5),
        ({"Retry-After": "20"}, b"", 20),
        ({"retry-after": email.utils.formatdate(NOW + 90, usegmt=True)}, b"", 90),
        ({"x-ratelimit-reset-requests": "6m0s", "x-ratelimit-reset-tokens": "1s"}, b"", 360),
        (
            {
                "anthropic-ratelimit-requests-reset": "2027-01-15T08:00:30Z",
                "anthropic-ratelimit-requests-remaining": "5",
                "anthropic-ratelimit-tokens-reset": "2027-01-15T08:00:10Z",
                "anthropic-ratelimit-tokens-remaining": "0",
            },
            b"",
            None,  # computed below: the exhausted one wins
        ),
        ({}, b'{"error":{"details":[{"@type":"x.RetryInfo","retryDelay":"45s"}]}}', 45),
        ({"retry-after": "0"}, b"", 1),  # clamped up
        ({"retry-after": "999999"}, b"", 3600),  # clamped down
        ({}, b"{}", None),
    ],
)
def test_reset_sources(headers: dict, body: bytes, expected: float | None) -> None:
    if "anthropic-ratelimit-tokens-reset" in headers:
        import datetime as dt

        now = dt.datetime(2027, 1, 15, 8, 0, 0, tzinfo=dt.UTC).timestamp()
        assert reset_after(headers, body, now) == 10
        return
    assert (
        reset_after(headers, body, NOW) == pytest.approx(expected)
        if expected
        else (reset_after(headers, body, NOW) is None)
    )
