"""Usage normalisation (SPEC R10.2), on tables and on the recorded providers' usage blocks."""

import pytest

from tests.recorded import recorded_cases
from torouter.protocols.internal import Usage
from torouter.protocols.usage import from_anthropic, from_gemini, from_openai


@pytest.mark.parametrize(
    ("block", "openrouter", "expected"),
    [
        ({"prompt_tokens": 10, "completion_tokens": 5}, False, Usage(input=10, output=5)),
        (
            {
                "prompt_tokens": 4020,
                "completion_tokens": 4,
                "total_tokens": 4024,
                "prompt_tokens_details": {"cached_tokens": 4012},
            },
            False,
            Usage(input=8, cache_read=4012, output=4),
        ),
        # DeepSeek: prompt_cache_hit_tokens when cached_tokens is absent
        (
            {"prompt_tokens": 100, "completion_tokens": 1, "prompt_cache_hit_tokens": 60},
            False,
            Usage(input=40, cache_read=60, output=1),
        ),
        # xAI: reasoning outside completion_tokens, recovered from total_tokens
        (
            {
                "prompt_tokens": 307,
                "completion_tokens": 26,
                "total_tokens": 588,
                "prompt_tokens_details": {"cached_tokens": 244},
                "completion_tokens_details": {"reasoning_tokens": 255},
            },
            False,
            Usage(input=63, cache_read=244, output=281, reasoning=255),
        ),
        # OpenRouter cache writes → cache_write_5m
        (
            {
                "prompt_tokens": 3329,
                "completion_tokens": 53,
                "total_tokens": 3382,
                "prompt_tokens_details": {"cached_tokens": 3211, "cache_write_tokens": 115},
            },
            True,
            Usage(input=3, cache_read=3211, cache_write_5m=115, output=53),
        ),
        # Responses API names
        (
            {
                "input_tokens": 50,
                "output_tokens": 20,
                "input_tokens_details": {"cached_tokens": 10},
                "output_tokens_details": {"reasoning_tokens": 12},
            },
            False,
            Usage(input=40, cache_read=10, output=20, reasoning=12),
        ),
    ],
)
def test_openai_table(block: dict, openrouter: bool, expected: Usage) -> None:
    assert from_openai(block, openrouter=openrouter) == expected


def test_anthropic_cache_split_and_fallback() -> None:
    block = {
        "input_tokens": 3,
        "output_tokens": 33,
        "cache_read_input_tokens": 1111,
        "cache_creation_input_tokens": 418,
        "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 18},
    }
    assert from_anthropic(block) == Usage(
        input=3, cache_read=1111, cache_write_5m=400, cache_write_1h=18, output=33
    )
    legacy = {"input_tokens": 3, "output_tokens": 1, "cache_creation_input_tokens": 418}
    assert from_anthropic(legacy).cache_write_5m == 418


def test_gemini_thoughts_and_cache() -> None:
    block = {
        "promptTokenCount": 17713,
        "cachedContentTokenCount": 17379,
        "candidatesTokenCount": 68,
        "thoughtsTokenCount": 821,
        "toolUsePromptTokenCount": 5,
    }
    assert from_gemini(block) == Usage(input=339, cache_read=17379, output=889, reasoning=821)


def _usage_blocks(case: dict) -> list[dict]:
    body = case["response"].get("body")
    if isinstance(body, dict):
        u = body.get("usage") or body.get("usageMetadata")
        return [u] if isinstance(u, dict) else []
    return []


@pytest.mark.parametrize("case", recorded_cases(stream=False))
def test_recorded_usage_blocks_normalise_consistently(case: dict) -> None:
    """Every recorded usage block: no negative counts; totals match the provider's own."""
    for block in _usage_blocks(case):
        if "usage" in (case["response"].get("body") or {}) and case["provider"] == "anthropic":
            u = from_anthropic(block)
            raw_in = block.get("input_tokens", 0)
            assert u.input == raw_in
        elif "promptTokenCount" in block or "candidatesTokenCount" in block:
            u = from_gemini(block)
            total = block.get("totalTokenCount")
            if total is not None and "toolUsePromptTokenCount" not in block:
                assert u.total_tokens == total
        else:
            u = from_openai(block, openrouter="openrouter" in case["id"])
            total = block.get("total_tokens")
            if total is not None:
                assert u.total_tokens == max(total, u.total_tokens)
        assert min(u.input, u.cache_read, u.cache_write_5m, u.output, u.reasoning) >= 0
        assert u.reasoning <= u.output
