"""Probes of auto-disabled channels (SPEC R9.6): one node per round when scaled out."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from tests.gateway.kit import channel
from tests.upstreams.scripted import HANG, Reply, ScriptedTransport, by_url
from torouter.routing import probe
from torouter.upstreams.transport import UpstreamUnavailable


class _Stop(Exception):
    pass


def sleeper(rounds: int) -> Any:
    left = [rounds]

    async def sleep(_s: float) -> None:
        if left[0] == 0:
            raise _Stop
        left[0] -= 1

    return sleep


def lock_answering(held: bool, names: list[str]) -> Any:
    @contextlib.asynccontextmanager
    async def lock(name: str, ttl_s: float) -> AsyncIterator[bool]:
        names.append(name)
        yield held

    return lock


@pytest.mark.parametrize("held", [True, False])
async def test_a_round_runs_only_under_the_lock(
    monkeypatch: pytest.MonkeyPatch, held: bool
) -> None:
    channels = {
        1: SimpleNamespace(id=1, status="auto_disabled"),
        2: SimpleNamespace(id=2, status="enabled"),
    }
    snapshot = SimpleNamespace(current=SimpleNamespace(channels=channels))
    probed: list[int] = []
    enabled: list[int] = []
    written: list[tuple[int, str]] = []

    async def fake_probe(_http: Any, ch: Any) -> tuple[bool, int, str]:
        probed.append(ch.id)
        return True, 200, "pong"

    async def write(cid: int, status: str, _reason: str | None) -> None:
        written.append((cid, status))

    monkeypatch.setattr(probe, "probe_channel", fake_probe)
    names: list[str] = []
    seen: list[tuple[Any, ...]] = []
    runs: list[tuple[str, bool, str]] = []

    async def record(name: str, _started: Any, *, ok: bool, detail: str) -> None:
        runs.append((name, ok, detail))

    with pytest.raises(_Stop):
        await probe.run_probes(
            None,  # type: ignore[arg-type]
            snapshot,  # type: ignore[arg-type]
            SimpleNamespace(  # type: ignore[arg-type]
                enable=enabled.append, probed=lambda *a: seen.append(a)
            ),
            SimpleNamespace(write=write),  # type: ignore[arg-type]
            10.0,
            sleep=sleeper(2),
            lock=lock_answering(held, names),
            job_log=SimpleNamespace(record=record),  # type: ignore[arg-type]
        )
    assert names == ["channel-probes", "channel-probes"]
    if held:
        assert probed == [1, 1] and enabled == [1, 1] and written == [(1, "enabled")] * 2
        # R9.9: the health view shows the last probe; the operations page the job's runs.
        assert seen == [(1, True, 200, "pong")] * 2
        assert runs == [("channel-probes", True, "1 probed, 1 re-enabled")] * 2
    else:
        assert probed == [] and enabled == [] and written == [] and runs == []


async def test_no_disabled_channel_takes_no_lock() -> None:
    snapshot = SimpleNamespace(
        current=SimpleNamespace(channels={1: SimpleNamespace(id=1, status="enabled")})
    )
    names: list[str] = []
    with pytest.raises(_Stop):
        await probe.run_probes(
            None,  # type: ignore[arg-type]
            snapshot,  # type: ignore[arg-type]
            SimpleNamespace(enable=None),  # type: ignore[arg-type]
            SimpleNamespace(write=None),  # type: ignore[arg-type]
            10.0,
            sleep=sleeper(3),
            lock=lock_answering(True, names),
        )
    assert names == []


async def test_a_probe_reads_the_answer_through_the_seam_and_closes_it() -> None:
    ch = channel("openai", base_url="http://up.test/v1", test_model="m", first_byte_timeout=5)
    transport = ScriptedTransport(lambda _: Reply.json(200, b'{"choices":[]}'))
    assert await probe.probe_channel(transport, ch) == (True, 200, '{"choices":[]}')
    (req,) = transport.requests
    assert req.url == "http://up.test/v1/chat/completions" and req.total_s == 5
    assert orjson.loads(req.body or b"")["max_tokens"] == 1
    assert transport.responses[0].released


@pytest.mark.parametrize(
    ("answer", "detail"),
    [(UpstreamUnavailable("ClientConnectorError"), "ClientConnectorError"), (HANG, "")],
)
async def test_a_failed_probe_names_its_cause(answer: Any, detail: str) -> None:
    ch = channel("openai", base_url="http://up.test/v1", first_byte_timeout=0.05)
    transport = ScriptedTransport(by_url({"up.test": answer}))
    ok, status, text = await probe.probe_channel(transport, ch)
    assert (ok, status) == (False, 0) and text.startswith(detail) and text


async def test_a_bug_in_a_probe_is_not_a_failed_probe() -> None:
    """Only the seam's failures mean "the channel is down"; a bug of ours propagates."""

    def broken(_: Any) -> Reply:
        raise KeyError("oops")

    with pytest.raises(KeyError):
        await probe.probe_channel(ScriptedTransport(broken), channel("openai"))
