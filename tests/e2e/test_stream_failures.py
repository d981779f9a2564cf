"""Upstream errors in the caller's envelope, failures after the first byte, client disconnects
(SPEC R4.6, R4.9, R8.2, R9.7, R10.6; issue 7 item 7)."""

from __future__ import annotations

import socket

import orjson
import pytest

from tests.e2e.conftest import KEY
from tests.e2e.harness import GatewayProcess
from tests.e2e.test_openai_chat import usage_row

OAI = {"Authorization": f"Bearer {KEY}"}
ANT = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}


def chat(model: str, text: str, stream: bool) -> dict:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]}


def messages(model: str, text: str, stream: bool) -> dict:
    return {**chat(model, text, stream), "max_tokens": 200}


@pytest.mark.parametrize("model", ["claude-only", "gemini-test"])
def test_terminal_upstream_error_rewrapped_for_openai_callers(
    gateway: GatewayProcess, model: str
) -> None:
    with gateway.client() as c:
        r = c.post(
            "/v1/chat/completions", json=chat(model, "[[mock:status=400]]", False), headers=OAI
        )
    assert r.status_code == 400
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] and err["type"] != "INTERNAL_ERROR"
    assert "mock-key" not in r.text


def test_terminal_upstream_error_rewrapped_for_anthropic_callers(gateway: GatewayProcess) -> None:
    with gateway.client() as c:
        r = c.post(
            "/v1/messages", json=messages("gpt-test", "[[mock:status=400]]", False), headers=ANT
        )
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"


def test_terminal_upstream_error_native_relayed_as_is(gateway: GatewayProcess) -> None:
    with gateway.client() as c:
        r = c.post(
            "/v1/messages", json=messages("claude-only", "[[mock:status=400]]", False), headers=ANT
        )
    assert r.status_code == 400 and r.json()["type"] == "error"


@pytest.mark.parametrize(
    ("path", "body", "headers", "check"),
    [
        (
            "/v1/chat/completions",
            chat("gpt-test", "[[mock:disconnect_after=4]]", True),
            OAI,
            "openai",
        ),
        (
            "/v1/chat/completions",
            chat("claude-only", "[[mock:disconnect_after=4]]", True),
            OAI,
            "openai",
        ),
        (
            "/v1/messages",
            messages("claude-only", "[[mock:disconnect_after=4]]", True),
            ANT,
            "anthropic",
        ),
        (
            "/v1/messages",
            messages("gpt-test", "[[mock:disconnect_after=4]]", True),
            ANT,
            "anthropic",
        ),
        (
            "/v1beta/models/gemini-test:streamGenerateContent?alt=sse",
            {"contents": [{"role": "user", "parts": [{"text": "[[mock:disconnect_after=2]]"}]}]},
            {"x-goog-api-key": KEY},
            "gemini",
        ),
    ],
)
def test_failure_after_first_byte_becomes_in_stream_error(
    gateway: GatewayProcess, path: str, body: dict, headers: dict, check: str
) -> None:
    with gateway.client() as c:
        r = c.post(path, json=body, headers=headers)
    assert r.status_code == 200  # the status went out with the first byte (R4.1)
    raw = r.content
    if check == "openai":
        events = [e for e in raw.split(b"\n\n") if e]
        assert events[-1] == b"data: [DONE]"
        err = orjson.loads(events[-2][6:])["error"]
        assert err["code"] == "upstream_unavailable"
    elif check == "anthropic":
        events = [e for e in raw.split(b"\n\n") if e]
        assert events[-1].startswith(b"event: error")
        assert orjson.loads(events[-1].split(b"data: ", 1)[1])["type"] == "error"
    else:
        events = [e for e in raw.split(b"\r\n\r\n") if e]
        assert b'"error"' in events[-1]
    row = usage_row(gateway, r.headers["x-request-id"])
    assert row["outcome"] == "partial" and row["estimated"] is True
    assert row["cost_nusd"] > 0  # what was delivered is charged (R10.6)


def test_client_disconnect_aborts_and_charges_delivered(gateway: GatewayProcess) -> None:
    """R4.9: the upstream is abandoned, the row says client_cancelled with status 499."""
    body = orjson.dumps(chat("gpt-test", "[[mock:chunks=200,chunk_interval_ms=50]]", True))
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {KEY}\r\nX-Request-Id: cancel-me-1\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        got = b""
        while got.count(b"data: ") < 3:
            got += sock.recv(65536)
    line = gateway.access_line("cancel-me-1", timeout=5)
    assert line["status"] == 499 and line["outcome"] == "client_cancelled"
    assert line["duration_ms"] < 5000  # not the 10 s the whole stream would take
    row = usage_row(gateway, "cancel-me-1")
    assert row["outcome"] == "client_cancelled" and row["cost_nusd"] > 0


