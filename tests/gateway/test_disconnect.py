"""The per-request client watch (SPEC R4.9; issue 12 point 3): a disconnect cancels the request
only while it awaits the upstream, and a fast request never starts a task."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.waiting import eventually
from torouter.gateway.disconnect import ClientWatch


class Client:
    """An ASGI `receive` whose body was read: it answers only `http.disconnect`, when told."""

    def __init__(self) -> None:
        self.left = asyncio.Event()
        self.calls = 0

    async def receive(self) -> dict[str, Any]:
        self.calls += 1
        await self.left.wait()
        return {"type": "http.disconnect"}


class Resp:
    closed = False

    def close(self) -> None:
        self.closed = True


async def test_a_fast_request_starts_no_task() -> None:
    client = Client()
    watch = ClientWatch(client.receive, grace_s=0.5)
    watch.close()
    await asyncio.sleep(0)
    assert client.calls == 0 and not watch.gone


async def test_a_disconnect_while_awaiting_the_upstream_cancels_it() -> None:
    client = Client()
    watch = ClientWatch(client.receive, grace_s=0)
    upstream = asyncio.Event()  # never set: a hung upstream
    await eventually(lambda: client.calls == 1, within=10, what="the watch")
    client.left.set()
    with pytest.raises(asyncio.CancelledError):
        with watch.waiting():
            await upstream.wait()
    assert watch.gone and watch.swallow()
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    assert not watch.swallow()  # once
    watch.close()


async def test_a_disconnect_outside_the_upstream_wait_interrupts_nothing() -> None:
    client = Client()
    watch = ClientWatch(client.receive, grace_s=0)
    watch.resp = Resp()
    await eventually(lambda: client.calls == 1, within=10, what="the watch")
    client.left.set()
    await eventually(lambda: watch.gone, within=10, what="the disconnect")
    assert watch.resp.closed  # a relayed stream ends at once
    await asyncio.sleep(0)  # settling or sending: not cancelled
    assert not watch.swallow()
    watch.close()


async def test_the_end_of_the_answer_is_no_disconnect() -> None:
    client = Client()
    watch = ClientWatch(client.receive, grace_s=0)
    await eventually(lambda: client.calls == 1, within=10, what="the watch")
    watch.close()
    client.left.set()  # the server reports a complete response as a disconnect too
    await asyncio.sleep(0)
    assert not watch.gone


async def test_a_window_deadline_cancels_the_wait_and_says_so() -> None:
    """R9.3: the first-byte deadline of an attempt is the window's (no `asyncio.timeout`)."""
    client = Client()
    watch = ClientWatch(client.receive, grace_s=60)
    upstream = asyncio.Event()  # a hung upstream
    with pytest.raises(asyncio.CancelledError):
        with watch.waiting(0.01):
            await upstream.wait()
    assert watch.expired and not watch.gone
    assert watch.swallow()
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    with watch.waiting():  # the next window starts afresh
        assert not watch.expired
    watch.close()


async def test_a_window_left_in_time_leaves_no_deadline_behind() -> None:
    client = Client()
    watch = ClientWatch(client.receive, grace_s=60)
    with watch.waiting(0.01):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)  # past the deadline, outside the window: nothing happens
    assert not watch.expired and not watch.swallow()
    watch.close()


async def test_a_disconnect_after_the_deadline_cancels_once() -> None:
    client = Client()
    watch = ClientWatch(client.receive, grace_s=0)
    await eventually(lambda: client.calls == 1, within=10, what="the watch")
    with pytest.raises(asyncio.CancelledError):
        with watch.waiting(0.01):
            await asyncio.sleep(60)  # the deadline cancels this wait
    client.left.set()  # and the client leaves before the relay has handled it
    await eventually(lambda: watch.gone, within=10, what="the disconnect")
    assert watch.expired and watch.swallow()
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    watch.close()
