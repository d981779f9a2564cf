"""Every gateway error of issue 3 in the OpenAI envelope, with status, type, code, request id and
a log line; the official SDK raises the matching exception class (SPEC §8, R8.5, R8.6)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.conftest import CONFIG, KEY, POOR_KEY
from tests.e2e.harness import GatewayProcess
from tests.e2e.sdks import OPENAI_MAJORS, run_sdk

AUTH = {"Authorization": f"Bearer {KEY}"}
MSG = [{"role": "user", "content": "hello"}]


def post(gw: GatewayProcess, body: Any, headers: dict[str, str] | None = None, **kw: Any):
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    h = {"content-type": "application/json", **AUTH, **(headers or {})}
    with gw.client() as c:
        return c.post("/v1/chat/completions", content=data, headers=h, **kw)


def assert_error(r: httpx.Response, status: int, code: str, type_: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["code"] == code and err["type"] == (type_ or code)
    assert r.headers["x-request-id"]
    assert "Traceback" not in r.text and "/torouter/" not in r.text
    return err


def test_e1_no_key(gateway: GatewayProcess) -> None:
    with gateway.client() as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-test", "messages": MSG})
    assert_error(r, 401, "API_KEY_REQUIRED")


@pytest.mark.parametrize("key", ["sk-short", "sk-" + "Z" * 48, "nonsense", "sk-" + "a" * 47 + "!"])
def test_e2_malformed_or_unknown_key(gateway: GatewayProcess, key: str) -> None:
    r = post(gateway, {"model": "gpt-test", "messages": MSG}, {"Authorization": f"Bearer {key}"})
    assert_error(r, 401, "INVALID_API_KEY")


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/key"])
def test_e16_duplicate_authorization_header(gateway: GatewayProcess, path: str) -> None:
    """Issue 12 point 16: two `Authorization` headers (one good key, one other) are refused
    as E16 in the caller's envelope, never answered with either key."""
    body = {"model": "gpt-test", "max_tokens": 5, "messages": MSG}
    for first, second in ((KEY, POOR_KEY), (POOR_KEY, KEY), (KEY, KEY)):
        headers = [("authorization", f"Bearer {first}"), ("authorization", f"Bearer {second}")]
        with gateway.client() as c:
            if path == "/v1/key":
                r = c.get(path, headers=headers)
            else:
                r = c.post(path, json=body, headers=headers)
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["type"] == "INVALID_REQUEST"
        if path != "/v1/messages":
            assert err["param"] == "authorization"


def test_e15_key_in_query(gateway: GatewayProcess) -> None:
    with gateway.client() as c:
        r = c.post(f"/v1/chat/completions?api_key={KEY}", json={"model": "gpt-test"})
    assert_error(r, 400, "api_key_in_query_deprecated")
    line = gateway.access_line(r.headers["x-request-id"])
    assert KEY not in str(line)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        ({"messages": MSG}, "model"),
        ({"model": "", "messages": MSG}, "model"),
        ({"model": 42, "messages": MSG}, "model"),
    ],
)
def test_e16_bad_body(gateway: GatewayProcess, body: Any, param: str | None) -> None:
    err = assert_error(post(gateway, body), 400, "INVALID_REQUEST")
    assert err["param"] == param


def test_e16_model_not_on_endpoint(gateway: GatewayProcess) -> None:
    """R3.2: the model's group has no channel able to serve chat on an OpenAI wire."""
    err = assert_error(
        post(gateway, {"model": "embed-only", "messages": MSG}), 400, "INVALID_REQUEST"
    )
    assert "not available" in err["message"]


def test_e17_body_too_large(gateway: GatewayProcess) -> None:
    big = b'{"model":"gpt-test","pad":"' + b"x" * (33 * 1024 * 1024) + b'"}'
    assert_error(post(gateway, big), 413, "REQUEST_TOO_LARGE")


