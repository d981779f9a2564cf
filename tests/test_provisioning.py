from __future__ import annotations

import asyncio
import datetime as dt
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from torouter.access.keys import hash_key
from torouter.accounts.passwords import hash_password, verify_password
from torouter.config import Settings, load_settings
from torouter.crypto import Keyring, decrypt
from torouter.provisioning import ApplyReport, Existing, ProvisioningError, apply, validate
from torouter.storage import tables
from torouter.storage.db import Database
from torouter.storage.repos.groups import create_group, group_model_ids
from torouter.storage.repos.users import create_user

KEY = "sk-" + "k" * 44 + "TEST"
ARGON = hash_password("from-a-hash")
ENV = {
    "ANTHROPIC_KEY_1": "sk-ant-upstream",
    "ANTHROPIC_PROXY": "socks5h://u:pw@10.0.0.5:1080",
    "OPENAI_KEY": "sk-oa-upstream",
    "DEV_PW": "pw-123",
}

BASE = f"""
[[groups]]
name = "default"
billing_type = "balance"
price_multiplier = 1
models = ["gpt-5", "claude-opus-4-7"]
default_key_limits = {{ rpm = 60, quota_usd = 5.5 }}

[[groups]]
name = "pro"
billing_type = "subscription"
price_multiplier = 0.8
visibility = "private"
models = ["claude-opus-4-7"]

[[models]]
id = "gpt-5"
vendor = "openai"
endpoints = ["chat", "responses"]
context_length = 400000
prices = {{ input = 1.25, output = 10, cache_read = 0.125 }}

[[models]]
id = "claude-opus-4-7"
display_name = "Claude Opus 4.7"
vendor = "anthropic"
modality = "text"
endpoints = ["chat", "responses", "messages", "generate"]
supports_thinking = true
thinking_defaults = {{ budget_tokens = 4096 }}
max_output_tokens = 32000
prices = {{ input = 15, output = 75, cache_read = 1.5, cache_write_1h = 0.1, per_request = 1e-7 }}
created = 2026-01-02T03:04:05Z

[[channels]]
name = "openai-main"
platform = "openai"
credential = "env:OPENAI_KEY"
models = ["gpt-5"]
model_mapping = {{ "gpt-5" = "gpt-5-2026" }}
groups = ["default"]
extra_headers = {{ "x-team" = "a" }}
responses_native = true

[[users]]
email = "Dev@Example.com"
role = "user"
verified = true
balance_usd = 25.1
password = "env:DEV_PW"
username = "dev"

[[users]]
email = "ops@example.com"
role = "admin"
verified = true
password_hash = "{ARGON}"

[[keys]]
name = "ci"
user = "dev@example.com"
group = "default"
key = "{KEY}"
quota_usd = 10
model_whitelist = "gpt-5, claude-opus-4-7"
ip_whitelist = ["203.0.113.0/24"]
ip_blacklist = "203.0.113.7\\n2001:db8::/32"
expires_at = 2030-01-01T00:00:00Z
budget_daily_usd = 0.5

[[keys]]
name = "hashed"
user = "ops@example.com"
group = "pro"
key = "sha256:{"ab" * 32}"
status = "disabled"

[[plans]]
name = "pro-monthly"
group = "pro"
price_usd = 20
duration_days = 30
daily_cap_usd = 5

[[subscriptions]]
user = "dev@example.com"
plan = "pro-monthly"
starts_at = 2026-01-01T00:00:00Z
auto_renew = true
"""

CHANNEL_2 = """
[[channels]]
name = "anthropic-main"
platform = "anthropic"
credential = "env:ANTHROPIC_KEY_1"
proxy = "env:ANTHROPIC_PROXY"
models = ["claude-opus-4-7"]
groups = ["default", "pro"]
priority = 0
weight = 1
"""


def write_config(path: Path, text: str) -> Settings:
    path.write_text(textwrap.dedent(text))
    return load_settings(path.name)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in tmp_path so that the config file is named plainly `config.toml`."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def settings(in_tmp: Path) -> Settings:
    return write_config(in_tmp / "config.toml", BASE + CHANNEL_2)


