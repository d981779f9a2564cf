"""Remembered admission ids (state/tombstones.py): exact, bounded, compact (R10.5, R20.1)."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from torouter.state.tombstones import DONE, LAPSED, Tombstones

T0 = 1_800_000_000.0
BOOT = "01JBOOT0000000000000000000"


def test_remembered_until_the_ttl() -> None:
    t = Tombstones(capacity=8, ttl_s=60)
    t.put(f"{BOOT}-5", DONE, T0)
    t.put(f"{BOOT}-6", LAPSED, T0)
    assert t.get(f"{BOOT}-5", T0 + 59.9) == DONE
    assert t.get(f"{BOOT}-6", T0 + 59.9) == LAPSED
    assert t.get(f"{BOOT}-5", T0 + 60) is None  # forgotten at the TTL, ring or not
    assert t.get(f"{BOOT}-7", T0) is None


def test_put_again_changes_the_state_and_restarts_the_ttl() -> None:
    t = Tombstones(capacity=8, ttl_s=60)
    t.put(f"{BOOT}-5", LAPSED, T0)
    t.put(f"{BOOT}-5", DONE, T0 + 30)
    assert t.get(f"{BOOT}-5", T0 + 80) == DONE


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        (f"{BOOT}-7", f"{BOOT}-07"),  # the same number, another string
        (f"{BOOT}-7", f"{BOOT}-15"),  # the same slot (15 % 8), another id
        (f"{BOOT}-15", f"{BOOT}-7"),
        (f"{BOOT}-7", "OTHER-7"),  # another prefix
        (f"{BOOT}-7", "7"),
        (f"{BOOT}-7", f"{BOOT}-7 "),
        (f"{BOOT}-7", f"{BOOT}-\u0667"),  # an Arabic-Indic seven: a digit, not ASCII
    ],
)
def test_lookups_are_exact(stored: str, asked: str) -> None:
    """Only the very string remembered is found: an id sharing a ring slot, a number or a
    prefix with it is not (a false hit would refuse a settlement that must be charged)."""
    t = Tombstones(capacity=8, ttl_s=60)
    t.put(stored, DONE, T0)
    assert t.get(asked, T0) is None
    assert t.get(stored, T0) == DONE


@pytest.mark.parametrize(
    "aid",
    [
        "plain",
        "trailing-",
        "-3",
        f"{BOOT}-007",
        f"{BOOT}-{2**64}",
        f"{BOOT}-{10**18}",  # 19 digits: beside the ring
        f"{BOOT}-" + "9" * 5000,  # longer than int() converts
        f"{BOOT}-\u0667",
        "a-b-c",
        "",
    ],
)
def test_any_string_is_remembered(aid: str) -> None:
    """Ids that are not `{prefix}-{n}` with canonical digits go to the ordered table."""
    t = Tombstones(capacity=4, ttl_s=60)
    t.put(f"{BOOT}-1", DONE, T0)  # the ring belongs to BOOT
    t.put(aid, LAPSED, T0)
    assert t.get(aid, T0) == LAPSED
    assert t.get(f"{BOOT}-1", T0) == DONE


def test_the_ring_keeps_the_last_capacity_numbers() -> None:
    t = Tombstones(capacity=100, ttl_s=3600)
    for n in range(1000):
        t.put(f"{BOOT}-{n}", DONE, T0)
    assert [n for n in range(1000) if t.get(f"{BOOT}-{n}", T0) == DONE] == list(range(900, 1000))
    assert len(t) == 100


def test_an_old_id_settled_late_keeps_the_newer_ones() -> None:
    """A long stream settles after `capacity` newer admissions: its slot holds a newer id,
    which stays; the old one is remembered beside the ring, bounded the same way."""
    t = Tombstones(capacity=10, ttl_s=3600)
    for n in range(10, 20):
        t.put(f"{BOOT}-{n}", DONE, T0)
    t.put(f"{BOOT}-3", DONE, T0)  # slot 3 holds 13
    assert t.get(f"{BOOT}-3", T0) == DONE
    assert t.get(f"{BOOT}-13", T0) == DONE
    for n in range(10):  # older than every id in the ring: all beside it, 3 the oldest
        if n != 3:
            t.put(f"{BOOT}-{n}", LAPSED, T0 + 1)
    assert t.get(f"{BOOT}-3", T0 + 1) == DONE
    t.put(f"{BOOT}-3", LAPSED, T0 + 2)  # again: stays beside the ring, now the newest
    t.put("another-id", DONE, T0 + 2)  # the side table is capped like the ring: 11 > 10
    assert t.get(f"{BOOT}-0", T0 + 2) is None  # the oldest went
    assert t.get(f"{BOOT}-3", T0 + 2) == LAPSED
    assert len(t._other) == 10
    assert all(t.get(f"{BOOT}-{n}", T0 + 2) == DONE for n in range(10, 20))


def test_an_expired_slot_is_reused_by_an_older_id() -> None:
    t = Tombstones(capacity=10, ttl_s=60)
    t.put(f"{BOOT}-13", DONE, T0)
    t.put(f"{BOOT}-3", LAPSED, T0 + 61)  # 13 is forgotten: 3 takes its slot
    assert t.get(f"{BOOT}-3", T0 + 61) == LAPSED
    assert t.get(f"{BOOT}-13", T0 + 61) is None
    assert len(t._other) == 0


def test_an_id_moves_from_the_side_table_to_the_ring() -> None:
    t = Tombstones(capacity=10, ttl_s=60)
    t.put(f"{BOOT}-13", DONE, T0)
    t.put(f"{BOOT}-3", LAPSED, T0)  # beside the ring
    t.put(f"{BOOT}-3", DONE, T0 + 61)  # 13 expired: into the ring, out of the side table
    assert t.get(f"{BOOT}-3", T0 + 61) == DONE
    assert len(t._other) == 0


def test_the_side_table_forgets_by_age_and_count() -> None:
    t = Tombstones(capacity=3, ttl_s=60)
    for i in range(5):
        t.put(f"x{i}", DONE, T0 + i)
    assert [t.get(f"x{i}", T0 + 4) for i in range(5)] == [None, None, DONE, DONE, DONE]
    t.purge(T0 + 63)  # x2 expired at T0 + 62, x3 at T0 + 63
    assert list(t._other) == ["x4"]


def test_a_lookup_does_not_claim_the_ring() -> None:
    t = Tombstones(capacity=8, ttl_s=60)
    assert t.get("OTHER-1", T0) is None
    t.put(f"{BOOT}-1", DONE, T0)
    assert t._prefix == BOOT


def test_gateway_ids_cost_no_memory_per_id() -> None:
    """The ring is allocated once: remembering 10,000 gateway ids allocates nothing more
    (a string-keyed table cost ~200 bytes per id, kept for 10,000 requests)."""
    t = Tombstones(capacity=10_000, ttl_s=3600)
    ids = [f"{BOOT}-{n}" for n in range(30_000)]  # the request made them: not counted
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for aid in ids:
            t.put(aid, DONE, T0)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 2_000, grown
    assert t.get(ids[-1], T0) == DONE
    assert t.get(ids[-10_001], T0) is None
