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
