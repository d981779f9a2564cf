"""Where the native client sends a request and what its head says (`upstreams/native_target.py`,
`native.request_head`): golden tables, RFC 9112 §3.2 (`Host`) and §6 (framing)."""

from __future__ import annotations

import pytest

from torouter.upstreams.native import request_head
from torouter.upstreams.native_target import InvalidTarget, Target, target_of


@pytest.mark.parametrize(
    ("url", "tls", "host", "port", "host_header", "path"),
    [
        ("http://api.example.com/v1/c", False, "api.example.com", 80, "api.example.com", "/v1/c"),
        ("https://API.Example.com:443/v1", True, "api.example.com", 443, "api.example.com", "/v1"),
        ("http://h:8080", False, "h", 8080, "h:8080", "/"),
        ("https://h:80/x?a=1&b=2#frag", True, "h", 80, "h:80", "/x?a=1&b=2"),
        ("http://[::1]:9000/v1", False, "::1", 9000, "[::1]:9000", "/v1"),
        ("https://[2001:db8::1]/v1", True, "2001:db8::1", 443, "[2001:db8::1]", "/v1"),
        (
            "http://bücher.example/v",
            False,
            "xn--bcher-kva.example",
            80,
            "xn--bcher-kva.example",
            "/v",
        ),
    ],
)
def test_targets(url: str, tls: bool, host: str, port: int, host_header: str, path: str) -> None:
    t = target_of(url)
    assert (t.tls, t.host, t.port, t.host_header, t.path) == (tls, host, port, host_header, path)
    assert t.origin == (tls, host, port)


def test_ip_literals_need_no_resolving_and_credentials_become_basic_auth() -> None:
    assert target_of("http://10.0.0.1/").literal and target_of("http://[::1]/").literal
    assert not target_of("http://localhost/").literal
    assert target_of("http://u%40x:p%3Aw@h/").authorization == "Basic dUB4OnA6dw=="  # u@x:p:w


@pytest.mark.parametrize(
    "url", ["ftp://h/", "http:///x", "http://h:99999/", "http://h:abc/", "h/v1", "http://h/a b"]
)
def test_invalid_targets(url: str) -> None:
    with pytest.raises(InvalidTarget):
        target_of(url)


T = Target(False, "h", 8080, "h:8080", "/v1/x", False, None)


def test_the_head_adds_what_the_caller_left_out() -> None:
    head = request_head("POST", T, {"Authorization": "Bearer k"}, 5)
    assert head == (
        b"POST /v1/x HTTP/1.1\r\nHost: h:8080\r\nAccept: */*\r\nAccept-Encoding: identity\r\n"
        b"Authorization: Bearer k\r\nContent-Length: 5\r\n\r\n"
    )


def test_the_callers_fields_win_except_framing() -> None:
    headers = {
        "host": "other",
        "ACCEPT": "text/event-stream",
        "Accept-Encoding": "gzip",
        "Content-Length": "999",
        "transfer-encoding": "chunked",
        "Content-Type": "application/json",
    }
    head = request_head("POST", T, headers, 2, "multipart/form-data")
    assert head == (
        b"POST /v1/x HTTP/1.1\r\nhost: other\r\nACCEPT: text/event-stream\r\n"
        b"Accept-Encoding: gzip\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n"
    )


def test_bodyless_requests_carry_no_length_and_text_goes_as_utf8() -> None:
    head = request_head("GET", T, {"X-Title": "café"}, None)
    assert b"Content-Length" not in head and "X-Title: café".encode() in head


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb"])
def test_a_newline_in_a_field_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="newline"):
        request_head("POST", T, {"X-Key": value}, 0)
