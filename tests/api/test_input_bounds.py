"""Integers and nulls a column cannot hold are refused before the database (issue 12 point 5):
a path id out of range is 404 like a missing one, any other integer out of range or a null
for a non-nullable field is E16 naming it — never a 500 from the driver (SQLite overflows
above int64, PostgreSQL's INTEGER above int32). Both databases, as the bugs differ."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import Api
from torouter.api import ApiDeps, build_management_api
from torouter.config import Settings

HUGE = 2**70
INT32_OVER = 2**31
INT64_OVER = 2**63


def assert_error(r: httpx.Response, status: int, code: str, param: str | None = None) -> None:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    assert err["param"] == param, err


@pytest.mark.parametrize("big", [INT32_OVER, INT64_OVER, HUGE, 0, -1])
async def test_path_ids_out_of_range_are_not_found(api: Api, big: int) -> None:
    for path in (
        f"/api/admin/keys/{big}",
        f"/api/admin/users/{big}",
        f"/api/admin/groups/{big}/grants",
        f"/api/admin/plans/{big}",
        f"/api/admin/subscriptions/{big}",
        f"/api/admin/channels/{big}/health",
    ):
        assert_error(await api.client.get(path, headers=api.auth), 404, "NOT_FOUND")
    r = await api.client.patch(f"/api/admin/keys/{big}", headers=api.auth, json={"rpm": 1})
    assert_error(r, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("query", "param"),
    [
        (f"/api/admin/plans?page={HUGE}", "page"),
        (f"/api/admin/audit?page={INT64_OVER}", "page"),
        (f"/api/admin/channels?page={INT32_OVER}", "page"),
        (f"/api/admin/plans?group_id={INT32_OVER}", "group_id"),
        (f"/api/admin/keys?user_id={HUGE}", "user_id"),
        (f"/api/admin/subscriptions?plan_id={INT64_OVER}", "plan_id"),
        (f"/api/admin/usage?key_id={INT32_OVER}", "key_id"),
        (f"/api/admin/usage?status={HUGE}", "status"),
        ("/api/admin/usage?cursor=aWQ6OTk5OTk5OTk5OTk5OTk5OTk5OQ", "cursor"),  # id:99…9 (19)
    ],
)
async def test_query_integers_out_of_range_are_e16(api: Api, query: str, param: str) -> None:
    assert_error(await api.client.get(query, headers=api.auth), 400, "INVALID_REQUEST", param)


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/api/admin/keys", {"name": "k", "group_id": 1, "user_id": INT32_OVER}, "user_id"),
        ("/api/admin/keys", {"name": "k", "group_id": HUGE, "user_id": 1}, "group_id"),
        ("/api/admin/subscriptions", {"user_id": 1, "plan_id": INT64_OVER}, "plan_id"),
        ("/api/admin/tokens", {"name": "t", "user_id": INT32_OVER}, "user_id"),
        ("/api/admin/models", {"id": "m", "sort_order": INT32_OVER}, "sort_order"),
        ("/api/admin/channels", {"name": "c", "platform": "openai", "weight": None}, "weight"),
        (
            "/api/admin/channels",
            {"name": "c", "platform": "openai", "auto_disable": None},
            "auto_disable",
        ),
        ("/api/admin/channels", {"name": "c", "platform": "openai", "models": None}, "models"),
        (
            "/api/admin/channels",
            {"name": "c", "platform": "openai", "max_concurrency": HUGE},
            "max_concurrency",
        ),
    ],
)
async def test_body_integers_and_nulls_are_e16(
    api: Api, path: str, body: dict[str, Any], param: str
) -> None:
    r = await api.client.post(path, headers=api.auth, json=body)
    assert_error(r, 400, "INVALID_REQUEST", param)


async def test_channel_edits_refuse_nulls_and_taken_names(api: Api) -> None:
    for name in ("a", "b"):
        body = {"name": name, "platform": "openai"}
        assert (
            await api.client.post("/api/admin/channels", headers=api.auth, json=body)
        ).is_success
    r = await api.client.patch("/api/admin/channels/2", headers=api.auth, json={"name": None})
    assert_error(r, 400, "INVALID_REQUEST", "name")
    r = await api.client.patch("/api/admin/channels/2", headers=api.auth, json={"priority": None})
    assert_error(r, 400, "INVALID_REQUEST", "priority")
    r = await api.client.patch("/api/admin/channels/2", headers=api.auth, json={"name": "a"})
    assert_error(r, 409, "CONFLICT")
    r = await api.client.patch("/api/admin/channels/2", headers=api.auth, json={"name": "b"})
    assert r.status_code == 200, r.text


def _document() -> dict[str, Any]:
    deps = ApiDeps(settings=Settings(), db=None, snapshot=None, ledger=None)  # type: ignore[arg-type]
    return build_management_api(deps).openapi()


def _unbounded(schema: dict[str, Any], comps: dict[str, Any], seen: frozenset[str]) -> bool:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return name not in seen and _unbounded(comps[name], comps, seen | {name})
    if schema.get("type") == "integer":
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if schema.get("minimum", schema.get("exclusiveMinimum")) is None or high is None:
            return True
        if high > 2**63 - 1:
            return True
    subs = [*schema.get("anyOf", []), *schema.get("oneOf", []), *schema.get("allOf", [])]
    subs += list(schema.get("properties", {}).values())
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            subs.append(schema[key])
    return any(_unbounded(s, comps, seen) for s in subs)


def test_every_integer_a_client_sends_is_bounded_in_the_document() -> None:
    """The guard that keeps new routes from reintroducing the 500: every integer parameter
    and body field of the published document has both bounds, within int64."""
    doc = _document()
    comps = doc["components"]["schemas"]
    loose = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for p in op.get("parameters", []):
                if _unbounded(p["schema"], comps, frozenset()):
                    loose.append(f"{method.upper()} {path} {p['name']}")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if body and _unbounded(body["schema"], comps, frozenset()):
                loose.append(f"{method.upper()} {path} body")
            if any(p["in"] == "path" for p in op.get("parameters", [])):
                assert "404" in op["responses"], (method, path)
    assert loose == []


async def test_nul_characters_are_refused_before_the_database(api: Api) -> None:
    """PostgreSQL cannot store U+0000 (it failed the statement: a 500)."""
    r = await api.client.post("/api/admin/tokens", headers=api.auth, json={"name": "a\x00b"})
    assert_error(r, 400, "INVALID_REQUEST")
    r = await api.client.get("/api/admin/audit?actor=a%00b", headers=api.auth)
    assert_error(r, 400, "INVALID_REQUEST", "actor")
    r = await api.client.get("/api/admin/models/a%00b", headers=api.auth)
    assert_error(r, 404, "NOT_FOUND")
    # An escaped backslash before `u0000` is plain text, not a NUL.
    r = await api.client.post("/api/admin/tokens", headers=api.auth, json={"name": "a\\u0000"})
    assert r.status_code == 201, r.text


async def test_an_audit_target_longer_than_its_column_is_kept_whole_in_detail(api: Api) -> None:
    model_id = "m" * 200
    r = await api.client.post("/api/admin/models", headers=api.auth, json={"id": model_id})
    assert r.status_code == 201, r.text
    entry = (await api.client.get("/api/admin/audit", headers=api.auth)).json()["data"][0]
    assert entry["target"] == f"model:{model_id}"[:200]
    assert entry["detail"]["target"] == f"model:{model_id}"


@pytest.mark.parametrize(
    "value",
    [
        {"budget": 2**64},  # orjson (the JSON column's serializer) stops at 64 bits
        {"deep": -(2**87)},
        {"list": [[[[1, 2**70]]]]},
        {"nest": __import__("functools").reduce(lambda v, _: [v], range(300), 0)},
    ],
    ids=["u64-over", "negative-huge", "nested-huge", "too-deep"],
)
async def test_free_form_json_the_column_cannot_hold_is_e16(
    api: Api, value: dict[str, Any]
) -> None:
    """A model's `thinking_defaults` is any JSON object, stored as JSON text: integers past
    64 bits or nesting past 255 levels cannot be written (a 500 found by the fuzzer on
    PostgreSQL). They are refused naming the field, on create and on edit."""
    body = {"id": "m", "thinking_defaults": value}
    r = await api.client.post("/api/admin/models", headers=api.auth, json=body)
    assert_error(r, 400, "INVALID_REQUEST", "thinking_defaults")
    r = await api.client.post("/api/admin/models", headers=api.auth, json={"id": "m"})
    assert r.status_code == 201, r.text
    body = {"thinking_defaults": value}
    r = await api.client.patch("/api/admin/models/m", headers=api.auth, json=body)
    assert_error(r, 400, "INVALID_REQUEST", "thinking_defaults")
    fine = {"budget_tokens": 2**63 - 1, "x": [1.5, None, True, "é"]}
    r = await api.client.patch(
        "/api/admin/models/m", headers=api.auth, json={"thinking_defaults": fine}
    )
    assert r.status_code == 200, r.text
    assert r.json()["thinking_defaults"] == fine


async def test_lone_surrogates_are_refused_naming_the_field(api: Api) -> None:
    """JSON may escape half of a UTF-16 pair (`\\ud800`); Python decodes it to a string no
    database driver can encode (a 500). Typed strings and the free-form JSON object both
    refuse it; a well-formed pair is an ordinary character."""
    headers = {**api.auth, "content-type": "application/json"}
    for raw in (b'{"name": "a\\ud800b"}', b'{"name": "\\udc00"}', b'{"name": "x\\ud83dy"}'):
        r = await api.client.post("/api/admin/tokens", headers=headers, content=raw)
        assert_error(r, 400, "INVALID_REQUEST", "name")
    for raw in (
        b'{"id": "m", "thinking_defaults": {"a": "\\ud800"}}',
        b'{"id": "m", "thinking_defaults": {"\\udfff": 1}}',
        b'{"id": "m", "thinking_defaults": {"a": [["\\ud83d"]]}}',
    ):
        r = await api.client.post("/api/admin/models", headers=headers, content=raw)
        assert_error(r, 400, "INVALID_REQUEST", "thinking_defaults")
    raw = b'{"id": "m", "thinking_defaults": {"smile \\ud83d\\ude00": "\\ud83d\\ude00"}}'
    r = await api.client.post("/api/admin/models", headers=headers, content=raw)
    assert r.status_code == 201, r.text
    assert r.json()["thinking_defaults"] == {"smile \U0001f600": "\U0001f600"}
