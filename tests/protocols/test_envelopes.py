"""Error envelopes per front door (SPEC R8.1, R8.3, R8.4)."""

import orjson
import pytest

from torouter.errors import ERRORS, error, upstream_should_retry
from torouter.protocols.envelopes import pick_language, render_error


def test_openai_envelope_exact() -> None:
    status, _headers, body = render_error(error("E6"), "openai")
    assert status == 403
    assert orjson.loads(body) == {
        "error": {
            "message": "API key has expired",
            "type": "API_KEY_EXPIRED",
            "param": None,
            "code": "API_KEY_EXPIRED",
        }
    }


def test_e8_type_differs_from_code() -> None:
    _, _, body = render_error(error("E8"), "openai")
    err = orjson.loads(body)["error"]
    assert (err["type"], err["code"]) == ("ACCESS_DENIED", "model_not_allowed")
    _, _, body = render_error(error("E8"), "anthropic", request_id="req_1")
    obj = orjson.loads(body)
    assert obj["error"]["code"] == "model_not_allowed"
    assert obj["request_id"] == "req_1" and obj["type"] == "error"


def test_anthropic_envelope() -> None:
    status, headers, body = render_error(error("E11"), "anthropic", request_id="req_x")
    assert status == 402
    assert (b"x-should-retry", b"false") in headers
    assert orjson.loads(body) == {
        "type": "error",
        "error": {"type": "INSUFFICIENT_BALANCE", "message": "Insufficient balance, please top up"},
        "request_id": "req_x",
    }


def test_gemini_envelope_with_retry_info() -> None:
    status, headers, body = render_error(error("E14", retry_after=11.2), "gemini")
    assert status == 429
    assert (b"retry-after", b"12") in headers
    err = orjson.loads(body)["error"]
    assert err["status"] == "RESOURCE_EXHAUSTED" and err["code"] == 429
    assert err["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert err["details"][0]["domain"] == "torouter"
    assert err["details"][1]["retryDelay"] == "12s"


@pytest.mark.parametrize(
    ("key", "status"),
    [
        ("E1", 401),
        ("E2", 401),
        ("E11", 402),
        ("E15", 400),
        ("E16", 400),
        ("E17", 413),
        ("E18", 404),
        ("E19", 404),
        ("E20", 500),
        ("E21", 502),
        ("E22", 503),
        ("E23", 504),
    ],
)
def test_status_table(key: str, status: int) -> None:
    assert ERRORS[key].status == status


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("en-US,en;q=0.9,zh;q=0.8", "en"),
        ("fr-FR", "en"),
        ("zh", "zh-CN"),
        ("en;q=0.5, zh;q=0.7", "zh-CN"),
    ],
)
def test_language_choice(header: str | None, expected: str) -> None:
    assert pick_language(header, "en") == expected


def test_chinese_message() -> None:
    _, _, body = render_error(error("E6"), "openai", lang="zh-CN")
    assert orjson.loads(body)["error"]["message"] == "API key 已过期"


# R8.1, the sentence under the table: the Retry column as `x-should-retry`, on every row.
_NO_RETRY = [f"E{n}" for n in (*range(1, 14), *range(15, 20), 24, 25)]
_RETRY = ["E14", "E20", "E21", "E22", "E23"]


def test_every_gateway_row_is_classified() -> None:
    gateway_rows = {k for k in ERRORS if k[0] == "E" and k[1:].isdigit()}
    assert gateway_rows == set(_NO_RETRY) | set(_RETRY)
    assert not set(_NO_RETRY) & set(_RETRY)


@pytest.mark.parametrize("surface", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("key", _NO_RETRY + _RETRY)
def test_x_should_retry_on_every_code_and_envelope(key: str, surface: str) -> None:
    expected = b"true" if key in _RETRY else b"false"
    retry_after = 3.0 if key in ("E13", "E14", "E21", "E22") else None
    status, headers, body = render_error(error(key, retry_after=retry_after), surface)
    values = [v for k, v in headers if k == b"x-should-retry"]
    assert values == [expected], (key, surface, headers)
    assert status == ERRORS[key].status
    orjson.loads(body)  # still one well-formed envelope


@pytest.mark.parametrize(
    ("status", "header", "expected"),
    [
        (400, None, False),
        (404, None, False),
        (413, None, False),
        (422, None, False),
        (408, None, True),
        (409, None, True),
        (429, None, True),
        (500, None, True),
        (529, None, True),
        (400, "true", True),  # the upstream's own header wins
        (409, "false", False),
        (503, " False ", False),
        (400, "maybe", False),  # not a boolean: the status decides
        (409, "", True),
    ],
)
def test_upstream_should_retry(status: int, header: str | None, expected: bool) -> None:
    assert upstream_should_retry(status, header) is expected
