"""Raw wire checks: exact framing of each provider's stream, routing, auth and faults."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from tests.waiting import eventually
from torouter.mock import MockApp, MockConfig
from torouter.mock.faults import Directives
from torouter.mock.testing import MockServer

OPENAI = {"authorization": "Bearer sk-wire"}
ANTHROPIC = {"x-api-key": "sk-ant-wire", "anthropic-version": "2023-06-01"}
GEMINI = {"x-goog-api-key": "AIza-wire"}


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        yield client


def chat(text: str, **extra: object) -> dict[str, object]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **extra}


def anthropic_body(text: str, **extra: object) -> dict[str, object]:
    return {
        "model": "c",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def gemini_body(text: str) -> dict[str, object]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


async def test_openai_chat_stream_framing(http: httpx.AsyncClient) -> None:
    body = chat("x", stream=True, stream_options={"include_usage": True})
    response = await http.post("/v1/chat/completions", headers=OPENAI, json=body)
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    raw = response.content
    assert raw.endswith(b"\n\ndata: [DONE]\n\n") and b"event:" not in raw
    events = raw.split(b"\n\n")[:-1]
    assert all(e.startswith(b"data: ") for e in events)
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert all("usage" in c and c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert all("obfuscation" in c for c in chunks)
    plain = await http.post("/v1/chat/completions", headers=OPENAI, json=chat("x", stream=True))
    assert b'"usage"' not in plain.content


async def test_openai_chat_stream_repeat_sends_the_content_chunks_n_times(
    http: httpx.AsyncClient,
) -> None:
    """`repeat=n` (the benchmark's 100 MB relay, R20.2): the content chunks n times over, one
    role chunk before them and one finish chunk after."""

    def contents(raw: bytes) -> list[str]:
        events = [orjson.loads(e[6:]) for e in raw.split(b"\n\n")[:-2]]
        return [e["choices"][0]["delta"].get("content") or "" for e in events]

    once = await http.post(
        "/v1/chat/completions", headers=OPENAI, json=chat("x [[mock:chunks=5]]", stream=True)
    )
    thrice = await http.post(
        "/v1/chat/completions",
        headers=OPENAI,
        json=chat("x [[mock:chunks=5,repeat=3]]", stream=True),
    )
    body = contents(once.content)[1:-1]
    assert len(body) == 5
    assert contents(thrice.content)[1:-1] == body * 3
    assert thrice.content.endswith(b"data: [DONE]\n\n")


async def test_anthropic_stream_framing(http: httpx.AsyncClient) -> None:
    body = anthropic_body(
        "x [[mock:chunks=4]]", stream=True, thinking={"type": "enabled", "budget_tokens": 1024}
    )
    response = await http.post("/v1/messages", headers=ANTHROPIC, json=body)
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["request-id"].startswith("req_")
    events = response.content.decode().split("\n\n")[:-1]
    names, payloads = [], []
    for event in events:
        name_line, data_line = event.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        names.append(name_line[7:])
        payloads.append(data_line[6:])
    assert [json.loads(p)["type"] for p in payloads] == names
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert (
        names.count("ping") == 1 and names.index("ping") == 2 and names[1] == "content_block_start"
    )
    assert payloads[names.index("ping")] == '{"type": "ping"}'
    assert sum(p.endswith(" }") for p in payloads) > len(payloads) // 2, "padding before the brace"
    starts = [
        json.loads(p)["index"]
        for n, p in zip(names, payloads, strict=True)
        if n == "content_block_start"
    ]
    assert starts == [0, 1]
    deltas = [
        json.loads(p)["delta"]
        for n, p in zip(names, payloads, strict=True)
        if n == "content_block_delta"
    ]
    thinking = [d for d in deltas if d["type"] in ("thinking_delta", "signature_delta")]
    assert thinking[-2] == {"type": "thinking_delta", "thinking": ""}
    assert thinking[-1]["type"] == "signature_delta" and thinking[-1]["signature"]
    final = json.loads(payloads[-2])
    assert final["delta"]["stop_reason"] == "end_turn" and final["usage"]["output_tokens"] > 1


async def test_gemini_stream_framing(http: httpx.AsyncClient) -> None:
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    sse = await http.post(path, params={"alt": "sse"}, headers=GEMINI, json=gemini_body("x"))
    assert sse.headers["content-type"] == "text/event-stream"
    raw = sse.content
    assert raw.endswith(b"\r\n\r\n")
    events = raw.split(b"\r\n\r\n")[:-1]
    assert len(events) == 20 and all(e.startswith(b"data: ") and b"\n" not in e for e in events)
    last = json.loads(events[-1][6:])
    assert (
        last["candidates"][0]["finishReason"] == "STOP" and last["usageMetadata"]["totalTokenCount"]
    )
    array = await http.post(path, headers=GEMINI, json=gemini_body("x"))
    assert array.headers["content-type"] == "application/json; charset=UTF-8"
    items = json.loads(array.content)
    assert len(items) == 20 and items[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_responses_stream_framing(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/v1/responses", headers=OPENAI, json={"model": "m", "input": "x", "stream": True}
    )
    events = response.content.decode().split("\n\n")[:-1]
    payloads = []
    for event in events:
        name_line, data_line = event.split("\n")
        payload = json.loads(data_line[6:])
        assert name_line[7:] == payload["type"]
        payloads.append(payload)
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert (
        payloads[0]["type"] == "response.created" and payloads[-1]["type"] == "response.completed"
    )
    assert payloads[-1]["response"]["usage"]["total_tokens"] > 0
    failed = await http.post(
        "/v1/responses",
        headers=OPENAI,
        json={"model": "m", "input": "x [[mock:error_after=3]]", "stream": True},
    )
    tail = [json.loads(e.split("\n")[1][6:]) for e in failed.content.decode().split("\n\n")[:-1]]
    assert [p["type"] for p in tail[-2:]] == ["error", "response.failed"]
    assert [p["sequence_number"] for p in tail] == [0, 1, 2, 3, 4]


async def test_gemini_content_filter_and_in_stream_error(http: httpx.AsyncClient) -> None:
    path = "/v1beta/models/g:generateContent"
    blocked = (
        await http.post(path, headers=GEMINI, json=gemini_body("x [[mock:content_filter]]"))
    ).json()
    assert (
        blocked["candidates"][0]["finishReason"] == "SAFETY"
        and "content" not in blocked["candidates"][0]
    )
    stream_path = "/v1beta/models/g:streamGenerateContent?alt=sse"
    broken = await http.post(
        stream_path, headers=GEMINI, json=gemini_body("x [[mock:error_after=2]]")
    )
    events = broken.content.split(b"\r\n\r\n")[:-1]
    assert len(events) == 3 and json.loads(events[-1][6:])["error"]["status"] == "INTERNAL"


@pytest.mark.parametrize(
    ("path", "headers", "body"),
    [
        ("/v1/chat/completions", OPENAI, chat("x [[mock:malformed]]")),
        ("/v1/messages", ANTHROPIC, anthropic_body("x [[mock:malformed]]")),
        ("/v1beta/models/g:generateContent", GEMINI, gemini_body("x [[mock:malformed]]")),
    ],
)
async def test_malformed_json(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], body: object
) -> None:
    response = await http.post(path, headers=headers, json=body)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


@pytest.mark.parametrize(
    ("path", "headers", "body", "usage_key"),
    [
        ("/v1/chat/completions", OPENAI, chat("x [[mock:no_usage]]"), "usage"),
        ("/v1/messages", ANTHROPIC, anthropic_body("x [[mock:no_usage]]"), "usage"),
        (
            "/v1beta/models/g:generateContent",
            GEMINI,
            gemini_body("x [[mock:no_usage]]"),
            "usageMetadata",
        ),
        ("/v1/responses", OPENAI, {"model": "m", "input": "x [[mock:no_usage]]"}, "usage"),
    ],
)
async def test_no_usage(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], body: object, usage_key: str
) -> None:
    data = (await http.post(path, headers=headers, json=body)).json()
    assert not data.get(usage_key)


@pytest.mark.parametrize(
    ("path", "headers", "shape"),
    [
        ("/v1/chat/completions", {}, "openai"),
        ("/v1/messages", {"anthropic-version": "2023-06-01"}, "anthropic"),
        ("/v1beta/models/g:generateContent", {}, "gemini"),
        ("/v1/nothing", OPENAI, "openai"),
        ("/anthropic/v1/chat/completions", ANTHROPIC, "anthropic"),
        ("/gemini/v1/nothing", GEMINI, "gemini"),
    ],
)
async def test_error_envelopes(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], shape: str
) -> None:
    response = await http.post(path, headers=headers, json={})
    assert response.status_code in (401, 404)
    body = response.json()
    if shape == "openai":
        assert set(body["error"]) == {"message", "type", "param", "code"}
    elif shape == "anthropic":
        assert (
            body["type"] == "error"
            and set(body["error"]) == {"type", "message"}
            and body["request_id"]
        )
    else:
        assert set(body["error"]) >= {"code", "message", "status"}


@pytest.mark.parametrize(
    ("path", "headers", "params", "marker"),
    [
        ("/v1/models", OPENAI, {}, "object"),
        ("/v1/models", {"x-api-key": "k"}, {}, "has_more"),
        (
            "/v1/models",
            {"authorization": "Bearer k", "anthropic-version": "2023-06-01"},
            {},
            "has_more",
        ),
        ("/v1/models", {}, {"key": "AIza"}, "models"),
        ("/v1/models", GEMINI, {}, "models"),
        ("/v1beta/models", GEMINI, {}, "models"),
        ("/mock/gemini/v1/models", {"authorization": "Bearer k"}, {}, "models"),
    ],
)
async def test_model_list_format_follows_the_auth_signal(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], params: dict[str, str], marker: str
) -> None:
    response = await http.get(path, headers=headers, params=params)
    assert response.status_code == 200 and marker in response.json()


async def test_model_get_with_slashes(http: httpx.AsyncClient) -> None:
    response = await http.get("/v1/models/openai/gpt-5", headers=OPENAI)
    assert response.json()["id"] == "openai/gpt-5"


async def test_config_fault_probabilities() -> None:
    config = MockConfig(faults=((Directives(status=503), 1.0),), seed=1)
    with MockServer(config) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.post("/v1/chat/completions", headers=OPENAI, json=chat("x"))
            assert response.status_code == 503
            overridden = await client.post(
                "/v1/chat/completions", headers=OPENAI, json=chat("x [[mock:status=200]]")
            )
            assert overridden.status_code == 200, "status=200 switches a rolled fault off"
            other = await client.post(
                "/v1/chat/completions", headers=OPENAI, json=chat("x [[mock:status=429]]")
            )
            assert other.status_code == 429, "directives override the dice"


async def test_asgi_mount_root_path_and_lifespan() -> None:
    app = MockApp()
    transport = httpx.ASGITransport(app=app, root_path="/mock")
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        response = await client.post(
            "/mock/anthropic/v1/messages", headers=ANTHROPIC, json=anthropic_body("mounted")
        )
    assert response.json()["content"][0]["text"].startswith("This is a mock response to: mounted")
    sent: list[dict[str, object]] = []
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, object]:
        return next(messages)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_multipart_transcription_stream_and_text(http: httpx.AsyncClient) -> None:
    files = {"file": ("speech.mp3", b"\x00" * 48000, "audio/mpeg")}
    streamed = await http.post(
        "/v1/audio/transcriptions",
        headers=OPENAI,
        files=files,
        data={"model": "gpt-4o-transcribe", "stream": "true"},
    )
    events = [json.loads(e[6:]) for e in streamed.content.split(b"\n\n")[:-1]]
    assert events[-1]["type"] == "transcript.text.done" and events[-1]["usage"]["type"] == "tokens"
    text = await http.post(
        "/v1/audio/transcriptions",
        headers=OPENAI,
        files=files,
        data={"model": "whisper-1", "response_format": "text"},
    )
    assert text.headers["content-type"].startswith("text/plain") and text.text.startswith(
        "This is a mock"
    )


async def test_rerank_and_speech_stream(http: httpx.AsyncClient) -> None:
    ranked = await http.post(
        "/v1/rerank",
        headers=OPENAI,
        json={
            "model": "rerank",
            "query": "red cat",
            "documents": ["blue dog", {"text": "red cat"}],
            "top_n": 1,
        },
    )
    result = ranked.json()
    assert result["results"][0]["index"] == 1 and result["usage"]["total_tokens"] > 0
    speech = await http.post(
        "/v1/audio/speech",
        headers=OPENAI,
        json={
            "model": "gpt-4o-mini-tts",
            "input": "hello",
            "voice": "alloy",
            "stream_format": "sse",
        },
    )
    events = [orjson.loads(e[6:]) for e in speech.content.split(b"\n\n")[:-1]]
    assert events[0]["type"] == "speech.audio.delta" and events[-1]["type"] == "speech.audio.done"


async def test_non_stream_disconnect_drops_half_the_body(http: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post(
            "/v1/chat/completions", headers=OPENAI, json=chat("x [[mock:disconnect_after=1]]")
        )


async def test_responses_content_filter_is_incomplete(http: httpx.AsyncClient) -> None:
    body = {"model": "m", "input": "x [[mock:content_filter]]", "stream": True}
    response = await http.post("/v1/responses", headers=OPENAI, json=body)
    last = json.loads(response.content.decode().split("\n\n")[-2].split("\n")[1][6:])
    assert last["type"] == "response.incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "content_filter"}


@pytest.mark.parametrize(
    ("path", "headers", "body"),
    [
        (
            "/v1/messages",
            ANTHROPIC,
            anthropic_body("x [[mock:chunk_interval_ms=200,chunks=40]]", stream=True),
        ),
        (
            "/v1beta/models/g:streamGenerateContent?alt=sse",
            GEMINI,
            gemini_body("x [[mock:chunk_interval_ms=200,chunks=40]]"),
        ),
        ("/v1/chat/completions", OPENAI, chat("x [[mock:ttft_ms=5000]]", stream=True)),
        ("/v1/chat/completions", OPENAI, chat("x [[mock:slow_first_byte=5000]]")),
    ],
)
async def test_abandoned_slow_answers_free_the_server(
    mock_server: MockServer, path: str, headers: dict[str, str], body: object
) -> None:
    baseline = mock_server.task_count()
    async with httpx.AsyncClient(base_url=mock_server.url, timeout=0.3) as client:
        try:
            async with client.stream("POST", path, headers=headers, json=body) as response:
                async for _ in response.aiter_raw():
                    break  # give up after the first bytes: the connection is closed
        except httpx.ReadTimeout:
            pass  # or give up waiting for them
    await eventually(
        lambda: mock_server.task_count() <= baseline,
        within=3,
        what="the slow answer to end with its client",
    )
