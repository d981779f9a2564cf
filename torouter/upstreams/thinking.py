"""The `-thinking` suffix on native requests: set the upstream's reasoning switch (SPEC R6.4).

Pure: a body in, a body out. A field the client set itself is never overridden. Per-model
defaults come from the model record's `thinking_defaults` (admin-editable).
"""

from __future__ import annotations

from typing import Any

__all__ = ["apply_thinking"]

DEFAULT_BUDGET = 8192


def apply_thinking(
    platform: str, body: dict[str, Any], defaults: dict[str, Any], *, responses: bool = False
) -> dict[str, Any]:
    out = dict(body)
    if platform == "anthropic":
        if "thinking" not in out:
            budget = int(defaults.get("budget_tokens", DEFAULT_BUDGET))
            out["thinking"] = {"type": "enabled", "budget_tokens": budget}
            max_tokens = out.get("max_tokens")
            if isinstance(max_tokens, int) and max_tokens <= budget:
                out["max_tokens"] = max_tokens + budget
    elif platform in ("openai", "azure-openai"):
        effort = defaults.get("effort", "high")
        if responses:
            reasoning = dict(out.get("reasoning") or {})
            reasoning.setdefault("effort", effort)
            out["reasoning"] = reasoning
        else:
            out.setdefault("reasoning_effort", effort)
    elif platform == "openrouter":
        out.setdefault("reasoning", {"effort": defaults.get("effort", "high")})
    elif platform == "gemini":
        gen = dict(out.get("generationConfig") or {})
        if "thinkingConfig" not in gen:
            level = defaults.get("thinking_level")
            cfg: dict[str, Any] = {"includeThoughts": True}
            if level:
                cfg["thinkingLevel"] = level
            else:
                cfg["thinkingBudget"] = int(defaults.get("budget_tokens", -1))
            gen["thinkingConfig"] = cfg
        out["generationConfig"] = gen
    elif platform == "openai-compatible":
        extra = defaults.get("body") or {"reasoning_effort": "high"}
        for k, v in extra.items():
            out.setdefault(k, v)
    return out
