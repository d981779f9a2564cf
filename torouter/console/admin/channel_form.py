"""`/admin/channels/new` and `/admin/channels/{id}/edit`: a channel's fields (R9.1).

Secrets are write-only (R18.2): the credential and the extra headers are never put back into
the page, a blank field keeps what is stored, and a box clears it. A base URL or proxy that
embeds `user:password@` is shown redacted (`***@host`); sent back unchanged, it is kept.
Everything goes through `/api/admin/channels`' create and edit handlers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.admin import channels as api
from torouter.api.admin.catalog import ChannelRead
from torouter.api.admin.channels import ChannelCreate, ChannelUpdate
from torouter.console.admin.channels import PLATFORMS, load_channel
from torouter.console.admin.common import attempt, deps
from torouter.console.admin.groups import all_groups
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import admin
from torouter.console.render import page, redirect
from torouter.console.visitor import Visitor
from torouter.errors import error
from torouter.platforms import registry
from torouter.storage.repos.models import ENDPOINTS
from torouter.storage.tables import channels
from torouter.upstreams.proxy_url import redacted

__all__ = ["routes"]

TIMEOUTS = ("connect_timeout", "first_byte_timeout", "stream_idle_timeout")
NUMBERS = ("priority", "weight", "max_concurrency", *TIMEOUTS)
FIELDS = (
    "name",
    "platform",
    "base_url",
    "credential",
    "models",
    "model_mapping",
    "groups",
    *NUMBERS,
    "proxy",
    "test_model",
    "endpoints",
    "extra_headers",
    "api_version",
)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def _pairs(text: str, sep: str, param: str) -> dict[str, str]:
    """`a = b` lines (mapping) or `Name: value` lines (headers) → a dict; E16 naming the line."""
    out: dict[str, str] = {}
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        key, found, value = line.partition(sep)
        if not found or not key.strip() or not value.strip():
            raise error("E16", f"{param}[{i}]: write “name {sep} value”", param=param)
        out[key.strip()] = value.strip()
    return out


def _body(
    form: dict[str, str], *, channel: ChannelRead | None, groups: dict[int, str]
) -> dict[str, Any]:
    """The form as the API's ChannelCreate (no `channel`) or ChannelUpdate body."""
    data: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "models": _lines(form.get("models", "")),
        "model_mapping": _pairs(form.get("model_mapping", ""), "=", "model_mapping"),
        "groups": [name for gid, name in groups.items() if form.get(f"group_{gid}") == "on"],
        "test_model": form.get("test_model", "").strip() or None,
        "auto_disable": form.get("auto_disable") == "on",
        "responses_native": form.get("responses_native") == "on",
        "send_reasoning_history": form.get("send_reasoning_history") == "on",
        "endpoints": [e for e in ENDPOINTS if form.get(f"endpoint_{e}") == "on"] or None,
    }
    for name in NUMBERS:
        value = form.get(name, "").strip()
        if value:
            data[name] = value
    for name in ("base_url", "proxy"):
        value = form.get(name, "").strip()
        shown = getattr(channel, name) if channel is not None else None
        if channel is None or value != (shown or ""):
            data[name] = value or None  # an unchanged redacted URL is not sent back
    if form.get("api_version", "").strip():
        data["api_version"] = form["api_version"].strip()
    credential = form.get("credential", "")
    if credential.strip():
        data["credential"] = credential.strip()
    elif channel is not None and form.get("clear_credential") == "on":
        data["credential"] = None
    headers = form.get("extra_headers", "")
    if headers.strip():
        data["extra_headers"] = _pairs(headers, ":", "extra_headers")
    elif channel is not None and form.get("clear_extra_headers") == "on":
        data["extra_headers"] = {}
    if channel is None:
        data["platform"] = form.get("platform", "")
    return data


async def _options(request: Request, channel_id: int) -> dict[str, Any]:
    async with deps(request).api.db.connect() as conn:
        row = await conn.scalar(select(channels.c.options).where(channels.c.id == channel_id))
    return dict(row or {})


def _reasoning_history_default(platform: str) -> bool:
    """What the gateway sends when the option is unset (R5.6): the box shows it."""
    spec = registry.PLATFORMS.get(platform)
    return spec is not None and spec.reasoning_history


