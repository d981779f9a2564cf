"""The frozen records (issue 13, item 4): plain values in a leaf module, never edited in place."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from torouter import records
from torouter.billing import pricing
from torouter.records import ChannelRec, Snapshot

RECORD_TYPES = [
    obj
    for name in records.__all__
    if inspect.isclass(obj := getattr(records, name)) and dataclasses.is_dataclass(obj)
]


def test_every_record_type_is_listed() -> None:
    names = {t.__name__ for t in RECORD_TYPES}
    assert {"UserRec", "KeyRec", "ModelRec", "ChannelRec", "GroupRec", "PlanRec"} <= names
    assert {"SubscriptionRec", "Snapshot", "Prices", "KeyLimits"} <= names


@pytest.mark.parametrize("record", RECORD_TYPES, ids=lambda t: t.__name__)
def test_records_are_frozen_with_slots(record: type) -> None:
    params = record.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen and hasattr(record, "__slots__")


def test_a_snapshot_is_swapped_whole_never_patched() -> None:
    snap = Snapshot()
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.channels = {}  # type: ignore[misc]


def test_the_old_names_still_resolve() -> None:
    """Re-exported for this release, so other branches keep importing them from there."""
    from torouter import snapshot

    assert snapshot.ChannelRec is ChannelRec and snapshot.Snapshot is Snapshot
    assert pricing.Prices is records.Prices
