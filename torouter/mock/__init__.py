"""Mock LLM providers (OpenAI, Anthropic, Gemini) with faults and replay, for tests, benchmarks
and the demo (SPEC §19)."""

from torouter.mock.app import MockApp
from torouter.mock.config import MockConfig, load_mock_config

__all__ = ["MockApp", "MockConfig", "load_mock_config"]
