"""The egress proxy URL (SPEC R9.1 `proxy`): what is accepted, defaults, and redaction."""

from __future__ import annotations

import pytest

from torouter.upstreams.proxy_url import ProxyUrl, parse_proxy, redacted, valid_proxy


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("http://proxy.local:3128", ProxyUrl("http", "proxy.local", 3128)),
        ("http://proxy.local", ProxyUrl("http", "proxy.local", 80)),
        ("https://proxy.local/", ProxyUrl("https", "proxy.local", 443)),
        ("socks5://10.0.0.5", ProxyUrl("socks5", "10.0.0.5", 1080)),
        ("SOCKS5H://gw:1081", ProxyUrl("socks5h", "gw", 1081)),
        ("socks5://[::1]:1080", ProxyUrl("socks5", "::1", 1080)),
        ("http://u:p@h:8080", ProxyUrl("http", "h", 8080, "u", "p")),
        ("http://u%40corp:p%3Aw@h:1", ProxyUrl("http", "h", 1, "u@corp", "p:w")),
        ("http://token@h:1", ProxyUrl("http", "h", 1, "token", None)),
    ],
)
def test_accepted_proxies_parse(url: str, parsed: ProxyUrl) -> None:
    assert parse_proxy(url) == parsed


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://h:21", "must be an http, https, socks5 or socks5h URL"),
        ("socks4://h:1080", "must be an http, https, socks5 or socks5h URL"),
        ("proxy.local:3128", "must be an http, https, socks5 or socks5h URL"),
        ("http://", "needs a host"),
        ("http://u:secret@:3128", "needs a host"),
        ("http://h:0", "port must be a number"),
        ("http://h:70000", "port must be a number"),
        ("http://u:secret@h:port", "port must be a number"),
        ("http://h:1/path", "no path, query or fragment"),
        ("http://h:1?x=1", "no path, query or fragment"),
        ("http://:secret@h:1", "needs a user name"),
        ("http://[::1:1", "not a valid URL"),
    ],
)
def test_rejected_proxies_say_why_without_the_url(url: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_proxy(url)
    assert message in str(info.value)
    assert "secret" not in str(info.value)


def test_endpoint_drops_the_credentials() -> None:
    assert parse_proxy("http://u:p@h:3128").endpoint == "http://h:3128"
    assert parse_proxy("socks5://[::1]:1").endpoint == "socks5://[::1]:1"


def test_valid_proxy_blanks_none_and_refuses_a_redacted_copy() -> None:
    assert valid_proxy(None) is None
    assert valid_proxy("  ") is None
    assert valid_proxy(" http://h:1/ ") == "http://h:1"
    with pytest.raises(ValueError, match="redacted"):
        valid_proxy("http://***@h:1")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (None, None),
        ("", ""),
        ("http://h:3128", "http://h:3128"),
        ("http://u:secret@h:3128", "http://***@h:3128"),
        ("socks5h://token@h:1080", "socks5h://***@h:1080"),
        ("http://u:p@ss@h:1", "http://***@h:1"),  # an unescaped @ in the password
        ("http://[::1", "***"),  # unparseable: nothing shown
    ],
)
def test_redacted(url: str | None, shown: str | None) -> None:
    assert redacted(url) == shown
