"""The app itself: OpenAPI, offline docs, request ids, the error envelope, the last-resort 500."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from starlette.types import Message, Receive, Scope, Send

from tests.api.conftest import Api
from torouter.api.middleware import RequestId

EXPECTED_PATHS = {
    "/api/admin/usage": {"get"},
    # usage analytics (issue 14)
    "/api/admin/usage/logs": {"get"},
    "/api/admin/usage/logs/{request_id}": {"get"},
    "/api/admin/usage/summary": {"get"},
    "/api/admin/usage/daily": {"get"},
    "/api/admin/usage/export.csv": {"get"},
    "/api/admin/users/{user_id}/ledger/export.csv": {"get"},
    "/api/me/usage/logs": {"get"},
    "/api/me/usage/logs/{request_id}": {"get"},
    "/api/me/usage/summary": {"get"},
    "/api/me/usage/daily": {"get"},
    "/api/me/usage/export.csv": {"get"},
    "/api/me/ledger/export.csv": {"get"},
    "/api/me/dashboard": {"get"},
    "/api/admin/users": {"get"},
    "/api/admin/users/{user_id}": {"get"},
    "/api/admin/users/{user_id}/ledger": {"get"},
    "/api/admin/users/{user_id}/balance": {"post"},
    "/api/admin/keys": {"get", "post"},
    "/api/admin/keys/{key_id}": {"get", "patch", "delete"},
    "/api/admin/channels": {"get", "post"},
    "/api/admin/channels/{channel_id}": {"get", "patch", "delete"},
    "/api/admin/channels/{channel_id}/models/diff": {"get"},
    "/api/admin/channels/{channel_id}/enable": {"post"},
    "/api/admin/channels/{channel_id}/disable": {"post"},
    "/api/admin/channels/{channel_id}/test": {"post"},
    "/api/admin/channels/{channel_id}/health": {"get"},
    "/api/admin/channels/health": {"get"},
    "/api/admin/models": {"get", "post"},
    "/api/admin/models/{model_id}": {"get", "patch", "delete"},
    "/api/admin/groups": {"get", "post"},
    "/api/admin/groups/{group_id}": {"get", "patch", "delete"},
    "/api/admin/groups/{group_id}/grants": {"get"},
    "/api/admin/groups/{group_id}/grants/{user_id}": {"post", "delete"},
    "/api/admin/plans": {"get", "post"},
    "/api/admin/plans/{plan_id}": {"get", "patch", "delete"},
    "/api/admin/subscriptions": {"get", "post"},
    "/api/admin/subscriptions/{sub_id}": {"get"},
    "/api/admin/subscriptions/{sub_id}/extend": {"post"},
    "/api/admin/subscriptions/{sub_id}/pause": {"post"},
    "/api/admin/subscriptions/{sub_id}/resume": {"post"},
    "/api/admin/subscriptions/{sub_id}/cancel": {"post"},
    "/api/admin/tokens": {"get", "post"},
    "/api/admin/tokens/{token_id}": {"delete"},
    "/api/admin/audit": {"get"},
    # accounts (issue 5)
    "/api/admin/users/{user_id}/suspend": {"post"},
    "/api/admin/users/{user_id}/reactivate": {"post"},
    "/api/admin/users/{user_id}/2fa/reset": {"post"},
    # the operator console (issue 17)
    "/api/admin/users/{user_id}/verify": {"post"},
    "/api/admin/users/{user_id}/role": {"post"},
    "/api/admin/users/{user_id}/sessions": {"get", "delete"},
    "/api/admin/users/{user_id}/sessions/{session_id}": {"delete"},
    "/api/admin/settings": {"get", "patch"},
    "/api/auth/signup": {"post"},
    "/api/auth/verify": {"post"},
    "/api/auth/verify/resend": {"post"},
    "/api/auth/login": {"post"},
    "/api/auth/login/totp": {"post"},
    "/api/auth/logout": {"post"},
    "/api/auth/password/forgot": {"post"},
    "/api/auth/password/reset": {"post"},
    "/api/me/profile": {"get", "patch"},
    "/api/me/password": {"post"},
    "/api/me/sessions": {"get"},
    "/api/me/sessions/{session_id}": {"delete"},
    "/api/me/2fa": {"get"},
    "/api/me/2fa/email-code": {"post"},
    "/api/me/2fa/enable/start": {"post"},
    "/api/me/2fa/enable/confirm": {"post"},
    "/api/me/2fa/disable": {"post"},
    # keys, catalog, money and subscriptions (issue 6)
    "/api/me/key": {"get"},
    "/api/me/keys": {"get", "post"},
    "/api/me/playground/chat": {"post"},
    "/api/me/keys/{key_id}": {"get", "patch", "delete"},
    "/api/me/groups": {"get"},
    "/api/me/models": {"get"},
    "/api/me/balance": {"get"},
    "/api/me/ledger": {"get"},
    "/api/me/plans": {"get"},
    "/api/me/subscriptions": {"get", "post"},
    "/api/me/subscriptions/{sub_id}": {"patch"},
    # payments (issue 15)
    "/api/me/orders": {"get", "post"},
    "/api/me/orders/{order_id}": {"get"},
    "/api/me/orders/{order_id}/resume": {"post"},
    "/api/me/orders/{order_id}/cancel": {"post"},
    "/api/me/orders/{order_id}/sync": {"post"},
    "/api/me/orders/{order_id}/refund": {"post"},
    "/api/admin/orders": {"get"},
    "/api/admin/orders/{order_id}": {"get"},
    "/api/admin/orders/{order_id}/refund/approve": {"post"},
    "/api/admin/orders/{order_id}/refund/reject": {"post"},
    "/api/admin/orders/{order_id}/sync": {"post"},
    "/api/admin/payments/reconcile": {"get"},
    "/api/admin/payments/reconcile/repair": {"post"},
    "/api/admin/settings/payments": {"get", "patch"},
    "/api/payments/stripe/webhook": {"post"},
    "/api/payments/options": {"get"},
}


async def test_openapi_lists_every_path_with_the_error_contract(api: Api) -> None:
    r = await api.client.get("/api/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert {p: set(ops) for p, ops in doc["paths"].items()} == EXPECTED_PATHS
    schemas = doc["components"]["schemas"]
    assert "ErrorEnvelope" in schemas
    assert "HTTPValidationError" not in schemas
    assert "AdminToken" in doc["components"]["securitySchemes"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            responses = op["responses"]
            assert "422" not in responses, (method, path)
            if path.startswith(("/api/auth/", "/api/payments/")):
                continue  # signed-out flows and Stripe's webhook: their own statuses
            assert responses["401"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorEnvelope"
            }
            assert "403" in responses
    balance = doc["paths"]["/api/admin/users/{user_id}/balance"]["post"]
    assert set(balance["responses"]) >= {"201", "400", "404"}
    # Read models never describe a secret.
    text = r.text
    for secret in ("password_hash", "token_hash", "key_hash", "credential_enc", "totp_secret"):
        assert secret not in text


async def test_docs_render_offline(api: Api) -> None:
    r = await api.client.get("/api/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html, re.I), "external URL"
    assert "<script" not in html.lower()
    for path in EXPECTED_PATHS:
        assert path.replace("{", "&#x7b;") in html or path in html
    assert 'id="schema-UserRead"' in html
    assert "amount_usd" in html  # the balance body's fields are described
    csp = r.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'")
    assert "unsafe-inline" not in csp
    assert r.headers["x-frame-options"] == "DENY"


async def test_request_id_generated_honoured_and_replaced(api: Api) -> None:
    r = await api.client.get("/api/openapi.json")
    assert re.fullmatch(r"req_[0-9A-HJKMNP-TV-Z]{26}", r.headers["x-request-id"])

    r = await api.client.get("/api/admin/users", headers={"x-request-id": "trace-1:a.b_C"})
    assert r.status_code == 401  # errors carry it too
    assert r.headers["x-request-id"] == "trace-1:a.b_C"

    for unsafe in ("bad id", "x" * 129, "é"):
        r = await api.client.get(
            "/api/openapi.json", headers={"x-request-id": unsafe.encode("utf-8")}
        )
        assert r.headers["x-request-id"].startswith("req_")
        assert r.headers.get_list("x-request-id") == [r.headers["x-request-id"]]


async def test_request_id_assigned_by_the_dispatcher_is_kept() -> None:
    seen: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["state"]["request_id"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    outer_state = {"request_id": "req_from_dispatcher"}
    scope = {"type": "http", "headers": [(b"x-request-id", b"other")], "state": outer_state}
    await RequestId(app)(scope, receive, send)
    assert seen == ["req_from_dispatcher"]
    assert sent[0]["headers"] == [(b"x-request-id", b"req_from_dispatcher")]
    assert outer_state == {"request_id": "req_from_dispatcher"}  # not mutated


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/nothing"), ("GET", "/api/admin/nope"), ("PUT", "/api/admin/users")],
)
async def test_unknown_path_or_method_is_not_found(api: Api, method: str, path: str) -> None:
    r = await api.client.request(method, path, headers=api.auth)
    assert r.status_code == 404
    assert r.json() == {
        "error": {"message": "Not found", "type": "NOT_FOUND", "param": None, "code": "NOT_FOUND"}
    }


async def test_error_language_follows_accept_language(api: Api) -> None:
    r = await api.client.get("/api/admin/users", headers={"accept-language": "zh-CN,zh;q=0.9"})
    assert r.json()["error"]["message"] == "需要登录"


async def test_unexpected_exception_is_a_bare_internal_error(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom() -> None:
        raise RuntimeError("SELECT secret FROM somewhere")

    api.app.add_api_route("/api/boom", boom)
    r = await api.client.get("/api/boom", headers={"x-request-id": "boom-1"})
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "boom-1"
    assert r.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "secret" not in r.text
    assert any(
        rec.exc_info and getattr(rec, "request_id", "") == "boom-1" for rec in caplog.records
    )


async def test_body_too_large(api: Api) -> None:
    r = await api.client.post(
        f"/api/admin/users/{api.admin_id}/balance",
        headers={**api.auth, "content-type": "application/json"},
        content=b'{"reason": "' + b"x" * (2 * 1024 * 1024) + b'"}',
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "REQUEST_TOO_LARGE"


async def test_streamed_body_too_large(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"reason": "'
        for _ in range(20):
            yield b"x" * 100_000

    r = await api.client.post(
        f"/api/admin/users/{api.admin_id}/balance",
        headers={**api.auth, "content-type": "application/json"},
        content=chunks(),
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "REQUEST_TOO_LARGE"


async def test_malformed_json_is_invalid_request(api: Api) -> None:
    r = await api.client.post(
        f"/api/admin/users/{api.admin_id}/balance",
        headers={**api.auth, "content-type": "application/json"},
        content=b"{not json",
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "INVALID_REQUEST"
