"""A channel's models against what its upstream lists (`GET …/models`), ToRouter extension.

    fetch_upstream_models(http, ch) → the upstream's model ids (or raises UpstreamListError)
    compare(ch_models, mapping, upstream) → ModelDiff: what the upstream offers that the channel
        does not serve (candidate additions) and what the channel serves that the upstream no
        longer lists (candidate removals)

A channel model is matched by its upstream id (its mapping, else the id itself, R6.2), so a
mapped model is not reported missing. The list formats: OpenAI `{"data": [{"id"}]}`,
Anthropic the same with `has_more`/`last_id` pages, Gemini `{"models": [{"name":
"models/x"}]}` with `nextPageToken`. At most `MAX_PAGES` pages are read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from torouter.platforms.names import Wire
from torouter.platforms.registry import spec_for
from torouter.records import ChannelRec, Snapshot
from torouter.upstreams.egress import transport_for
from torouter.upstreams.transport import UpstreamFailure, UpstreamTransport

__all__ = [
    "ModelDiff",
    "UpstreamListError",
    "compare",
    "fetch_upstream_models",
    "list_url",
    "parse_page",
    "upstream_ids",
]

MAX_PAGES = 20
MAX_BODY = 8 * 1024 * 1024


class UpstreamListError(Exception):
    """The upstream did not give a model list: the message says why (status or error)."""


@dataclass(frozen=True, slots=True)
class ModelDiff:
    upstream: tuple[str, ...]  # every id the upstream lists, sorted
    additions: tuple[str, ...]  # listed upstream, not served by the channel
    removals: tuple[str, ...]  # served by the channel (public ids), not listed upstream
    kept: tuple[str, ...]  # served and listed (public ids)


def list_url(ch: ChannelRec, cursor: str | None = None) -> str:
    """The URL of one page of the upstream's model list. Pure."""
    return spec_for(ch.platform).models_url(ch, cursor)


def _headers(ch: ChannelRec) -> dict[str, str]:
    return spec_for(ch.platform).headers(ch, "models")


def parse_page(platform: str, body: Any) -> tuple[list[str], str | None]:
    """(model ids, cursor of the next page or None) of one page, in the platform's wire
    format. Pure."""
    if not isinstance(body, dict):
        raise UpstreamListError("the answer is not a JSON object")
    wire = spec_for(platform).wire
    if wire is Wire.GEMINI:
        items = body.get("models") or []
        ids = [str(m["name"]).removeprefix("models/") for m in items if isinstance(m, dict)]
        token = body.get("nextPageToken")
        return ids, str(token) if token else None
    items = body.get("data")
    if not isinstance(items, list):
        raise UpstreamListError("the answer has no model list")
    ids = [str(m["id"]) for m in items if isinstance(m, dict) and "id" in m]
    if wire is Wire.ANTHROPIC and body.get("has_more") and body.get("last_id"):
        return ids, str(body["last_id"])
    return ids, None


async def fetch_upstream_models(http: UpstreamTransport, ch: ChannelRec) -> list[str]:
    found: list[str] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        try:
            resp = await transport_for(http, ch.proxy).send(
                "GET",
                list_url(ch, cursor),
                headers=_headers(ch),
                connect_s=ch.connect_timeout,
                total_s=30,
            )
            try:
                raw = await resp.read(MAX_BODY)
            finally:
                resp.close()
        except UpstreamFailure as exc:
            raise UpstreamListError(str(exc)) from exc
        if resp.status != 200:
            detail = raw.decode("utf-8", "replace").strip()[:200]
            if ch.credential:  # some providers echo the key they refuse
                detail = detail.replace(ch.credential, "***")
            raise UpstreamListError(f"HTTP {resp.status}: {detail}")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamListError("the answer is not JSON") from None
        ids, cursor = parse_page(ch.platform, body)
        found.extend(ids)
        if cursor is None:
            break
    return found


def compare(
    channel_models: Iterable[str], mapping: Mapping[str, str], upstream: Iterable[str]
) -> ModelDiff:
    """Pure: which listed ids the channel lacks, which served ids are no longer listed."""
    listed = sorted(set(upstream))
    listed_set = set(listed)
    served = sorted(set(channel_models))
    served_upstream = {mapping.get(m) or m for m in served}
    additions = tuple(u for u in listed if u not in served_upstream and u not in served)
    removals = tuple(m for m in served if (mapping.get(m) or m) not in listed_set)
    kept = tuple(m for m in served if (mapping.get(m) or m) in listed_set)
    return ModelDiff(tuple(listed), additions, removals, kept)


def upstream_ids(snapshot: Snapshot, ch: ChannelRec) -> dict[str, str]:
    """Each public model of the channel → the id its upstream knows it by (R6.2)."""
    out = {}
    for model in ch.models:
        rec = snapshot.models.get(model)
        out[model] = ch.upstream_model(model, rec.vendor if rec is not None else "")
    return out
