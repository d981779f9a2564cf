"""The attempt loop against a scripted upstream, no subprocess (SPEC §4, R4.6, R4.9, R9.3–R9.7,
R8.5): failover order, the first-byte timeout, an empty stream, a cut stream, a client that
leaves, the failover budget and attempt cap, and a bug of ours that must not pass for a channel
failure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from tests.gateway.kit import channel, context
from tests.upstreams.scripted import CUT, HANG, STALL, Reply, Request, ScriptedTransport, by_url
from torouter.config import Settings
from torouter.errors import GatewayError, UpstreamError
from torouter.gateway.context import RequestContext
from torouter.gateway.relay import Relay
from torouter.routing.affinity import Affinity
from torouter.routing.health import HealthBook
from torouter.snapshot import ChannelRec
from torouter.upstreams.transport import UpstreamUnavailable

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
ANSWER = orjson.dumps(
    {
        "id": "c1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
)
STREAM = [
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"hel"}}]}\n\n',
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"lo"}}]}\n\n',
    b'data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
    b"data: [DONE]\n\n",
]
SSE = {"content-type": "text/event-stream"}


def chans(*timeouts: float) -> tuple[ChannelRec, ...]:
    """Channels 1, 2, … in that priority order, each at its own host `ch<N>.test`."""
    return tuple(
        channel(
            "openai",
            id=n,
            name=f"ch{n}",
            base_url=f"http://ch{n}.test/v1",
            priority=n,  # the lowest number goes first (R9.2)
            first_byte_timeout=fbt,
        )
        for n, fbt in enumerate(timeouts, start=1)
    )


class Client:
    """The ASGI side: what was sent, what settlement saw, and a disconnect to trigger."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.settled: list[tuple[str, int]] = []
        self.leave = asyncio.Event()

    async def send(self, msg: dict[str, Any]) -> None:
        self.sent.append(msg)

    async def receive(self) -> dict[str, Any]:
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def settle(self, ctx: RequestContext) -> None:
        ctx.settled = True
        self.settled.append((ctx.outcome, ctx.status))

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def relay(transport: ScriptedTransport, client: Client, **routing: Any) -> Relay:
    settings = Settings(routing=routing, stream={"keepalive_s": 0})
    return Relay(
        transport=transport,
        settings=settings,
        settle=client.settle,
        health=HealthBook(),
        affinity=Affinity(60),
    )


async def run(
    handler: Callable[[Request], Any],
    channels: tuple[ChannelRec, ...],
    *,
    stream: bool = False,
    client: Client | None = None,
    started: float | None = None,
    **routing: Any,
) -> tuple[RequestContext, Client, ScriptedTransport, Relay]:
    client = client or Client()
    transport = ScriptedTransport(handler)
    r = relay(transport, client, **routing)
    payload = {**CHAT, "stream": True} if stream else CHAT
    ctx = context("chat", payload, stream=stream, channels=channels)
    ctx.started = time.perf_counter() if started is None else started
    await r.run(ctx, r.candidates(ctx), client.receive, client.send)
    return ctx, client, transport, r


def hosts(transport: ScriptedTransport) -> list[str]:
    return [req.url.split("/")[2] for req in transport.requests]


def classes(ctx: RequestContext) -> list[tuple[int, int, str]]:
    return [(a.channel_id, a.status, a.cls) for a in ctx.attempts]


async def test_failover_goes_down_the_priorities_until_one_answers() -> None:
    script = by_url(
        {
            "ch1.test": Reply.json(500, b'{"error":{"message":"boom"}}'),
            "ch2.test": UpstreamUnavailable("ClientConnectorError"),
            "ch3.test": Reply.json(200, ANSWER),
        }
    )
    ctx, client, transport, r = await run(script, chans(1, 1, 1))
    assert hosts(transport) == ["ch1.test", "ch2.test", "ch3.test"]
    assert classes(ctx) == [(1, 500, "server"), (2, 0, "network"), (3, 200, "success")]
    assert client.status == 200 and orjson.loads(client.body)["id"] == "c1"
    assert client.settled == [("success", 200)]
    assert ctx.channel_id == 3 and ctx.usage is not None and ctx.usage.output == 1
    assert [r.closed for r in transport.responses] == [True, True]  # none left open
    assert transport.responses[1].released  # read to its end: the connection is reused
    assert r.health.view(chans(1)[0])["consecutive_failures"] == 1


