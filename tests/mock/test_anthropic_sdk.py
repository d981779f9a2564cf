"""The official anthropic SDK (2.x, Bearer auth) against the mock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import pytest

TOOLS = [
    {
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        base_url=base_url, api_key="sk-ant-test", max_retries=0
    ) as c:
        yield c


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def test_messages_non_stream(client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(
        model="claude-sonnet-4-5", max_tokens=256, messages=user("Hi")
    )
    assert message.type == "message" and message.stop_reason == "end_turn"
    assert message.content[0].text.startswith("This is a mock response to: Hi")
    usage = message.usage
    assert (
        usage.input_tokens >= 1 and usage.output_tokens == (len(message.content[0].text) + 3) // 4
    )
    assert usage.cache_read_input_tokens == 0 and usage.cache_creation_input_tokens == 0
    assert usage.cache_creation.ephemeral_5m_input_tokens == 0


async def test_messages_stream(client: anthropic.AsyncAnthropic) -> None:
    async with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=256, messages=user("Hello")
    ) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_message()
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds.count("text") == 20
    assert final.content[0].text.startswith("This is a mock response to: Hello")
    assert final.usage.output_tokens == (len(final.content[0].text) + 3) // 4
    assert final.stop_reason == "end_turn"


async def test_thinking_with_signature(client: anthropic.AsyncAnthropic) -> None:
    params = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": user("Think first"),
    }
    async with client.messages.stream(**params) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert "thinking" in kinds and "signature" in kinds
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking.startswith("Let me think")
    assert thinking.signature and text.type == "text"
    plain = await client.messages.create(**params)
    assert plain.content[0].signature == thinking.signature
    assert plain.content[0].thinking == thinking.thinking
    second = await client.messages.create(
        **{
            **params,
            "messages": [
                *user("Think first"),
                {"role": "assistant", "content": [b.model_dump() for b in plain.content]},
                *user("again"),
            ],
        }
    )
    assert second.usage.cache_read_input_tokens > 0
    with pytest.raises(anthropic.BadRequestError, match="budget_tokens"):
        await client.messages.create(**{**params, "max_tokens": 1000})


async def test_tool_use(client: anthropic.AsyncAnthropic) -> None:
    message = await client.messages.create(
        model="claude", max_tokens=256, tools=TOOLS, messages=user("weather [[mock:tool]]")
    )
    block = message.content[0]
    assert message.stop_reason == "tool_use" and block.type == "tool_use"
    assert (
        block.name == "get_weather"
        and block.input == {"city": "mock"}
        and block.id.startswith("toolu_")
    )
    async with client.messages.stream(
        model="claude", max_tokens=256, tools=TOOLS, tool_choice={"type": "any"}, messages=user("x")
    ) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_message()
    assert "input_json" in kinds and final.content[0].input == {"city": "mock"}
    answered = await client.messages.create(
        model="claude",
        max_tokens=256,
        tools=TOOLS,
        messages=[
            *user("weather [[mock:tool]]"),
            {"role": "assistant", "content": [block.model_dump()]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}],
            },
        ],
    )
    assert answered.stop_reason == "end_turn"


async def test_cache_control_writes_then_reads(client: anthropic.AsyncAnthropic) -> None:
    system = [
        {"type": "text", "text": "x" * 4000, "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    ]
    first = await client.messages.create(
        model="claude", max_tokens=64, system=system, messages=user("q1")
    )
    second = await client.messages.create(
        model="claude", max_tokens=64, system=system, messages=user("q2")
    )
    assert first.usage.cache_creation_input_tokens == 1000
    assert first.usage.cache_creation.ephemeral_1h_input_tokens == 1000
    assert first.usage.cache_read_input_tokens == 0
    assert (
        second.usage.cache_read_input_tokens == 1000
        and second.usage.cache_creation_input_tokens == 0
    )
    total = second.usage.input_tokens + second.usage.cache_read_input_tokens
    assert total == first.usage.input_tokens + first.usage.cache_creation_input_tokens


async def test_stop_sequence_and_max_tokens(client: anthropic.AsyncAnthropic) -> None:
    stopped = await client.messages.create(
        model="claude", max_tokens=256, stop_sequences=["mock"], messages=user("x")
    )
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "mock"
    cut = await client.messages.create(model="claude", max_tokens=3, messages=user("x"))
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens <= 3


async def test_refusal(client: anthropic.AsyncAnthropic) -> None:
    refused = await client.messages.create(
        model="claude", max_tokens=64, messages=user("x [[mock:content_filter]]")
    )
    assert refused.stop_reason == "refusal" and refused.content == []
    async with client.messages.stream(
        model="claude", max_tokens=64, messages=user("x [[mock:content_filter]]")
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "refusal" and final.content == []


@pytest.mark.parametrize(
    ("directive", "error", "kind"),
    [
        ("429", anthropic.RateLimitError, "rate_limit_error"),
        ("500", anthropic.InternalServerError, "api_error"),
        ("529", anthropic.OverloadedError, "overloaded_error"),
        ("status=404", anthropic.NotFoundError, "not_found_error"),
        ("status=413", anthropic.APIStatusError, "request_too_large"),
    ],
)
async def test_status_faults(
    client: anthropic.AsyncAnthropic, directive: str, error: type, kind: str
) -> None:
    with pytest.raises(error) as caught:
        await client.messages.create(
            model="c", max_tokens=8, messages=user(f"x [[mock:{directive}]]")
        )
    body = caught.value.body
    assert body["type"] == "error" and body["error"]["type"] == kind
    assert body["request_id"] == caught.value.response.headers["request-id"]
    if directive == "429":
        headers = caught.value.response.headers
        assert headers["retry-after"] == "1"
        assert headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")


async def test_credentials(base_url: str) -> None:
    async with anthropic.AsyncAnthropic(
        base_url=base_url, api_key="sk-ant-nocredit", max_retries=0
    ) as c:
        with pytest.raises(anthropic.BadRequestError, match="credit balance is too low"):
            await c.messages.create(model="c", max_tokens=8, messages=user("x"))
    async with anthropic.AsyncAnthropic(
        base_url=base_url, api_key="sk-invalid", max_retries=0
    ) as c:
        with pytest.raises(anthropic.AuthenticationError):
            await c.messages.create(model="c", max_tokens=8, messages=user("x"))
    async with anthropic.AsyncAnthropic(
        base_url=base_url, auth_token="tok-valid", max_retries=0
    ) as c:
        assert (await c.messages.create(model="c", max_tokens=8, messages=user("x"))).content


async def test_stream_errors(client: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        async with client.messages.stream(
            model="c", max_tokens=64, messages=user("x [[mock:error_after=4]]")
        ) as stream:
            async for _ in stream:
                pass
    # anthropic 2.x does not wrap transport errors raised while reading a stream
    with pytest.raises(Exception, match=r"peer closed connection|incomplete chunked read"):
        async with client.messages.stream(
            model="c", max_tokens=64, messages=user("x [[mock:disconnect_after=4]]")
        ) as stream:
            async for _ in stream:
                pass


async def test_count_tokens_and_models(client: anthropic.AsyncAnthropic) -> None:
    counted = await client.messages.count_tokens(model="claude", messages=user("hello world"))
    assert counted.input_tokens == 3
    models = await client.models.list()
    assert models.data[0].id.startswith("claude-")
    assert (await client.models.retrieve("claude-x")).id == "claude-x"


async def test_prefixed_base_url(base_url: str) -> None:
    async with anthropic.AsyncAnthropic(
        base_url=f"{base_url}/mock/anthropic", api_key="k", max_retries=0
    ) as c:
        message = await c.messages.create(model="c", max_tokens=64, messages=user("prefixed"))
    assert message.content[0].text.startswith("This is a mock response to: prefixed")
