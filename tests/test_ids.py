"""Request ids (SPEC R8.6): a ULID the `ulid` package reads back with the same time and bits."""

from __future__ import annotations

import re
import time

from ulid import ULID

from torouter.ids import new_ulid


def test_new_ulid_is_a_ulid_of_now() -> None:
    before = int(time.time() * 1000)
    text = new_ulid()
    after = int(time.time() * 1000)
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", text)
    parsed = ULID.from_str(text)
    assert str(parsed) == text
    assert before <= parsed.milliseconds <= after


def test_new_ulids_are_unique_and_sort_by_time() -> None:
    ids = [new_ulid() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    first, later = new_ulid(), None
    while later is None or ULID.from_str(later).milliseconds == ULID.from_str(first).milliseconds:
        later = new_ulid()
    assert later > first


def test_every_bit_lands_where_the_ulid_package_reads_it(monkeypatch) -> None:
    """The spelled-out time and random parts (no per-id generator) keep the ULID layout: the
    `ulid` package reads back exactly the milliseconds and the 80 bits that went in."""
    from torouter import ids

    for ms, bits in ((0, 0), (2**48 - 1, 2**80 - 1), (0x0123456789AB, 0x0123456789ABCDEF0123)):
        monkeypatch.setattr(ids, "_bits", lambda n, bits=bits: bits)
        monkeypatch.setattr(ids, "_prefix", (ms, ids._time_part(ms)))
        monkeypatch.setattr(ids.time, "time_ns", lambda ms=ms: ms * 1_000_000)
        parsed = ULID.from_str(new_ulid())
        assert parsed.milliseconds == ms
        assert parsed.bytes[6:] == bits.to_bytes(10, "big")