def _form_of(channel: ChannelRead, options: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {
        "name": channel.name,
        "platform": channel.platform,
        "base_url": channel.base_url or "",
        "proxy": channel.proxy or "",
        "models": "\n".join(channel.models),
        "model_mapping": "\n".join(f"{k} = {v}" for k, v in channel.model_mapping.items()),
        "test_model": channel.test_model or "",
        "auto_disable": "on" if channel.auto_disable else "",
        "api_version": str(options.get("api_version") or ""),
        "responses_native": "on" if options.get("responses_native") else "",
        "send_reasoning_history": "on"
        if options.get("send_reasoning_history", _reasoning_history_default(channel.platform))
        else "",
    }
    for name in NUMBERS:
        out[name] = f"{getattr(channel, name):g}"
    for gid in channel.group_ids:
        out[f"group_{gid}"] = "on"
    for e in channel.endpoints or ():
        out[f"endpoint_{e}"] = "on"
    return out


async def _form_page(
    request: Request,
    v: Visitor,
    *,
    channel: ChannelRead | None,
    form: dict[str, str],
    errors: FormErrors,
    status: int = 200,
) -> Response:
    header_names: list[str] = []
    if channel is not None:
        headers = (await _options(request, channel.id)).get("extra_headers") or {}
        header_names = sorted(headers) if isinstance(headers, dict) else []
    return page(
        request,
        v,
        "admin/channels/form.html",
        status=status,
        channel=channel,
        form=form,
        errors=errors,
        platforms=PLATFORMS,
        groups=await all_groups(request),
        endpoints=ENDPOINTS,
        header_names=header_names,
    )


def _status(errors: FormErrors) -> int:
    return 409 if errors.general and not errors.fields else 400


@admin
async def new_channel(request: Request, v: Visitor) -> Response:
    form = {
        "platform": "openai",
        "priority": "0",
        "weight": "1",
        "max_concurrency": "0",
        "connect_timeout": "10",
        "first_byte_timeout": "300",
        "stream_idle_timeout": "300",
        "auto_disable": "on",
    }
    return await _form_page(request, v, channel=None, form=form, errors=FormErrors(v.t))


@admin
async def create_channel(request: Request, v: Visitor) -> Response:
    form = await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api
    groups = {g.id: g.name for g in await all_groups(request)}

    async def create() -> ChannelRead:
        body = ChannelCreate.model_validate(_body(form, channel=None, groups=groups))
        return await api.create(body, a, v.principal)

    created = await attempt(errors, FIELDS, create)
    if created is None:
        form.pop("credential", None)  # never sent back to the page
        form.pop("extra_headers", None)
        form["proxy"] = redacted(form.get("proxy")) or ""  # nor a typed proxy password
        return await _form_page(
            request, v, channel=None, form=form, errors=errors, status=_status(errors)
        )
    return redirect(f"/admin/channels/{created.id}", notice="channel_created")


@admin
async def edit_channel(request: Request, v: Visitor) -> Response:
    channel = await load_channel(request)
    if channel is None:
        return page(request, v, "errors/not_found.html", status=404)
    form = _form_of(channel, await _options(request, channel.id))
    return await _form_page(request, v, channel=channel, form=form, errors=FormErrors(v.t))


@admin
async def update_channel(request: Request, v: Visitor) -> Response:
    channel = await load_channel(request)
    if channel is None:
        return page(request, v, "errors/not_found.html", status=404)
    form = await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api
    groups = {g.id: g.name for g in await all_groups(request)}

    async def save() -> ChannelRead:
        body = ChannelUpdate.model_validate(_body(form, channel=channel, groups=groups))
        return await api.edit(channel.id, body, a, v.principal)

    if await attempt(errors, FIELDS, save) is None:
        form.pop("credential", None)
        form.pop("extra_headers", None)
        form["proxy"] = redacted(form.get("proxy")) or ""
        form["platform"] = channel.platform
        return await _form_page(
            request, v, channel=channel, form=form, errors=errors, status=_status(errors)
        )
    return redirect(f"/admin/channels/{channel.id}", notice="channel_saved")


# Before `/admin/channels/{channel_id}` (listed first by the package).
routes = [
    Route("/admin/channels", create_channel, methods=["POST"]),
    Route("/admin/channels/new", new_channel, methods=["GET"]),
    Route("/admin/channels/{channel_id}/edit", edit_channel, methods=["GET"]),
    Route("/admin/channels/{channel_id}/edit", update_channel, methods=["POST"]),
]
