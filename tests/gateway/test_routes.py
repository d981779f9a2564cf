"""Route table and key sources (SPEC R2.1–R2.5)."""

import pytest

from torouter.errors import GatewayError
from torouter.gateway import credentials, routes


@pytest.mark.parametrize("prefix", ["", "/api"])
def test_chat_and_models(prefix: str) -> None:
    assert routes.match("POST", f"{prefix}/v1/chat/completions").operation == "chat"
    assert routes.match("GET", f"{prefix}/v1/models").operation == "models_list"
    r = routes.match("GET", f"{prefix}/v1/models/openai/gpt-5")
    assert r is not None and r.operation == "model_get" and r.model == "openai/gpt-5"


def test_other_methods_are_not_found() -> None:
    assert routes.match("GET", "/v1/chat/completions") is None
    assert routes.match("DELETE", "/v1/models/x") is None
    assert routes.match("POST", "/v1/nope") is None


H = {b"authorization": b"Bearer sk-a", b"x-api-key": b"sk-b", b"x-goog-api-key": b"sk-c"}


@pytest.mark.parametrize(
    ("headers", "query", "gemini", "expected"),
    [
        (H, {}, False, "sk-a"),
        ({b"authorization": b"Basic zzz", b"x-api-key": b"sk-b"}, {}, False, "sk-b"),
        ({b"authorization": b"Bearer ", b"x-goog-api-key": b"sk-c"}, {}, False, "sk-c"),
        ({}, {"key": "sk-q"}, True, "sk-q"),
        ({}, {"key": "sk-q"}, False, ""),
        ({}, {}, False, ""),
    ],
)
def test_key_sources_in_order(headers: dict, query: dict, gemini: bool, expected: str) -> None:
    assert credentials.extract_key(list(headers.items()), query, gemini) == expected


@pytest.mark.parametrize("name", [b"authorization", b"x-api-key", b"x-goog-api-key"])
@pytest.mark.parametrize("second", [b"Bearer sk-a", b"sk-b", b""])
def test_a_repeated_key_header_is_refused(name: bytes, second: bytes) -> None:
    """Issue 12 point 16: which copy counts is ambiguous (servers take the first, dicts the
    last), so two copies of a key header are E16 naming it, whatever their values."""
    raw = [(name, b"Bearer sk-first"), (b"user-agent", b"x"), (name, second)]
    with pytest.raises(GatewayError) as info:
        credentials.extract_key(raw, {}, gemini_route=True)
    assert info.value.code == "INVALID_REQUEST"
    assert info.value.param == name.decode()


def test_query_key_rule() -> None:
    assert credentials.query_key_violation({"api_key": "x"}, True)
    assert credentials.query_key_violation({"key": "x"}, False)
    assert not credentials.query_key_violation({"key": "x"}, True)


def test_key_shape() -> None:
    assert credentials.KEY_RE.match("sk-" + "a" * 48)
    assert not credentials.KEY_RE.match("sk-" + "a" * 47)
    assert not credentials.KEY_RE.match("sk-" + "a" * 47 + "!")
