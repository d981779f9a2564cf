"""Short device names for the sessions list (`console/devices.py`)."""

from __future__ import annotations

import pytest

from torouter.console.devices import device

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)


@pytest.mark.parametrize(
    ("agent", "name"),
    [
        (CHROME_LINUX, "Chrome 126 · Linux"),
        (CHROME_LINUX.replace("Chrome/126", "HeadlessChrome/156"), "Chrome 156 · Linux"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.67",
            "Edge 125 · Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.4 Safari/605.1.15",
            "Safari 17 · macOS",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
            "Safari 17 · iOS",
        ),
        (
            "Mozilla/5.0 (Android 14; Mobile; rv:126.0) Gecko/126.0 Firefox/126.0",
            "Firefox 126 · Android",
        ),
        ("curl/8.5.0", "curl 8"),
        ("python-httpx/0.28.1", "python-httpx/0.28.1"),
        (None, "—"),
        ("", "—"),
    ],
)
def test_device_names(agent: str | None, name: str) -> None:
    assert device(agent) == name
