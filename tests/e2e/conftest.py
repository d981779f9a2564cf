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

# Issue 9: the Responses API on an openai-compatible channel, embeddings, images, audio,
# rerank, completions and moderations, in their own group (key MEDIA_KEY, same user).
MEDIA_KEY = "sk-e2eMediaKey000000000000000000000000000000000000C"
assert len(MEDIA_KEY) == 51
MOCK_OPENAI = "http://127.0.0.1:{port}/mock/openai/v1"
# Each operation's 5xx test gets its own model on two channels of its own, so the failures it
# provokes never cool a channel another test uses (R9.6).
FLAKY_OPS = {
    "responses": ("openai", "responses"),
    "embeddings": ("openai", "embeddings"),
    "images": ("openai", "images"),
    "image_edits": ("openai", "images"),
    "audio_transcription": ("openai", "audio_transcription"),
    "audio_speech": ("openai", "audio_speech"),
    "rerank": ("openai-compatible", "rerank"),
}


def _flaky(op: str, platform: str, endpoint: str) -> str:
    model = "flaky-" + op.replace("_", "-")
    chans = "".join(
        f"""
[[channels]]
name = "{model}-{n}"
platform = "{platform}"
base_url = "{MOCK_OPENAI}"
credential = "mock-key-flaky-{n}"
models = ["{model}"]
groups = ["media"]
"""
        for n in (1, 2)
    )
    return f"""
[[models]]
id = "{model}"
vendor = "openai"
endpoints = ["{endpoint}"]
prices = {{ input = 1, output = 1 }}
{chans}"""


MEDIA_MODELS = [
    "compat-test",
    "text-embed",
    "google-embed",
    "img-gpt",
    "img-dalle",
    "whisper-test",
    "transcribe-tokens",
    "tts-test",
    "rerank-test",
    "legacy-test",
    "split-test",
    "whisper-replay",
    "gpt-test",
    "claude-only",
    "gemini-test",
] + ["flaky-" + op.replace("_", "-") for op in FLAKY_OPS]

CONFIG += f"""
[[groups]]
name = "media"
billing_type = "balance"
price_multiplier = 1
models = {MEDIA_MODELS!r}

[[models]]
id = "compat-test"
vendor = "openai"
endpoints = ["chat", "responses"]
prices = {{ input = 2, output = 10 }}

[[models]]
id = "text-embed"
vendor = "openai"
modality = "embedding"
endpoints = ["embeddings"]
prices = {{ input = 0.02 }}

[[models]]
id = "google-embed"
vendor = "google"
modality = "embedding"
endpoints = ["embeddings"]
prices = {{ input = 0.15 }}

[[models]]
id = "img-gpt"
vendor = "openai"
modality = "image"
endpoints = ["images"]
prices = {{ input = 5, output = 40, per_image = 0.04 }}

[[models]]
id = "img-dalle"
vendor = "openai"
modality = "image"
endpoints = ["images"]
prices = {{ per_image = 0.02 }}

[[models]]
id = "whisper-test"
vendor = "openai"
modality = "audio"
endpoints = ["audio_transcription"]
prices = {{ per_audio_minute = 0.006, per_request = 0.001 }}

[[models]]
id = "transcribe-tokens"
vendor = "openai"
modality = "audio"
endpoints = ["audio_transcription"]
prices = {{ input = 2.5, output = 10 }}

[[models]]
id = "tts-test"
vendor = "openai"
modality = "audio"
endpoints = ["audio_speech"]
prices = {{ per_1m_characters = 15 }}

[[models]]
id = "rerank-test"
vendor = "jina"
modality = "rerank"
endpoints = ["rerank"]
prices = {{ input = 0.05, per_request = 0.002 }}

[[models]]
id = "legacy-test"
vendor = "openai"
endpoints = ["completions", "moderations"]
prices = {{ input = 1.5, output = 2 }}

[[models]]
id = "split-test"
vendor = "openai"
endpoints = ["chat", "embeddings"]
prices = {{ input = 1, output = 1 }}

[[channels]]
name = "mock-compat"
platform = "openai-compatible"
base_url = "{MOCK_OPENAI}"
credential = "mock-key-7"
models = ["compat-test", "rerank-test"]
groups = ["media"]

[[channels]]
name = "mock-media"
platform = "openai"
base_url = "{MOCK_OPENAI}"
credential = "mock-key-6"
models = [
    "text-embed", "img-gpt", "img-dalle", "whisper-test", "transcribe-tokens", "tts-test",
    "legacy-test", "gpt-test",
]
model_mapping = {{ "text-embed" = "text-embedding-3-small", "img-gpt" = "gpt-image-1", \
"img-dalle" = "dall-e-2", "whisper-test" = "whisper-1", "transcribe-tokens" = \
"gpt-4o-transcribe", "tts-test" = "tts-1", "legacy-test" = "gpt-3.5-turbo-instruct" }}
groups = ["media"]

[[channels]]
name = "mock-gemini-embed"
platform = "gemini"
base_url = "http://127.0.0.1:{{port}}/mock/gemini"
credential = "mock-key-8"
models = ["google-embed", "gemini-test"]
model_mapping = {{ "google-embed" = "gemini-embedding-001" }}
groups = ["media"]

[[channels]]
name = "mock-media-anthropic"
platform = "anthropic"
base_url = "http://127.0.0.1:{{port}}/mock/anthropic"
credential = "mock-key-9"
models = ["claude-only"]
groups = ["media"]

# R9.3: an upload is replayed on failover (the first channel refuses connections).
[[models]]
id = "whisper-replay"
vendor = "openai"
modality = "audio"
endpoints = ["audio_transcription"]
prices = {{ per_audio_minute = 0.006 }}

[[channels]]
name = "dead-replay"
platform = "openai"
base_url = "http://127.0.0.1:9/v1"
credential = "mock-key-12"
models = ["whisper-replay"]
groups = ["media"]
priority = 0

[[channels]]
name = "mock-replay"
platform = "openai"
base_url = "{MOCK_OPENAI}"
credential = "mock-key-13"
models = ["whisper-replay"]
model_mapping = {{ "whisper-replay" = "whisper-1" }}
groups = ["media"]
priority = 1

# R9.2: each operation only reaches channels whose `endpoints` allow it.
[[channels]]
name = "split-chat"
platform = "openai"
base_url = "{MOCK_OPENAI}"
credential = "mock-key-10"
models = ["split-test"]
groups = ["media"]
endpoints = ["chat"]

[[channels]]
name = "split-embed"
platform = "openai"
base_url = "{MOCK_OPENAI}"
credential = "mock-key-11"
models = ["split-test"]
groups = ["media"]
endpoints = ["embeddings"]

[[keys]]
name = "media"
user = "e2e@example.com"
group = "media"
key = "{MEDIA_KEY}"
""" + "".join(_flaky(op, *spec) for op, spec in FLAKY_OPS.items())


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
