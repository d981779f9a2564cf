"""Small things a newcomer trips on, against the demo of the embedded default: translated
OpenAI answers carry a real `created`, a chat without `messages` is refused locally (E16, no
upstream attempt), and the demo's links follow the port it runs on."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.e2e.harness import GatewayProcess, free_port

CONFIG = """
data_dir = "{dir}/data"
[server]
port = {port}
"""


def demo_key(data: Path) -> str:
    found = re.search(r"API key:\s+(\S+)", (data / "demo.txt").read_text())
    assert found
    return found.group(1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, str]]:
    home = tmp_path_factory.mktemp("demo")
    gw = GatewayProcess(home, CONFIG).start()
    try:
        yield gw, demo_key(home / "data")
    finally:
        gw.stop()


@pytest.mark.parametrize("model", ["demo-claude", "demo-gemini"])
def test_translated_chat_answers_carry_a_real_created(
    demo: tuple[GatewayProcess, str], model: str
) -> None:
    gw, key = demo
    body = {"model": model, "messages": [{"role": "user", "content": "Hi"}]}
    with gw.client(headers={"Authorization": f"Bearer {key}"}) as c:
        before = int(time.time())
        r = c.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
        assert before - 5 <= r.json()["created"] <= int(time.time()) + 5
        r = c.post("/v1/chat/completions", json={**body, "stream": True})
        chunks = [
            orjson.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")
        ]
        assert chunks and all(before - 5 <= ch["created"] <= time.time() + 5 for ch in chunks)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/chat/completions", {"model": "demo-gpt"}, "Missing required parameter: 'messages'."),
        (
            "/v1/chat/completions",
            {"model": "demo-gpt", "messages": []},
            "Invalid 'messages': expected a non-empty array.",
        ),
        ("/v1/messages", {"model": "demo-claude", "max_tokens": 5}, "messages: Field required"),
    ],
)
def test_a_request_without_messages_is_refused_locally(
    demo: tuple[GatewayProcess, str], path: str, body: dict[str, object], message: str
) -> None:
    gw, key = demo
    rid = f"nomsg-{abs(hash((path, str(body))))}"
    headers = {"Authorization": f"Bearer {key}", "X-Request-Id": rid}
    with gw.client() as c:
        r = c.post(path, json=body, headers=headers)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["message"] == message
    line = gw.access_line(rid)
    assert line["code"] == "INVALID_REQUEST"  # E16
    assert line["attempts"] == []  # no upstream was tried


def test_demo_links_follow_the_port(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, CONFIG).start()
    gw.stop()
    key = demo_key(tmp_path / "data")
    gw.port = free_port()
    gw.start()
    try:
        text = (tmp_path / "data" / "demo.txt").read_text()
        assert f"http://127.0.0.1:{gw.port}/login" in text
        assert key in text  # the same demo, moved
        con = sqlite3.connect(tmp_path / "data" / "torouter.db")
        urls = [r[0] for r in con.execute("SELECT base_url FROM channels ORDER BY name")]
        con.close()
        assert urls and all(u.startswith(f"http://127.0.0.1:{gw.port}/mock/") for u in urls)
        body = {"model": "demo-claude", "messages": [{"role": "user", "content": "Hi"}]}
        with gw.client(headers={"Authorization": f"Bearer {key}"}) as c:
            assert c.post("/v1/chat/completions", json=body).status_code == 200
    finally:
        gw.stop()
