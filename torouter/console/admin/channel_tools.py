"""Beyond the anchors, for one channel: test every model, and compare its models with the
upstream's `/models` list and apply the differences (ToRouter extensions).

Testing every model streams its results as they come: without JavaScript the answer is an
HTML page whose result list grows while the checks run (the browser renders it as it
arrives; leaving the page — the Stop link — ends the run); with JavaScript the same POST is
read as server-sent events, each a rendered result, and Stop aborts it. Either way a client
that goes away cancels the checks still running (`model_checks.check_models`). No state is
kept between requests, so any node of a deployment serves it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from torouter.api.admin import channels as api
from torouter.api.admin.catalog import ChannelRead
from torouter.api.admin.channels import ChannelUpdate
from torouter.api.audit import record_audit
from torouter.console.admin.channels import load_channel
from torouter.console.admin.common import attempt, deps
from torouter.console.forms import FormErrors, read_form
from torouter.console.guards import admin
from torouter.console.render import page, redirect
from torouter.console.visitor import Visitor
from torouter.routing.model_checks import ModelCheck, check_models, kind_of

__all__ = ["routes"]

_RESULTS = "<!--results-->"
_SUMMARY = "<!--summary-->"


def _not_found(request: Request, v: Visitor) -> Response:
    return page(request, v, "errors/not_found.html", status=404)


def _models_of(request: Request, channel: ChannelRead) -> list[tuple[str, str]]:
    """(model, what a check sends it) for every model the channel serves, in its order."""
    known = deps(request).api.snapshot.current.models
    return [(m, kind_of(known[m].endpoints if m in known else None)) for m in channel.models]


@admin
async def check_form(request: Request, v: Visitor) -> Response:
    channel = await load_channel(request)
    if channel is None:
        return _not_found(request, v)
    return page(
        request,
        v,
        "admin/channels/check.html",
        channel=channel,
        models=_models_of(request, channel),
        stopped=request.query_params.get("stopped") == "1",
        results=None,
        stream=True,
        errors=FormErrors(v.t),
    )


@admin
async def run_checks(request: Request, v: Visitor) -> Response:
    channel = await load_channel(request)
    if channel is None:
        return _not_found(request, v)
    form = await read_form(request, v)
    a = deps(request).api
    rec = a.snapshot.current.channels.get(channel.id)
    errors = FormErrors(v.t)
    if rec is None or a.http is None:
        errors.add(None, v.t("admin.channels.check.unavailable"))
    models = _models_of(request, channel)
    if errors or not models:
        return page(
            request,
            v,
            "admin/channels/check.html",
            status=503 if errors else 400,
            channel=channel,
            models=models,
            stopped=False,
            results=None,
            stream=False,
            errors=errors,
        )
    stream = form.get("stream") == "on"
    async with a.db.begin() as conn:
        await record_audit(
            conn,
            actor=v.principal.actor,
            action="channel.check_models",
            target=f"channel:{channel.id}",
            detail={"models": len(models), "stream": stream},
        )
    templates = deps(request).templates
    assert rec is not None and a.http is not None  # else `errors` answered 503 above
    results = check_models(a.http, rec, models, stream=stream)

    def item(result: ModelCheck) -> str:
        return templates.get_template("admin/channels/check_result.html").render(
            r=result, t=v.t, fmt=v.fmt
        )

    if "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(
            _events(results, item, len(models)),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )
    shell = page(
        request,
        v,
        "admin/channels/check.html",
        channel=channel,
        models=models,
        stopped=False,
        results=Markup(_RESULTS),
        summary=Markup(_SUMMARY),
        stream=stream,
        errors=errors,
    )
    head, _, rest = bytes(shell.body).decode().partition(_RESULTS)
    middle, _, tail = rest.partition(_SUMMARY)
    return StreamingResponse(
        _html((head, middle, tail), results, item, v, len(models)),
        media_type="text/html; charset=utf-8",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


Render = Callable[[ModelCheck], str]


async def _html(
    parts: tuple[str, str, str],
    results: AsyncGenerator[ModelCheck, None],
    item: Render,
    v: Visitor,
    total: int,
) -> AsyncIterator[bytes]:
    """The page, its result list growing one item per finished check (no JavaScript), then
    the summary. The parts are the page before the list's items, between them and the
    summary, and after it."""
    head, middle, tail = parts
    yield head.encode()
    ok = failed = 0
    try:
        async for result in results:
            ok += result.ok is True
            failed += result.ok is False
            yield item(result).encode()
    finally:
        await results.aclose()
    yield middle.encode()
    summary = escape(v.t("admin.channels.check.summary", ok=ok, failed=failed, total=total))
    yield f'<p class="alert success" role="status">{summary}</p>'.encode()
    yield tail.encode()


async def _events(
    results: AsyncGenerator[ModelCheck, None], item: Render, total: int
) -> AsyncIterator[bytes]:
    """Server-sent events: `result` (one rendered item, on one line) then `done`."""
    ok = failed = 0
    try:
        async for result in results:
            ok += result.ok is True
            failed += result.ok is False
            html = " ".join(item(result).split("\n"))
            yield f"event: result\ndata: {html}\n\n".encode()
    finally:
        await results.aclose()
    yield f'event: done\ndata: {{"ok": {ok}, "failed": {failed}, "total": {total}}}\n\n'.encode()


# -- the upstream's model list -------------------------------------------------------------


async def _diff_page(
    request: Request,
    v: Visitor,
    channel: ChannelRead,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
) -> Response:
    errors = errors or FormErrors(v.t)
    a = deps(request).api
    diff = await attempt(errors, (), lambda: api.models_diff(channel.id, a))
    return page(
        request,
        v,
        "admin/channels/diff.html",
        status=status if diff is not None else 502,
        channel=channel,
        diff=diff,
        errors=errors,
    )


@admin
async def diff_page(request: Request, v: Visitor) -> Response:
    channel = await load_channel(request)
    if channel is None:
        return _not_found(request, v)
    return await _diff_page(request, v, channel)


@admin
async def apply_diff(request: Request, v: Visitor) -> Response:
    """Add the ticked upstream models, remove the ticked ones no longer listed."""
    channel = await load_channel(request)
    if channel is None:
        return _not_found(request, v)
    form = await read_form(request, v)
    add = [k.removeprefix("add:") for k, val in form.items() if k.startswith("add:") and val]
    remove = {
        k.removeprefix("remove:") for k, val in form.items() if k.startswith("remove:") and val
    }
    if not add and not remove:
        errors = FormErrors(v.t)
        errors.add(None, v.t("admin.channels.diff.nothing"))
        return await _diff_page(request, v, channel, status=400, errors=errors)
    models = [m for m in channel.models if m not in remove]
    models += [m for m in add if m not in models]
    errors = FormErrors(v.t)
    a = deps(request).api
    body = ChannelUpdate(models=models)
    if await attempt(errors, (), lambda: api.edit(channel.id, body, a, v.principal)) is None:
        return await _diff_page(request, v, channel, status=409, errors=errors)
    return redirect(f"/admin/channels/{channel.id}", notice="channel_models")


routes = [
    Route("/admin/channels/{channel_id}/check", check_form, methods=["GET"]),
    Route("/admin/channels/{channel_id}/check", run_checks, methods=["POST"]),
    Route("/admin/channels/{channel_id}/models", diff_page, methods=["GET"]),
    Route("/admin/channels/{channel_id}/models", apply_diff, methods=["POST"]),
]