async def test_the_first_byte_timeout_fails_over_and_all_timing_out_is_e23() -> None:
    script = by_url({"ch1.test": HANG, "ch2.test": Reply.json(200, ANSWER)})
    ctx, client, _, _ = await run(script, chans(0.05, 1))
    assert classes(ctx) == [(1, 0, "timeout"), (2, 200, "success")]
    assert client.status == 200
    with pytest.raises(GatewayError) as info:
        await run(lambda _: HANG, chans(0.05, 0.05))
    assert info.value.code == "UPSTREAM_TIMEOUT"


async def test_a_stream_that_stalls_before_its_first_byte_times_out() -> None:
    script = by_url({"ch1.test": Reply(200, [STALL], SSE), "ch2.test": Reply(200, STREAM, SSE)})
    ctx, client, transport, _ = await run(script, chans(0.05, 1), stream=True)
    assert classes(ctx) == [(1, 0, "timeout"), (2, 200, "success")]
    assert transport.responses[0].closed and not transport.responses[0].released
    assert client.body.endswith(b"data: [DONE]\n\n")


async def test_an_empty_stream_is_a_network_failure_before_the_first_byte() -> None:
    script = by_url({"ch1.test": Reply(200, [], SSE), "ch2.test": Reply(200, STREAM, SSE)})
    ctx, client, _, _ = await run(script, chans(1, 1), stream=True)
    assert classes(ctx) == [(1, 200, "network"), (2, 200, "success")]
    assert client.status == 200 and client.sent[-1]["more_body"] is False
    assert b'"content":"hel"' in client.body and client.settled == [("success", 200)]


async def test_a_stream_cut_after_the_first_byte_ends_with_one_error_event() -> None:
    """No failover after the first byte (R4.6): what was delivered is charged, estimated."""
    script = by_url({"ch1.test": Reply(200, [STREAM[0], CUT], SSE), "ch2.test": HANG})
    ctx, client, transport, _ = await run(script, chans(1, 1), stream=True)
    assert hosts(transport) == ["ch1.test"]
    assert ctx.outcome == "partial" and ctx.code == "upstream_unavailable" and ctx.estimated
    assert client.settled == [("partial", 200)]
    events = [e for e in client.body.split(b"\n\n") if e]
    assert events[0] == STREAM[0].strip() and events[-1] == b"data: [DONE]"
    assert [b'"error"' in e for e in events] == [False, True, False]  # one error event
    assert transport.responses[0].closed and not transport.responses[0].released


async def test_a_client_leaving_before_the_first_byte_abandons_the_call() -> None:
    """R4.9, R10.6: the call is cancelled, no further channel is tried, and the attempt is no
    channel failure; the estimated input is charged."""
    client = Client()

    async def script(req: Request) -> Any:
        client.leave.set()  # the client goes while the upstream thinks
        return HANG

    ctx, _, transport, r = await run(script, chans(30, 30), client=client)
    assert hosts(transport) == ["ch1.test"]
    assert classes(ctx) == [(1, 0, "client_cancelled")]
    assert client.sent == [] and client.settled == [("client_cancelled", 499)]
    assert r.health.view(chans(1)[0])["consecutive_failures"] == 0


async def test_a_client_leaving_mid_stream_closes_the_upstream_answer() -> None:
    client = Client()
    chunks: list[bytes | Any] = [STREAM[0], STALL]

    async def send(msg: dict[str, Any]) -> None:
        client.sent.append(msg)
        if msg.get("body"):
            client.leave.set()  # gone once the first event reached it

    client.send = send  # type: ignore[method-assign]
    ctx, _, transport, _ = await run(
        lambda _: Reply(200, chunks, SSE), chans(30), stream=True, client=client
    )
    assert ctx.outcome == "client_cancelled" and client.settled == [("client_cancelled", 499)]
    assert transport.responses[0].closed and not transport.responses[0].released


