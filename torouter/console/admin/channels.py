"""`/admin/channels`: every upstream account with its health (R9.1, R9.9) — status, per-model
cooldowns and their end, consecutive failures, success rate, p50/p95 latency and time to first
token over 5 min and 1 h, the last error and probe, why it was auto-disabled — and the
actions: Test, enable/disable, priority and weight edited in the list, delete.

Health is this node's view (the health book the relay records into), mirrored from the
other nodes when scaled out. Every action is a `/api/admin/channels` handler.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torouter.api.admin import catalog as catalog_api
from torouter.api.admin import channels as api
from torouter.api.admin.catalog import ChannelRead
from torouter.api.admin.channels import ChannelUpdate
from torouter.api.pagination import PageParams
from torouter.console.admin.common import (
    attempt,
    confirm_delete_page,
    deps,
    page_params,
    path_id,
    query_choice,
)
from torouter.console.admin.groups import all_groups
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import Endpoint, admin
from torouter.console.render import page, redirect
from torouter.console.visitor import Visitor
from torouter.errors import GatewayError
from torouter.platforms.registry import PLATFORM_NAMES

__all__ = ["PLATFORMS", "health_of", "load_channel", "routes"]

PLATFORMS = PLATFORM_NAMES
STATUSES = ("enabled", "disabled", "auto_disabled")


def _when(seconds: float | None) -> dt.datetime | None:
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


def health_of(request: Request, channel_id: int) -> dict[str, Any] | None:
    """This node's health view of the channel (R9.9) with times as datetimes; None when the
    gateway's health book is not running (the management API served alone)."""
    a = deps(request).api
    rec = a.snapshot.current.channels.get(channel_id)
    if a.health is None or rec is None:
        return None
    view: dict[str, Any] = dict(a.health.view(rec))
    now = a.health.clock()
    view["cooldowns"] = sorted(
        (
            {
                "model": cd["model"],
                "reason": cd["reason"],
                "until": _when(cd["until"]),
                "left_s": max(0, int(cd["until"] - now)),
            }
            for cd in view["cooldowns"]
        ),
        key=lambda cd: cd["until"],
    )
    view["last_error_at"] = _when(view.get("last_error_at"))
    probe = view.get("last_probe")
    if probe is not None:
        view["last_probe"] = {**probe, "at": _when(probe["at"])}
    return view


async def load_channel(request: Request) -> ChannelRead | None:
    channel_id = path_id(request, "channel_id")
    if channel_id is None:
        return None
    try:
        return await api.get_channel(channel_id, deps(request).api)
    except GatewayError:
        return None


def _not_found(request: Request, v: Visitor) -> Response:
    return page(request, v, "errors/not_found.html", status=404)


async def _groups_by_id(request: Request) -> dict[int, str]:
    return {g.id: g.name for g in await all_groups(request)}


@admin
async def list_channels(request: Request, v: Visitor) -> Response:
    platform = query_choice(request, "platform", PLATFORMS)
    status = query_choice(request, "status", STATUSES)
    found = await catalog_api.list_channels(
        deps(request).api, page_params(request, 50), platform=platform, status=status
    )
    return page(
        request,
        v,
        "admin/channels/list.html",
        channels=found,
        health={c.id: health_of(request, c.id) for c in found.data},
        platforms=PLATFORMS,
        statuses=STATUSES,
        filters={"platform": platform or "", "status": status or ""},
        errors=FormErrors(v.t),
    )


async def render_channel(
    request: Request,
    v: Visitor,
    channel: ChannelRead,
    *,
    status: int = 200,
    test: dict[str, Any] | None = None,
    errors: FormErrors | None = None,
) -> Response:
    return page(
        request,
        v,
        "admin/channels/detail.html",
        status=status,
        channel=channel,
        health=health_of(request, channel.id),
        groups=await _groups_by_id(request),
        test=test,
        errors=errors or FormErrors(v.t),
    )


@admin
async def channel_detail(request: Request, v: Visitor) -> Response:
    channel = await load_channel(request)
    if channel is None:
        return _not_found(request, v)
    return await render_channel(request, v, channel)


