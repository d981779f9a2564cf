"""Persisting health decisions (SPEC R9.6, R7.12): the writer the probe task is handed."""

from __future__ import annotations

from pathlib import Path

import pytest

from torouter.channel_status import ChannelStatusWriter
from torouter.crypto import Keyring
from torouter.routing import probe
from torouter.snapshot import SnapshotHolder
from torouter.storage.db import Database
from torouter.storage.repos import channels


async def _channel(db: Database, status: str = "enabled") -> int:
    async with db.begin() as conn:
        channel_id = await channels.create_channel(
            conn, name="c", platform="openai", keyring=Keyring.generate(), credential="sk-up"
        )
        if status != "enabled":
            await channels.set_channel_status(
                conn, channel_id=channel_id, status=status, reason="admin"
            )
    return channel_id


async def _row(db: Database, channel_id: int) -> tuple[str, str | None]:
    async with db.connect() as conn:
        row = await channels.get_channel(conn, channel_id=channel_id)
    assert row is not None
    return row["status"], row["status_reason"]


async def test_a_disable_is_stored_and_the_snapshot_reloaded(db: Database) -> None:
    channel_id = await _channel(db)
    snapshot = SnapshotHolder(db, lambda s: s)
    await snapshot.reload()
    writer = ChannelStatusWriter(db, snapshot)
    writer.schedule(channel_id, "auto_disabled", "3 failures in a row")
    await writer.drain()
    assert await _row(db, channel_id) == ("auto_disabled", "3 failures in a row")
    assert snapshot.current.channels[channel_id].status == "auto_disabled"
    await writer.write(channel_id, "enabled", None)  # what a successful probe does
    assert await _row(db, channel_id) == ("enabled", None)
    assert snapshot.current.channels[channel_id].status == "enabled"


async def test_an_admin_disable_is_never_overridden(db: Database) -> None:
    channel_id = await _channel(db, status="disabled")
    snapshot = SnapshotHolder(db, lambda s: s)
    await ChannelStatusWriter(db, snapshot).write(channel_id, "enabled", None)
    assert await _row(db, channel_id) == ("disabled", "admin")


async def test_a_failed_write_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gone = Database(f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/x.db")  # cannot be opened
    try:
        writer = ChannelStatusWriter(gone, SnapshotHolder(gone, lambda s: s))
        await writer.write(1, "auto_disabled", "x")  # off the request path: must not raise
    finally:
        await gone.dispose()
    assert "could not persist channel status" in caplog.text


def test_the_old_name_resolves_without_loading_it_up_front() -> None:
    assert probe.ChannelStatusWriter is ChannelStatusWriter
    with pytest.raises(AttributeError):
        _ = probe.NoSuchThing  # type: ignore[attr-defined]
