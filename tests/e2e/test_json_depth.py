"""JSON of any depth through the real gateway (issue 12 item 2; R3.1, R8.3): up to the
documented limit every front door serves it, natively and translated; deeper is E16 in the
caller's envelope, never a 500, whatever the depth (orjson's own parser stops at 1,024 levels,
its encoder at 255; the admission estimate used to recurse).

The depth sits in a tool schema, the field translations re-encode and move deepest.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import KEY
from tests.e2e.harness import GatewayProcess
from torouter.protocols.nesting import MAX_JSON_DEPTH

DEPTHS = sorted(
    {1, 2, 5, 10, 50, 100, 127, 128, 129, 130, 200, 253, 254, 255, 256, 500, 999, 1000}
    | {1023, 1024, 1025, 1026, 2000, 4999, 5000}
)
# (front door, model): native and translated routes of each front door (tests/e2e/conftest.py).
ROUTES = [
    ("openai", "gpt-test"),
    ("openai", "claude-only"),
    ("responses", "gpt-test"),
    ("responses", "gemini-test"),
    ("anthropic", "claude-only"),
    ("anthropic", "gpt-test"),
    ("gemini", "gemini-test"),
    ("gemini", "claude-only"),
]


def _nest(levels: int) -> str:
    """A tool schema whose `items` nest `levels` deep, as JSON text (any depth, no encoder)."""
    return '{"type":"array","items":' * levels + '{"type":"string"}' + "}" * levels


def body(front: str, model: str, depth: int) -> bytes:
    """A request exactly `depth` levels deep, or the shallowest one with a tool if `depth` is
    below that (the JSON object and the path to the tool schema take a few levels)."""
    base = {
        "openai": (5, '"tools":[{"type":"function","function":{"name":"f","parameters":%s}}]'),
        "responses": (4, '"tools":[{"type":"function","name":"f","parameters":%s}]'),
        "anthropic": (4, '"tools":[{"name":"f","input_schema":%s}]'),
        "gemini": (6, '"tools":[{"functionDeclarations":[{"name":"f","parameters":%s}]}]'),
    }
    above, tools = base[front]
    schema = _nest(max(depth - above, 0))
    head = {
        "openai": '"model":"%s","max_tokens":20,"messages":[{"role":"user","content":"hi"}]',
        "responses": '"model":"%s","max_output_tokens":20,"input":"hi"',
        "anthropic": '"model":"%s","max_tokens":20,"messages":[{"role":"user","content":"hi"}]',
        "gemini": '"contents":[{"role":"user","parts":[{"text":"hi"}]}]',
    }[front]
    if front != "gemini":
        head = head % model
    return ("{" + head + "," + tools % schema + "}").encode()


def real_depth(raw: bytes) -> int:
    depth = best = 0
    in_string = escaped = False
    for ch in raw.decode():
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
        elif ch in "]}":
            depth -= 1
    return best


def send(gw: GatewayProcess, front: str, model: str, raw: bytes) -> httpx.Response:
    path = {
        "openai": "/v1/chat/completions",
        "responses": "/v1/responses",
        "anthropic": "/v1/messages",
        "gemini": f"/v1beta/models/{model}:generateContent",
    }[front]
    headers = {"content-type": "application/json", "authorization": f"Bearer {KEY}"}
    if front == "anthropic":
        headers["anthropic-version"] = "2023-06-01"
    with gw.client() as c:
        return c.post(path, content=raw, headers=headers)


def refusal(front: str, r: httpx.Response) -> dict[str, Any]:
    """The E16 error object in the caller's envelope (R8.3)."""
    obj = r.json()
    err = obj["error"]
    if front == "anthropic":
        assert obj["type"] == "error" and err["type"] == "INVALID_REQUEST"
    elif front == "gemini":
        assert err["status"] == "INVALID_ARGUMENT" and err["code"] == 400
        assert err["details"][0]["reason"] == "INVALID_REQUEST"
    else:
        assert err["code"] == "INVALID_REQUEST"
    return err


@pytest.mark.parametrize(("front", "model"), ROUTES, ids=[f"{f}-{m}" for f, m in ROUTES])
def test_depths_one_to_five_thousand(gateway: GatewayProcess, front: str, model: str) -> None:
    for depth in DEPTHS:
        raw = body(front, model, depth)
        actual = real_depth(raw)
        assert actual == max(depth, real_depth(body(front, model, 1))), (depth, actual)
        r = send(gateway, front, model, raw)
        if actual <= MAX_JSON_DEPTH:
            assert r.status_code == 200, (depth, r.text[:300])
            continue
        assert r.status_code == 400, (depth, r.status_code, r.text[:300])
        assert r.headers["x-request-id"]
        err = refusal(front, r)
        assert f"deeper than {MAX_JSON_DEPTH} levels" in err["message"], (depth, err)
        line = gateway.access_line(r.headers["x-request-id"])
        assert line["attempts"] == [] and line["cost_nusd"] == 0  # nothing reached an upstream
