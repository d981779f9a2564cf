"""The same upstream stream costs the same on every route (issue 12 item 12; SPEC R10.2, R10.4).

Each recorded provider stream (../shared/fixtures/recorded) is relayed natively and translated
to every front door R5.2 allows, through the exchanges the gateway builds; the charge of the
translated stream equals the native one. Recorded chat streams carry no cache tokens (the one
recorded stream that does is a Responses stream, which no translated route reads: it is checked
natively against its final event), so each chat stream is also replayed with its usage blocks
rewritten to carry cache reads and writes the way each provider reports them: Anthropic with
the 5m/1h breakdown in `message_start` and bare totals in `message_delta` (equal, or grown as
with server tools), OpenAI-wire in `prompt_tokens_details`, Gemini in `cachedContentTokenCount`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tests.gateway.kit import build, channel
from tests.recorded import recorded_cases
from torouter.billing.pricing import Prices, cost_nusd
from torouter.gateway.passthrough import ResponsesPassthrough, StreamRelayer
from torouter.protocols.internal import Usage
from torouter.protocols.usage import from_openai
from torouter.routing import matrix

# Distinct prices per kind, so that a token counted as the wrong kind changes the charge.
PRICES = Prices.with_defaults(
    input=Decimal(3),
    output=Decimal(15),
    cache_read=Decimal("0.3"),
    cache_write_5m=Decimal("3.75"),
    cache_write_1h=Decimal(6),
)
# The recorded API → (the front door that is native to it, the operation).
NATIVE_FRONT = {"chat.completions": "openai", "messages": "anthropic"}
GENERATE = "streamGenerateContent"
OPERATION = {
    "openai": "chat",
    "anthropic": "messages",
    "gemini": "generate",
    "responses": "responses",
}
REQUEST = {
    "openai": {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    "responses": {"model": "m", "input": "hi", "stream": True},
    "anthropic": {
        "model": "m",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
    },
    "gemini": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
}


def platform_of(case: dict[str, Any]) -> str:
    if case["provider"] != "openai-compatible":
        return str(case["provider"])
    return "openrouter" if case["id"].startswith("openrouter") else "openai-compatible"


def front_of(case: dict[str, Any]) -> str:
    return "gemini" if case["api"] == GENERATE else NATIVE_FRONT[case["api"]]


def relay(front: str, platform: str, data: bytes) -> StreamRelayer:
    """Feed the bytes through the exchange the gateway builds for this pair, 5 bytes a read."""
    query = {"alt": "sse"} if front == "gemini" else None
    ex = build(front, platform, dict(REQUEST[front]), stream=True, query=query)
    relayer = ex.stream_relayer(1 << 24)
    for i in range(0, len(data), 5):
        relayer.feed(data[i : i + 5])
    relayer.close()
    return relayer


def charge(relayer: StreamRelayer) -> int:
    assert relayer.done and relayer.usage is not None
    return cost_nusd(relayer.usage, PRICES)


# ── cache-bearing variants of the recorded usage blocks ────────────────────────────────────


def _rewrite(sse: str, edit: Any) -> bytes:
    """Apply `edit(obj)` to the JSON of every data line (each line stays one line)."""
    out = []
    for line in sse.split("\n"):
        body = line.removesuffix("\r")
        if body.startswith("data: ") and body[6:].strip() not in ("", "[DONE]"):
            obj = json.loads(body[6:])
            edit(obj)
            line = "data: " + json.dumps(obj) + line[len(body) :]
        out.append(line)
    return "\n".join(out).encode()


def anthropic_cache(sse: str, *, w5: int, w1: int, read: int, grow: int) -> bytes:
    def edit(obj: dict[str, Any]) -> None:
        if obj.get("type") == "message_start" and isinstance(obj["message"].get("usage"), dict):
            u = obj["message"]["usage"]
            u["cache_creation_input_tokens"] = w5 + w1
            u["cache_read_input_tokens"] = read
            u["cache_creation"] = {
                "ephemeral_5m_input_tokens": w5,
                "ephemeral_1h_input_tokens": w1,
            }
        elif obj.get("type") == "message_delta" and isinstance(obj.get("usage"), dict):
            u = obj["usage"]  # cumulative totals, no breakdown (as recorded)
            u["cache_creation_input_tokens"] = w5 + w1 + grow
            u["cache_read_input_tokens"] = read + grow // 2

    return _rewrite(sse, edit)


def openai_cache(sse: str, *, read: int, write: int) -> bytes:
    def edit(obj: dict[str, Any]) -> None:
        u = obj.get("usage")
        if isinstance(u, dict):
            u["prompt_tokens"] = int(u.get("prompt_tokens") or 0) + read + write
            if "total_tokens" in u:
                u["total_tokens"] = int(u["total_tokens"]) + read + write
            u["prompt_tokens_details"] = {"cached_tokens": read, "cache_write_tokens": write}

    return _rewrite(sse, edit)


def gemini_cache(sse: str, *, read: int) -> bytes:
    def edit(obj: dict[str, Any]) -> None:
        u = obj.get("usageMetadata")
        if isinstance(u, dict):
            u["promptTokenCount"] = int(u.get("promptTokenCount") or 0) + read
            u["cachedContentTokenCount"] = read

    return _rewrite(sse, edit)


def variants(case: dict[str, Any]) -> dict[str, bytes]:
    sse = case["response"]["sse"]
    out = {"as-recorded": sse.encode()}
    if case["provider"] == "anthropic":
        out["cache-5m"] = anthropic_cache(sse, w5=1200, w1=0, read=800, grow=0)
        out["cache-1h"] = anthropic_cache(sse, w5=0, w1=2500, read=0, grow=0)
        out["cache-mixed-grown"] = anthropic_cache(sse, w5=500, w1=2000, read=300, grow=700)
    elif case["api"] == GENERATE:
        out["cache-read"] = gemini_cache(sse, read=4096)
    else:
        out["cache-read-write"] = openai_cache(sse, read=3211, write=115)
    return out


CHAT_STREAMS = [
    p
    for api in ("chat.completions", "messages", GENERATE)
    for p in recorded_cases(api=api, stream=True)
]


@pytest.mark.parametrize("case", CHAT_STREAMS)
def test_translated_charge_equals_native(case: dict[str, Any]) -> None:
    platform = platform_of(case)
    native_front = front_of(case)
    fronts = [
        f
        for f in OPERATION
        if matrix.channel_mode(OPERATION[f], channel(platform)) == matrix.TRANSLATED
    ]
    assert fronts, case["id"]
    if "error" in case["features"]:
        pytest.skip("ends in an upstream error: charged as delivered (R10.6), not compared here")
    for name, data in variants(case).items():
        native = relay(native_front, platform, data)
        if not native.done or native.upstream_error is not None:
            continue  # a stream that ends in an error is charged as delivered (R10.6)
        for front in fronts:
            got = relay(front, platform, data)
            assert got.done, (name, front)
            assert got.usage == native.usage, (name, front)
            if native.usage is not None:  # else both settle on the R10.1 estimate
                assert charge(got) == charge(native), (name, front)


def test_cache_variants_carry_cache_tokens() -> None:
    """The rewritten streams really bill cache reads and writes of every kind."""
    kinds: set[str] = set()
    for p in CHAT_STREAMS:
        case = p.values[0]
        if case is None:
            pytest.skip("recorded fixtures absent")
        for name, data in variants(case).items():
            native = relay(front_of(case), platform_of(case), data)
            u = native.usage
            if name == "as-recorded" or not native.done or u is None:
                continue
            for kind in ("cache_read", "cache_write_5m", "cache_write_1h"):
                if getattr(u, kind):
                    kinds.add(kind)
    assert kinds == {"cache_read", "cache_write_5m", "cache_write_1h"}


def test_anthropic_1h_writes_counted_once() -> None:
    """Native relay: `message_delta` repeating the write total is not a second (5m) write."""
    case = next(p.values[0] for p in recorded_cases(id="anthropic-messages-stream-text"))
    data = anthropic_cache(case["response"]["sse"], w5=0, w1=2500, read=0, grow=0)
    u = relay("anthropic", "anthropic", data).usage
    assert u == Usage(input=20, cache_write_1h=2500, output=5)


@pytest.mark.parametrize("case", recorded_cases(id="openai-responses-stream-cache"))
def test_recorded_cache_stream_charged_by_its_final_event(case: dict[str, Any]) -> None:
    """The recorded stream with cache tokens (Responses; native only): the final event wins."""
    relayer = ResponsesPassthrough(1 << 24)
    data = case["response"]["sse"].encode()
    for i in range(0, len(data), 5):
        relayer.feed(data[i : i + 5])
    relayer.close()
    final = [
        json.loads(line[6:])
        for line in case["response"]["sse"].split("\n")
        if line.startswith("data: ") and '"response.completed"' in line
    ][-1]
    want = from_openai(final["response"]["usage"])
    assert want.cache_read > 0
    assert relayer.done and relayer.usage == want
    assert charge(relayer) == cost_nusd(want, PRICES)