@pytest.fixture(scope="module")
def keyring() -> Keyring:
    return Keyring.generate()


async def snapshot(db: Database) -> dict[str, list[dict[str, Any]]]:
    out = {}
    async with db.begin() as conn:
        for table in tables.metadata.sorted_tables:
            rows = await conn.execute(select(table).order_by(*table.primary_key.columns))
            out[table.name] = [dict(r) for r in rows.mappings()]
    return out


async def one(db: Database, table: Any, **match: Any) -> Any:
    async with db.begin() as conn:
        query = select(table).filter_by(**match)
        return (await conn.execute(query)).mappings().one()


# ---- validation: pure -------------------------------------------------------------------


def test_valid_file_validates(settings: Settings) -> None:
    plan = validate(settings, environ=ENV, existing=Existing())
    assert [g.entry.name for g in plan.groups] == ["default", "pro"]
    assert plan.models[1].entry.prices.per_request == Decimal("1E-7")
    assert plan.channels[1].entry.credential == "sk-ant-upstream"
    assert plan.keys[0].label == 'config.toml: [[keys]] #1 (name "ci")'


@pytest.mark.parametrize(
    ("usd", "nusd"),
    [
        (25.1, 25_100_000_000),
        (0.1, 100_000_000),
        (1e-9, 1),
        (3, 3_000_000_000),
        ("2.5", 2_500_000_000),
    ],
)
def test_usd_is_exact_not_float(usd: object, nusd: int) -> None:
    from torouter.provisioning.entries import usd_to_nusd

    (user,) = validate(Settings(users=[{"email": "a@b.c", "balance_usd": usd}])).users
    assert usd_to_nusd(user.entry.balance_usd) == nusd


def test_float_artefacts_are_refused() -> None:
    # 0.1 + 0.2 is 0.30000000000000004 as a float: not a whole number of nano-USD.
    with pytest.raises(ProvisioningError, match="at most 9 decimal places"):
        validate(Settings(users=[{"email": "a@b.c", "balance_usd": 0.1 + 0.2}]))


