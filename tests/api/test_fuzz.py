"""A schema-driven fuzzer (schemathesis) over the published `/api/openapi.json` (R16.5,
issue 12 point 5): every answer of a started gateway must be what the document declares —
no server error, a declared status, the declared content type, a body that validates against
the declared schema — and input the document forbids must be refused (4xx).

Each pass fuzzes its own throwaway gateway (a fresh SQLite database in a temporary directory,
or a random PostgreSQL database), so state-changing calls are safe. The callers: an admin
token bound to no account (on both databases), nobody, and the demo user's session on its own
routes (with the demo key on `/api/me/key`). Calls that would end the caller's own credential
are skipped: the rest of the pass would only see 401s. Bounded for CI: a few examples per
operation, derandomized under CI (the same cases every run).

The cases are generated from the document the API builds (at collection, without a server);
`test_the_fuzzed_document_is_the_published_one` pins that it is the one the gateway serves.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tests.conftest import drop_pg_database, make_pg_database, pg_base_url
from tests.e2e.harness import GatewayProcess
from torouter.api import ApiDeps, build_management_api
from torouter.config import Settings
from torouter.crypto import generate_key

OPENAPI = "/api/openapi.json"
MAX_EXAMPLES = int(os.environ.get("TOROUTER_FUZZ_EXAMPLES", "5"))

GATEWAY = """
[server]
port = {port}
[mock]
mount = true
[usage]
flush_interval_s = 0.05
# Payments on (the mounted fake Stripe) on both backends: without them the webhook and order
# creation answer the spec's 503 PAYMENTS_NOT_CONFIGURED, which `not_a_server_error` refuses.
[payments]
stripe_secret_key = "sk_test_fuzz"
stripe_webhook_secret = "whsec_fuzz"
stripe_api_base = "http://127.0.0.1:{port}/mock/stripe"
"""

# What every answer must satisfy. Left out: `positive_data_acceptance` (a valid body may still
# name a missing row or break a business rule: a 4xx is right), `unsupported_method` (an
# undeclared method is 404 `NOT_FOUND` here, as on the gateway: R8.1 E19) and
# `negative_data_rejection` (pydantic's lax mode takes `"5"` for 5 and `0` for false) and
# `ignored_auth` (it cannot take a session cookie away; the anonymous pass checks instead that
# every operation declaring a security scheme refuses a caller without credentials).
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)


def _document() -> dict[str, Any]:
    """The API's own document; building it needs no database or server."""
    deps = ApiDeps(settings=Settings(), db=None, snapshot=None, ledger=None)  # type: ignore[arg-type]
    return build_management_api(deps).openapi()


def _config() -> SchemathesisConfig:
    checks: dict[str, Any] = {"enabled": False} | {name: {"enabled": True} for name in CHECKS}
    return SchemathesisConfig.from_dict(
        {
            "request-timeout": 30,
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "database": "none",
                "deterministic": os.environ.get("CI") == "true",
            },
            "phases": {"stateful": {"enabled": False}},
            "checks": checks,
        }
    )


schema = schemathesis.openapi.from_dict(_document(), config=_config())
# The demo user's own routes (the admin routes are the admin pass's).
own_routes = schema.include(path_regex=r"^/api/(me|auth)(/|$)")
FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck))


