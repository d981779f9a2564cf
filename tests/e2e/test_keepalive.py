"""Stream keep-alive (SPEC R4.7): after `stream.keepalive_s` of silence the gateway sends an SSE
comment (OpenAI chat and Responses) or a `ping` event (Anthropic), never anything on Gemini
streams; the official SDKs read such streams to the same text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import CONFIG, KEY
from tests.e2e.harness import GatewayProcess

SLOW = "say hi [[mock:chunk_interval_ms=600,chunks=3]]"
FAST = "say hi [[mock:chunks=3]]"


@pytest.fixture(scope="module")
def kgw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir: Path = tmp_path_factory.mktemp("keepalive")
    text = CONFIG.replace("\n[[groups]]", "\n[stream]\nkeepalive_s = 0.15\n\n[[groups]]", 1)
    gw = GatewayProcess(workdir, text)
    gw.cli("apply", str(gw.config_path))
    gw.start()
    yield gw
    gw.stop()


def raw(gw: GatewayProcess, path: str, body: dict[str, object], headers: dict[str, str]) -> str:
    with gw.client() as c:
        r = c.post(path, json=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.text


def openai_chat(gw: GatewayProcess, model: str, content: str) -> str:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": content}]}
    return raw(gw, "/v1/chat/completions", body, {"Authorization": f"Bearer {KEY}"})


def anthropic_messages(gw: GatewayProcess, model: str, content: str) -> str:
    body = {
        "model": model,
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": content}],
    }
    return raw(gw, "/v1/messages", body, {"x-api-key": KEY, "anthropic-version": "2023-06-01"})


@pytest.mark.parametrize("model", ["gpt-test", "claude-only"])  # native and translated
def test_openai_stream_gets_comments_in_silence(kgw: GatewayProcess, model: str) -> None:
    text = openai_chat(kgw, model, SLOW)
    slow = text.count(": keep-alive\n\n")
    assert slow >= 3
    assert text.rstrip().endswith("data: [DONE]")
    # Without silence there is (barring a stalled machine) no comment.
    assert openai_chat(kgw, model, FAST).count(": keep-alive") <= slow - 3


@pytest.mark.parametrize("model", ["claude-only", "gpt-test"])  # native and translated
def test_anthropic_stream_gets_ping_events(kgw: GatewayProcess, model: str) -> None:
    slow = anthropic_messages(kgw, model, SLOW).count("event: ping\n")
    fast = anthropic_messages(kgw, model, FAST).count("event: ping\n")
    assert slow >= fast + 3


def test_gemini_stream_gets_nothing_but_data(kgw: GatewayProcess) -> None:
    with kgw.client() as c:
        r = c.post(
            "/v1beta/models/gemini-test:streamGenerateContent?alt=sse",
            json={"contents": [{"role": "user", "parts": [{"text": SLOW}]}]},
            headers={"x-goog-api-key": KEY},
            timeout=30,
        )
    assert r.status_code == 200
    lines = [line for line in r.text.splitlines() if line.strip()]
    assert len(lines) >= 3 and all(line.startswith("data: ") for line in lines)


def test_sdks_read_streams_with_keepalives(kgw: GatewayProcess) -> None:
    import anthropic
    import openai

    oa = openai.OpenAI(base_url=kgw.url + "/v1", api_key=KEY)
    pieces = [
        chunk.choices[0].delta.content or ""
        for chunk in oa.chat.completions.create(
            model="gpt-test", stream=True, messages=[{"role": "user", "content": SLOW}]
        )
        if chunk.choices
    ]
    fast = oa.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": SLOW}]
    )
    assert "".join(pieces) == fast.choices[0].message.content

    an = anthropic.Anthropic(base_url=kgw.url, api_key=KEY)
    with an.messages.stream(
        model="claude-only", max_tokens=50, messages=[{"role": "user", "content": SLOW}]
    ) as stream:
        text = "".join(stream.text_stream)
    assert (
        text
        and text
        == an.messages.create(
            model="claude-only", max_tokens=50, messages=[{"role": "user", "content": SLOW}]
        )
        .content[0]
        .text
    )  # type: ignore[union-attr]


def test_responses_stream_gets_comments(kgw: GatewayProcess) -> None:
    body = {"model": "gpt-test", "stream": True, "input": SLOW}
    text = raw(kgw, "/v1/responses", body, {"Authorization": f"Bearer {KEY}"})
    assert text.count(": keep-alive\n\n") >= 3 and "response.completed" in text
