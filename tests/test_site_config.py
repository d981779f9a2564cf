"""Admin-editable settings with file values winning (R17.5), from one description: which keys
the file set, what is stored (secrets encrypted), what applies at once and what at the next
start; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from torouter.config import Settings, load_settings
from torouter.crypto import generate_key, keyring_for
from torouter.errors import GatewayError
from torouter.site_config import SETTINGS, SiteConfig
from torouter.storage.db import Database
from torouter.storage.tables import settings_kv


def config(**values: object) -> SiteConfig:
    settings = Settings(encryption_key=generate_key(), **values)  # type: ignore[arg-type]
    return SiteConfig(settings, keyring_for(settings))


def test_the_file_set_keys_are_read_from_what_the_configuration_gave() -> None:
    sc = config(smtp={"host": "mail.example", "port": 2525}, timezone="Asia/Shanghai")
    assert sc.fixed == {"smtp.host", "smtp.port", "timezone"}
    assert config().fixed == set()


def test_the_environment_counts_as_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory
) -> None:
    monkeypatch.setenv("TOROUTER_USAGE__RETENTION_DAYS", "14")
    monkeypatch.setenv("TOROUTER_DEFAULT_LANGUAGE", "zh-CN")
    settings = load_settings()
    sc = SiteConfig(settings, keyring_for(Settings(encryption_key=generate_key())))
    assert {"usage.retention_days", "default_language"} <= sc.fixed


def test_every_setting_has_a_section_and_one_key() -> None:
    keys = [s.key for s in SETTINGS]
    assert len(keys) == len(set(keys))
    assert {s.section for s in SETTINGS} == {"signup", "smtp", "regional", "retention", "display"}


async def test_saved_values_win_over_defaults_and_lose_to_the_file(db: Database) -> None:
    sc = config(smtp={"port": 2525})
    async with db.begin() as conn:
        changed = await sc.save(
            conn,
            {
                "smtp.host": "mail.example",
                "smtp.password": "hunter2",
                "usage.retention_days": 30,
                "timezone": "Europe/Berlin",
            },
        )
        assert changed["smtp.password"] == "(changed)"  # the audit log never sees a secret
        values = await sc.values(conn)
        stored = dict((await conn.execute(select(settings_kv.c.key, settings_kv.c.value))).all())
    assert (values["smtp.host"].value, values["smtp.host"].source) == ("mail.example", "database")
    assert (values["smtp.port"].value, values["smtp.port"].source) == (2525, "file")
    assert (values["smtp.username"].value, values["smtp.username"].source) == (None, "default")
    assert values["smtp.password"].value is True  # set, never given out
    assert "hunter2" not in str(stored["smtp.password"])  # encrypted at rest (R18.2)
    with pytest.raises(GatewayError) as refused:
        async with db.begin() as conn:
            await sc.save(conn, {"smtp.port": 25})
    assert refused.value.code == "CONFLICT"


async def test_applied_at_once_or_at_the_next_start(db: Database) -> None:
    sc = config()
    async with db.begin() as conn:
        await sc.save(
            conn,
            {"smtp.host": "mail.example", "smtp.password": "pw", "timezone": "Asia/Tokyo"},
        )
        await sc.apply_stored(conn, start=False)
        values = await sc.values(conn)
    assert sc.settings.smtp.host == "mail.example" and sc.settings.smtp.password == "pw"
    assert sc.settings.timezone == "UTC"  # the gateway copied it at start: after a restart
    assert sc.pending_restart(values) == {"timezone"}
    async with db.connect() as conn:
        await sc.apply_stored(conn, start=True)
    assert sc.settings.timezone == "Asia/Tokyo"
    # Applying the stored values does not make them look file-set.
    assert "smtp.host" not in sc.fixed
    async with db.begin() as conn:
        await sc.save(conn, {"smtp.host": None})  # unset: the default again
        await sc.apply_stored(conn, start=False)
    assert sc.settings.smtp.host is None


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("smtp.port", "587", 587),
        ("smtp.starttls", "on", True),
        ("smtp.starttls", "", False),
        ("usage.retention_days", "0", 0),
        ("timezone", " Asia/Shanghai ", "Asia/Shanghai"),
        ("default_language", "zh-CN", "zh-CN"),
        ("smtp.host", "  ", None),
    ],
)
def test_form_values(key: str, text: str, value: object) -> None:
    assert config().parse(key, text) == value


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("smtp.port", "0"),
        ("smtp.port", "70000"),
        ("smtp.port", "x"),
        ("usage.retention_days", "-1"),
        ("timezone", "Mars/Olympus"),
        ("default_language", "fr"),
        ("smtp.sender", "x" * 501),
    ],
)
def test_bad_form_values_name_their_field(key: str, text: str) -> None:
    with pytest.raises(GatewayError) as caught:
        config().parse(key, text)
    assert caught.value.code == "INVALID_REQUEST" and caught.value.param == key
