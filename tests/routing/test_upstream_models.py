"""A channel's models against the upstream's `/models` (ToRouter extension): the list URL of
each platform, the pages of each format, the comparison, and the mock providers' lists."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.routing.test_model_checks import channel
from torouter.mock.testing import MockServer
from torouter.routing.upstream_models import (
    UpstreamListError,
    compare,
    fetch_upstream_models,
    list_url,
    parse_page,
)
from torouter.upstreams.choice import UpstreamClient, upstream_client


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
    ("platform", "base", "cursor", "url"),
    [
        ("openai", "https://api.example/v1", None, "https://api.example/v1/models"),
        ("openai-compatible", "http://local:8000/v1", None, "http://local:8000/v1/models"),
        ("anthropic", "https://a.example", None, "https://a.example/v1/models?limit=1000"),
        (
            "anthropic",
            "https://a.example/v1",
            "m-9",
            "https://a.example/v1/models?limit=1000&after_id=m-9",
        ),
        ("gemini", "https://g.example", None, "https://g.example/v1beta/models?pageSize=1000"),
        (
            "gemini",
            "https://g.example/v1beta",
            "tok",
            "https://g.example/v1beta/models?pageSize=1000&pageToken=tok",
        ),
    ],
)
def test_the_list_url_of_each_platform(
    platform: str, base: str, cursor: str | None, url: str
) -> None:
    assert list_url(channel(platform, base), cursor) == url


def test_pages_of_each_format() -> None:
    assert parse_page("openai", {"data": [{"id": "a"}, {"id": "b"}]}) == (["a", "b"], None)
    anthropic = {"data": [{"id": "c"}], "has_more": True, "last_id": "c"}
    assert parse_page("anthropic", anthropic) == (["c"], "c")
    gemini = {"models": [{"name": "models/g-1"}], "nextPageToken": "n"}
    assert parse_page("gemini", gemini) == (["g-1"], "n")
    with pytest.raises(UpstreamListError):
        parse_page("openai", {"error": {"message": "no"}})
    with pytest.raises(UpstreamListError):
        parse_page("openai", ["not", "an", "object"])


def test_the_comparison_matches_by_upstream_id() -> None:
    diff = compare(
        ["gpt-5", "mine", "old"],
        {"mine": "gpt-4o", "gpt-5": "gpt-5", "old": "old"},
        ["gpt-5", "gpt-4o", "o3", "o3"],
    )
    assert diff.upstream == ("gpt-4o", "gpt-5", "o3")
    assert diff.additions == ("o3",)  # gpt-4o is served, as `mine`
    assert diff.removals == ("old",)
    assert diff.kept == ("gpt-5", "mine")


@pytest.mark.parametrize("platform", ["openai", "anthropic", "gemini"])
async def test_the_mock_providers_list_their_models(
    mock: MockServer, http: UpstreamClient, platform: str
) -> None:
    base = {"openai": f"{mock.url}/v1", "anthropic": mock.url, "gemini": mock.url}[platform]
    listed = await fetch_upstream_models(http, channel(platform, base))
    assert len(listed) >= 3 and all(isinstance(m, str) and m for m in listed)
    assert not any(m.startswith("models/") for m in listed)


async def test_a_refusal_names_the_status_and_hides_the_credential(
    mock: MockServer, http: UpstreamClient
) -> None:
    ch = channel("openai", f"{mock.url}/v1", extra_headers={"x-mock": "status=401"})
    with pytest.raises(UpstreamListError) as caught:
        await fetch_upstream_models(http, ch)
    assert str(caught.value).startswith("HTTP 401")
    assert "sk-secret" not in str(caught.value)
    with pytest.raises(UpstreamListError):
        await fetch_upstream_models(http, channel("openai", "http://127.0.0.1:9/v1"))
