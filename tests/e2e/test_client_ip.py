"""The client IP (SPEC R7.3) is the socket peer unless that peer is a trusted proxy: with the
default (no trusted proxies) an X-Forwarded-For header changes nothing, whoever sends it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import GatewayProcess
from tests.e2e.test_admission_setup import _KEY_ROWS, CONFIG, KEYS

MSG = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    text = CONFIG.replace('trusted_proxies = ["127.0.0.1/32", "::1/128"]\n', "")
    text = text.replace("REDIS", "").replace("ip_rpm = 5", "ip_rpm = 0")
    assert "trusted_proxies" not in text
    for name in ("ipwl", "ok"):
        user, group, extra = _KEY_ROWS[name]
        text += (
            f'\n[[keys]]\nname = "{name}"\nuser = "{user}@example.com"\ngroup = "{group}"\n'
            f'key = "{KEYS[name]}"\n{extra}\n'
        )
    text += (
        '\n[[keys]]\nname = "local"\nuser = "rich@example.com"\ngroup = "default"\n'
        f'key = "{KEYS["hdr"]}"\nip_whitelist = ["127.0.0.1/32"]\n'
    )
    gw = GatewayProcess(tmp_path_factory.mktemp("client-ip"), text)
    gw.cli("apply", str(gw.config_path))
    gw.start()
    yield gw
    gw.stop()


def post(gw: GatewayProcess, key: str, forwarded: str) -> int:
    body = {"model": "gpt-test", "messages": MSG, "max_tokens": 5}
    headers = {"Authorization": f"Bearer {key}", "X-Forwarded-For": forwarded}
    with gw.client() as c:
        return c.post("/v1/chat/completions", json=body, headers=headers).status_code


def test_forwarded_for_from_an_untrusted_peer_is_ignored(plain: GatewayProcess) -> None:
    # The key allows only 10.9.9.9; claiming to be it from 127.0.0.1 does not help.
    assert post(plain, KEYS["ipwl"], "10.9.9.9") == 403
    # The key allows only 127.0.0.1 (the real peer); a forged header does not lock it out.
    assert post(plain, KEYS["hdr"], "203.0.113.7") == 200
