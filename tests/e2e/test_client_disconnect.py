"""A client that disconnects before the first byte of the answer (SPEC R4.9, R10.6; issue 12
point 3): the upstream call is abandoned at once — the provider sees its connection closed —
the row says `client_cancelled` / 499 and charges the estimated input and no output, and a crowd
of such clients leaves no file descriptors behind.

The upstream is a mock provider process of its own that only ever gets requests that hang
(`[[mock:timeout]]` never answers; `slow_first_byte` answers after a minute), so every
established connection on its port belongs to a request still waiting: none is a pooled idle one.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.e2e.conftest import KEY
from tests.e2e.harness import GatewayProcess, MockProcess, wait_until
from tests.e2e.test_openai_chat import usage_row

CONFIG = """
data_dir = "{dir}/data"
[server]
port = {port}
[demo]
enabled = false
[mock]
mount = false
[usage]
flush_interval_s = 0.05

[[groups]]
name = "default"
models = ["m-hang"]

[[models]]
id = "m-hang"
vendor = "openai"
endpoints = ["chat", "messages"]
prices = { input = 2, output = 10 }

[[channels]]
name = "c-hang"
platform = "openai"
base_url = "MOCK/v1"
credential = "k"
models = ["m-hang"]
groups = ["default"]
first_byte_timeout = 120

[[users]]
email = "e2e@example.com"
role = "admin"
verified = true
balance_usd = 1000

[[keys]]
name = "e2e"
user = "e2e@example.com"
group = "default"
key = "KEY"
"""


class Setup:
    gw: GatewayProcess
    mock: MockProcess


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    work: Path = tmp_path_factory.mktemp("disconnect")
    s = Setup()
    s.mock = MockProcess(work)
    s.gw = GatewayProcess(work, CONFIG.replace("MOCK", s.mock.url).replace("KEY", KEY)).start()
    s.gw.admin_token = s.gw.cli(  # type: ignore[attr-defined]
        "create-admin-token", "--config", str(s.gw.config_path), "--email", "e2e@example.com"
    ).stdout.strip()
    yield s
    s.gw.stop()
    s.mock.stop()


def upstream_connections(port: int) -> int:
    """Established TCP connections whose server end is the mock's port (IPv4 loopback)."""
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                n += 1
    return n


def open_fds(gw: GatewayProcess) -> int:
    assert gw.proc is not None
    return len(os.listdir(f"/proc/{gw.proc.pid}/fd"))


def raw_request(gw: GatewayProcess, path: str, body: dict, request_id: str) -> socket.socket:
    """Send a whole request on a raw socket and return it unread (so it can be dropped)."""
    data = orjson.dumps(body)
    auth = (
        f"Authorization: Bearer {KEY}\r\n"
        if path.endswith("completions")
        else (f"x-api-key: {KEY}\r\nanthropic-version: 2023-06-01\r\n")
    )
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n".encode()
        + auth.encode()
        + f"X-Request-Id: {request_id}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    return sock


def hanging(path: str, directive: str, stream: bool) -> dict:
    body: dict = {
        "model": "m-hang",
        "stream": stream,
        "messages": [{"role": "user", "content": f"hello there {directive}"}],
    }
    if path == "/v1/messages":
        body["max_tokens"] = 50
    return body


@pytest.mark.parametrize(
    ("path", "directive", "stream"),
    [
        ("/v1/chat/completions", "[[mock:timeout]]", False),
        ("/v1/chat/completions", "[[mock:slow_first_byte=60000]]", False),
        ("/v1/messages", "[[mock:timeout]]", False),  # translated to the OpenAI wire
        ("/v1/chat/completions", "[[mock:timeout]]", True),  # a stream before its first byte
        ("/v1/messages", "[[mock:slow_first_byte=60000]]", True),
    ],
)
def test_a_client_leaving_before_the_first_byte_abandons_the_upstream(
    setup: Setup, path: str, directive: str, stream: bool
) -> None:
    gw, port = setup.gw, setup.mock.port
    rid = f"leave-{path.rsplit('/', 1)[1]}-{stream}-{directive[7:14]}"
    wait_until(lambda: upstream_connections(port) == 0, timeout=10, what="a quiet mock")
    sock = raw_request(gw, path, hanging(path, directive, stream), rid)
    wait_until(lambda: upstream_connections(port) == 1, timeout=10, what="the upstream call")
    sock.close()
    left = time.monotonic()
    # The provider sees its connection closed at once, not after the 120 s first-byte timeout.
    wait_until(lambda: upstream_connections(port) == 0, timeout=10, what="the upstream closed")
    assert time.monotonic() - left < 10
    line = gw.access_line(rid)
    assert (line["status"], line["outcome"]) == (499, "client_cancelled")
    row = usage_row(gw, rid)
    assert (row["status"], row["outcome"]) == (499, "client_cancelled")
    # R10.6: the estimated input (the provider bills it anyway), no output.
    assert row["estimated"] is True and row["output_tokens"] == 0
    assert row["input_tokens"] > 0
    assert row["cost_nusd"] == row["input_tokens"] * 2 * 1000
    assert [a["class"] for a in row["attempt_chain"]] == ["client_cancelled"]


def test_fifty_clients_leaving_a_hung_upstream_leave_no_descriptors(setup: Setup) -> None:
    gw, port = setup.gw, setup.mock.port
    wait_until(lambda: upstream_connections(port) == 0, timeout=10, what="a quiet mock")
    before = open_fds(gw)
    socks = [
        raw_request(
            gw, "/v1/chat/completions", hanging("", "[[mock:timeout]]", False), f"crowd-{i}"
        )
        for i in range(50)
    ]
    wait_until(lambda: upstream_connections(port) == 50, timeout=30, what="50 upstream calls")
    held = open_fds(gw)
    assert held >= before + 50  # a client socket and an upstream socket per request
    for sock in socks:
        sock.close()
    wait_until(lambda: upstream_connections(port) == 0, timeout=15, what="the upstreams closed")
    wait_until(lambda: open_fds(gw) <= before + 5, timeout=15, what="the descriptors released")
    for i in range(50):
        assert gw.access_line(f"crowd-{i}")["status"] == 499
