"""The published contract of the account routes (R16.5): bodies and statuses in OpenAPI."""

from __future__ import annotations

from typing import Any

import pytest

from tests.accounts.conftest import Stack

BODIES = {
    "/api/auth/signup": ({"email", "password", "password_confirm"}, "201"),
    "/api/auth/login": ({"email", "password"}, "200"),
    "/api/auth/login/totp": ({"login_ticket", "code", "recovery_code"}, "200"),
    "/api/auth/verify": ({"token"}, "200"),
    "/api/auth/password/forgot": ({"email"}, "202"),
    "/api/auth/password/reset": ({"token", "password", "password_confirm"}, "200"),
    "/api/me/password": ({"current_password", "password", "password_confirm"}, "200"),
    "/api/me/2fa/enable/start": ({"password", "email_code"}, "200"),
    "/api/me/2fa/enable/confirm": ({"code"}, "200"),
    "/api/me/2fa/disable": ({"password", "code", "recovery_code"}, "200"),
}


def _schema(doc: dict[str, Any], ref_or_schema: dict[str, Any]) -> dict[str, Any]:
    ref = ref_or_schema.get("$ref")
    if ref is None:
        return ref_or_schema
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]]  # type: ignore[no-any-return]


@pytest.fixture
async def doc(stack: Stack) -> dict[str, Any]:
    r = await stack.client.get("/api/openapi.json")
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", sorted(BODIES))
async def test_request_bodies_are_the_specs(doc: dict[str, Any], path: str) -> None:
    fields, status = BODIES[path]
    op = doc["paths"][path]["post"]
    body = _schema(doc, op["requestBody"]["content"]["application/json"]["schema"])
    assert set(body["properties"]) == fields
    assert status in op["responses"] and "400" in op["responses"]


async def test_login_documents_the_totp_challenge(doc: dict[str, Any]) -> None:
    responses = doc["paths"]["/api/auth/login"]["post"]["responses"]
    # Either the challenge with its ticket, or the plain envelope (wrong password).
    either = responses["401"]["content"]["application/json"]["schema"]["anyOf"]
    challenge = _schema(doc, either[0])
    assert set(challenge["properties"]) == {"error", "login_ticket"}
    assert either[1] == {"$ref": "#/components/schemas/ErrorEnvelope"}
    assert "TOTP_REQUIRED" in responses["401"]["description"]
    assert "ACCOUNT_LOCKED" in responses["429"]["description"]
    ok = _schema(doc, responses["200"]["content"]["application/json"]["schema"])
    assert set(ok["properties"]) == {"user", "csrf_token"}


async def test_forgot_is_202_and_profile_email_is_documented_as_fixed(
    doc: dict[str, Any],
) -> None:
    assert set(doc["paths"]["/api/auth/password/forgot"]["post"]["responses"]) >= {"202"}
    update = doc["paths"]["/api/me/profile"]["patch"]["requestBody"]["content"]
    props = _schema(doc, update["application/json"]["schema"])["properties"]
    assert "Not editable" in props["email"]["description"]
    for path in ("/api/admin/users/{user_id}/suspend", "/api/admin/users/{user_id}/reactivate"):
        assert {"200", "401", "403", "404", "409"} <= set(doc["paths"][path]["post"]["responses"])
