"""A gateway set up for the deployment-kit tests, and a mix of requests that makes every metric
family of R17.2 emit samples (a labelled counter shows none until it is counted once)."""

from __future__ import annotations

import httpx

from tests.e2e.harness import GatewayProcess

__all__ = ["ADMIN_EMAIL", "ADMIN_PASSWORD", "CONFIG", "KEY", "START_TIMEOUT", "exercise"]

KEY = "sk-deployKitKey00000000000000000000000000000000000D"
assert len(KEY) == 51
ADMIN_EMAIL = "ops@example.com"
ADMIN_PASSWORD = "correct horse battery staple 42"
# Start-up on a machine shared with other test runs can take far longer than on an idle one.
START_TIMEOUT = 120.0

# `{port}` and `{dir}` are filled in by GatewayProcess. The mocks are mounted on the gateway;
# `gpt-limited` gets 429s from its only channel, so it cools down (the cooldown counter).
CONFIG = """
data_dir = "{dir}/data"
encryption_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
[server]
port = {port}
[demo]
enabled = false
[mock]
mount = true
[usage]
flush_interval_s = 0.05

[[groups]]
name = "default"
billing_type = "balance"
models = ["gpt-ok", "gpt-limited"]

[[models]]
id = "gpt-ok"
vendor = "openai"
endpoints = ["chat"]
prices = { input = 2, output = 10 }

[[models]]
id = "gpt-limited"
vendor = "openai"
endpoints = ["chat"]
prices = { input = 2, output = 10 }

[[channels]]
name = "mock-openai"
platform = "openai"
base_url = "http://localhost:{port}/mock/openai/v1"
credential = "mock-key-1"
models = ["gpt-ok", "gpt-limited"]
groups = ["default"]

[[users]]
email = "ops@example.com"
role = "admin"
verified = true
balance_usd = 100
password = "env:DEPLOY_ADMIN_PASSWORD"

[[keys]]
name = "kit"
user = "ops@example.com"
group = "default"
key = "KEY"
""".replace("KEY", KEY)


def _chat(c: httpx.Client, model: str, text: str, *, stream: bool = False) -> httpx.Response:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]}
    return c.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"})


def exercise(gw: GatewayProcess) -> dict[str, str]:
    """Send the mix; returns the request ids of the calls that leave a usage row: the successful
    non-stream and stream calls and the failed one (`written` below waits for all of them)."""
    ids: dict[str, str] = {}
    with gw.client() as c:
        ok = _chat(c, "gpt-ok", "hello")
        assert ok.status_code == 200, ok.text
        ids["chat"] = ok.headers["x-request-id"]
        streamed = _chat(c, "gpt-ok", "stream it", stream=True)
        assert streamed.status_code == 200 and "[DONE]" in streamed.text
        ids["stream"] = streamed.headers["x-request-id"]
        limited = _chat(c, "gpt-limited", "[[mock:429]] too fast")
        assert limited.status_code >= 500, limited.text  # the only channel cooled: E21/E22
        ids["failed"] = limited.headers["x-request-id"]
        refused = c.post(
            "/v1/chat/completions",
            json={"model": "gpt-ok", "messages": []},
            headers={"Authorization": "Bearer sk-not-a-key"},
        )
        assert refused.status_code == 401
    return ids