# Each fragment is added to BASE + CHANNEL_2 (so new entries are #3 of groups, channels…).
MORE_WRONG: list[tuple[str, str]] = [
    (
        '[[groups]]\nname = "x"\ncolour = "red"\n',
        'config.toml: [[groups]] #3 (name "x"): field "colour": unknown field',
    ),
    (
        '[[models]]\nid = "m2"\n',
        'config.toml: [[models]] #3 (id "m2"): field "vendor": required',
    ),
    (
        '[[groups]]\nbilling_type = "balance"\n',
        'config.toml: [[groups]] #3: field "name": required',
    ),
    (
        f'[[keys]]\nname = "k2"\nuser = "dev@example.com"\ngroup = "nope"\nkey = "sk-{"b" * 48}"\n',
        'config.toml: [[keys]] #3 (name "k2"): field "group": unknown group "nope"',
    ),
    (
        '[[keys]]\nname = "k2"\nuser = "ghost@example.com"\ngroup = "default"\n'
        f'key = "sk-{"b" * 48}"\n',
        'config.toml: [[keys]] #3 (name "k2"): field "user": unknown user "ghost@example.com"',
    ),
    (
        '[[groups]]\nname = "g3"\nmodels = ["gpt-5", "ghost"]\n',
        'config.toml: [[groups]] #3 (name "g3"): field "models[1]": unknown model "ghost"',
    ),
    (
        '[[groups]]\nname = "g3"\nmodels = ["gpt-5", "gpt-5"]\n',
        'config.toml: [[groups]] #3 (name "g3"): field "models[1]": "gpt-5" is listed twice',
    ),
    (
        '[[channels]]\nname = "c3"\nplatform = "gemini"\ngroups = ["ghost"]\n',
        'config.toml: [[channels]] #3 (name "c3"): field "groups[0]": unknown group "ghost"',
    ),
    (
        '[[channels]]\nname = "c3"\nplatform = "gemini"\nmodels = ["ghost"]\n',
        'config.toml: [[channels]] #3 (name "c3"): field "models[0]": unknown model "ghost"',
    ),
    (
        '[[models]]\nid = "m2"\nvendor = "x"\nprices = { input = -1 }\n',
        'config.toml: [[models]] #3 (id "m2"): field "prices.input": must be at least 0',
    ),
    (
        '[[models]]\nid = "m2"\nvendor = "x"\nprices = { output = "abc" }\n',
        'config.toml: [[models]] #3 (id "m2"): field "prices.output": must be a number',
    ),
    (
        '[[models]]\nid = "m2"\nvendor = "x"\nprices = { inputs = 1 }\n',
        'config.toml: [[models]] #3 (id "m2"): field "prices.inputs": unknown field',
    ),
    (
        '[[models]]\nid = "m2"\nvendor = "x"\nmodality = "smell"\n',
        'config.toml: [[models]] #3 (id "m2"): field "modality": must be one of text, '
        "multimodal, image, video, audio, embedding, rerank",
    ),
    (
        '[[models]]\nid = "m2"\nvendor = "x"\nendpoints = ["chat", "telepathy"]\n',
        'config.toml: [[models]] #3 (id "m2"): field "endpoints[1]": must be one of chat, '
        "responses, messages, generate, embeddings, images, audio_transcription, "
        "audio_speech, rerank, completions, moderations",
    ),
    (
        '[[models]]\nid = "m2"\nvendor = "x"\nthinking_defaults = "high"\n',
        'config.toml: [[models]] #3 (id "m2"): field "thinking_defaults": must be a table',
    ),
    (
        '[[models]]\nid = "m2"\nvendor = "x"\ncontext_length = 1.5\n',
        'config.toml: [[models]] #3 (id "m2"): field "context_length": must be an integer',
    ),
    (
        '[[channels]]\nname = "c3"\nplatform = "openai"\nweight = 0\n',
        'config.toml: [[channels]] #3 (name "c3"): field "weight": must be at least 1',
    ),
    (
        '[[channels]]\nname = "c3"\nplatform = "openai"\nconnect_timeout = 0\n',
        'config.toml: [[channels]] #3 (name "c3"): field "connect_timeout": must be greater than 0',
    ),
    (
        '[[channels]]\nname = "c3"\nplatform = "openai-compatible"\n',
        'config.toml: [[channels]] #3 (name "c3"): field "base_url": '
        "required for platform openai-compatible",
    ),
    (
        '[[channels]]\nname = "c3"\nplatform = "openai"\nbase_url = "ftp://x"\n',
        'config.toml: [[channels]] #3 (name "c3"): field "base_url": must be a http or https URL',
    ),
    (
        '[[channels]]\nname = "c3"\nplatform = "openai"\nproxy = "gopher://x"\n',
        'config.toml: [[channels]] #3 (name "c3"): field "proxy": '
        "must be an http, https, socks5 or socks5h URL",
    ),
    (  # R9.1: the password in a bad proxy URL is never echoed back
        '[[channels]]\nname = "c3"\nplatform = "openai"\nproxy = "socks5://u:s3cret@h:99999"\n',
        'config.toml: [[channels]] #3 (name "c3"): field "proxy": '
        "the proxy port must be a number from 1 to 65535",
    ),
    (
        '[[channels]]\nname = "c3"\nplatform = "openai"\nmodels = ["gpt-5"]\n'
        'model_mapping = { "gpt-4" = "x" }\n',
        'config.toml: [[channels]] #3 (name "c3"): field "model_mapping.gpt-4": '
        "not one of the channel's models",
    ),
    (
        '[[channels]]\nname = "c3"\nplatform = "openai"\ncredential = "env:NOPE"\n',
        'config.toml: [[channels]] #3 (name "c3"): field "credential": '
        "environment variable NOPE is not set",
    ),
    (
        '[[channels]]\nname = "openai-main"\nplatform = "openai"\n',
        'config.toml: [[channels]] #3 (name "openai-main"): field "name": '
        "duplicate of [[channels]] #1",
    ),
    (
        '[[users]]\nemail = "DEV@example.com"\n',
        'config.toml: [[users]] #3 (email "DEV@example.com"): field "email": '
        "duplicate of [[users]] #1",
    ),
    (
        '[[users]]\nemail = "not-an-email"\n',
        'config.toml: [[users]] #3 (email "not-an-email"): field "email": not an email address',
    ),
    (
        '[[users]]\nemail = "x@example.com"\npassword = "hunter2"\n',
        'config.toml: [[users]] #3 (email "x@example.com"): field "password": '
        "must be env:NAME (plaintext passwords are not accepted)",
    ),
    (
        '[[users]]\nemail = "x@example.com"\npassword = "env:NOPE"\n',
        'config.toml: [[users]] #3 (email "x@example.com"): field "password": '
        "environment variable NOPE is not set",
    ),
    (
        f'[[users]]\nemail = "x@example.com"\npassword = "env:DEV_PW"\npassword_hash = "{ARGON}"\n',
        'config.toml: [[users]] #3 (email "x@example.com"): field "password": '
        "give password or password_hash, not both",
    ),
    (
        '[[users]]\nemail = "x@example.com"\npassword_hash = "$2b$12$abc"\n',
        'config.toml: [[users]] #3 (email "x@example.com"): field "password_hash": '
        "must be an argon2id hash ($argon2id$…)",
    ),
    (
        '[[users]]\nemail = "x@example.com"\nbalance_usd = 0.0000000001\n',
        'config.toml: [[users]] #3 (email "x@example.com"): field "balance_usd": '
        "must have at most 9 decimal places",
    ),
    (
        '[[users]]\nemail = "x@example.com"\nrole = "root"\n',
        'config.toml: [[users]] #3 (email "x@example.com"): field "role": '
        "must be one of user, admin",
    ),
    (
        '[[users]]\nemail = "x@example.com"\nverified = "maybe"\n',
        'config.toml: [[users]] #3 (email "x@example.com"): field "verified": '
        "must be true or false",
    ),
    (
        '[[keys]]\nname = "k2"\nuser = "dev@example.com"\ngroup = "default"\nkey = "sk-123"\n',
        'config.toml: [[keys]] #3 (name "k2"): field "key": '
        'must be "sha256:<64 hex digits>" or an sk- key of 48 characters',
    ),
    (
        f'[[keys]]\nname = "k2"\nuser = "dev@example.com"\ngroup = "default"\nkey = "{KEY}"\n',
        'config.toml: [[keys]] #3 (name "k2"): field "key": duplicate of [[keys]] #1',
    ),
    (
        '[[keys]]\nname = "ci"\nuser = "dev@example.com"\ngroup = "default"\n'
        f'key = "sk-{"b" * 48}"\n',
        'config.toml: [[keys]] #3 (name "ci"): field "name": duplicate of [[keys]] #1',
    ),
    (
        '[[keys]]\nname = "k2"\nuser = "dev@example.com"\ngroup = "default"\n'
        f'key = "sk-{"b" * 48}"\nexpires_at = 2030-01-01T00:00:00\n',
        'config.toml: [[keys]] #3 (name "k2"): field "expires_at": '
        "must include a UTC offset (RFC 3339)",
    ),
    (
        '[[keys]]\nname = "k2"\nuser = "dev@example.com"\ngroup = "default"\n'
        f'key = "sk-{"b" * 48}"\nip_blacklist = "10.0.0.0/8\\n300.1.1.1"\n',
        'config.toml: [[keys]] #3 (name "k2"): field "ip_blacklist": '
        '"300.1.1.1" is not an IP address or CIDR',
    ),
    (
        '[[keys]]\nname = "k2"\nuser = "dev@example.com"\ngroup = "default"\n'
        f'key = "sk-{"b" * 48}"\nrpm = -1\n',
        'config.toml: [[keys]] #3 (name "k2"): field "rpm": must be at least 0',
    ),
    (
        '[[keys]]\nname = "k2"\nuser = "dev@example.com"\ngroup = "default"\n'
        f'key = "sk-{"b" * 48}"\nstatus = "paused"\n',
        'config.toml: [[keys]] #3 (name "k2"): field "status": must be one of active, disabled',
    ),
    (
        '[[plans]]\nname = "p2"\ngroup = "default"\n',
        'config.toml: [[plans]] #2 (name "p2"): field "group": '
        'group "default" is not a subscription group',
    ),
    (
        '[[plans]]\nname = "p2"\ngroup = "pro"\nduration_days = 0\n',
        'config.toml: [[plans]] #2 (name "p2"): field "duration_days": must be greater than 0',
    ),
    (
        '[[subscriptions]]\nuser = "ops@example.com"\nplan = "ghost"\n',
        'config.toml: [[subscriptions]] #2 (user "ops@example.com", plan "ghost"): '
        'field "plan": unknown plan "ghost"',
    ),
    (
        '[[subscriptions]]\nuser = "ops@example.com"\nplan = "pro-monthly"\n'
        "starts_at = 2026-02-01T00:00:00Z\nexpires_at = 2026-01-01T00:00:00Z\n",
        'config.toml: [[subscriptions]] #2 (user "ops@example.com", plan "pro-monthly"): '
        'field "expires_at": must be after starts_at',
    ),
    (
        '[[subscriptions]]\nuser = "dev@example.com"\nplan = "pro-monthly"\n',
        'config.toml: [[subscriptions]] #2 (user "dev@example.com", plan "pro-monthly"): '
        'field "plan": duplicate of [[subscriptions]] #1',
    ),
    (
        '[[groups]]\nname = "g3"\nprice_multiplier = true\n',
        'config.toml: [[groups]] #3 (name "g3"): field "price_multiplier": must be a number',
    ),
    (
        '[[groups]]\nname = "g3"\ndefault_key_limits = { rpm = "fast" }\n',
        'config.toml: [[groups]] #3 (name "g3"): field "default_key_limits.rpm": '
        "must be an integer",
    ),
]


