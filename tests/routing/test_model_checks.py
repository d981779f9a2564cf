"""Testing every model of a channel (R9.9, ToRouter extension): the request each platform
gets, the answer text read from each wire format, and the run: concurrent, in completion
order, cancelled when the reader stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest

from tests.upstreams.scripted import Reply, Request, ScriptedTransport
from torouter.mock.testing import MockServer
from torouter.records import ChannelRec
from torouter.routing.model_checks import (
    answer_text,
    check_model,
    check_models,
    kind_of,
    request_for,
)
from torouter.upstreams.choice import UpstreamClient, upstream_client


def channel(
    platform: str = "openai",
    base_url: str = "https://up.example/v1",
    models: tuple[str, ...] = ("m1",),
    **options: Any,
) -> ChannelRec:
    return ChannelRec(
        id=1,
        name="c",
        platform=platform,
        base_url=base_url,
        credential="sk-secret",
        models=frozenset(models),
        model_mapping={"m1": "upstream-1"},
        priority=0,
        weight=1,
        connect_timeout=5.0,
        first_byte_timeout=30.0,
        stream_idle_timeout=30.0,
        status="enabled",
        max_concurrency=0,
        options=options,
    )


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


@pytest.fixture(params=["native", "aiohttp"])
async def http(request: pytest.FixtureRequest) -> AsyncIterator[UpstreamClient]:
    client = upstream_client(request.param)  # both clients, against every mock provider
    await client.start()
    yield client
    await client.close()


@pytest.mark.parametrize(
    ("endpoints", "kind"),
    [
        (None, "chat"),
        (frozenset({"chat", "responses"}), "chat"),
        (frozenset({"messages"}), "chat"),
        (frozenset({"embeddings"}), "embeddings"),
        (frozenset({"images"}), "skipped"),
        (frozenset({"audio_speech", "audio_transcription"}), "skipped"),
    ],
)
def test_what_a_check_sends_follows_the_models_endpoints(
    endpoints: frozenset[str] | None, kind: str
) -> None:
    assert kind_of(endpoints) == kind


@pytest.mark.parametrize(
    ("platform", "base", "kind", "stream", "url", "auth"),
    [
        (
            "openai",
            "https://up/v1",
            "chat",
            False,
            "https://up/v1/chat/completions",
            "authorization",
        ),
        (
            "openai",
            "https://up/v1",
            "embeddings",
            False,
            "https://up/v1/embeddings",
            "authorization",
        ),
        ("anthropic", "https://up", "chat", True, "https://up/v1/messages", "x-api-key"),
        (
            "gemini",
            "https://up",
            "chat",
            True,
            "https://up/v1beta/models/upstream-1:streamGenerateContent?alt=sse",
            "x-goog-api-key",
        ),
        (
            "gemini",
            "https://up",
            "embeddings",
            False,
            "https://up/v1beta/models/upstream-1:embedContent",
            "x-goog-api-key",
        ),
    ],
)
def test_the_request_of_each_platform(
    platform: str, base: str, kind: str, stream: bool, url: str, auth: str
) -> None:
    got_url, headers, body = request_for(channel(platform, base), "m1", kind, stream=stream)
    assert got_url == url
    assert auth in {k.lower() for k in headers}
    sent = orjson.loads(body)
    if platform != "gemini":
        assert sent["model"] == "upstream-1"  # the channel's mapping (R6.2)
    if kind == "chat" and platform != "gemini":
        assert sent["max_tokens"] == 16 and sent.get("stream", False) is stream


@pytest.mark.parametrize(
    ("raw", "stream", "text"),
    [
        (b'{"choices":[{"message":{"content":"ok!"}}]}', False, "ok!"),
        (b'{"content":[{"type":"text","text":"fine"}]}', False, "fine"),
        (b'{"candidates":[{"content":{"parts":[{"text":"yes"}]}}]}', False, "yes"),
        (b'{"data":[{"embedding":[0.1,0.2,0.3]}]}', False, "embedding[3]"),
        (b'{"embedding":{"values":[1,2]}}', False, "embedding[2]"),
        (b'{"error":{"message":"no such model"}}', False, "no such model"),
        (
            b'data: {"choices":[{"delta":{"content":"o"}}]}\n\n'
            b'data: {"choices":[{"delta":{"content":"k"}}]}\n\ndata: [DONE]\n\n',
            True,
            "ok",
        ),
        (
            b'event: content_block_delta\ndata: {"type":"content_block_delta",'
            b'"delta":{"type":"text_delta","text":"hi"}}\n\n',
            True,
            "hi",
        ),
        (b"<html>bad gateway</html>", False, "<html>bad gateway</html>"),
    ],
)
def test_the_answer_text_of_every_wire_format(raw: bytes, stream: bool, text: str) -> None:
    assert answer_text(raw, stream=stream) == text


@pytest.mark.parametrize("platform", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("stream", [False, True])
async def test_a_check_against_the_mock_providers(
    mock: MockServer, http: UpstreamClient, platform: str, stream: bool
) -> None:
    base = {"openai": f"{mock.url}/v1", "anthropic": mock.url, "gemini": mock.url}[platform]
    result = await check_model(http, channel(platform, base), "m1", "chat", stream=stream)
    assert result.ok is True and result.status == 200, result
    assert result.text and "mock" in result.text.lower()
    assert (result.ttft_ms is not None) is stream


async def test_failures_are_results_never_exceptions(
    mock: MockServer, http: UpstreamClient
) -> None:
    ch = channel("openai", f"{mock.url}/v1", extra_headers={"x-mock": "status=404"})
    result = await check_model(http, ch, "m1", "chat", stream=False)
    assert result.ok is False and result.status == 404 and result.text
    closed = channel("openai", "http://127.0.0.1:9/v1")  # nothing listens on the discard port
    result = await check_model(http, closed, "m1", "chat", stream=False)
    assert result.ok is False and result.status == 0 and result.text
    skipped = await check_model(http, closed, "m1", "skipped", stream=False)
    assert skipped.ok is None and skipped.status == 0


class _Upstream:
    """A scripted upstream: `fast` models answer at once, the others wait until cancelled."""

    def __init__(self, fast: set[str]) -> None:
        self.fast = fast
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.transport = ScriptedTransport(self.answer)

    async def answer(self, req: Request) -> Reply:
        assert req.body is not None
        model = orjson.loads(req.body)["model"]
        self.started.append(model)
        if model not in self.fast:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.append(model)
                raise
        return Reply.json(200, b'{"choices":[{"message":{"content":"ok"}}]}')


async def test_a_run_yields_in_completion_order_and_stops_when_left() -> None:
    """Stop mid-run: the checks still running are cancelled, no other starts."""
    upstream = _Upstream(fast={"a", "c"})
    ch = channel("openai", models=("a", "b", "c", "d", "e"))
    models = [(m, "chat") for m in ("b", "a", "c", "d", "e")]
    run = check_models(upstream.transport, ch, models, stream=False, concurrency=2)
    first = await asyncio.wait_for(anext(run), 10)
    assert first.model == "a" and first.ok
    await run.aclose()  # the admin pressed Stop, or the page went away
    assert upstream.started == ["b", "a"]
    assert upstream.cancelled == ["b"]
    assert all(r.closed for r in upstream.transport.responses)


async def test_a_run_goes_through_every_model_a_few_at_a_time(
    mock: MockServer, http: UpstreamClient
) -> None:
    ch = channel("openai", f"{mock.url}/v1", models=("m1", "m2", "m3", "m4"))
    models = [("m1", "chat"), ("m2", "chat"), ("m3", "embeddings"), ("m4", "skipped")]
    got = [r async for r in check_models(http, ch, models, stream=True, concurrency=2)]
    assert sorted(r.model for r in got) == ["m1", "m2", "m3", "m4"]
    by_model = {r.model: r for r in got}
    assert by_model["m3"].text.startswith("embedding[")
    assert by_model["m4"].ok is None