async def test_no_attempt_starts_after_the_failover_budget() -> None:
    seen: list[str] = []

    def script(req: Request) -> Reply:
        seen.append(req.url)
        return Reply.json(503, b"{}") if "ch1" in req.url else Reply.json(200, ANSWER)

    with pytest.raises(GatewayError) as info:  # the first attempt ends past the budget
        await run(script, chans(1, 1), started=time.perf_counter() - 61, failover_budget_s=60)
    assert info.value.code == "upstream_unavailable" and len(seen) == 1
    ctx, client, _, _ = await run(script, chans(1, 1), failover_budget_s=60)
    assert [a.channel_id for a in ctx.attempts] == [1, 2] and client.status == 200


async def test_attempts_stop_at_max_attempts() -> None:
    seen: list[str] = []

    def script(req: Request) -> Reply:
        seen.append(req.url)
        return Reply.json(502, b"{}")

    with pytest.raises(GatewayError) as info:
        await run(script, chans(1, 1, 1), max_attempts=2)
    assert info.value.code == "upstream_unavailable" and len(seen) == 2


async def test_a_terminal_upstream_error_is_relayed_without_failover() -> None:
    script = by_url(
        {
            "ch1.test": Reply.json(400, b'{"error":{"message":"bad key secret-key"}}'),
            "ch2.test": Reply.json(200, ANSWER),
        }
    )
    with pytest.raises(UpstreamError) as info:
        await run(script, chans(1, 1))
    assert info.value.status == 400 and b"secret-key" not in info.value.body


async def test_an_answer_that_is_not_json_fails_over() -> None:
    script = by_url({"ch1.test": Reply.json(200, b"<html>"), "ch2.test": Reply.json(200, ANSWER)})
    ctx, client, _, _ = await run(script, chans(1, 1))
    assert classes(ctx) == [(1, 200, "network"), (2, 200, "success")]
    assert client.status == 200


@pytest.mark.parametrize("bug", [KeyError("usage"), TypeError("NoneType"), AttributeError("x")])
async def test_a_bug_of_ours_is_no_channel_failure(bug: Exception) -> None:
    """R8.5: only `UpstreamFailure`s leave the seam as channel failures. Anything else is ours:
    it propagates (the entry answers E20 and logs the traceback), no other channel is tried
    and the channel's record stays clean."""

    def script(req: Request) -> Reply:
        raise bug

    client = Client()
    transport = ScriptedTransport(script)
    r = relay(transport, client)
    ctx = context("chat", CHAT, channels=chans(1, 1))
    ctx.started = time.perf_counter()
    with pytest.raises(type(bug)):
        await r.run(ctx, r.candidates(ctx), client.receive, client.send)
    assert len(transport.requests) == 1
    assert classes(ctx) == []
    assert r.health.view(chans(1)[0])["consecutive_failures"] == 0