WRONG = [
    (
        CHANNEL_2.replace('platform = "anthropic"', 'platform = "claude"'),
        'config.toml: [[channels]] #2 (name "anthropic-main"): field "platform": must be one of '
        "openai, anthropic, gemini, openrouter, openai-compatible, azure-openai",
    ),
    *((CHANNEL_2 + "\n" + fragment, message) for fragment, message in MORE_WRONG),
]


@pytest.mark.parametrize(("fragment", "message"), WRONG, ids=range(len(WRONG)))
def test_wrong_entry_names_file_entry_and_field(in_tmp: Path, fragment: str, message: str) -> None:
    settings = write_config(in_tmp / "config.toml", BASE + fragment)
    with pytest.raises(ProvisioningError) as info:
        validate(settings, environ=ENV, existing=Existing())
    assert info.value.problems == [message]


def test_all_problems_are_listed(in_tmp: Path) -> None:
    settings = write_config(
        in_tmp / "config.toml",
        '[[groups]]\nname = "g"\nstatus = "on"\n[[models]]\nid = "m"\n',
    )
    with pytest.raises(ProvisioningError) as info:
        validate(settings)
    assert str(info.value).splitlines() == [
        'config.toml: [[groups]] #1 (name "g"): field "status": must be one of enabled, disabled',
        'config.toml: [[models]] #1 (id "m"): field "vendor": required',
    ]


