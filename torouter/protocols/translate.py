"""Which wire-format module speaks for a front door or an upstream platform (SPEC R5.2).

Each module exposes the same functions and classes: `parse_request`, `render_request`,
`parse_response`, `render_response`, `StreamDecoder`, `StreamEncoder`.
"""

from __future__ import annotations

from types import ModuleType

from torouter.protocols import anthropic, gemini, openai_chat, openai_responses

__all__ = ["FRONT", "UPSTREAM"]

FRONT: dict[str, ModuleType] = {
    "openai": openai_chat,
    "responses": openai_responses,
    "anthropic": anthropic,
    "gemini": gemini,
}
UPSTREAM: dict[str, ModuleType] = {
    "openai": openai_chat,
    "openrouter": openai_chat,
    "openai-compatible": openai_chat,
    "azure-openai": openai_chat,  # OpenAI wire; only the URL and auth header differ (R9.1)
    "anthropic": anthropic,
    "gemini": gemini,
}
