"""Setup shared by the admission and concurrency tests (no tests here): a gateway provisioned
with one key per refusal of SPEC R7.1, on either state backend (in-process, or Redis)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from tests.e2e.harness import GatewayProcess


def key_of(name: str) -> str:
    return "sk-" + f"adm{name}".ljust(48, "0")[:48]


KEY_NAMES = [
    "ok",
    "disabled",
    "gone",
    "suspended",
    "unverified",
    "expired",
    "ipwl",
    "modelwl",
    "subnone",
    "subpaused",
    "subcap",
    "subok",
    "poor",
    "quota",
    "budget",
    "rpm",
    "conc",
    "grpoff",
    "private",
    "inherit",
    "tpm",
    "hdr",
]
KEYS = {n: key_of(n) for n in KEY_NAMES}

CONFIG = """
data_dir = "{dir}/data"
trusted_proxies = ["127.0.0.1/32", "::1/128"]
[server]
port = {port}
[demo]
enabled = false
[mock]
mount = true
[usage]
flush_interval_s = 0.05
[gateway]
ip_rpm = 5
REDIS

[[groups]]
name = "default"
models = ["gpt-test"]

[[groups]]
name = "limited"
models = ["gpt-test"]
default_key_limits = { rpm = 2, max_concurrency = 1 }

[[groups]]
name = "subs"
billing_type = "subscription"
models = ["gpt-test"]

[[groups]]
name = "off"
status = "disabled"
models = ["gpt-test"]

[[groups]]
name = "secret"
visibility = "private"
models = ["gpt-test"]

[[models]]
id = "gpt-test"
vendor = "openai"
endpoints = ["chat", "messages", "generate"]
prices = { input = 2, output = 10 }

[[channels]]
name = "mock-openai"
platform = "openai"
base_url = "http://127.0.0.1:{port}/mock/openai/v1"
credential = "mock-key-1"
models = ["gpt-test"]
groups = ["default", "limited", "subs", "off", "secret"]

[[plans]]
name = "basic"
group = "subs"
duration_days = 30
daily_cap_usd = 5

[[plans]]
name = "tiny"
group = "subs"
duration_days = 30
daily_cap_usd = 0.0000001

[[users]]
email = "rich@example.com"
verified = true
balance_usd = 100

[[users]]
email = "gone@example.com"
state = "deleted"
balance_usd = 100

[[users]]
email = "suspended@example.com"
state = "suspended"
balance_usd = 100

[[users]]
email = "unverified@example.com"
balance_usd = 100

[[users]]
email = "poor@example.com"
verified = true
balance_usd = 0

[[users]]
email = "paused@example.com"
verified = true

[[users]]
email = "capped@example.com"
verified = true

[[users]]
email = "subscriber@example.com"
verified = true

[[subscriptions]]
user = "paused@example.com"
plan = "basic"
state = "paused"

[[subscriptions]]
user = "capped@example.com"
plan = "tiny"

[[subscriptions]]
user = "subscriber@example.com"
plan = "basic"
"""

_KEY_ROWS = {
    "ok": ("rich", "default", ""),
    "disabled": ("rich", "default", 'status = "disabled"'),
    "gone": ("gone", "default", ""),
    "suspended": ("suspended", "default", ""),
    "unverified": ("unverified", "default", ""),
    "expired": ("rich", "default", 'expires_at = "2020-01-01T00:00:00Z"'),
    "ipwl": ("rich", "default", 'ip_whitelist = ["10.9.9.9/32"]'),
    "modelwl": ("rich", "default", 'model_whitelist = "gpt-other"'),
    "subnone": ("rich", "subs", ""),
    "subpaused": ("paused", "subs", ""),
    "subcap": ("capped", "subs", ""),
    "subok": ("subscriber", "subs", "quota_usd = 1"),
    "poor": ("poor", "default", ""),
    "quota": ("rich", "default", "quota_usd = 0.0000001"),
    "budget": ("rich", "default", "budget_daily_usd = 0.0000001"),
    "rpm": ("rich", "default", "rpm = 2"),
    "conc": ("rich", "default", "max_concurrency = 1"),
    "grpoff": ("rich", "off", ""),
    "private": ("rich", "secret", ""),
    "inherit": ("rich", "limited", ""),
    "tpm": ("rich", "default", "tpm = 1"),
    "hdr": ("rich", "default", "rpm = 100\nrequests_1d = 1000\ntpm = 100000"),
}


def config(redis_url: str | None) -> str:
    text = CONFIG.replace("REDIS", f'[redis]\nurl = "{redis_url}"' if redis_url else "")
    for name, (user, group, extra) in _KEY_ROWS.items():
        text += (
            f'\n[[keys]]\nname = "{name}"\nuser = "{user}@example.com"\ngroup = "{group}"\n'
            f'key = "{KEYS[name]}"\n{extra}\n'
        )
    return text


def redis_db_url(worker_slot: int) -> str:
    """A Redis database of its own per xdist worker and use, flushed first."""
    base = os.environ.get("TOROUTER_TEST_REDIS_URL")
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail("TOROUTER_TEST_REDIS_URL is not set")
        pytest.skip('TOROUTER_TEST_REDIS_URL is not set (eval "$(scripts/services.sh start)")')
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    n = int(worker[2:] or 0) if worker.startswith("gw") else 0
    db = 2 + (n * 4 + worker_slot) % 14
    url = base.rsplit("/", 1)[0] + f"/{db}"
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def start_gateway(workdir: Path, backend: str, slot: int = 0) -> GatewayProcess:
    url = redis_db_url(slot) if backend == "redis" else None
    gw = GatewayProcess(workdir, config(url))
    gw.cli("apply", str(gw.config_path))
    gw.start()
    return gw


def random_ip() -> str:
    return f"198.18.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
