"""The entry as the composition root wires it, in process, over a scripted upstream (SPEC R8.5,
R10.5, R11.1): a bug of ours answers E20 with its traceback logged and leaves the channel's
record clean; an answered request is settled once and journaled."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.gateway.kit import channel, context
from tests.upstreams.scripted import Reply, Request, ScriptedTransport
from torouter.billing.ledger import Ledger
from torouter.config import Settings
from torouter.gateway.entry import Gateway
from torouter.gateway.relay import Relay
from torouter.gateway.response_routes import ResponseRoutes
from torouter.observability.logging import JsonSink
from torouter.observability.metrics import Metrics
from torouter.routing.affinity import Affinity
from torouter.routing.health import HealthBook
from torouter.snapshot import Snapshot, SnapshotHolder
from torouter.state.memory import MemoryState
from torouter.usage.journal import Journal
from torouter.usage.recorder import UsageRecorder
from torouter.usage.settlement import Settlement

KEY = "sk-" + "a" * 48
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
ANSWER = orjson.dumps(
    {
        "id": "c1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
)


class Wired:
    """A `Gateway` built like `app.py` builds it, with a scripted transport and no database."""

    def __init__(self, transport: ScriptedTransport, tmp_path: Path) -> None:
        self.channel = channel("openai", base_url="http://ch1.test/v1")
        adm = context("chat", CHAT, channels=(self.channel,)).admission
        assert adm is not None
        user = dataclasses.replace(adm.user, balance_nusd=10**12)
        self.snapshot = Snapshot(
            keys={hashlib.sha256(KEY.encode()).hexdigest(): adm.key},
            users={user.id: user},
            groups={adm.group.id: adm.group},
            models={adm.model.id: adm.model},
            channels={self.channel.id: self.channel},
            routes={(adm.group.id, adm.model.id): (self.channel,)},
        )
        settings = Settings(data_dir=tmp_path, stream={"keepalive_s": 0})
        self.ledger = Ledger(MemoryState())
        self.journal = Journal(tmp_path / "journal")
        self.recorder = UsageRecorder(None, self.journal, queue_size=100)  # type: ignore[arg-type]
        self.health = HealthBook()
        settlement = Settlement(ledger=self.ledger, recorder=self.recorder)
        relay = Relay(
            transport=transport,
            settings=settings,
            settle=settlement.settle,
            health=self.health,
            affinity=Affinity(),
        )
        holder = SnapshotHolder(None, str)  # type: ignore[arg-type]
        holder.current = self.snapshot
        self.gateway = Gateway(
            settings=settings,
            snapshot=holder,
            ledger=self.ledger,
            recorder=self.recorder,
            relay=relay,
            settlement=settlement,
            response_routes=ResponseRoutes(None),
            metrics=Metrics(),
            sink=JsonSink(io.BytesIO()),
        )

    async def post(self, body: dict[str, Any]) -> tuple[int, dict[bytes, bytes], dict[str, Any]]:
        await self.ledger.on_snapshot(self.snapshot)
        data = orjson.dumps(body)
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/chat/completions",
            "query_string": b"",
            "headers": [
                (b"authorization", f"Bearer {KEY}".encode()),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
            "client": ("127.0.0.1", 5000),
        }
        sent: list[dict[str, Any]] = []
        messages = [{"type": "http.request", "body": data, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(msg: dict[str, Any]) -> None:
            sent.append(msg)

        await self.gateway(scope, receive, send)
        body_out = b"".join(m.get("body", b"") for m in sent[1:])
        return sent[0]["status"], dict(sent[0]["headers"]), orjson.loads(body_out)

    def rows(self) -> list[dict[str, Any]]:
        return list(Journal.read(self.journal.rotate()))


async def test_an_answered_request_is_settled_once_and_journaled(tmp_path: Path) -> None:
    wired = Wired(ScriptedTransport(lambda _: Reply.json(200, ANSWER)), tmp_path)
    status, headers, body = await wired.post(CHAT)
    assert status == 200 and body["id"] == "c1" and b"x-request-id" in headers
    (row,) = wired.rows()
    assert (row["outcome"], row["input_tokens"], row["output_tokens"]) == ("success", 3, 1)
    assert row["cost_nusd"] > 0 and row["channel_id"] == wired.channel.id


@pytest.mark.parametrize("bug", [KeyError("usage"), TypeError("unsupported operand")])
async def test_a_bug_of_ours_is_e20_with_a_traceback_not_a_channel_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, bug: Exception
) -> None:
    def broken(_: Request) -> Reply:
        raise bug

    wired = Wired(ScriptedTransport(broken), tmp_path)
    with caplog.at_level(logging.ERROR, "torouter.gateway"):
        status, _, body = await wired.post(CHAT)
    assert status == 500 and body["error"]["code"] == "INTERNAL_ERROR"
    (record,) = [r for r in caplog.records if r.getMessage() == "unhandled gateway error"]
    assert record.exc_info is not None and record.exc_info[1] is bug  # the traceback, logged
    assert wired.health.view(wired.channel)["consecutive_failures"] == 0
    (row,) = wired.rows()  # the reservation released, nothing charged
    assert (row["outcome"], row["cost_nusd"], row["attempts"]) == ("failed", 0, 0)
