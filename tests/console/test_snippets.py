"""Ready client settings (R15.4) with R21.1's variables and base URLs."""

from __future__ import annotations

import tomllib

from torouter.console.snippets import ModelChoice, pick_models, snippets

BASE = "https://llm.example.com/"
KEY = "sk-" + "a" * 48


def by_id() -> dict[str, str]:
    models = ModelChoice(openai="gpt-5", anthropic="claude-x", gemini="gemini-y")
    return {s.id: s.code for s in snippets(BASE, KEY, models)}


def test_every_client_of_r21_1_is_there() -> None:
    assert list(by_id()) == [
        "curl",
        "openai",
        "anthropic",
        "gemini",
        "claude-code",
        "codex",
        "gemini-cli",
    ]


def test_base_urls_and_variables() -> None:
    s = by_id()
    for code in s.values():
        assert f"export TOROUTER_KEY={KEY}" in code
        assert "llm.example.com//" not in code
    assert "curl https://llm.example.com/v1/chat/completions" in s["curl"]
    assert 'base_url="https://llm.example.com/v1"' in s["openai"]
    assert (
        'base_url="https://llm.example.com"' in s["anthropic"]
        and 'model="claude-x"' in s["anthropic"]
    )
    assert '"base_url": "https://llm.example.com"' in s["gemini"]
    assert "export ANTHROPIC_BASE_URL=https://llm.example.com\n" in s["claude-code"]
    assert "ANTHROPIC_AUTH_TOKEN=$TOROUTER_KEY" in s["claude-code"]
    assert "GEMINI_API_KEY=$TOROUTER_KEY" in s["gemini-cli"]
    assert "GOOGLE_GEMINI_BASE_URL=https://llm.example.com\n" in s["gemini-cli"]
    assert "GEMINI_CLI_TRUST_WORKSPACE=true" in s["gemini-cli"]
    assert '{"security": {"auth": {"selectedType": "gemini-api-key"}}}' in s["gemini-cli"]


def test_codex_config_is_valid_toml_with_the_provider() -> None:
    text = by_id()["codex"].split("\n", 1)[1]  # after the comment line
    config = tomllib.loads(text)
    assert config["model_provider"] == "torouter"
    provider = config["model_providers"]["torouter"]
    assert provider["base_url"] == "https://llm.example.com/v1"
    assert provider["env_key"] == "TOROUTER_KEY" and provider["wire_api"] == "responses"


def test_models_are_picked_per_vendor_else_the_first() -> None:
    picked = pick_models([("a", "deepseek"), ("c", "anthropic"), ("g", "google")])
    assert picked == ModelChoice(openai="a", anthropic="c", gemini="g")
    assert pick_models([]).openai == "gpt-5"
