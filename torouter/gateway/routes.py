"""(method, path) → front-door operation (SPEC §2, R2.1, R2.2, R3.3–R3.5). Pure.

`/api/v1…` and `/api/v1beta…` are the same as `/v1…` and `/v1beta…`. The Anthropic surface
lives under `/v1/messages`; the Gemini surface under `/v1beta/models…`, and its actions also
under `/v1/models/{model}:{action}` (google-genai 3.x).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torouter.platforms.names import FrontDoor

__all__ = [
    "GEMINI_ACTIONS",
    "MULTIPART",
    "SELF_SERVICE",
    "Route",
    "RouteSurface",
    "match",
    "surface_for_path",
]

# A route's surface: a front door, or `models`, whose answer format the headers choose (R2.2).
RouteSurface = FrontDoor | Literal["models"]

_OPENAI, _ANTHROPIC, _GEMINI = FrontDoor.OPENAI, FrontDoor.ANTHROPIC, FrontDoor.GEMINI


@dataclass(frozen=True, slots=True)
class Route:
    surface: RouteSurface
    operation: str  # chat | messages | count_tokens | generate | models_list | model_get …
    model: str | None = None  # from the path (model get, Gemini actions)
    gemini: bool = False  # a Gemini route for the query-key rule (R2.4)
    stream: bool = False  # streamGenerateContent


_EXACT: dict[tuple[str, str], Route] = {
    ("POST", "/v1/chat/completions"): Route(_OPENAI, "chat"),
    ("GET", "/v1/models"): Route("models", "models_list", gemini=True),
    ("POST", "/v1/responses"): Route(_OPENAI, "responses"),
    ("POST", "/v1/embeddings"): Route(_OPENAI, "embeddings"),
    ("POST", "/v1/images/generations"): Route(_OPENAI, "images"),
    ("POST", "/v1/images/edits"): Route(_OPENAI, "image_edits"),
    ("POST", "/v1/audio/transcriptions"): Route(_OPENAI, "audio_transcription"),
    ("POST", "/v1/audio/speech"): Route(_OPENAI, "audio_speech"),
    ("POST", "/v1/rerank"): Route(_OPENAI, "rerank"),
    ("POST", "/v1/completions"): Route(_OPENAI, "completions"),
    ("POST", "/v1/moderations"): Route(_OPENAI, "moderations"),
    ("POST", "/v1/messages"): Route(_ANTHROPIC, "messages"),
    ("POST", "/v1/messages/count_tokens"): Route(_ANTHROPIC, "count_tokens"),
    ("GET", "/v1beta/models"): Route(_GEMINI, "models_list", gemini=True),
    # Self-service with the API key (R11.6): admission steps 1–6 only.
    ("GET", "/v1/key"): Route(_OPENAI, "key_info"),
    ("GET", "/v1/dashboard/billing/subscription"): Route(_OPENAI, "billing_subscription"),
    ("GET", "/v1/dashboard/billing/usage"): Route(_OPENAI, "billing_usage"),
}

SELF_SERVICE = frozenset({"key_info", "billing_subscription", "billing_usage"})
# Operations whose body is multipart/form-data: the model comes from the `model` field (R3.1).
MULTIPART = frozenset({"image_edits", "audio_transcription"})

# Gemini action → (operation, streams)
GEMINI_ACTIONS: dict[str, tuple[str, bool]] = {
    "generateContent": ("generate", False),
    "streamGenerateContent": ("generate", True),
    "countTokens": ("gemini_count_tokens", False),
    "embedContent": ("embed_content", False),
    "batchEmbedContents": ("batch_embed_contents", False),
}

_V1_MODELS = "/v1/models/"
_V1BETA_MODELS = "/v1beta/models/"
_MODEL_PREFIXES: tuple[tuple[str, RouteSurface], ...] = (
    (_V1BETA_MODELS, _GEMINI),
    (_V1_MODELS, "models"),
)


def normalise(path: str) -> str:
    if path.startswith("/api/v1"):
        return path[4:]
    return path


def _gemini_action(rest: str) -> tuple[str, str] | None:
    """`{model}:{action}` → (model, action); the model is everything before the last `:`."""
    model, sep, action = rest.rpartition(":")
    if not sep or not model or action not in GEMINI_ACTIONS:
        return None
    return model, action


def match(method: str, path: str) -> Route | None:
    """The route for a gateway path, or None (E19 in the surface's envelope)."""
    p = normalise(path)
    r = _EXACT.get((method, p))
    if r is not None:
        return r
    for prefix, surface in _MODEL_PREFIXES:
        if not p.startswith(prefix) or len(p) == len(prefix):
            continue
        rest = p[len(prefix) :]
        if method == "POST":
            found = _gemini_action(rest)
            if found is None:
                return None
            model, action = found
            op, stream = GEMINI_ACTIONS[action]
            return Route(_GEMINI, op, model=model, gemini=True, stream=stream)
        if method == "GET" and ":" not in rest:
            return Route(surface, "model_get", model=rest, gemini=True)
        return None
    return None


def surface_for_path(path: str) -> FrontDoor:
    """The envelope for an unmatched gateway path (E19)."""
    p = normalise(path)
    if p.startswith("/v1beta") or ":" in p.rsplit("/", 1)[-1]:
        return _GEMINI
    if p.startswith("/v1/messages"):
        return _ANTHROPIC
    return _OPENAI
