"""Replay of the recorded provider responses: bytes as recorded, and parsed by the SDKs."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from torouter.mock.replay import request_for

# Recorded streams that end in an error event: the SDKs raise on them, as they should.
FAILING_STREAMS = {"openrouter-chat-stream-error", "openai-responses-stream-failed"}


async def _replay(base_url: str, case: dict[str, Any], *, header: bool = True) -> httpx.Response:
    request = request_for(case)
    headers = {"authorization": "Bearer sk-replay", "anthropic-version": "2023-06-01"}
    body = request["body"]
    if header:
        headers["x-mock"] = f"replay={case['id']}"
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        return await client.post(
            request["path"], params=request["query"], headers=headers, json=body
        )


async def test_stream_case_bytes(
    base_url: str, stream_case: str, loaded_case: dict[str, Any]
) -> None:
    response = await _replay(base_url, loaded_case)
    recorded = loaded_case["response"]
    assert response.status_code == recorded["status"]
    assert response.headers["content-type"] == recorded["headers"]["content-type"]
    assert response.content == recorded["sse"].encode()


async def test_json_case_body(base_url: str, json_case: str, loaded_case: dict[str, Any]) -> None:
    response = await _replay(base_url, loaded_case)
    recorded = loaded_case["response"]
    assert response.status_code == recorded["status"]
    assert response.headers["content-type"] == recorded["headers"]["content-type"]
    assert orjson.loads(response.content) == recorded["body"]


async def test_replay_directive_in_the_prompt(base_url: str, recorded_dir: object) -> None:
    async with openai.AsyncOpenAI(
        base_url=f"{base_url}/v1", api_key="sk-r", max_retries=0
    ) as client:
        done = await client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "[[mock:replay=openai-chat-text]]"}],
        )
    assert done.id == "chatcmpl-BJjf61mLb9z5H45ClJzbx0UWKwjo1"
    assert done.choices[0].message.content == "The capital of France is Paris."


async def test_replay_paced_and_cut(base_url: str, recorded_dir: object) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        headers = {
            "x-api-key": "k",
            "anthropic-version": "2023-06-01",
            "x-mock": "replay=anthropic-messages-stream-text, disconnect_after=3",
        }
        body = {"model": "c", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}
        async with client.stream("POST", "/v1/messages", headers=headers, json=body) as response:
            received = b""
            with pytest.raises(httpx.RemoteProtocolError):
                async for part in response.aiter_raw():
                    received += part
    assert received.count(b"\n\n") == 3


async def test_unknown_case_is_a_provider_error(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post(
            "/v1/chat/completions",
            headers={"authorization": "Bearer k", "x-mock": "replay=no-such-case"},
            json={"model": "m", "messages": []},
        )
    assert response.status_code == 400 and "no-such-case" in response.json()["error"]["message"]


async def test_stream_case_parses_with_its_sdk(
    base_url: str, stream_case: str, loaded_case: dict[str, Any]
) -> None:
    """Each recorded stream, replayed, goes through the official SDK of its wire format."""
    case = loaded_case
    replay = {"x-mock": f"replay={case['id']}"}
    api = case["api"]
    failing = case["id"] in FAILING_STREAMS
    if api == "chat.completions":
        async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0) as c:
            stream = await c.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "x"}],
                stream=True,
                extra_headers=replay,
            )
            if failing:
                with pytest.raises(openai.APIError):
                    _ = [chunk async for chunk in stream]
                return
            chunks = [chunk async for chunk in stream]
        assert chunks and all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    elif api == "responses":
        async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="k", max_retries=0) as c:
            stream = await c.responses.create(
                model="m", input="x", stream=True, extra_headers=replay
            )
            if failing:
                with pytest.raises(openai.APIError):
                    _ = [event async for event in stream]
                return
            events = [event async for event in stream]
        assert events[0].type == "response.created"
        assert events[-1].type in ("response.completed", "response.incomplete")
    elif api == "messages":
        async with anthropic.AsyncAnthropic(base_url=base_url, api_key="k", max_retries=0) as c:
            stream = await c.messages.create(
                model="c",
                max_tokens=8,
                messages=[{"role": "user", "content": "x"}],
                stream=True,
                extra_headers=replay,
            )
            events = [event async for event in stream]
        assert events[0].type == "message_start" and events[-1].type == "message_stop"
    elif api == "streamGenerateContent":
        client = genai.Client(
            api_key="k", http_options=types.HttpOptions(base_url=base_url, headers=replay)
        )
        try:
            chunks = [
                chunk
                async for chunk in await client.aio.models.generate_content_stream(
                    model="gemini-2.5-flash", contents="x"
                )
            ]
        except genai_errors.APIError:  # pragma: no cover - no recorded Gemini stream fails
            raise
        assert chunks and chunks[-1].candidates[0].finish_reason is not None
    else:  # pragma: no cover - a new kind of recorded stream needs a parser here
        pytest.fail(f"no SDK parser for {api}")
