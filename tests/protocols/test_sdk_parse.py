"""The translated golden outputs, read by the official SDKs' own parsers (SPEC R4.2–R4.5, §21).

Each client's bytes go through the SDK over an `httpx2.MockTransport` (openai 3.x
`chat.completions.stream` / `create`, anthropic 2.x `messages.stream` / `create`, google-genai
3.x `generate_content[_stream]`); the SDK must accept them and report the same text, reasoning,
tool calls (name, id, parsed arguments), stop reason and usage (after R10.2 normalisation) as
the internal events or response they were encoded from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic as anthropic_sdk
import httpx2
import openai as openai_sdk
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests.protocols.harness import (
    INPUT_ESTIMATE,
    MODEL,
    MODULES,
    Summary,
    assert_same,
    decode_all,
    encoder,
    pair_params,
    parse,
    summarize_events,
    summarize_response,
)
from torouter.protocols.internal import Usage, UsageEvent
from torouter.protocols.usage import from_anthropic, from_gemini, from_openai

BASE = "http://gateway.test"


def _transport(body: bytes, content_type: str) -> httpx2.Client:
    """The SDKs (openai 3.x, anthropic 2.x, google-genai 3.x) all run on httpx2."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": content_type})

    return httpx2.Client(transport=httpx2.MockTransport(handler))


# ── per-SDK readers: bytes → Summary ────────────────────────────────────────────────────────


def read_openai(body: bytes, stream: bool) -> Summary:
    http = _transport(body, "text/event-stream" if stream else "application/json")
    client = openai_sdk.OpenAI(api_key="sk-test", base_url=f"{BASE}/v1", http_client=http)
    messages: Any = [{"role": "user", "content": "hi"}]
    if stream:
        with client.chat.completions.stream(model=MODEL, messages=messages) as s:
            try:
                done = s.get_final_completion()
            except openai_sdk.ContentFilterFinishReasonError:  # the helper's way to say so
                done = s.current_completion_snapshot
    else:
        done = client.chat.completions.create(model=MODEL, messages=messages)
    choice = done.choices[0]
    msg = choice.message
    extra = msg.model_extra or {}
    calls = [
        (c.id, c.function.name, _json(c.function.arguments))
        for c in msg.tool_calls or []
        if c.type == "function"
    ]
    assert done.usage is not None
    return Summary(
        text=msg.content or "",
        thinking=extra.get("reasoning_content") or "",
        tool_calls=calls,
        stop=choice.finish_reason,
        usage=from_openai(done.usage.model_dump()),
    )


def read_anthropic(body: bytes, stream: bool) -> Summary:
    http = _transport(body, "text/event-stream" if stream else "application/json")
    client = anthropic_sdk.Anthropic(api_key="sk-test", base_url=BASE, http_client=http)
    messages: Any = [{"role": "user", "content": "hi"}]
    if stream:
        with client.messages.stream(model=MODEL, max_tokens=64, messages=messages) as s:
            msg = s.get_final_message()
    else:
        msg = client.messages.create(model=MODEL, max_tokens=64, messages=messages)
    s = Summary(stop=msg.stop_reason, usage=from_anthropic(msg.usage.model_dump()))
    for b in msg.content:
        if b.type == "text":
            s.text += b.text
        elif b.type == "thinking":
            s.thinking += b.thinking
        elif b.type == "tool_use":
            s.tool_calls.append((b.id, b.name, b.input))
    return s


def read_gemini(body: bytes, stream: bool) -> Summary:
    http = _transport(body, "text/event-stream" if stream else "application/json")
    options = genai_types.HttpOptions(base_url=BASE, httpx_client=http)
    client = genai.Client(api_key="AIza-test", http_options=options)
    if stream:
        chunks = list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    else:
        chunks = [client.models.generate_content(model=MODEL, contents="hi")]
    s = Summary()
    for chunk in chunks:
        assert chunk.model_version == MODEL
        cand = (chunk.candidates or [None])[0]
        if cand is None:
            continue
        for p in (cand.content and cand.content.parts) or []:
            if p.function_call is not None:
                fc = p.function_call
                s.tool_calls.append((fc.id, fc.name, fc.args))
            elif p.thought:
                s.thinking += p.text or ""
            elif p.text:
                s.text += p.text
        if cand.finish_reason is not None:
            s.stop = cand.finish_reason.value
        if chunk.usage_metadata is not None:
            s.usage = from_gemini(chunk.usage_metadata.model_dump(by_alias=True, exclude_none=True))
    return s


READERS: dict[str, Callable[[bytes, bool], Summary]] = {
    "openai": read_openai,
    "anthropic": read_anthropic,
    "gemini": read_gemini,
}


def _json(text: str) -> Any:
    import json

    return json.loads(text)


@pytest.mark.parametrize(("case", "front"), pair_params(stream=True))
def test_sdk_reads_translated_stream(case: dict[str, Any], front: str) -> None:
    events = decode_all(case)
    body = encoder(front).encode(events)
    want = summarize_events(events)
    if not any(isinstance(ev, UsageEvent) for ev in events):
        want.usage = Usage(input=INPUT_ESTIMATE)  # no upstream usage: the estimate stands
    if want.error is not None:
        with pytest.raises(
            (openai_sdk.APIError, anthropic_sdk.APIError, genai_errors.APIError)
        ) as info:
            READERS[front](body, True)
        assert want.error in str(info.value)
        return
    assert_same(front, READERS[front](body, True), want, None)


@pytest.mark.parametrize(("case", "front"), pair_params(stream=False))
def test_sdk_reads_translated_body(case: dict[str, Any], front: str) -> None:
    resp = parse(case)
    body = MODULES[front].render_response(resp, model=MODEL)
    import orjson

    got = READERS[front](orjson.dumps(body), False)
    assert_same(front, got, summarize_response(resp), resp.stop_sequence)
