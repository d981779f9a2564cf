"""A real gateway (subprocess, uvicorn, free port) with the mock providers mounted, provisioned
from one TOML file, shared by the end-to-end tests of a worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import GatewayProcess

KEY = "sk-e2eTestKey0000000000000000000000000000000000000A"
POOR_KEY = "sk-e2ePoorKey0000000000000000000000000000000000000B"
assert len(KEY) == 51 and len(POOR_KEY) == 51

CONFIG = """
data_dir = "{dir}/data"
[server]
port = {port}
[demo]
enabled = false
[mock]
mount = true
[usage]
flush_interval_s = 0.05

[[groups]]
name = "default"
billing_type = "balance"
price_multiplier = 1.5
models = [
    "gpt-test", "gpt-mapped", "gpt-slow", "claude-only", "embed-only", "gemini-test", "gpt-flaky"
]

[[models]]
id = "gpt-test"
vendor = "openai"
endpoints = ["chat", "messages", "generate", "responses"]
prices = { input = 2, output = 10 }

[[models]]
id = "gpt-mapped"
vendor = "openai"
endpoints = ["chat"]
prices = { input = 1, output = 1 }

[[models]]
id = "gpt-slow"
vendor = "openai"
endpoints = ["chat"]
prices = { input = 1, output = 1 }

[[models]]
id = "claude-only"
vendor = "anthropic"
endpoints = ["chat", "messages", "generate", "responses"]
supports_thinking = true
max_output_tokens = 8192
prices = { input = 3, output = 15, cache_read = 0.3 }

[[models]]
id = "gemini-test"
vendor = "google"
endpoints = ["chat", "messages", "generate", "responses"]
supports_thinking = true
prices = { input = 1, output = 4 }

[[models]]
id = "embed-only"
vendor = "openai"
modality = "embedding"
endpoints = ["embeddings"]
prices = { input = 1 }

[[channels]]
name = "mock-openai"
platform = "openai"
base_url = "http://127.0.0.1:{port}/mock/openai/v1"
credential = "mock-key-1"
models = ["gpt-test", "gpt-mapped", "embed-only"]
model_mapping = { "gpt-mapped" = "upstream-model-x" }
groups = ["default"]

[[models]]
id = "gpt-flaky"
vendor = "openai"
endpoints = ["chat", "messages"]
prices = { input = 1, output = 1 }

[[channels]]
name = "mock-flaky"
platform = "openai"
base_url = "http://127.0.0.1:{port}/mock/openai/v1"
credential = "mock-key-5"
models = ["gpt-flaky"]
groups = ["default"]

[[channels]]
name = "mock-slow"
platform = "openai"
base_url = "http://127.0.0.1:{port}/mock/openai/v1"
credential = "mock-key-2"
models = ["gpt-slow"]
groups = ["default"]
first_byte_timeout = 1

[[channels]]
name = "mock-anthropic"
platform = "anthropic"
base_url = "http://127.0.0.1:{port}/mock/anthropic"
credential = "mock-key-3"
models = ["claude-only"]
groups = ["default"]

[[channels]]
name = "mock-gemini"
platform = "gemini"
base_url = "http://127.0.0.1:{port}/mock/gemini"
credential = "mock-key-4"
models = ["gemini-test"]
groups = ["default"]

[[users]]
email = "e2e@example.com"
role = "admin"
verified = true
balance_usd = 100

[[users]]
email = "poor@example.com"
verified = true
balance_usd = 0

[[keys]]
name = "e2e"
user = "e2e@example.com"
group = "default"
key = "KEY_E2E"

[[keys]]
name = "poor"
user = "poor@example.com"
group = "default"
key = "KEY_POOR"
""".replace("KEY_E2E", KEY).replace("KEY_POOR", POOR_KEY)


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir: Path = tmp_path_factory.mktemp("gw")
    gw = GatewayProcess(workdir, CONFIG)
    gw.cli("apply", str(gw.config_path))
    gw.admin_token = gw.cli(
        "create-admin-token", "--config", str(gw.config_path), "--email", "e2e@example.com"
    ).stdout.strip()
    gw.start()
    yield gw
    gw.stop()
