"""The official openai SDK (3.x) against the mock: framing, usage, tools, reasoning, faults."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx
import openai
import pytest

from tests.waiting import eventually
from torouter.mock.testing import MockServer

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=f"{base_url}/v1", api_key="sk-openai-test", max_retries=0
    ) as c:
        yield c


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def test_chat_non_stream(client: openai.AsyncOpenAI) -> None:
    done = await client.chat.completions.create(model="gpt-4o-mini", messages=user("Hi there"))
    assert done.object == "chat.completion" and done.model == "gpt-4o-mini"
    assert done.choices[0].message.content.startswith("This is a mock response to: Hi there")
    assert done.choices[0].finish_reason == "stop"
    usage = done.usage
    assert usage is not None
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details.reasoning_tokens == 0


async def test_chat_stream_framing_and_usage(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=user("Stream me a story"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    content = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(content) == 20
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].usage.completion_tokens == (len("".join(content)) + 3) // 4
    plain = await client.chat.completions.create(
        model="gpt-4o-mini", messages=user("Stream me a story")
    )
    assert plain.choices[0].message.content == "".join(content)


async def test_chat_stream_without_usage_request_has_no_usage_chunk(
    client: openai.AsyncOpenAI,
) -> None:
    stream = await client.chat.completions.create(model="m", messages=user("x"), stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


async def test_prompt_cache_per_credential(base_url: str) -> None:
    messages = [{"role": "system", "content": "s" * 800}, *user("cache me please")]
    async with (
        openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="sk-cache-a", max_retries=0) as a,
        openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="sk-cache-b", max_retries=0) as b,
    ):
        first = await a.chat.completions.create(model="m", messages=messages)
        again = await a.chat.completions.create(model="m", messages=messages)
        other = await b.chat.completions.create(model="m", messages=messages)
        longer = await a.chat.completions.create(
            model="m",
            messages=[*messages, {"role": "assistant", "content": "ok"}, *user("and more")],
        )
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    assert again.usage.prompt_tokens_details.cached_tokens == again.usage.prompt_tokens
    assert other.usage.prompt_tokens_details.cached_tokens == 0
    assert longer.usage.prompt_tokens_details.cached_tokens == first.usage.prompt_tokens


async def test_forced_cache_and_reasoning_usage(client: openai.AsyncOpenAI) -> None:
    done = await client.chat.completions.create(
        model="o3", messages=user("think [[mock:cache=64]]"), reasoning_effort="high"
    )
    usage = done.usage
    assert usage.prompt_tokens_details.cached_tokens == 64 and usage.prompt_tokens >= 64
    reasoning = usage.completion_tokens_details.reasoning_tokens
    assert reasoning > 0
    assert usage.completion_tokens == reasoning + (len(done.choices[0].message.content) + 3) // 4


async def test_reasoning_content_stream(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="deepseek-reasoner", messages=user("hmm"), reasoning_effort="low", stream=True
    )
    deltas = [c.choices[0].delta async for c in stream if c.choices]
    reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    text = "".join(d.content or "" for d in deltas)
    assert reasoning.startswith("Let me think") and text.startswith("This is a mock")
    first_text = next(i for i, d in enumerate(deltas) if d.content)
    last_reasoning = max(i for i, d in enumerate(deltas) if getattr(d, "reasoning_content", None))
    assert last_reasoning < first_text


async def test_tool_calls(client: openai.AsyncOpenAI) -> None:
    done = await client.chat.completions.create(
        model="gpt-4o", messages=user("weather? [[mock:tool]]"), tools=TOOLS
    )
    call = done.choices[0].message.tool_calls[0]
    assert done.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and call.id.startswith("call_")
    assert json.loads(call.function.arguments) == {"city": "mock", "days": 1}
    async with client.chat.completions.stream(
        model="gpt-4o", messages=user("weather?"), tools=TOOLS, tool_choice="required"
    ) as stream:
        final = await stream.get_final_completion()
    streamed = final.choices[0].message.tool_calls[0]
    assert streamed.function.name == "get_weather"
    assert json.loads(streamed.function.arguments) == {"city": "mock", "days": 1}
    follow_up = await client.chat.completions.create(
        model="gpt-4o",
        messages=[
            *user("weather? [[mock:tool]]"),
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
        tools=TOOLS,
    )
    assert follow_up.choices[0].finish_reason == "stop"


async def test_parallel_tool_calls_stream(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=user("two [[mock:tools=2]]"), tools=TOOLS, stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    async for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or ():
            entry = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
            if tc.id:
                assert entry["args"] == "", "id and name come before argument fragments"
                entry["id"] = tc.id
                entry["name"] = tc.function.name
            entry["args"] += tc.function.arguments or ""
    assert sorted(calls) == [0, 1]
    assert all(json.loads(c["args"]) == {"city": "mock", "days": 1} for c in calls.values())


@pytest.mark.parametrize(
    ("directive", "error", "status"),
    [
        ("429", openai.RateLimitError, 429),
        ("500", openai.InternalServerError, 500),
        ("503", openai.InternalServerError, 503),
        ("529", openai.InternalServerError, 529),
        ("status=404", openai.NotFoundError, 404),
        ("status=400", openai.BadRequestError, 400),
        ("status=401", openai.AuthenticationError, 401),
    ],
)
async def test_status_faults(
    client: openai.AsyncOpenAI, directive: str, error: type, status: int
) -> None:
    with pytest.raises(error) as caught:
        await client.chat.completions.create(model="m", messages=user(f"x [[mock:{directive}]]"))
    assert caught.value.status_code == status
    assert caught.value.body["type"]
    if status == 429:
        headers = caught.value.response.headers
        assert headers["retry-after"] == "1"
        assert headers["x-ratelimit-reset-requests"] == "1s"
        assert caught.value.code == "rate_limit_exceeded"


async def test_fault_from_header_and_stream_request(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(
            model="m",
            messages=user("x"),
            stream=True,
            extra_headers={"x-mock": "429, retry_after=120"},
        )
    assert caught.value.response.headers["x-ratelimit-reset-requests"] == "2m0s"
    assert caught.value.response.headers["retry-after"] == "120"


async def test_credentials(base_url: str) -> None:
    async def attempt(key: str) -> Exception:
        async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0) as c:
            with pytest.raises(openai.APIStatusError) as caught:
                await c.chat.completions.create(model="m", messages=user("x"))
        return caught.value

    invalid = await attempt("sk-invalid-key-123456")
    assert isinstance(invalid, openai.AuthenticationError) and invalid.code == "invalid_api_key"
    quota = await attempt("sk-nocredit-123")
    assert isinstance(quota, openai.RateLimitError) and quota.code == "insufficient_quota"
    async with httpx.AsyncClient() as raw:
        missing = await raw.post(f"{base_url}/v1/chat/completions", json={})
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "invalid_request_error"
    assert missing.headers["x-request-id"].startswith("req_")


async def test_accepted_keys() -> None:
    from torouter.mock import MockConfig

    with MockServer(MockConfig(keys=("sk-only-this",))) as server:
        async with openai.AsyncOpenAI(
            base_url=f"{server.url}/v1", api_key="sk-only-this", max_retries=0
        ) as ok:
            assert (await ok.models.list()).data
        async with openai.AsyncOpenAI(
            base_url=f"{server.url}/v1", api_key="sk-other", max_retries=0
        ) as bad:
            with pytest.raises(openai.AuthenticationError):
                await bad.models.list()


async def test_disconnect_mid_stream_raises(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="m", messages=user("x [[mock:disconnect_after=5]]"), stream=True
    )
    received = []
    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 5


async def test_in_stream_error(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="m", messages=user("x [[mock:error_after=3]]"), stream=True
    )
    received = []
    with pytest.raises(openai.APIError, match="overloaded"):
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 3


async def test_malformed(client: openai.AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="m", messages=user("x [[mock:malformed]]"), stream=True
    )
    with pytest.raises(json.JSONDecodeError):
        async for _ in stream:
            pass
    with pytest.raises(json.JSONDecodeError):
        await client.chat.completions.create(model="m", messages=user("x [[mock:malformed]]"))


async def test_no_usage_and_content_filter(client: openai.AsyncOpenAI) -> None:
    done = await client.chat.completions.create(model="m", messages=user("x [[mock:no_usage]]"))
    assert done.usage is None
    stream = await client.chat.completions.create(
        model="m",
        messages=user("x [[mock:no_usage]]"),
        stream=True,
        stream_options={"include_usage": True},
    )
    assert all(c.choices for c in [c async for c in stream])
    filtered = await client.chat.completions.create(
        model="m", messages=user("x [[mock:content_filter]]")
    )
    assert filtered.choices[0].finish_reason == "content_filter"


async def test_timeout_fault_ends_when_the_client_gives_up(
    client: openai.AsyncOpenAI, mock_server: MockServer
) -> None:
    baseline = mock_server.task_count()
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(
            model="m", messages=user("x [[mock:timeout]]"), timeout=0.3
        )
    await _settles(mock_server, baseline)


async def test_slow_stream_is_paced_and_abandoning_it_frees_the_server(
    client: openai.AsyncOpenAI, mock_server: MockServer
) -> None:
    started = time.monotonic()
    stream = await client.chat.completions.create(
        model="m", messages=user("x [[mock:ttft_ms=60,chunk_interval_ms=10,chunks=4]]"), stream=True
    )
    chunks = [c async for c in stream]
    assert time.monotonic() - started >= 0.09
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 4
    baseline = mock_server.task_count()
    stream = await client.chat.completions.create(
        model="m", messages=user("x [[mock:chunk_interval_ms=200,chunks=50]]"), stream=True
    )
    async for _ in stream:
        break
    await stream.close()
    await _settles(mock_server, baseline)


async def test_slow_first_byte(client: openai.AsyncOpenAI) -> None:
    started = time.monotonic()
    await client.chat.completions.create(model="m", messages=user("x [[mock:slow_first_byte=80]]"))
    assert time.monotonic() - started >= 0.08


async def _settles(server: MockServer, baseline: int) -> None:
    await eventually(
        lambda: server.task_count() <= baseline,
        within=3,
        what="the mock's tasks to end after the client left",
    )


async def test_responses_non_stream_and_stream(client: openai.AsyncOpenAI) -> None:
    done = await client.responses.create(model="gpt-5", input="Say hello", instructions="Be brief.")
    assert done.status == "completed" and done.output_text.startswith(
        "This is a mock response to: Say hello"
    )
    assert done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    async with client.responses.stream(
        model="gpt-5", input="Say hello", instructions="Be brief."
    ) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.output_text == done.output_text
    assert final.usage.input_tokens_details.cached_tokens == final.usage.input_tokens


async def test_responses_reasoning_and_tools(client: openai.AsyncOpenAI) -> None:
    tools = [
        {
            "type": "function",
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ]
    async with client.responses.stream(
        model="gpt-5",
        input="find [[mock:tool]]",
        tools=tools,
        reasoning={"effort": "low", "summary": "auto"},
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert "response.reasoning_summary_text.delta" in kinds
    assert "response.function_call_arguments.delta" in kinds
    reasoning, call = final.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text.startswith("Let me think")
    assert call.type == "function_call" and json.loads(call.arguments) == {"q": "mock"}
    assert final.usage.output_tokens_details.reasoning_tokens > 0
    limited = await client.responses.create(model="gpt-5", input="long", max_output_tokens=4)
    assert (
        limited.status == "incomplete" and limited.incomplete_details.reason == "max_output_tokens"
    )
    counted = await client.responses.input_tokens.count(model="gpt-5", input="hello world")
    assert counted.input_tokens == 3


async def test_embeddings_images_audio_moderations_completions_models(
    client: openai.AsyncOpenAI,
) -> None:
    emb = await client.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], dimensions=8
    )
    assert [len(d.embedding) for d in emb.data] == [8, 8] and emb.usage.prompt_tokens == 2
    floats = await client.embeddings.create(
        model="text-embedding-3-small", input="a", dimensions=8, encoding_format="float"
    )
    assert floats.data[0].embedding == pytest.approx(emb.data[0].embedding, abs=1e-6)
    image = await client.images.generate(model="gpt-image-1", prompt="a cat")
    assert image.data[0].b64_json and image.usage.output_tokens > 0
    edit = await client.images.edit(
        model="gpt-image-1", image=("cat.png", b"\x89PNG...", "image/png"), prompt="hat"
    )
    assert edit.data[0].b64_json
    speech = await client.audio.speech.create(
        model="tts-1", voice="alloy", input="hello", response_format="wav"
    )
    assert speech.content.startswith(b"RIFF")
    text = await client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"0" * 32000))
    assert text.text.startswith("This is a mock response to: a.wav")
    moderation = await client.moderations.create(input="hello")
    assert moderation.results[0].flagged is False
    completion = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once")
    assert (
        completion.choices[0].text.startswith("This is a mock")
        and completion.usage.completion_tokens <= 16
    )
    models = await client.models.list()
    assert "gpt-4o-mini" in [m.id for m in models.data]
    assert (await client.models.retrieve("gpt-5")).id == "gpt-5"


@pytest.mark.parametrize("prefix", ["/openai/v1", "/mock/openai/v1", "/mock/v1"])
async def test_prefixed_base_urls(base_url: str, prefix: str) -> None:
    async with openai.AsyncOpenAI(base_url=base_url + prefix, api_key="sk-x", max_retries=0) as c:
        done = await c.chat.completions.create(model="m", messages=user("prefixed"))
    assert done.choices[0].message.content.startswith("This is a mock response to: prefixed")


async def test_azure_deployment_route(base_url: str) -> None:
    async with openai.AsyncAzureOpenAI(
        azure_endpoint=base_url, api_key="az-key", api_version="2024-10-21", max_retries=0
    ) as c:
        done = await c.chat.completions.create(model="gpt-4o", messages=user("azure"))
    assert done.model == "gpt-4o" and done.choices[0].message.content