def test_references_to_the_database_are_checked_only_with_it(in_tmp: Path) -> None:
    settings = write_config(
        in_tmp / "config.toml", '[[channels]]\nname = "c"\nplatform = "openai"\ngroups = ["g"]\n'
    )
    validate(settings)  # the group may exist in the database
    validate(settings, existing=Existing(groups={"g": "balance"}))
    with pytest.raises(ProvisioningError, match='unknown group "g"'):
        validate(settings, existing=Existing())


# ---- apply: database ----------------------------------------------------------------------


async def test_apply_creates_everything(db: Database, settings: Settings, keyring: Keyring) -> None:
    report = await apply(db, settings, keyring, environ=ENV)
    assert report.count("created") == 12 and report.count("updated") == 0

    gpt = await one(db, tables.models, id="gpt-5")
    assert gpt["price_input"] == Decimal("1.25") and gpt["price_cache_write_5m"] is None
    assert gpt["endpoints"] == ["chat", "responses"] and gpt["managed"] is True
    claude = await one(db, tables.models, id="claude-opus-4-7")
    assert claude["price_cache_write_1h"] == Decimal("0.1")
    assert claude["price_per_request"] == Decimal("0.0000001")
    assert claude["created"] == int(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp())
    assert claude["thinking_defaults"] == {"budget_tokens": 4096}

    default = await one(db, tables.groups, name="default")
    assert default["default_key_limits"] == {"rpm": 60, "quota_nusd": 5_500_000_000}
    pro = await one(db, tables.groups, name="pro")
    assert pro["price_multiplier"] == Decimal("0.8") and pro["visibility"] == "private"
    async with db.begin() as conn:
        catalog = await group_model_ids(conn, group_id=default["id"])
        assert catalog == ["gpt-5", "claude-opus-4-7"]
        links = (await conn.execute(select(tables.channel_groups))).all()
    assert len(links) == 3

    openai = await one(db, tables.channels, name="openai-main")
    assert decrypt(openai["credential_enc"], keyring) == "sk-oa-upstream"
    assert "sk-oa-upstream" not in openai["credential_enc"]
    assert openai["options"] == {"responses_native": True, "extra_headers": {"x-team": "a"}}
    assert openai["model_mapping"] == {"gpt-5": "gpt-5-2026"}
    assert openai["proxy_enc"] is None
    anthropic = await one(db, tables.channels, name="anthropic-main")
    assert "u:pw@" not in anthropic["proxy_enc"]  # R9.1 from env:NAME, encrypted (R18.2)
    assert decrypt(anthropic["proxy_enc"], keyring) == "socks5h://u:pw@10.0.0.5:1080"

    dev = await one(db, tables.users, email="dev@example.com")
    assert dev["balance_nusd"] == 25_100_000_000 and dev["state"] == "active"
    assert dev["email_verified_at"] is not None and verify_password("pw-123", dev["password_hash"])
    entry = await one(db, tables.ledger, user_id=dev["id"])
    assert (entry["reason"], entry["reference"]) == ("admin_credit", "provision:dev@example.com")
    assert entry["balance_after_nusd"] == 25_100_000_000
    ops = await one(db, tables.users, email="ops@example.com")
    assert ops["password_hash"] == ARGON and ops["role"] == "admin"

    ci = await one(db, tables.api_keys, name="ci")
    assert ci["key_hash"] == hash_key(KEY) and ci["mask"] == "sk-kkkk…TEST"
    assert ci["quota_nusd"] == 10 * 10**9 and ci["budget_daily_nusd"] == 500_000_000
    assert ci["ip_blacklist"] == "203.0.113.7\n2001:db8::/32"
    assert ci["model_whitelist"] == "gpt-5,claude-opus-4-7"
    assert ci["expires_at"] == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    hashed = await one(db, tables.api_keys, name="hashed")
    assert hashed["key_hash"] == "ab" * 32 and hashed["status"] == "disabled"

    plan = await one(db, tables.plans, name="pro-monthly")
    assert plan["price_nusd"] == 20 * 10**9 and plan["daily_cap_nusd"] == 5 * 10**9
    sub = await one(db, tables.subscriptions, user_id=dev["id"])
    assert sub["group_id"] == pro["id"] and sub["daily_cap_nusd"] == 5 * 10**9
    assert sub["expires_at"] - sub["starts_at"] == dt.timedelta(days=30) and sub["auto_renew"]