# An upstream answer of the right JSON syntax but the wrong types where the codec reads it is a
# broken upstream (R9.4): the attempt is a network failure and the next channel is tried. Each
# platform codec, on a translated route and on a native one (whose usage the gateway meters).
GOOD = {
    "openai": ANSWER,
    "anthropic": orjson.dumps(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": "hello"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 1},
        }
    ),
    "gemini": orjson.dumps(
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "hello"}]}}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1},
        }
    ),
}
FRONT_BODY = {
    "chat": CHAT,
    "messages": {**CHAT, "max_tokens": 16},
    "generate": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
}
WRONG_TYPES = [
    # translated: an OpenAI client on other platforms, an Anthropic client on OpenAI's
    ("chat", "anthropic", {"content": 5}),
    ("chat", "anthropic", {"content": [], "usage": []}),
    ("chat", "anthropic", {"content": [], "usage": {"cache_creation": [1]}}),
    ("chat", "gemini", {"candidates": "x"}),
    ("chat", "gemini", {"candidates": [{"content": "x"}]}),
    ("chat", "gemini", {"candidates": [], "usageMetadata": []}),
    ("messages", "openai", {"choices": "x"}),
    ("messages", "openai", {"choices": [{"message": 5}]}),
    ("messages", "openai", {"choices": [{"message": {"content": 5}}]}),
    ("messages", "openai", {"choices": [], "usage": []}),
    ("messages", "openai", {"choices": [], "usage": {"prompt_tokens_details": [1]}}),
    ("generate", "openai", {"choices": [{"finish_reason": {"a": 1}}]}),
    ("generate", "openai", [1, 2]),
    # native: the body goes out as it came, but its usage is what the request is charged
    ("chat", "openai", {"choices": [], "usage": []}),
    ("chat", "openai", {"choices": [], "usage": {"completion_tokens_details": "x"}}),
    ("messages", "anthropic", {"content": [], "usage": 7}),
    ("generate", "gemini", {"candidates": [], "usageMetadata": "x"}),
]


def platform_chans(platform: str) -> tuple[ChannelRec, ...]:
    path = "" if platform in ("anthropic", "gemini") else "/v1"
    return tuple(
        channel(platform, id=n, name=f"ch{n}", base_url=f"http://ch{n}.test{path}", priority=n)
        for n in (1, 2)
    )


@pytest.mark.parametrize(("op", "platform", "answer"), WRONG_TYPES)
async def test_an_answer_of_the_wrong_types_fails_over(op: str, platform: str, answer: Any) -> None:
    script = by_url(
        {
            "ch1.test": Reply.json(200, orjson.dumps(answer)),
            "ch2.test": Reply.json(200, GOOD[platform]),
        }
    )
    client = Client()
    transport = ScriptedTransport(script)
    r = relay(transport, client)
    ctx = context(op, FRONT_BODY[op], channels=platform_chans(platform))
    ctx.started = time.perf_counter()
    await r.run(ctx, r.candidates(ctx), client.receive, client.send)
    assert hosts(transport) == ["ch1.test", "ch2.test"]
    assert classes(ctx) == [(1, 200, "network"), (2, 200, "success")]
    assert client.status == 200 and client.settled == [("success", 200)]
    assert ctx.usage is not None and ctx.usage.output == 1


async def test_when_every_answer_has_the_wrong_types_the_client_gets_e21() -> None:
    """The SPEC's answer when every candidate failed (§8, 21): 502 `upstream_unavailable`,
    never E20 (the gateway's own fault)."""
    bad = Reply.json(200, orjson.dumps({"choices": "x"}))
    client = Client()
    transport = ScriptedTransport(lambda _: bad)
    r = relay(transport, client)
    ctx = context("messages", FRONT_BODY["messages"], channels=platform_chans("openai"))
    ctx.started = time.perf_counter()
    with pytest.raises(GatewayError) as info:
        await r.run(ctx, r.candidates(ctx), client.receive, client.send)
    assert info.value.code == "upstream_unavailable" and info.value.status == 502
    assert classes(ctx) == [(1, 200, "network"), (2, 200, "network")]


async def test_a_complete_stream_without_usage_is_settled_on_the_characters_delivered() -> None:
    """R10.1: an upstream that reports no usage (an OpenAI-compatible server that ignores
    `stream_options`) is charged the estimate, whose output is the delivered characters / 4;
    settlement happens at `[DONE]`, so the count must be on the context by then."""
    seen: list[tuple[int, object]] = []

    class Counting(Client):
        async def settle(self, ctx: RequestContext) -> None:
            seen.append((ctx.delivered_chars, ctx.usage))
            await super().settle(ctx)

    _, client, _, _ = await run(
        by_url({"ch1.test": Reply(200, STREAM, SSE)}), chans(1), stream=True, client=Counting()
    )
    assert client.settled == [("success", 200)]
    assert seen == [(len("hel") + len("lo"), None)]
