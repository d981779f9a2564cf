"""`n > 1` through the real gateway (issue 12 item 14; SPEC R7.9, R7.11, R5.7): the admission
estimate and the reservation count every choice, so a small key cap that admits one answer
refuses four; routes that cannot serve several answers (translations) refuse them as E16 before
any reservation, and a model served both ways goes to its native channels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import GatewayProcess

CAPPED = "sk-choicesCapped0000000000000000000000000000000000C"
OPEN = "sk-choicesOpen000000000000000000000000000000000000O"
assert len(CAPPED) == len(OPEN) == 51
MOCK = "http://127.0.0.1:{port}/mock"

CONFIG = f"""
data_dir = "{{dir}}/data"
[server]
port = {{port}}
[demo]
enabled = false
[mock]
mount = true
[usage]
flush_interval_s = 0.05

[[groups]]
name = "choices"
billing_type = "balance"
price_multiplier = 1
models = ["gpt-n", "claude-n", "mixed-n"]

[[models]]
id = "gpt-n"
vendor = "openai"
endpoints = ["chat", "generate"]
prices = {{ input = 1, output = 10 }}

[[models]]
id = "claude-n"
vendor = "anthropic"
endpoints = ["chat"]
prices = {{ input = 1, output = 10 }}

[[models]]
id = "mixed-n"
vendor = "openai"
endpoints = ["chat"]
prices = {{ input = 1, output = 10 }}

[[channels]]
name = "openai"
platform = "openai"
base_url = "{MOCK}/openai/v1"
credential = "mock-key-openai"
models = ["gpt-n", "mixed-n"]
groups = ["choices"]

[[channels]]
name = "anthropic"
platform = "anthropic"
base_url = "{MOCK}/anthropic"
credential = "mock-key-anthropic"
models = ["claude-n", "mixed-n"]
groups = ["choices"]

[[users]]
email = "choices@example.com"
verified = true
balance_usd = 100

[[keys]]
name = "capped"
user = "choices@example.com"
group = "choices"
key = "{CAPPED}"
quota_usd = 0.03

[[keys]]
name = "open"
user = "choices@example.com"
group = "choices"
key = "{OPEN}"
"""


@pytest.fixture(scope="module")
def cgw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir: Path = tmp_path_factory.mktemp("choices")
    gw = GatewayProcess(workdir, CONFIG)
    gw.start(timeout=120)
    yield gw
    gw.stop()


def chat(gw: GatewayProcess, key: str, model: str, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    with gw.client() as c:
        return c.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})


def test_four_choices_reserve_four_outputs(cgw: GatewayProcess) -> None:
    """$10/M output, 1,000 tokens asked: one answer reserves ~$0.01 and fits the $0.03 cap,
    four reserve ~$0.04 and do not (E12); the input is counted once."""
    r = chat(cgw, CAPPED, "gpt-n", max_tokens=1000, n=4)
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "API_KEY_QUOTA_EXHAUSTED"
    line = cgw.access_line(r.headers["x-request-id"])
    assert line["attempts"] == [] and line["cost_nusd"] == 0  # refused before any upstream
    r = chat(cgw, CAPPED, "gpt-n", max_tokens=1000, n=1)
    assert r.status_code == 200, r.text
    r = chat(cgw, CAPPED, "gpt-n", max_tokens=1000, n=2)  # two fit: $0.02 + what was spent
    assert r.status_code == 200, r.text
    assert len(r.json()["choices"]) == 2
    r = chat(cgw, CAPPED, "gpt-n", max_tokens=1000, n=4)
    assert r.status_code == 429


def test_translated_routes_refuse_several_choices_first(cgw: GatewayProcess) -> None:
    """R5.7: E16 naming the field, before the reservation (not E12 on a capped key)."""
    for key in (CAPPED, OPEN):
        r = chat(cgw, key, "claude-n", max_tokens=1000, n=4)
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["code"] == "INVALID_REQUEST" and err["param"] == "n"
        assert cgw.access_line(r.headers["x-request-id"])["attempts"] == []
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"candidateCount": 3},
    }
    with cgw.client() as c:
        r = c.post(
            "/v1beta/models/gpt-n:generateContent", json=body, headers={"x-goog-api-key": OPEN}
        )
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["status"] == "INVALID_ARGUMENT" and "candidateCount" in err["message"]


def test_several_choices_go_to_native_channels(cgw: GatewayProcess) -> None:
    """A model on an openai and an anthropic channel: n > 1 always lands on the openai one
    (without the filter, every other request would pick the translated route and fail)."""
    for _ in range(6):
        r = chat(cgw, OPEN, "mixed-n", max_tokens=20, n=2)
        assert r.status_code == 200, r.text
        assert len(r.json()["choices"]) == 2
    r = chat(cgw, OPEN, "mixed-n", max_tokens=20)
    assert r.status_code == 200
