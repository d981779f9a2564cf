"""Usage normalisation (SPEC R10.2), on tables and on the recorded providers' usage blocks."""

import pytest

from tests.recorded import recorded_cases
from torouter.protocols.internal import Usage
from torouter.protocols.usage import from_anthropic, from_gemini, from_openai, merge_anthropic


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"prompt_tokens": 10, "completion_tokens": 5}, Usage(input=10, output=5)),
        (
            {
                "prompt_tokens": 4020,
                "completion_tokens": 4,
                "total_tokens": 4024,
                "prompt_tokens_details": {"cached_tokens": 4012},
            },
            Usage(input=8, cache_read=4012, output=4),
        ),
        # DeepSeek: prompt_cache_hit_tokens when cached_tokens is absent
        (
            {"prompt_tokens": 100, "completion_tokens": 1, "prompt_cache_hit_tokens": 60},
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
            Usage(input=40, cache_read=10, output=20, reasoning=12),
        ),
    ],
)
def test_openai_table(block: dict, expected: Usage) -> None:
    assert from_openai(block) == expected


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


START_1H = {
    "input_tokens": 3,
    "cache_creation_input_tokens": 2500,
    "cache_read_input_tokens": 0,
    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 2500},
    "output_tokens": 1,
}
START_MIXED = {
    **START_1H,
    "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 2000},
}


@pytest.mark.parametrize(
    ("start", "delta", "expected"),
    [
        # message_delta repeats the totals without the breakdown: the breakdown stands (the
        # native relay used to count the 1h writes a second time as 5m writes).
        (
            START_1H,
            {"input_tokens": 3, "cache_creation_input_tokens": 2500, "output_tokens": 40},
            Usage(input=3, cache_write_1h=2500, output=40),
        ),
        # The final counts win: more input and cache writes than message_start announced
        # (server tools); the 1h part stays, the rest is 5m.
        (
            START_MIXED,
            {
                "input_tokens": 9,
                "cache_creation_input_tokens": 3100,
                "cache_read_input_tokens": 50,
                "output_tokens": 40,
            },
            Usage(input=9, cache_read=50, cache_write_5m=1100, cache_write_1h=2000, output=40),
        ),
        # Fewer writes than the 1h part: capped at the new total.
        (
            START_1H,
            {"cache_creation_input_tokens": 100, "output_tokens": 2},
            Usage(input=3, cache_write_1h=100, output=2),
        ),
        # A breakdown in the later block wins whole.
        (
            START_MIXED,
            {"cache_creation": {"ephemeral_5m_input_tokens": 7, "ephemeral_1h_input_tokens": 0}},
            Usage(input=3, cache_write_5m=7, output=1),
        ),
        # Nulls and missing fields keep the earlier counts (only output_tokens changes).
        (
            START_MIXED,
            {
                "input_tokens": None,
                "cache_creation_input_tokens": None,
                "cache_read_input_tokens": None,
                "output_tokens": 12,
            },
            Usage(input=3, cache_write_5m=500, cache_write_1h=2000, output=12),
        ),
    ],
)
def test_anthropic_final_counts_win(start: dict, delta: dict, expected: Usage) -> None:
    """R10.2: `message_delta` carries the cumulative counts; both routes merge with this."""
    first = merge_anthropic(None, start)
    assert first == from_anthropic(start)
    assert merge_anthropic(first, delta) == expected


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
            u = from_openai(block)
            total = block.get("total_tokens")
            if total is not None:
                assert u.total_tokens == max(total, u.total_tokens)
        assert min(u.input, u.cache_read, u.cache_write_5m, u.output, u.reasoning) >= 0
        assert u.reasoning <= u.output


def test_counts_that_are_not_json_integers() -> None:
    """Integers pass as they are; floats are truncated; booleans, strings and null count 0."""
    u = from_openai(
        {
            "prompt_tokens": 12,
            "completion_tokens": 7.9,
            "prompt_tokens_details": {"cached_tokens": True},
            "completion_tokens_details": {"reasoning_tokens": "5"},
        }
    )
    assert (u.input, u.cache_read, u.output, u.reasoning) == (12, 0, 7, 0)
    assert from_openai({"prompt_tokens": None, "completion_tokens": False}).output == 0
