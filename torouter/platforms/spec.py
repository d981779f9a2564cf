"""What the gateway knows about one upstream platform, in one frozen record (R5.2, R9.1, R6.4).

A platform file builds one `PlatformSpec`; `registry.py` lists them. The matrix, the exchange,
the translated render, the probe and the model tools read from here instead of branching on a
platform's name: its column of the R5.2 matrix, the codec that translates to it, its URLs and
auth headers, its probe request and its reasoning switch. Pure: builders take the channel and
return values, nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from torouter.platforms.names import Codec, Mode, Operation, Platform, Wire

__all__ = [
    "JSON",
    "Channel",
    "HeaderBuilder",
    "ModelsUrl",
    "PlatformSpec",
    "ThinkingRule",
    "UrlBuilder",
    "add_extra_headers",
]

JSON = "application/json"


class Channel(Protocol):
    """The channel fields the builders read (a `snapshot.ChannelRec` has them)."""

    @property
    def platform(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def credential(self) -> str: ...
    @property
    def options(self) -> dict[str, Any]: ...


class UrlBuilder(Protocol):
    """The upstream URL of one exchange. `model` is the upstream model id (Azure: the
    deployment); `native` exchanges use the operation's own endpoint, translated ones the
    platform's generation endpoint; `query` is the client's query string, forwarded only where
    the platform's API reads one."""

    def __call__(
        self,
        ch: Channel,
        operation: str,
        model: str,
        *,
        native: bool,
        stream: bool,
        query: str = "",
    ) -> str: ...


class HeaderBuilder(Protocol):
    """Auth, content type and the forwarded client headers (`client` on native exchanges only,
    R5.3), then the channel's `extra_headers` option."""

    def __call__(
        self,
        ch: Channel,
        request_id: str,
        client: Mapping[bytes, bytes] | None = None,
        content_type: str = JSON,
    ) -> dict[str, str]: ...


class ModelsUrl(Protocol):
    """One page of the upstream's model list (`cursor`: the page after, None for the first)."""

    def __call__(self, ch: Channel, cursor: str | None = None) -> str: ...


# (body, the model's `thinking_defaults`, the body is a Responses request) → the body with the
# platform's reasoning switch set; fields the client set are never overridden (R6.4).
ThinkingRule = Callable[[dict[str, Any], Mapping[str, Any], bool], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    platform: Platform
    wire: Wire
    codec: Codec  # translates the internal request to this platform and its answers back
    modes: Mapping[Operation, Mode]  # this platform's column of the R5.2 matrix
    url: UrlBuilder
    headers: HeaderBuilder
    models_url: ModelsUrl
    probe_operation: Operation  # the probe is a native one-token request of this operation
    probe_body: Callable[[str], dict[str, Any]]  # upstream model id → the probe's body
    thinking: ThinkingRule
    # The dialect `protocols/openai_chat.py` renders for (output-limit field, `top_k`,
    # `cache_control`, reasoning switch); the platform's own name on other wires.
    dialect: str
    base_url_required: bool = False  # no default host: a channel must name one
    reasoning_history: bool = False  # default of the `send_reasoning_history` option (R5.6)
    # Channel option that makes a translated operation native (`responses_native`, R9.1).
    native_options: Mapping[Operation, str] = field(default_factory=dict)
    native_drop: tuple[str, ...] = ()  # body fields a native exchange removes (OpenRouter's)
    stores_responses: bool = False  # keeps Responses for `previous_response_id` (R3.3)


def add_extra_headers(headers: dict[str, str], ch: Channel) -> dict[str, str]:
    """The channel's `extra_headers` option, applied last so an admin can override anything."""
    extra = ch.options.get("extra_headers")
    if isinstance(extra, dict):
        headers.update({str(k): str(v) for k, v in extra.items()})
    return headers
