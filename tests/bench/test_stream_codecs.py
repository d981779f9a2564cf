"""`bench/stream_codecs.py`: every route relays the benchmark's stream whole, however it is read.

The script's numbers only mean something if each route does the gateway's real work: the
stream ends (`done`), the client gets the events its SDK expects, and splitting the upstream
bytes into reads changes nothing that is sent.
"""

from __future__ import annotations

import pytest

from bench import stream_codecs
from torouter.protocols.sse import SSEParser


def _sent(route: str, reads: int) -> bytes:
    data = stream_codecs.upstream_stream(route)
    rel = stream_codecs.relayer(route)
    step = -(-len(data) // reads)
    out = b"".join(rel.feed(data[i : i + step]) for i in range(0, len(data), step))
    out += rel.close()
    assert rel.done and rel.upstream_error is None and not rel.malformed
    return out


@pytest.mark.parametrize("route", ["tr_anthropic", "tr_openai", "tr_gemini", "pass_openai"])
def test_each_route_relays_the_whole_stream_in_any_reads(route: str) -> None:
    whole = _sent(route, 1)
    assert _sent(route, 7) == whole
    assert _sent(route, 200) == whole
    assert stream_codecs.run(route, 2, 3) == 2 * len(whole)


def test_the_translated_stream_is_a_messages_stream_of_the_text() -> None:
    parser = SSEParser()
    events = parser.feed(_sent("tr_anthropic", 1)) + parser.flush()
    names = [ev.event for ev in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert names.count("content_block_delta") == len(stream_codecs._TEXT)