def test_e17_declared_size(gateway: GatewayProcess) -> None:
    """Step 0: a declared Content-Length over the limit is refused before the body is read."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n".encode()
            + f"Content-Length: {40 * 1024 * 1024}\r\n\r\n".encode()
            + b"{}"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(65536)
            if not chunk:
                break
            head += chunk
    status_line = head.split(b"\r\n", 1)[0]
    assert b" 413 " in status_line
    assert b"REQUEST_TOO_LARGE" in head or b"x-request-id" in head.lower()


def test_e18_unknown_model(gateway: GatewayProcess) -> None:
    assert_error(post(gateway, {"model": "gpt-nope", "messages": MSG}), 404, "MODEL_NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/unknown"), ("GET", "/v1/chat/completions"), ("PUT", "/api/v1/models")],
)
def test_e19_unknown_path_or_method(gateway: GatewayProcess, method: str, path: str) -> None:
    with gateway.client() as c:
        r = c.request(method, path, headers=AUTH)
    assert_error(r, 404, "NOT_FOUND")


def test_e11_insufficient_balance(gateway: GatewayProcess) -> None:
    r = post(
        gateway, {"model": "gpt-test", "messages": MSG}, {"Authorization": f"Bearer {POOR_KEY}"}
    )
    assert_error(r, 402, "INSUFFICIENT_BALANCE")
    assert r.headers["x-should-retry"] == "false"


def test_e21_every_candidate_failed(gateway: GatewayProcess) -> None:
    r = post(
        gateway, {"model": "gpt-flaky", "messages": [{"role": "user", "content": "[[mock:500]]"}]}
    )
    err = assert_error(r, 502, "upstream_unavailable")
    assert err["message"] == "Service temporarily unavailable"
    line = gateway.access_line(r.headers["x-request-id"])
    assert line["attempts"][0]["class"] == "server" and line["attempts"][0]["status"] == 500


def test_e23_upstream_timeout(gateway: GatewayProcess) -> None:
    r = post(
        gateway,
        {"model": "gpt-slow", "messages": [{"role": "user", "content": "[[mock:timeout]]"}]},
    )
    assert_error(r, 504, "UPSTREAM_TIMEOUT")


def test_terminal_upstream_error_is_relayed(gateway: GatewayProcess) -> None:
    """R8.2/R9.4: a 400 from the provider reaches the client with its type and message."""
    r = post(
        gateway,
        {"model": "gpt-test", "messages": [{"role": "user", "content": "[[mock:status=400]]"}]},
    )
    assert r.status_code == 400
    assert "mock-key-1" not in r.text
    assert r.headers["x-request-id"]


def test_request_id_honoured_or_generated(gateway: GatewayProcess) -> None:
    r = post(gateway, {"model": "gpt-test", "messages": MSG}, {"X-Request-Id": "my-trace.42:a"})
    assert r.headers["x-request-id"] == "my-trace.42:a"
    r = post(gateway, {"model": "gpt-test", "messages": MSG}, {"X-Request-Id": "bad id!"})
    assert r.headers["x-request-id"].startswith("req_") and len(r.headers["x-request-id"]) == 30
    r = post(gateway, {"model": "gpt-test", "messages": MSG}, {"X-Request-Id": "x" * 129})
    assert r.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("venv", OPENAI_MAJORS)
@pytest.mark.parametrize(
    ("params", "key", "cls", "status"),
    [
        ({"model": "gpt-nope", "messages": MSG}, KEY, "NotFoundError", 404),
        ({"model": "gpt-test", "messages": MSG}, "sk-" + "Q" * 48, "AuthenticationError", 401),
        ({"model": "gpt-test", "messages": MSG}, POOR_KEY, "APIStatusError", 402),
        (
            {"model": "gpt-flaky", "messages": [{"role": "user", "content": "[[mock:500]]"}]},
            KEY,
            "InternalServerError",
            502,
        ),
    ],
)
def test_sdk_exception_classes(
    gateway: GatewayProcess, venv: str | None, params: dict, key: str, cls: str, status: int
) -> None:
    out = run_sdk(
        "openai_call.py",
        venv,
        {"op": "chat", "base_url": gateway.url + "/v1", "key": key, "params": params},
    )
    assert out["error"]["class"] == cls and out["error"]["status"] == status
    assert out["error"]["request_id"]


@pytest.fixture(scope="module")
def no_queue_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir: Path = tmp_path_factory.mktemp("gw-noqueue")
    gw = GatewayProcess(workdir, CONFIG.replace("[usage]\n", "[usage]\nqueue_size = 0\n"))
    gw.start()
    yield gw
    gw.stop()


def test_e20_usage_queue_full_refuses(no_queue_gateway: GatewayProcess) -> None:
    """R11.2: nothing is served unbilled; E20 before any upstream call."""
    r = post(no_queue_gateway, {"model": "gpt-test", "messages": MSG})
    assert_error(r, 500, "INTERNAL_ERROR")
    line = no_queue_gateway.access_line(r.headers["x-request-id"])
    assert line["attempts"] == [] and line["code"] == "INTERNAL_ERROR"


# R8.1, the sentence under the table: `x-should-retry` on every error, in every envelope; a
# terminal upstream error keeps the upstream's header, else the SDKs' rule by status.
ANT_AUTH = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
GEM_PATH = "/v1beta/models/gemini-test:generateContent"


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "retry"),
    [
        pytest.param(
            "/v1/chat/completions",
            {"Authorization": "Bearer sk-" + "Q" * 48},
            {"model": "gpt-test", "messages": MSG},
            401,
            "false",
            id="openai-E2",
        ),
        pytest.param(
            "/v1/chat/completions",
            AUTH,
            {"model": "gpt-nope", "messages": MSG},
            404,
            "false",
            id="openai-E18",
        ),
        pytest.param(
            "/v1/messages",
            {"x-api-key": "sk-" + "Q" * 48, "anthropic-version": "2023-06-01"},
            {"model": "claude-only", "max_tokens": 5, "messages": MSG},
            401,
            "false",
            id="anthropic-E2",
        ),
        pytest.param(
            "/v1/messages",
            ANT_AUTH,
            {"model": "claude-only", "messages": MSG},
            400,
            "false",
            id="anthropic-E16",
        ),
        pytest.param(
            GEM_PATH,
            {"x-goog-api-key": "sk-" + "Q" * 48},
            {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
            401,
            "false",
            id="gemini-E2",
        ),
        pytest.param(
            "/v1/unknown",
            AUTH,
            {},
            404,
            "false",
            id="openai-E19",
        ),
        # Terminal upstream errors (R8.2): 400 is final, 409 is worth a retry (as the SDKs do).
        pytest.param(
            "/v1/chat/completions",
            AUTH,
            {"model": "gpt-test", "messages": user("[[mock:400]]")},
            400,
            "false",
            id="upstream-400-native",
        ),
        pytest.param(
            "/v1/chat/completions",
            AUTH,
            {"model": "gpt-test", "messages": user("[[mock:409]]")},
            409,
            "true",
            id="upstream-409-native",
        ),
        pytest.param(
            "/v1/messages",
            ANT_AUTH,
            {"model": "gpt-test", "max_tokens": 5, "messages": user("[[mock:409]]")},
            409,
            "true",
            id="upstream-409-translated",
        ),
        pytest.param(
            "/v1/chat/completions",
            AUTH,
            {"model": "claude-only", "messages": user("[[mock:422]]")},
            422,
            "false",
            id="upstream-422-translated",
        ),
    ],
)
def test_x_should_retry(
    gateway: GatewayProcess, path: str, headers: dict, body: dict, status: int, retry: str
) -> None:
    with gateway.client() as c:
        r = c.post(path, json=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers.get_list("x-should-retry") == [retry]


def test_x_should_retry_true_on_e20(no_queue_gateway: GatewayProcess) -> None:
    r = post(no_queue_gateway, {"model": "gpt-test", "messages": MSG})
    assert r.status_code == 500 and r.headers["x-should-retry"] == "true"


@pytest.mark.parametrize(
    ("key", "cls", "status"),
    [("sk-" + "Q" * 48, "AuthenticationError", 401), (POOR_KEY, "PaymentRequiredError", 402)],
)
def test_anthropic_sdk_does_not_retry_refusals(
    gateway: GatewayProcess, key: str, cls: str, status: int
) -> None:
    """The official SDK (what Claude Code is built on), allowed 3 retries, asks once."""
    import anthropic

    rid = f"no-retry-{status}"
    client = anthropic.Anthropic(
        base_url=gateway.url,
        api_key=key,
        max_retries=3,
        default_headers={"X-Request-Id": rid},
    )
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.create(model="claude-only", max_tokens=5, messages=MSG)  # type: ignore[arg-type]
    assert type(caught.value).__name__ == cls and caught.value.status_code == status
    # A later request's line comes after every line of the SDK's requests.
    post(gateway, {"model": "gpt-nope", "messages": MSG}, {"X-Request-Id": rid + "-after"})
    gateway.access_line(rid + "-after")
    lines = [r for r in gateway.lines if r.get("msg") == "request" and r.get("request_id") == rid]
    assert len(lines) == 1