async def test_apply_twice_changes_nothing(
    db: Database, settings: Settings, keyring: Keyring
) -> None:
    await apply(db, settings, keyring, environ=ENV)
    before = await snapshot(db)
    report = await apply(db, settings, keyring, environ=ENV)
    assert not report.changed and report.count("unchanged") == 12
    assert await snapshot(db) == before


async def test_replicas_applying_at_once_all_succeed(
    db: Database, settings: Settings, keyring: Keyring
) -> None:
    """Issue 18 point 2: nodes started together each apply the file at start; on PostgreSQL
    concurrent inserts of one name stopped all but one with a unique violation."""
    replicas = [Database(db.url) for _ in range(3)]
    try:
        reports = await asyncio.gather(
            *(apply(r, settings, keyring, environ=ENV) for r in replicas)
        )
    finally:
        for r in replicas:
            await r.dispose()
    assert sum(r.changed for r in reports) == 1  # one created, the others found it all
    async with db.connect() as conn:
        n = await conn.scalar(select(func.count()).select_from(tables.models))
    assert n == len(settings.models)


async def test_apply_updates_and_releases(db: Database, in_tmp: Path, keyring: Keyring) -> None:
    await apply(db, write_config(in_tmp / "config.toml", BASE + CHANNEL_2), keyring, environ=ENV)
    changed = BASE.replace("input = 1.25", "input = 1.5").replace('"gpt-5", "claude', '"claude')
    changed = changed.replace(
        'models = ["claude-opus-4-7"]\n\n[[models]]', "models = []\n\n[[models]]"
    )
    report = await apply(
        db,
        write_config(in_tmp / "config.toml", changed),
        keyring,
        environ={**ENV, "DEV_PW": "new-password"},
    )
    actions = {(c.kind, c.name): c.action for c in report.changes}
    assert actions[("models", "gpt-5")] == "updated"
    assert actions[("groups", "default")] == "updated"
    assert actions[("users", "dev@example.com")] == "updated"
    assert [c.kind for c in report.changes if c.action == "released"] == ["channels"]
    assert (await one(db, tables.models, id="gpt-5"))["price_input"] == Decimal("1.5")
    released = await one(db, tables.channels, name="anthropic-main")
    assert released["managed"] is False
    dev = await one(db, tables.users, email="dev@example.com")
    assert verify_password("new-password", dev["password_hash"])
    assert dev["balance_nusd"] == 25_100_000_000  # granted once


