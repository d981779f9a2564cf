"""The official google-genai SDK (3.x, ``/v1`` by default) against the mock."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import errors, types

WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Weather for a city",
    parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
)


def make_client(base_url: str, key: str = "AIza-test", version: str | None = None) -> genai.Client:
    options = types.HttpOptions(base_url=base_url, api_version=version) if version else None
    return genai.Client(api_key=key, http_options=options or types.HttpOptions(base_url=base_url))


@pytest.fixture
def client(base_url: str) -> genai.Client:
    return make_client(base_url)


async def test_generate(client: genai.Client) -> None:
    response = await client.aio.models.generate_content(
        model="gemini-2.5-flash", contents="Hello Gemini"
    )
    assert response.text.startswith("This is a mock response to: Hello Gemini")
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage.candidates_token_count == (len(response.text) + 3) // 4
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    assert response.model_version == "gemini-2.5-flash" and response.response_id


async def test_stream(client: genai.Client) -> None:
    chunks = [
        chunk
        async for chunk in await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Stream please"
        )
    ]
    assert len(chunks) == 20
    text = "".join(c.text for c in chunks)
    assert text.startswith("This is a mock response to: Stream please")
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert all(c.candidates[0].finish_reason is None for c in chunks[:-1])
    assert chunks[-1].usage_metadata.candidates_token_count == (len(text) + 3) // 4


async def test_thinking(client: genai.Client) -> None:
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True)
    )
    response = await client.aio.models.generate_content(
        model="gemini-2.5-pro", contents="why?", config=config
    )
    thought, answer = response.candidates[0].content.parts
    assert thought.thought is True and thought.text.startswith("Let me think")
    assert answer.thought_signature and not answer.thought
    assert response.usage_metadata.thoughts_token_count > 0
    usage = response.usage_metadata
    assert usage.total_token_count == (
        usage.prompt_token_count + usage.candidates_token_count + usage.thoughts_token_count
    )
    parts = [
        part
        async for chunk in await client.aio.models.generate_content_stream(
            model="gemini-2.5-pro", contents="why?", config=config
        )
        for part in chunk.candidates[0].content.parts
    ]
    assert parts[0].thought is True
    assert [p for p in parts if p.thought_signature] and not parts[-1].thought
    hidden = await client.aio.models.generate_content(
        model="gemini-2.5-pro",
        contents="why?",
        config=types.GenerateContentConfig(
            thinking_config=types.ThinkingConfig(thinking_budget=512)
        ),
    )
    assert not any(p.thought for p in hidden.candidates[0].content.parts)
    assert hidden.usage_metadata.thoughts_token_count > 0


async def test_function_call(client: genai.Client) -> None:
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    response = await client.aio.models.generate_content(
        model="gemini-2.5-flash", contents="weather? [[mock:tool]]", config=config
    )
    call = response.function_calls[0]
    assert call.name == "get_weather" and call.args == {"city": "mock"}
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    forced = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(mode="ANY")
        ),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    chunks = [
        c
        async for c in await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="weather?", config=forced
        )
    ]
    assert chunks[-1].function_calls[0].name == "get_weather"


async def test_implicit_cache(base_url: str) -> None:
    client = make_client(base_url, key="AIza-cache-test")
    contents = "c" * 2000 + " question"
    first = await client.aio.models.generate_content(model="gemini-2.5-flash", contents=contents)
    second = await client.aio.models.generate_content(model="gemini-2.5-flash", contents=contents)
    assert not first.usage_metadata.cached_content_token_count
    assert (
        second.usage_metadata.cached_content_token_count == second.usage_metadata.prompt_token_count
    )


@pytest.mark.parametrize(
    ("directive", "error", "code", "status"),
    [
        ("429", errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
        ("500", errors.ServerError, 500, "INTERNAL"),
        ("503", errors.ServerError, 503, "UNAVAILABLE"),
        ("status=404", errors.ClientError, 404, "NOT_FOUND"),
    ],
)
async def test_status_faults(
    client: genai.Client, directive: str, error: type, code: int, status: str
) -> None:
    with pytest.raises(error) as caught:
        await client.aio.models.generate_content(
            model="gemini-2.5-flash", contents=f"x [[mock:{directive}]]"
        )
    assert caught.value.code == code and caught.value.status == status
    if code == 429:
        details = caught.value.details["error"]["details"]
        retry = [d for d in details if d["@type"].endswith("RetryInfo")]
        assert retry[0]["retryDelay"] == "1s"


async def test_credentials(base_url: str) -> None:
    broke = make_client(base_url, key="AIza-nocredit")
    with pytest.raises(errors.ClientError) as caught:
        await broke.aio.models.generate_content(model="m", contents="x")
    assert caught.value.code == 400 and "API key not valid" in caught.value.message
    invalid = make_client(base_url, key="AIza-invalid")
    with pytest.raises(errors.ClientError) as caught:
        await invalid.aio.models.generate_content(model="m", contents="x")
    assert caught.value.code == 401 and caught.value.status == "UNAUTHENTICATED"


async def test_disconnect_mid_stream(client: genai.Client) -> None:
    received = []
    with pytest.raises(Exception):  # noqa: B017 - the SDK surfaces the transport's own error
        async for chunk in await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="x [[mock:disconnect_after=3]]"
        ):
            received.append(chunk)
    assert len(received) <= 3


async def test_in_stream_error(client: genai.Client) -> None:
    with pytest.raises(errors.APIError):
        async for _ in await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="x [[mock:error_after=2]]"
        ):
            pass


async def test_count_embed_models(client: genai.Client) -> None:
    counted = await client.aio.models.count_tokens(model="gemini-2.5-flash", contents="hello world")
    assert counted.total_tokens == 3
    embedded = await client.aio.models.embed_content(
        model="gemini-embedding-001",
        contents=["one", "two"],
        config=types.EmbedContentConfig(output_dimensionality=16),
    )
    assert [len(e.values) for e in embedded.embeddings] == [16, 16]
    models = [m.name async for m in await client.aio.models.list()]
    assert "models/gemini-2.5-flash" in models
    assert (await client.aio.models.get(model="gemini-2.5-flash")).name == "models/gemini-2.5-flash"


@pytest.mark.parametrize(
    ("prefix", "version"), [("", "v1beta"), ("/gemini", None), ("/mock/gemini", "v1beta")]
)
async def test_versions_and_prefixes(base_url: str, prefix: str, version: str | None) -> None:
    client = make_client(base_url + prefix, version=version)
    response = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="routed")
    assert response.text.startswith("This is a mock response to: routed")


def test_sync_client(base_url: str) -> None:
    client = make_client(base_url)  # keep a reference: the SDK closes its pool when collected
    response = client.models.generate_content(model="gemini-2.5-flash", contents="sync")
    assert response.text.startswith("This is a mock response to: sync")
