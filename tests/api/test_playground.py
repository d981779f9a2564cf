"""`POST /api/me/playground/chat` and the console's playground (R15.1, R16.1): a chat billed
to one of the user's keys goes through the gateway's own path, streamed or not, and is
metered; another user's key is refused; the key hash seam cannot be reached over HTTP."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from tests.console.browser import Demo, demo, funded_user  # noqa: F401  (session fixture)
from tests.e2e.harness import wait_until

BODY = {"model": "demo-gpt", "messages": [{"role": "user", "content": "Hello there"}]}


def signed_in(server: Demo, address: str, password: str = "playground pw") -> httpx.Client:
    funded_user(server, address, password)
    c = httpx.Client(base_url=server.url, timeout=30)
    r = c.post("/api/auth/login", json={"email": address, "password": password})
    assert r.status_code == 200, r.text
    c.headers["x-csrf-token"] = r.json()["csrf_token"]
    return c


def new_key(c: httpx.Client, name: str = "pg") -> dict[str, object]:
    r = c.post("/api/me/keys", json={"name": name, "group": "default"})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_streams_through_the_gateway_and_bills_the_key(demo: Demo) -> None:  # noqa: F811
    c = signed_in(demo, "pg-stream@example.com")
    key = new_key(c)
    with c.stream(
        "POST", "/api/me/playground/chat", json={"key_id": key["id"], **BODY, "system": "Be brief"}
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    assert '"chat.completion.chunk"' in text and text.rstrip().endswith("data: [DONE]")
    assert '"usage"' in text  # asked for, so the client can show it

    def spent() -> bool:
        got = c.get(f"/api/me/keys/{key['id']}").json()
        return bool(got["spend_nusd"] > 0 and got["last_used_at"])

    wait_until(spent, timeout=20, what="the playground request settled on the key")
    assert c.get("/api/me/balance").json()["balance_nusd"] < 5 * 10**9


def test_non_stream_answer_and_the_gateways_errors(demo: Demo) -> None:  # noqa: F811
    c = signed_in(demo, "pg-json@example.com")
    key = new_key(c)
    r = c.post(
        "/api/me/playground/chat",
        json={"key_id": key["id"], **BODY, "stream": False, "temperature": 0.2, "max_tokens": 50},
    )
    assert r.status_code == 200 and r.json()["object"] == "chat.completion"
    assert r.headers["x-request-id"].startswith("req_")
    assert c.patch(f"/api/me/keys/{key['id']}", json={"status": "disabled"}).status_code == 200
    r = c.post("/api/me/playground/chat", json={"key_id": key["id"], **BODY})
    assert r.status_code == 401 and r.json()["error"]["code"] == "API_KEY_DISABLED"
    r = c.post("/api/me/playground/chat", json={"key_id": key["id"], **BODY, "model": "nope"})
    assert r.status_code in (401, 404)


def test_other_users_keys_csrf_and_validation(demo: Demo) -> None:  # noqa: F811
    owner = signed_in(demo, "pg-owner@example.com")
    key = new_key(owner)
    other = signed_in(demo, "pg-other@example.com")
    # Another user's key answers exactly like a missing one (issue 12 point 16).
    r = other.post("/api/me/playground/chat", json={"key_id": key["id"], **BODY})
    missing = other.post("/api/me/playground/chat", json={"key_id": 999_999, **BODY})
    assert r.status_code == missing.status_code == 404
    assert r.json() == missing.json()
    r = other.post(
        "/api/me/playground/chat",
        json={"key_id": key["id"], **BODY},
        headers={"x-csrf-token": "wrong"},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "CSRF_FAILED"
    r = other.post("/api/me/playground/chat", json={"key_id": 1, **BODY, "temperature": 3})
    assert r.status_code == 400 and r.json()["error"]["param"] == "temperature"
    anon = httpx.post(demo.url + "/api/me/playground/chat", json={"key_id": 1, **BODY})
    assert anon.status_code == 401


def test_the_key_hash_seam_is_not_reachable_over_http(demo: Demo) -> None:  # noqa: F811
    digest = hashlib.sha256(demo.key.encode()).hexdigest()
    r = httpx.post(
        demo.url + "/v1/chat/completions", json=BODY, headers={"torouter.key_hash": digest}
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "API_KEY_REQUIRED"


@pytest.mark.parametrize("pasted", [False, True])
def test_console_playground_without_javascript(demo: Demo, pasted: bool) -> None:  # noqa: F811
    """The form posts to /playground and the whole reply comes back on the page."""
    c = signed_in(demo, f"pg-form-{str(pasted).lower()}@example.com")
    key = new_key(c)
    page = c.get("/playground")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    form = {
        "csrf_token": csrf.group(1),
        "key_id": "" if pasted else str(key["id"]),
        "api_key": str(key["key"]) if pasted else "",
        "model": "demo-claude",
        "system": "",
        "temperature": "1",
        "max_tokens": "64",
        "message": "Hi from a form",
    }
    r = c.post("/playground", data=form)
    assert r.status_code == 200, r.text
    assert 'class="msg assistant"' in r.text and "Hi from a form" in r.text
    r = c.post("/playground", data={**form, "key_id": "", "api_key": ""})
    assert r.status_code == 400 and "Choose one of your keys or paste a key." in r.text
