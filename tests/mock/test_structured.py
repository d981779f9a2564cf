"""Structured output from the mock providers: each SDK's own structured-output call parses the
mock's answer (OpenAI `response_format` / Responses `text.format`, Gemini `responseMimeType` +
schema, Anthropic `output_format`), and an open schema is filled with something."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

import anthropic
import httpx
import jsonschema
import openai
import pytest
from google import genai
from google.genai import types
from pydantic import BaseModel, Field

from torouter.mock.structured import sample


class Address(BaseModel):
    city: str
    zip_code: str = Field(min_length=5)


class Person(BaseModel):
    name: str
    age: int = Field(ge=18)
    email: str
    born: dt.date
    kind: Literal["friend", "colleague"]
    tags: list[str] = Field(min_length=2)
    home: Address  # a $ref into $defs in pydantic's schema
    nickname: str | None


def test_sample_fits_pydantic_schemas_with_refs_and_formats() -> None:
    schema = Person.model_json_schema()
    value = sample(schema)
    jsonschema.validate(value, schema)
    Person.model_validate(value)
    assert len(value["tags"]) == 2 and value["age"] == 18


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (None, {"answer": "hello"}),  # JSON mode
        ({"type": "object"}, {"answer": "hello"}),  # an open schema, filled with something
        ({"type": "object", "additionalProperties": True}, {"answer": "hello"}),
        (  # Gemini's OpenAPI subset
            {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}, "s": {"type": "STRING"}}},
            {"n": 1, "s": "hello"},
        ),
        ({"type": "array", "items": {"type": "number", "exclusiveMinimum": 0}}, [1]),
        (
            {"anyOf": [{"type": "null"}, {"type": "string", "format": "date-time"}]},
            "2026-01-01T00:00:00Z",
        ),
    ],
)
def test_sample_fills_open_and_gemini_schemas(schema: Any, expected: Any) -> None:
    assert sample(schema, filler="hello") == expected


async def test_openai_chat_parse_and_json_mode(base_url: str) -> None:
    async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="sk-x", max_retries=0) as c:
        parsed = await c.chat.completions.parse(
            model="gpt-4o",
            messages=[{"role": "user", "content": "Describe a person"}],
            response_format=Person,
        )
        assert isinstance(parsed.choices[0].message.parsed, Person)
        plain = await c.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "JSON please"}],
            response_format={"type": "json_object"},
        )
        assert isinstance(json.loads(plain.choices[0].message.content or ""), dict)
        chunks = await c.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "JSON please"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "p", "schema": Person.model_json_schema()},
            },
            stream=True,
        )
        text = "".join([ch.choices[0].delta.content or "" async for ch in chunks if ch.choices])
        Person.model_validate_json(text)


async def test_openai_responses_parse(base_url: str) -> None:
    async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="sk-x", max_retries=0) as c:
        parsed = await c.responses.parse(model="gpt-4o", input="A person", text_format=Person)
        assert isinstance(parsed.output_parsed, Person)


async def test_gemini_response_schema(base_url: str) -> None:
    client = genai.Client(api_key="AIza-test", http_options=types.HttpOptions(base_url=base_url))
    r = await client.aio.models.generate_content(
        model="gemini-2.5-flash",
        contents="A person",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=Address
        ),
    )
    assert isinstance(r.parsed, Address)
    r = await client.aio.models.generate_content(
        model="gemini-2.5-flash",
        contents="anything",
        config=types.GenerateContentConfig(response_mime_type="application/json"),
    )
    assert isinstance(json.loads(r.text or ""), dict)


async def test_anthropic_output_format(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as h:
        r = await h.post(
            "/v1/messages",
            headers={"x-api-key": "sk-ant-x", "anthropic-version": "2023-06-01"},
            json={
                "model": "claude-sonnet-4-5",
                "max_tokens": 50,
                "messages": [{"role": "user", "content": "A person"}],
                "output_format": {"type": "json_schema", "schema": Person.model_json_schema()},
            },
        )
    assert r.status_code == 200, r.text
    Person.model_validate_json(r.json()["content"][0]["text"])
    assert anthropic  # the SDK's own parse needs a newer beta; the wire is what it sends