async def test_runtime_state_survives(db: Database, settings: Settings, keyring: Keyring) -> None:
    from sqlalchemy import update

    await apply(db, settings, keyring, environ=ENV)
    async with db.begin() as conn:
        await conn.execute(
            update(tables.channels)
            .where(tables.channels.c.name == "openai-main")
            .values(status="auto_disabled")
        )
    report = await apply(db, settings, keyring, environ=ENV)
    assert not report.changed
    assert (await one(db, tables.channels, name="openai-main"))["status"] == "auto_disabled"


async def test_references_may_point_at_the_database(
    db: Database, in_tmp: Path, keyring: Keyring
) -> None:
    async with db.begin() as conn:
        await create_group(conn, name="legacy")
        await create_user(conn, email="old@example.com")
    settings = write_config(
        in_tmp / "config.toml",
        f'[[keys]]\nname = "k"\nuser = "old@example.com"\ngroup = "legacy"\nkey = "{KEY}"\n',
    )
    report = await apply(db, settings, keyring)
    assert report.count("created") == 1


async def test_failed_apply_writes_nothing(db: Database, in_tmp: Path, keyring: Keyring) -> None:
    settings = write_config(
        in_tmp / "config.toml",
        '[[groups]]\nname = "g"\n[[keys]]\nname = "k"\nuser = "nobody@example.com"\n'
        f'group = "g"\nkey = "{KEY}"\n',
    )
    with pytest.raises(ProvisioningError, match=r'unknown user "nobody@example\.com"'):
        await apply(db, settings, keyring)
    async with db.begin() as conn:
        assert await conn.scalar(select(func.count()).select_from(tables.groups)) == 0


async def test_key_taken_by_another_row(db: Database, in_tmp: Path, keyring: Keyring) -> None:
    from torouter.storage.repos.apikeys import insert_key

    async with db.begin() as conn:
        group_id = await create_group(conn, name="g")
        user_id = await create_user(conn, email="u@example.com")
        await insert_key(
            conn, user_id=user_id, group_id=group_id, name="other", key_hash=hash_key(KEY), mask="m"
        )
    settings = write_config(
        in_tmp / "config.toml",
        f'[[keys]]\nname = "k"\nuser = "u@example.com"\ngroup = "g"\nkey = "{KEY}"\n',
    )
    with pytest.raises(ProvisioningError) as info:
        await apply(db, settings, keyring)
    assert info.value.problems == [
        'config.toml: [[keys]] #1 (name "k"): field "key": already used by another key'
    ]


def test_report_summary() -> None:
    assert ApplyReport().summary() == "0 created, 0 updated, 0 released, 0 unchanged"
