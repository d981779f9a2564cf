"""The platform registry (SPEC R5.2, R9.1; issue 13 point 1): one spec per platform, the R5.2
table derived from their columns, and a codec and a URL for every allowed cell."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import get_args

import pytest

from tests.gateway.kit import channel
from torouter.gateway import routes
from torouter.platforms import gemini
from torouter.platforms.names import Codec, FrontDoor, Mode, Operation, Platform, PlatformName
from torouter.platforms.registry import (
    ENDPOINT_NAMES,
    FRONT_CODEC,
    FRONT_DOOR,
    MATRIX,
    PLATFORM_NAMES,
    PLATFORMS,
    EndpointName,
    spec_for,
)
from torouter.platforms.spec import PlatformSpec
from torouter.protocols import translate

# R5.2 (and R3.3 for completions and moderations), as it stood before the registry: the
# columns the platform files declare must add up to exactly this.
COLUMNS = ("openai", "anthropic", "gemini", "openrouter", "openai-compatible", "azure-openai")
R5_2 = """
chat                  N T T N N N
responses             N T T T T T
embeddings            N - T N N N
images                N - - - N N
image_edits           N - - - N N
audio_transcription   N - - - N N
audio_speech          N - - - N N
rerank                - - - - N -
completions           N - - - N -
moderations           N - - - N -
messages              T N T T T T
count_tokens          L N T L L L
generate              T T N T T T
gemini_count_tokens   L T N L L L
embed_content         T - N T T T
batch_embed_contents  T - N T T T
"""
CODEC_FUNCTIONS = (
    "parse_request",
    "render_request",
    "parse_response",
    "render_response",
    "StreamDecoder",
    "StreamEncoder",
)


def golden() -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = {}
    for line in R5_2.strip().splitlines():
        op, *cells = line.split()
        table[op] = {p: m for p, m in zip(COLUMNS, cells, strict=True) if m != "-"}
    return table


def test_the_columns_add_up_to_r5_2() -> None:
    derived = {op: {p: str(m) for p, m in row.items()} for op, row in MATRIX.items()}
    assert derived == golden()


def test_one_spec_per_platform_in_display_order() -> None:
    assert PLATFORM_NAMES == COLUMNS == tuple(p.value for p in Platform)
    for name, spec in PLATFORMS.items():
        assert spec.platform == name and spec_for(name) is spec
        assert set(spec.modes) <= set(Operation)
    # The admin API and provisioning validate platform names by this Literal.
    assert get_args(PlatformName) == PLATFORM_NAMES


def test_endpoint_names_are_the_operation_families() -> None:
    """A model's `endpoints` (R6.3) name operation families, in the order forms list them;
    the admin API and provisioning validate by this Literal."""
    assert ENDPOINT_NAMES == (
        "chat",
        "responses",
        "messages",
        "generate",
        "embeddings",
        "images",
        "audio_transcription",
        "audio_speech",
        "rerank",
        "completions",
        "moderations",
    )
    assert get_args(EndpointName) == ENDPOINT_NAMES


def test_every_operation_has_a_front_door_with_a_codec() -> None:
    assert set(FRONT_DOOR) == set(Operation)
    assert set(FRONT_CODEC) == set(FrontDoor)
    assert set(translate.CODECS) == set(Codec)
    for module in translate.CODECS.values():
        missing = [f for f in CODEC_FUNCTIONS if not hasattr(module, f)]
        assert not missing, (module.__name__, missing)


def test_every_relayed_route_is_a_registered_operation() -> None:
    """A front door added to `gateway/routes.py` needs its operation in the registry."""
    local = {"models_list", "model_get"} | routes.SELF_SERVICE
    relayed = {r.operation for r in routes._EXACT.values()} - local
    relayed |= {op for op, _stream in routes.GEMINI_ACTIONS.values()}
    assert relayed == set(Operation)


def cell_problems(spec: PlatformSpec) -> list[str]:
    """What an allowed (front door × platform × operation) cell of `spec` lacks: a codec for
    a translated cell, an absolute URL and the credential in the headers for any."""
    problems = []
    ch = channel(spec.platform, options={})
    for op, mode in spec.modes.items():
        if mode is Mode.LOCAL:
            continue
        front = FRONT_DOOR[op]
        if translate.FRONT.get(front) is None:
            problems.append(f"{op}: no codec for front door {front}")
        if mode is Mode.TRANSLATED and translate.CODECS.get(spec.codec) is None:
            problems.append(f"{op}: no codec {spec.codec}")
        for stream in (False, True):
            try:
                url = spec.url(ch, op, "m", native=mode is Mode.NATIVE, stream=stream, query="")
            except (KeyError, ValueError) as exc:
                problems.append(f"{op}: no URL ({exc!r})")
                continue
            if not url.startswith("http://upstream.test/"):
                problems.append(f"{op}: URL {url}")
        headers = spec.headers(ch, "req_1")
        if not any("secret-key" in v for v in headers.values()):
            problems.append(f"{op}: no credential in the headers")
    return problems


@pytest.mark.parametrize("platform", COLUMNS)
def test_every_allowed_cell_has_a_codec_and_a_url(platform: str) -> None:
    assert cell_problems(spec_for(platform)) == []


def test_a_cell_without_a_url_is_caught() -> None:
    """The check above fails for a platform that claims an operation it has no URL for."""
    images = {**gemini.PLATFORM.modes, Operation.IMAGES: Mode.NATIVE}
    broken = dataclasses.replace(gemini.PLATFORM, modes=images)
    assert (
        cell_problems(broken)
        == ["images: no URL (ValueError(\"no Gemini action for operation 'images'\"))"] * 2
    )
    openai = spec_for("openai")
    rerank = dataclasses.replace(openai, modes={**openai.modes, Operation.RERANK: Mode.NATIVE})
    assert cell_problems(rerank) == []  # OpenAI wire has a /rerank path


@pytest.mark.parametrize(
    ("platform", "url", "auth"),
    [
        ("openai", "http://upstream.test/v1/chat/completions", "Authorization"),
        ("openrouter", "http://upstream.test/v1/chat/completions", "Authorization"),
        ("openai-compatible", "http://upstream.test/v1/chat/completions", "Authorization"),
        (
            "azure-openai",
            "http://upstream.test/openai/deployments/m/chat/completions?api-version=2024-10-21",
            "api-key",
        ),
        ("anthropic", "http://upstream.test/v1/messages", "x-api-key"),
        ("gemini", "http://upstream.test/v1beta/models/m:generateContent", "x-goog-api-key"),
    ],
)
def test_the_probe_is_a_native_one_token_request(platform: str, url: str, auth: str) -> None:
    spec = spec_for(platform)
    ch = channel(platform)
    assert spec.url(ch, spec.probe_operation, "m", native=True, stream=False) == url
    assert spec.headers(ch, "probe")[auth].endswith("secret-key")
    body = spec.probe_body("m")
    limit = body.get("max_tokens") or body["generationConfig"]["maxOutputTokens"]
    assert limit == 1


@pytest.mark.parametrize("platform", COLUMNS)
def test_thinking_rules_never_override_the_client(platform: str) -> None:
    """R6.4: the switch is added once; a body that already carries it is left alone."""
    rule = spec_for(platform).thinking
    once = rule({"model": "m", "max_tokens": 10}, {}, False)
    assert once != {"model": "m", "max_tokens": 10}
    assert rule(once, {"effort": "low", "budget_tokens": 1}, False) == once


def test_the_package_is_a_leaf() -> None:
    """`platforms/` imports nothing else from torouter, so every layer may import it."""
    root = Path(__file__).parents[2] / "torouter" / "platforms"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.startswith("torouter"):
                    assert name.startswith("torouter.platforms"), (path.name, name)