class Target:
    """A started gateway, who calls it, and which calls would lock that caller out."""

    def __init__(self, gw: GatewayProcess, headers: dict[str, str], own: dict[str, Any]) -> None:
        self.gw, self.headers, self.own = gw, headers, own

    def call(self, case: Any) -> None:
        if self._harms_caller(case):
            return
        headers = dict(self.headers)
        if case.path == "/api/me/key" and "key" in self.own:
            headers = {"Authorization": f"Bearer {self.own['key']}"}
        # On the case itself, so that the `ignored_auth` check can take it away again.
        case.headers = {**(case.headers or {}), **headers}
        try:
            response = case.call_and_validate(base_url=self.gw.url)
        except Exception as exc:
            raise AssertionError(f"{exc}\nserver log:\n{self._errors()}") from None
        if not self.headers and case.operation.definition.raw.get("security"):
            # Nobody's call to an operation that needs credentials (public ones declare none).
            assert response.status_code in (400, 401, 403, 404, 413), response.text

    def _harms_caller(self, case: Any) -> bool:
        method, path = case.method.upper(), case.path
        ids = case.path_parameters or {}
        if (method, path) == ("POST", "/api/auth/logout"):
            return "session_id" in self.own
        if (method, path) == ("DELETE", "/api/admin/tokens/{token_id}"):
            return bool(ids.get("token_id") == self.own.get("token_id"))
        if (method, path) == ("DELETE", "/api/me/sessions/{session_id}"):
            return bool(ids.get("session_id") == self.own.get("session_id"))
        return False

    def _errors(self) -> str:
        lines = [str(r) for r in self.gw.lines if str(r.get("level", "")).upper() == "ERROR"]
        return "\n".join(lines[-3:])


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine on its own loop in a thread (the test session's loop is left alone)."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(asyncio.run(coro)))
    thread.start()
    thread.join()
    return out[0] if out else None


def _gateway(workdir: Path, database_url: str | None = None) -> GatewayProcess:
    database = ""
    if database_url:  # PostgreSQL needs the key of secrets at rest given (R18.2)
        database = f'encryption_key = "{generate_key()}"\n[database]\nurl = "{database_url}"\n'
    return GatewayProcess(workdir, f'data_dir = "{{dir}}/data"\n{database}{GATEWAY}')


def _admin_token(gw: GatewayProcess) -> tuple[str, int]:
    token = gw.cli("create-admin-token", "--config", str(gw.config_path)).stdout.strip()
    return token, 1  # the first token of a fresh database


@pytest.fixture(scope="module")
def admin_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    gw = _gateway(tmp_path_factory.mktemp("fuzz-admin"))
    token, token_id = _admin_token(gw)
    gw.start(timeout=180)
    try:
        yield Target(gw, {"Authorization": f"Bearer {token}"}, {"token_id": token_id})
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def admin_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    pg_base_url()  # skips (or fails under CI) without the server
    url = _run(make_pg_database())
    gw = _gateway(tmp_path_factory.mktemp("fuzz-pg"), url)
    try:
        gw.cli("migrate", "--config", str(gw.config_path))
        token, token_id = _admin_token(gw)
        gw.start(timeout=180)
        yield Target(gw, {"Authorization": f"Bearer {token}"}, {"token_id": token_id})
    finally:
        gw.stop()
        _run(drop_pg_database(url))


@pytest.fixture(scope="module")
def anonymous(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    gw = _gateway(tmp_path_factory.mktemp("fuzz-anon")).start(timeout=180)
    try:
        yield Target(gw, {}, {})
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def demo_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    gw = _gateway(tmp_path_factory.mktemp("fuzz-user")).start(timeout=180)
    try:
        demo = (gw.workdir / "data" / "demo.txt").read_text()
        email, password = re.search(r"user:\s+(\S+)\s+password: (\S+)", demo).groups()  # type: ignore[union-attr]
        key = re.search(r"API key:\s+(sk-\S+)", demo).group(1)  # type: ignore[union-attr]
        with gw.client() as c:
            r = c.post("/api/auth/login", json={"email": email, "password": password})
            assert r.status_code == 200, r.text
            cookies = dict(c.cookies)
            headers = {
                "cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
                "x-csrf-token": cookies["torouter_csrf"],
            }
            sessions = c.get("/api/me/sessions", headers=headers).json()["data"]
        own = {"session_id": sessions[0]["id"], "key": key}
        yield Target(gw, headers, own)
    finally:
        gw.stop()


def test_the_fuzzed_document_is_the_published_one(anonymous: Target) -> None:
    r = httpx.get(anonymous.gw.url + OPENAPI, timeout=30)
    assert r.status_code == 200
    assert r.json() == _document()


@schema.parametrize()
@FUZZ
def test_admin_token_sqlite(case: Any, admin_sqlite: Target) -> None:
    admin_sqlite.call(case)


@schema.parametrize()
@FUZZ
@pytest.mark.postgres
def test_admin_token_postgres(case: Any, admin_postgres: Target) -> None:
    admin_postgres.call(case)


@schema.parametrize()
@FUZZ
def test_anonymous(case: Any, anonymous: Target) -> None:
    anonymous.call(case)


@own_routes.parametrize()
@FUZZ
def test_demo_user_session(case: Any, demo_user: Target) -> None:
    demo_user.call(case)