@admin
async def test_channel(request: Request, v: Visitor) -> Response:
    """R9.9 Test: one unbilled request; the result is shown on the channel's page."""
    channel = await load_channel(request)
    if channel is None:
        return _not_found(request, v)
    await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api
    result = await attempt(errors, (), lambda: api.test(channel.id, a, v.principal))
    return await render_channel(
        request, v, channel, test=result, errors=errors, status=200 if result else 503
    )


def _set_status(enable: bool) -> Endpoint:
    @admin
    async def endpoint(request: Request, v: Visitor) -> Response:
        channel = await load_channel(request)
        if channel is None:
            return _not_found(request, v)
        form = await read_form(request, v)
        a = deps(request).api
        errors = FormErrors(v.t)
        handler = api.enable if enable else api.disable
        if await attempt(errors, (), lambda: handler(channel.id, a, v.principal)) is None:
            return await render_channel(request, v, channel, errors=errors, status=409)
        back = "/admin/channels" if form.get("back") == "list" else f"/admin/channels/{channel.id}"
        return redirect(back, notice="channel_enabled" if enable else "channel_disabled")

    endpoint.__name__ = "enable_channel" if enable else "disable_channel"
    return endpoint


@admin
async def set_routing(request: Request, v: Visitor) -> Response:
    """Priority and weight, edited in the list (R9.1)."""
    channel = await load_channel(request)
    if channel is None:
        return _not_found(request, v)
    form = await read_form(request, v)
    a = deps(request).api
    errors = FormErrors(v.t)
    fields = ("priority", "weight")

    async def save() -> ChannelRead:
        values = {name: form.get(name, "").strip() for name in fields}
        return await api.edit(channel.id, ChannelUpdate.model_validate(values), a, v.principal)

    if await attempt(errors, fields, save) is None:
        found = await catalog_api.list_channels(a, PageParams(1, 50), platform=None, status=None)
        return page(
            request,
            v,
            "admin/channels/list.html",
            status=400,
            channels=found,
            health={c.id: health_of(request, c.id) for c in found.data},
            platforms=PLATFORMS,
            statuses=STATUSES,
            filters={"platform": "", "status": ""},
            errors=errors,
            failed=channel.id,
            failed_form=form,
        )
    return redirect(f"/admin/channels#channel-{channel.id}", notice="channel_routing")


def _confirm(request: Request, v: Visitor, channel: ChannelRead, errors: FormErrors) -> Response:
    return confirm_delete_page(
        request,
        v,
        kind="channel",
        name=channel.name,
        url=f"/admin/channels/{channel.id}",
        errors=errors,
    )


@admin
async def confirm_delete(request: Request, v: Visitor) -> Response:
    channel = await load_channel(request)
    if channel is None:
        return _not_found(request, v)
    return _confirm(request, v, channel, FormErrors(v.t))


@admin
async def delete_channel(request: Request, v: Visitor) -> Response:
    channel = await load_channel(request)
    if channel is None:
        return _not_found(request, v)
    await read_form(request, v)
    errors = FormErrors(v.t)
    a = deps(request).api
    if await attempt(errors, (), lambda: api.remove(channel.id, a, v.principal)) is None:
        return _confirm(request, v, channel, errors)
    return redirect("/admin/channels", notice="channel_deleted")


routes = [
    Route("/admin/channels", list_channels, methods=["GET"]),
    Route("/admin/channels/{channel_id}", channel_detail, methods=["GET"]),
    Route("/admin/channels/{channel_id}/test", test_channel, methods=["POST"]),
    Route("/admin/channels/{channel_id}/enable", _set_status(True), methods=["POST"]),
    Route("/admin/channels/{channel_id}/disable", _set_status(False), methods=["POST"]),
    Route("/admin/channels/{channel_id}/routing", set_routing, methods=["POST"]),
    Route("/admin/channels/{channel_id}/delete", confirm_delete, methods=["GET"]),
    Route("/admin/channels/{channel_id}/delete", delete_channel, methods=["POST"]),
]
