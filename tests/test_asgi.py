"""The hand-built answers' heads: one order everywhere — content type, length, request id
(SPEC R8.6), then the caller's headers — and one body."""

from __future__ import annotations

from typing import Any

from torouter.asgi import respond, start_stream


class Sink:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def __call__(self, msg: dict[str, Any]) -> None:
        self.sent.append(msg)


async def test_a_whole_answer_has_its_head_in_one_order_and_one_body() -> None:
    send = Sink()
    extra = [(b"x-should-retry", b"false")]
    await respond(send, 402, b'{"e":1}', "req_1", extra, [(b"x-b", b"2")])
    start, body = send.sent
    assert start == {
        "type": "http.response.start",
        "status": 402,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", b"7"),
            (b"x-request-id", b"req_1"),
            (b"x-should-retry", b"false"),
            (b"x-b", b"2"),
        ],
    }
    assert body == {"type": "http.response.body", "body": b'{"e":1}'}
    assert extra == [(b"x-should-retry", b"false")]  # the caller's list is not touched


async def test_a_content_type_of_its_own() -> None:
    send = Sink()
    await respond(send, 200, b"ok", "r", content_type=b"text/plain")
    assert send.sent[0]["headers"][0] == (b"content-type", b"text/plain")


async def test_a_stream_head_keeps_its_own_headers_first_and_sends_no_body() -> None:
    send = Sink()
    head = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await start_stream(send, 200, head, "req_2", [(b"x-ratelimit-limit-requests", b"10")])
    (start,) = send.sent
    assert start["headers"] == [
        *head,
        (b"x-request-id", b"req_2"),
        (b"x-ratelimit-limit-requests", b"10"),
    ]
    assert len(head) == 2  # a shared constant head is never extended in place
