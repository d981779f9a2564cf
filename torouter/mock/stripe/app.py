"""The fake Stripe as one ASGI application (SPEC R14.11).

Stripe's wire format: requests are form-encoded (`forms.py`), answers are JSON objects with an
`object` field, lists are `{"object": "list", "data", "has_more", "url"}`, errors are
`{"error": {"type", "code", "message", "param"}}` with Stripe's statuses, every answer has a
`Request-Id`. So the official SDK, pointed at it with its API base setting, cannot tell.

    POST /v1/checkout/sessions              GET /v1/checkout/sessions[/{id}]
    POST /v1/checkout/sessions/{id}/expire  GET /v1/payment_intents/{id}
    POST /v1/refunds                        GET /v1/refunds[/{id}]
    GET  /v1/events[/{id}]
    GET  /c/pay/{id}   the hosted checkout page (Pay / Fail / Cancel)
    GET  /receipts/{charge id}
    /_fake/…           controls (JSON): webhooks (hold, drop, duplicate, delay, release
                       in order or reversed, resend), failing refunds, paying sessions,
                       moving the clock, API latency; see `control`.

API calls need `Authorization: Bearer <secret key>` (the configured one; any `sk_…` when none
is). POSTs honour `Idempotency-Key` (`idempotency.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route, Router

from torouter.asgi import Receive, Scope, Send
from torouter.mock.stripe.forms import FormError, decode_form
from torouter.mock.stripe.idempotency import IdempotencyCache, Stored, fingerprint
from torouter.mock.stripe.pages import checkout_page, receipt_page
from torouter.mock.stripe.store import API_VERSION, FakeAccount, StripeError, new_id
from torouter.mock.stripe.webhooks import SecretSource, WebhookSender

__all__ = ["FakeStripe"]

KeySource = Callable[[], Awaitable[str | None]]
Handler = Callable[[dict[str, Any], dict[str, str]], Any]


def _source(value: str | KeySource | None) -> KeySource:
    if callable(value):
        return value

    async def fixed() -> str | None:
        return value

    return fixed


class FakeStripe:
    """The fake account, its webhook sender and the ASGI app serving both."""

    def __init__(
        self,
        public_url: str,
        *,
        api_key: str | KeySource | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | SecretSource | None = None,
        clock: Callable[[], float] = time.time,
        sweep_interval_s: float = 0.5,
    ) -> None:
        self.account = FakeAccount(public_url, clock=clock)
        self.webhooks = WebhookSender(
            webhook_url, webhook_secret, clock=lambda: float(self.account.now())
        )
        self.account.on_event = self.webhooks.submit
        self._api_key = _source(api_key)
        self.idempotency = IdempotencyCache(lambda: float(self.account.now()))
        self._sweep_interval = sweep_interval_s
        self._sweeper: asyncio.Task[None] | None = None
        self.requests: list[tuple[str, str]] = []  # (method, path) of every API call
        self.latency_s = 0.0  # each API answer waits this long (a slow Stripe)
        self._router = Router(routes=self._routes(), lifespan=self._lifespan)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_loop(), name="fake-stripe-sweep")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.webhooks.close()

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_interval)
            self.account.sweep()

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> Any:
        self.start()
        try:
            yield
        finally:
            await self.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._router(scope, receive, send)

    # -- routes --------------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        a = self.account
        api: list[tuple[str, str, Handler]] = [
            ("POST", "/v1/checkout/sessions", lambda p, _: a.create_session(p)),
            ("GET", "/v1/checkout/sessions", lambda p, _: a.list("checkout.session", p)),
            (
                "GET",
                "/v1/checkout/sessions/{id}",
                lambda p, m: a.get_session(m["id"], _expand(p)),
            ),
            ("POST", "/v1/checkout/sessions/{id}/expire", lambda p, m: a.expire_session(m["id"])),
            ("GET", "/v1/payment_intents/{id}", lambda p, m: a.get_intent(m["id"], _expand(p))),
            ("POST", "/v1/refunds", lambda p, _: a.create_refund(p)),
            ("GET", "/v1/refunds", lambda p, _: a.list("refund", p)),
            ("GET", "/v1/refunds/{id}", lambda p, m: a.get_refund(m["id"])),
            ("GET", "/v1/events", lambda p, _: a.list("event", p)),
            ("GET", "/v1/events/{id}", lambda p, m: a.get_event(m["id"])),
        ]
        routes = [
            Route(path, self._api(handler), methods=[method]) for method, path, handler in api
        ]
        routes += [
            Route("/v1/{rest:path}", self._unknown, methods=["GET", "POST", "DELETE"]),
            Route("/c/pay/{id}", self._page, methods=["GET"]),
            Route("/c/pay/{id}/{action}", self._page_action, methods=["POST"]),
            Route("/receipts/{id}", self._receipt, methods=["GET"]),
            Route("/_fake/{rest:path}", self._controls, methods=["GET", "POST"]),
        ]
        return routes

    # -- the API -------------------------------------------------------------------------------

    def _api(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            request_id = new_id("req_", 14)
            self.requests.append((request.method, request.url.path))
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            try:
                account = await self._authenticate(request)
                body = (await request.body()).decode("utf-8", "replace")
                text = body if request.method == "POST" else request.url.query
                try:
                    params = decode_form(text)
                except FormError as exc:
                    raise StripeError(400, str(exc), param=exc.param, saved=False) from None
            except StripeError as exc:
                return _answer(exc.status, exc.body(), request_id)
            key = request.headers.get("idempotency-key")
            if request.method != "POST" or not key:
                status, out = _run(handler, params, request.path_params)
                return _answer(status, out, request_id)
            if len(key) > 255:
                err = StripeError(400, "Idempotency-Key is longer than 255 characters.")
                return _answer(400, err.body(), request_id)
            print_ = fingerprint(request.method, request.url.path, params)
            stored = self.idempotency.get(account, key)
            if stored is not None:
                if stored.fingerprint != print_:
                    err = StripeError(
                        400, self.idempotency.mismatch_message(key), type="idempotency_error"
                    )
                    return _answer(400, err.body(), request_id)
                return _answer(
                    stored.status,
                    stored.body,
                    request_id,
                    {"Idempotent-Replayed": "true", "Original-Request": stored.request_id},
                )
            try:
                out = handler(params, request.path_params)
                status, save = 200, True
            except StripeError as exc:
                status, out, save = exc.status, exc.body(), exc.saved
            if save:
                self.idempotency.put(
                    account,
                    key,
                    Stored(print_, status, out, request_id, float(self.account.now())),
                )
            return _answer(status, out, request_id, {"Idempotency-Key": key})

        return endpoint

    async def _authenticate(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            import base64

            with contextlib.suppress(ValueError):
                value = base64.b64decode(value).decode().partition(":")[0]
        elif scheme.lower() != "bearer":
            value = ""
        value = value.strip()
        if not value:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
                saved=False,
            )
        expected = await self._api_key()
        ok = secrets.compare_digest(value, expected) if expected else value.startswith("sk_")
        if not ok:
            shown = value[:8] + "*" * 12 + value[-4:] if len(value) > 12 else "****"
            raise StripeError(401, f"Invalid API Key provided: {shown}", saved=False)
        return value

    async def _unknown(self, request: Request) -> Response:
        err = StripeError(
            404,
            f"Unrecognized request URL ({request.method}: {request.url.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )
        return _answer(404, err.body(), new_id("req_", 14))

    # -- hosted pages --------------------------------------------------------------------------

    async def _page(self, request: Request) -> Response:
        session = self.account.sessions.get(request.path_params["id"])
        if session is None:
            return HTMLResponse("<!doctype html><title>Not found</title><h1>Not found</h1>", 404)
        return HTMLResponse(checkout_page(session, self._product(session["id"])))

    def _product(self, session_id: str) -> str | None:
        items = self.account._session_extra.get(session_id, {}).get("items") or []
        try:
            return str(items[0]["price_data"]["product_data"]["name"])
        except (IndexError, KeyError, TypeError):
            return None

    async def _page_action(self, request: Request) -> Response:
        sid, action = request.path_params["id"], request.path_params["action"]
        session = self.account.sessions.get(sid)
        if session is None or action not in ("pay", "fail", "cancel"):
            return HTMLResponse("<!doctype html><title>Not found</title><h1>Not found</h1>", 404)
        if action == "cancel":
            return RedirectResponse(session["cancel_url"] or f"../{sid}", 303)
        try:
            done = self.account.pay(sid) if action == "pay" else self.account.fail(sid)
        except StripeError as exc:
            return HTMLResponse(checkout_page(session, self._product(sid), exc.message), 409)
        target = (done["success_url"] or f"../{sid}").replace("{CHECKOUT_SESSION_ID}", sid)
        return RedirectResponse(target, 303)

    async def _receipt(self, request: Request) -> Response:
        charge = self.account.charges.get(request.path_params["id"])
        if charge is None:
            return HTMLResponse("<!doctype html><title>Not found</title><h1>Not found</h1>", 404)
        return HTMLResponse(receipt_page(charge))

    # -- controls ------------------------------------------------------------------------------

    async def _controls(self, request: Request) -> Response:
        path = "/" + unquote(request.path_params["rest"]).strip("/")
        body: dict[str, Any] = {}
        if request.method == "POST":
            raw = await request.body()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                return JSONResponse({"error": "body must be JSON"}, 400)
            if not isinstance(body, dict):
                return JSONResponse({"error": "body must be a JSON object"}, 400)
        try:
            out = await self.control(request.method, path, body)
        except StripeError as exc:
            return JSONResponse(exc.body(), exc.status)
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        if out is None:
            return JSONResponse({"error": f"no control {request.method} {path}"}, 404)
        return JSONResponse(out)

    async def control(self, method: str, path: str, body: dict[str, Any]) -> Any:
        """The control API, also callable in-process by tests. None: no such control."""
        a, w = self.account, self.webhooks
        parts = path.strip("/").split("/")
        if method == "GET" and path == "/state":
            return {
                "sessions": list(a.sessions.values()),
                "refunds": list(a.refunds.values()),
                "events": [{"id": e["id"], "type": e["type"]} for e in a.events.values()],
                "webhooks": {
                    "mode": w.mode,
                    "duplicate": w.duplicate,
                    "delay_s": w.delay_s,
                    "held": len(w.held),
                    "url": w.url,
                },
                "clock_offset_s": a.offset,
            }
        if method == "GET" and path == "/deliveries":
            return [d.as_dict() for d in w.deliveries]
        if method != "POST":
            return None
        if path == "/config":
            if "webhook_url" in body:
                w.url = body["webhook_url"]
            if "webhook_secret" in body:
                w.secret = _source(body["webhook_secret"])
            if "api_key" in body:
                self._api_key = _source(body["api_key"])
            return {"ok": True}
        if path == "/webhooks":
            delay_ms = body.get("delay_ms")
            w.configure(
                mode=body.get("mode"),
                duplicate=body.get("duplicate"),
                delay_s=None if delay_ms is None else float(delay_ms) / 1000,
            )
            return {"mode": w.mode, "duplicate": w.duplicate, "delay_s": w.delay_s}
        if path == "/webhooks/release":
            return {"released": await w.release(str(body.get("order", "fifo")))}
        if path == "/latency":
            self.latency_s = float(body.get("ms", 0)) / 1000
            return {"latency_ms": self.latency_s * 1000}
        if path == "/clock":
            a.offset += float(body.get("advance_s", 0))
            return {"now": a.now(), "offset_s": a.offset}
        if path == "/sweep":
            return {"expired": a.sweep()}
        if path == "/refunds/fail_next":
            err = StripeError(
                int(body.get("status", 400)),
                str(
                    body.get(
                        "message",
                        "You have insufficient funds in your Stripe account for this refund.",
                    )
                ),
                type=str(body.get("type", "invalid_request_error")),
                code=body.get("code", "balance_insufficient"),
            )
            a.refund_failures.extend([err] * int(body.get("count", 1)))
            return {"pending_failures": len(a.refund_failures)}
        if len(parts) == 3 and parts[0] == "refunds" and parts[2] == "fail":
            return a.fail_refund_later(parts[1], str(body.get("reason", "unknown")))
        if len(parts) == 3 and parts[0] == "events" and parts[2] == "resend":
            await w.resend(a.get_event(parts[1]))
            return {"ok": True}
        if len(parts) == 3 and parts[0] == "sessions":
            actions: dict[str, Callable[[str], Any]] = {
                "pay": a.pay,
                "fail": a.fail,
                "pay_async": a.pay_async,
                "async_succeed": lambda s: a.settle_async(s, succeed=True),
                "async_fail": lambda s: a.settle_async(s, succeed=False),
                "expire": a.expire_session,
            }
            act = actions.get(parts[2])
            return None if act is None else act(parts[1])
        return None


def _expand(params: dict[str, Any]) -> list[str]:
    value = params.get("expand") or []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _run(handler: Handler, params: dict[str, Any], match: dict[str, str]) -> tuple[int, Any]:
    try:
        return 200, handler(params, match)
    except StripeError as exc:
        return exc.status, exc.body()


def _answer(
    status: int, body: Any, request_id: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body, indent=2),
        status,
        headers={"Request-Id": request_id, "Stripe-Version": API_VERSION, **(headers or {})},
        media_type="application/json",
    )