# ── R4.6 on every front door × platform the mock serves (issue 12 point 8) ─────────────────────
# A malformed upstream event is never passed on, and an upstream error event is the stream's one
# error event: nothing is added after it but the framing (OpenAI's `[DONE]`, Responses'
# `response.failed`). Either way the row is `partial`, never `success`.

FRONTS = ["openai", "anthropic", "gemini", "responses"]
MODELS = ["gpt-test", "claude-only", "gemini-test"]


def stream_request(front: str, model: str, text: str) -> tuple[str, dict, dict]:
    msgs = [{"role": "user", "content": text}]
    if front == "openai":
        return "/v1/chat/completions", {"model": model, "stream": True, "messages": msgs}, OAI
    if front == "anthropic":
        return "/v1/messages", {**messages(model, text, True), "stream": True}, ANT
    if front == "responses":
        return "/v1/responses", {"model": model, "stream": True, "input": text}, OAI
    body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    path = f"/v1beta/models/{model}:streamGenerateContent?alt=sse"
    return path, body, {"x-goog-api-key": KEY}


def sse_events(raw: bytes, front: str) -> list[tuple[str | None, bytes]]:
    """(event name, data) per event; the data of every event must be whole JSON or [DONE]."""
    sep = b"\r\n\r\n" if front == "gemini" else b"\n\n"
    out: list[tuple[str | None, bytes]] = []
    for ev in raw.split(sep):
        if not ev.strip() or ev.startswith(b":"):
            continue
        name = None
        data = []
        for line in ev.splitlines():
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[5:].strip())
        payload = b"\n".join(data)
        if payload != b"[DONE]":
            assert isinstance(orjson.loads(payload), dict), payload  # nothing malformed relayed
        out.append((name, payload))
    return out


def check_single_error(raw: bytes, front: str) -> None:
    events = sse_events(raw, front)
    if front == "openai":
        errors = [i for i, (_, d) in enumerate(events) if d.startswith(b'{"error"')]
        assert errors == [len(events) - 2], events[-3:]
        assert [d for _, d in events].count(b"[DONE]") == 1 and events[-1][1] == b"[DONE]"
    elif front == "anthropic":
        errors = [i for i, (n, _) in enumerate(events) if n == "error"]
        assert errors == [len(events) - 1], events[-3:]
        assert orjson.loads(events[-1][1])["type"] == "error"
    elif front == "gemini":
        errors = [i for i, (_, d) in enumerate(events) if b'"error"' in d[:12]]
        assert errors == [len(events) - 1], events[-3:]
    else:
        names = [n for n, _ in events]
        assert names.count("error") == 1 and names.count("response.failed") == 1, names[-4:]
        assert names[-2:] == ["error", "response.failed"], names[-4:]
        seqs = [orjson.loads(d)["sequence_number"] for _, d in events]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


@pytest.mark.parametrize("directive", ["malformed", "error_after=3"])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("front", FRONTS)
def test_stream_errors_end_the_stream_once(
    gateway: GatewayProcess, front: str, model: str, directive: str
) -> None:
    path, body, headers = stream_request(front, model, f"hi [[mock:{directive},chunks=4]]")
    with gateway.client() as c:
        r = c.post(path, json=body, headers=headers)
    assert r.status_code == 200
    check_single_error(r.content, front)
    row = usage_row(gateway, r.headers["x-request-id"])
    assert row["outcome"] == "partial", row
    native = (front, model) in (
        ("openai", "gpt-test"),
        ("responses", "gpt-test"),
        ("anthropic", "claude-only"),
        ("gemini", "gemini-test"),
    )
    if directive == "malformed" and native:
        assert row["error_code"] == "upstream_unavailable"  # the gateway's own in-stream error
    else:
        assert row["error_code"] == "upstream_error"


@pytest.mark.parametrize("directive", ["malformed", "error_after=2"])
@pytest.mark.parametrize("model", ["gemini-test"])
def test_gemini_array_stream_stays_one_json_array(
    gateway: GatewayProcess, model: str, directive: str
) -> None:
    """A Gemini stream without `alt=sse` is one JSON array, errors included (R4.5, R4.6).
    (Translated array streams are the protocols work of issue 12 point 13.)"""
    body = {"contents": [{"role": "user", "parts": [{"text": f"hi [[mock:{directive}]]"}]}]}
    with gateway.client() as c:
        r = c.post(
            f"/v1beta/models/{model}:streamGenerateContent",
            json=body,
            headers={"x-goog-api-key": KEY},
        )
    assert r.status_code == 200
    items = orjson.loads(r.content)
    assert [i for i, it in enumerate(items) if "error" in it] == [len(items) - 1]
    assert usage_row(gateway, r.headers["x-request-id"])["outcome"] == "partial"
