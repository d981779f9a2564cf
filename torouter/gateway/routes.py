"""(method, path) → front-door operation (SPEC §2, R2.1, R2.2). Pure; built once at import.

`/api/v1…` and `/api/v1beta…` are the same as `/v1…` and `/v1beta…`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Route", "match"]


@dataclass(frozen=True, slots=True)
class Route:
    surface: str  # openai | anthropic | gemini | models (format chosen by headers, R2.2)
    operation: str  # chat | models_list | model_get | key_info …
    model: str | None = None  # from the path (model get, Gemini actions)
    gemini: bool = False  # a Gemini route for the query-key rule (R2.4)


_EXACT: dict[tuple[str, str], Route] = {
    ("POST", "/v1/chat/completions"): Route("openai", "chat"),
    ("GET", "/v1/models"): Route("models", "models_list", gemini=True),
}

_MODELS_PREFIX = "/v1/models/"


def normalise(path: str) -> str:
    if path.startswith("/api/v1"):
        return path[4:]
    return path


def match(method: str, path: str) -> Route | None:
    """The route for a gateway path, or None (E19 in the surface's envelope)."""
    p = normalise(path)
    r = _EXACT.get((method, p))
    if r is not None:
        return r
    if p.startswith(_MODELS_PREFIX) and len(p) > len(_MODELS_PREFIX):
        if method == "GET":
            return Route("models", "model_get", model=p[len(_MODELS_PREFIX) :], gemini=True)
    return None


def surface_for_path(path: str) -> str:
    """The envelope for an unmatched gateway path (E19)."""
    p = normalise(path)
    if p.startswith("/v1beta") or ":" in p.rsplit("/", 1)[-1]:
        return "gemini"
    if p.startswith("/v1/messages"):
        return "anthropic"
    return "openai"
