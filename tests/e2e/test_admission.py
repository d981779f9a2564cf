"""Admission end to end (SPEC R7.1–R7.12, §8): every refusal from E3 on, with its status, code
and headers in the three envelopes and two languages, on both state backends; refused requests
reach no upstream and cost nothing; the official SDKs raise the matching exception."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import GatewayProcess, wait_until
from tests.e2e.test_admission_setup import KEYS, random_ip, start_gateway

MSG = [{"role": "user", "content": "hello"}]
BACKENDS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(scope="module", params=BACKENDS)
def agw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    workdir: Path = tmp_path_factory.mktemp(f"adm-{request.param}")
    gw = start_gateway(workdir, request.param, slot=0)
    yield gw
    gw.stop()


def chat(
    gw: GatewayProcess,
    name: str,
    *,
    ip: str | None = None,
    headers: dict[str, str] | None = None,
    content: str = "hello",
    max_tokens: int = 10,
) -> httpx.Response:
    h = {
        "Authorization": f"Bearer {KEYS[name]}",
        "X-Forwarded-For": ip or random_ip(),
        **(headers or {}),
    }
    body = {
        "model": "gpt-test",
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
    }
    with gw.client() as c:
        return c.post("/v1/chat/completions", json=body, headers=h)


def refused(gw: GatewayProcess, r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code
    line = gw.access_line(r.headers["x-request-id"])
    assert line["attempts"] == [] and line["cost_nusd"] == 0  # no upstream, no charge
    return err


@pytest.mark.parametrize(
    ("name", "status", "code", "type_"),
    [
        ("disabled", 401, "API_KEY_DISABLED", None),
        ("gone", 401, "USER_NOT_FOUND", None),
        ("suspended", 401, "USER_INACTIVE", None),
        ("unverified", 401, "USER_INACTIVE", None),
        ("expired", 403, "API_KEY_EXPIRED", None),
        ("ipwl", 403, "ACCESS_DENIED", None),
        ("modelwl", 403, "model_not_allowed", "ACCESS_DENIED"),
        ("grpoff", 403, "group_disabled", "ACCESS_DENIED"),
        ("private", 403, "group_not_allowed", "ACCESS_DENIED"),
        ("subnone", 403, "SUBSCRIPTION_NOT_FOUND", None),
        ("subpaused", 403, "SUBSCRIPTION_INVALID", None),
        ("poor", 402, "INSUFFICIENT_BALANCE", None),
        ("quota", 429, "API_KEY_QUOTA_EXHAUSTED", None),
    ],
)
def test_refusals(
    agw: GatewayProcess, name: str, status: int, code: str, type_: str | None
) -> None:
    err = refused(agw, chat(agw, name), status, code)
    assert err["type"] == (type_ or code)


def test_sticky_refusals_say_do_not_retry(agw: GatewayProcess) -> None:
    for name in ("poor", "quota"):
        r = chat(agw, name)
        assert r.headers["x-should-retry"] == "false"
        assert "retry-after" not in r.headers


def test_e13_subscription_day_cap_retries_at_midnight(agw: GatewayProcess) -> None:
    r = chat(agw, "subcap")
    refused(agw, r, 429, "USAGE_LIMIT_EXCEEDED")
    assert r.headers["x-should-retry"] == "false"
    midnight = (time.time() // 86400 + 1) * 86400  # timezone = UTC here
    assert abs(int(r.headers["retry-after"]) - (midnight - time.time())) < 5


def test_e12_key_budget_names_its_window(agw: GatewayProcess) -> None:
    r = chat(agw, "budget")
    refused(agw, r, 429, "API_KEY_QUOTA_EXHAUSTED")
    assert r.headers["x-torouter-limit"] == "key_budget_day"
    assert int(r.headers["retry-after"]) >= 1


def test_e7_client_ip_behind_a_trusted_proxy(agw: GatewayProcess) -> None:
    assert chat(agw, "ipwl", ip="10.9.9.9").status_code == 200
    # Right-most untrusted address: a spoofed left-most entry does not help.
    r = chat(agw, "ipwl", ip="10.9.9.9, 203.0.113.5")
    refused(agw, r, 403, "ACCESS_DENIED")


def test_e14_rpm_with_retry_after(agw: GatewayProcess) -> None:
    ip = random_ip()
    assert chat(agw, "rpm", ip=ip).status_code == 200
    assert chat(agw, "rpm", ip=ip).status_code == 200
    r = chat(agw, "rpm", ip=ip)
    err = refused(agw, r, 429, "RATE_LIMIT_EXCEEDED")
    assert err["message"] == "rate limit exceeded"
    assert r.headers["x-torouter-limit"] == "key_rpm"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert 0 < int(r.headers["retry-after-ms"]) <= 60_000


def test_null_key_limits_inherit_the_group_defaults(agw: GatewayProcess) -> None:
    ip = random_ip()
    codes = [chat(agw, "inherit", ip=ip).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_e14_per_ip_limit(agw: GatewayProcess) -> None:
    ip = random_ip()
    codes = [chat(agw, "ok", ip=ip).status_code for _ in range(5)]
    assert codes == [200] * 5
    r = chat(agw, "ok", ip=ip)
    refused(agw, r, 429, "RATE_LIMIT_EXCEEDED")
    assert r.headers["x-torouter-limit"] == "ip"


def test_e14_tpm_after_tokens_settle(agw: GatewayProcess) -> None:
    ip = random_ip()
    assert chat(agw, "tpm", ip=ip).status_code == 200
    r = chat(agw, "tpm", ip=random_ip())
    refused(agw, r, 429, "RATE_LIMIT_EXCEEDED")
    assert r.headers["x-torouter-limit"] == "key_tpm"


@contextmanager
def held_slot(gw: GatewayProcess, name: str) -> Iterator[threading.Event]:
    """Hold key `name`'s one concurrency slot with an open, slow stream until the yielded event is
    set (or the block ends). The slot is known to be held once the stream's 200 has arrived."""
    release = threading.Event()
    holding = threading.Event()
    failed: list[BaseException] = []

    def hold() -> None:
        body = {
            "model": "gpt-test",
            "stream": True,
            "messages": [{"role": "user", "content": "[[mock:chunk_interval_ms=100,chunks=600]]"}],
        }
        headers = {"Authorization": f"Bearer {KEYS[name]}", "X-Forwarded-For": random_ip()}
        try:
            with (
                gw.client() as c,
                c.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r,
            ):
                assert r.status_code == 200, r.read()
                lines = r.iter_lines()
                next(lines)
                holding.set()
                for _ in lines:
                    if release.is_set():
                        break
        except BaseException as exc:  # reported to the test thread
            failed.append(exc)
            holding.set()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        assert holding.wait(10), "the slot holder's stream never started"
        assert not failed, failed
        yield release
    finally:
        release.set()
        thread.join(30)
    # The slot comes back once the gateway sees the client gone.
    wait_until(lambda: chat(gw, name).status_code == 200, timeout=10, what="the slot back")


def test_e14_key_concurrency(agw: GatewayProcess) -> None:
    with held_slot(agw, "conc"):
        r = chat(agw, "conc")
        refused(agw, r, 429, "RATE_LIMIT_EXCEEDED")
    assert r.headers["x-torouter-limit"] == "key_concurrency"
    assert int(r.headers["retry-after"]) >= 1
    assert chat(agw, "conc").status_code == 200  # the slot is free again


def test_failed_key_lookups_are_throttled_per_ip(agw: GatewayProcess) -> None:
    ip = random_ip()
    bad = {"Authorization": "Bearer sk-" + "x" * 48, "X-Forwarded-For": ip}
    with agw.client() as c:
        for _ in range(100):
            r = c.post("/v1/chat/completions", json={"model": "gpt-test"}, headers=bad)
            assert r.json()["error"]["code"] == "INVALID_API_KEY"
        r = c.post("/v1/chat/completions", json={"model": "gpt-test"}, headers=bad)
        assert r.status_code == 429 and r.headers["x-torouter-limit"] == "ip"
        # The block is before the lookup: a good key from that IP waits too.
        good = {"Authorization": f"Bearer {KEYS['ok']}", "X-Forwarded-For": ip}
        r = c.post(
            "/v1/chat/completions", json={"model": "gpt-test", "messages": MSG}, headers=good
        )
        assert r.status_code == 429
    assert chat(agw, "ok").status_code == 200  # other addresses are unaffected


def test_subscription_usage_spends_windows_not_balance(agw: GatewayProcess) -> None:
    before = agw_key(agw, "subok")["data"]
    r = chat(agw, "subok")
    assert r.status_code == 200, r.text
    after = wait_until(
        lambda: (d := agw_key(agw, "subok")["data"])["usage"] > before["usage"] and d,
        what="the key's usage to grow",
    )
    day = after["torouter"]["subscription"]["windows"]["day"]
    assert day["cap"] == 5 and day["used"] > 0
    assert (
        after["torouter"]["balance"] is None and after["torouter"]["billing_type"] == "subscription"
    )


def agw_key(gw: GatewayProcess, name: str) -> dict[str, Any]:
    with gw.client() as c:
        r = c.get("/api/v1/key", headers={"Authorization": f"Bearer {KEYS[name]}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_key_info_and_legacy_billing(agw: GatewayProcess) -> None:
    info = agw_key(agw, "rpm")["data"]
    assert info["label"] == "rpm" and info["limit"] is None
    assert isinstance(info["usage"], float | int) and info["limit_remaining"] > 0
    assert set(info["torouter"]["windows"]) == {"key_rpm"}
    assert info["torouter"]["windows"]["key_rpm"]["limit"] == 2
    quota = agw_key(agw, "subok")["data"]
    assert quota["limit"] == 1
    auth = {"Authorization": f"Bearer {KEYS['ok']}"}
    with agw.client() as c:
        sub = c.get("/v1/dashboard/billing/subscription", headers=auth).json()
        assert sub["object"] == "billing_subscription" and 0 < sub["hard_limit_usd"] <= 100
        assert chat(agw, "ok").status_code == 200
        usage = wait_until(
            lambda: c.get(
                "/v1/dashboard/billing/usage?start_date=2020-01-01&end_date=2100-01-01",
                headers=auth,
            ).json()["total_usage"],
            what="usage rows to be written",
        )
        assert usage > 0  # US cents
        r = c.get("/v1/key", headers={"Authorization": f"Bearer {KEYS['disabled']}"})
        assert r.status_code == 401  # steps 1–6 still apply


def test_rate_limit_headers_on_success(agw: GatewayProcess) -> None:
    first = chat(agw, "hdr")
    r = chat(agw, "hdr")
    assert first.status_code == r.status_code == 200
    # The RPM window has the least room (100 - 2 < 1000 - 2).
    assert r.headers["x-ratelimit-limit-requests"] == "100"
    assert int(r.headers["x-ratelimit-remaining-requests"]) <= 98
    assert r.headers["x-ratelimit-reset-requests"].endswith("s")
    assert r.headers["x-ratelimit-limit-tokens"] == "100000"
    assert int(r.headers["x-ratelimit-remaining-tokens"]) < 100000


# -- envelopes and languages ---------------------------------------------------------------


def test_anthropic_and_gemini_envelopes(agw: GatewayProcess) -> None:
    with agw.client() as c:
        r = c.post(
            "/v1/messages",
            json={"model": "gpt-test", "max_tokens": 5, "messages": MSG},
            headers={"x-api-key": KEYS["modelwl"], "anthropic-version": "2023-06-01"},
        )
        assert r.status_code == 403
        body = r.json()
        assert body["type"] == "error" and body["error"]["type"] == "ACCESS_DENIED"
        assert body["error"]["code"] == "model_not_allowed"
        r = c.post(
            "/v1beta/models/gpt-test:generateContent",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
            headers={"x-goog-api-key": KEYS["poor"]},
        )
        assert r.status_code == 402
        err = r.json()["error"]
        assert err["status"] == "FAILED_PRECONDITION"
        assert err["details"][0]["reason"] == "INSUFFICIENT_BALANCE"


def test_chinese_messages(agw: GatewayProcess) -> None:
    r = chat(agw, "disabled", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert r.json()["error"]["message"] == "API key 已被禁用"
    r = chat(agw, "expired", headers={"Accept-Language": "en-US,zh;q=0.3"})
    assert r.json()["error"]["message"] == "API key has expired"


# -- official SDKs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls", "code"),
    [
        ("disabled", "AuthenticationError", "API_KEY_DISABLED"),
        ("gone", "AuthenticationError", "USER_NOT_FOUND"),
        ("suspended", "AuthenticationError", "USER_INACTIVE"),
        ("ipwl", "PermissionDeniedError", "ACCESS_DENIED"),
        ("modelwl", "PermissionDeniedError", "model_not_allowed"),
        ("subnone", "PermissionDeniedError", "SUBSCRIPTION_NOT_FOUND"),
        ("quota", "RateLimitError", "API_KEY_QUOTA_EXHAUSTED"),
    ],
)
def test_openai_sdk_exception_classes(agw: GatewayProcess, name: str, cls: str, code: str) -> None:
    import openai

    client = openai.OpenAI(base_url=agw.url + "/v1", api_key=KEYS[name], max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="gpt-test", messages=MSG)  # type: ignore[arg-type]
    assert type(info.value).__name__ == cls
    assert info.value.code == code


def test_openai_sdk_honours_retry_after(agw: GatewayProcess) -> None:
    """E14 on a busy concurrency slot: Retry-After 1 s; the SDK waits and then succeeds."""
    import openai

    with held_slot(agw, "conc") as release:
        strict = openai.OpenAI(base_url=agw.url + "/v1", api_key=KEYS["conc"], max_retries=0)
        with pytest.raises(openai.RateLimitError) as info:
            strict.chat.completions.create(model="gpt-test", messages=MSG)  # type: ignore[arg-type]
        assert info.value.response.headers["x-torouter-limit"] == "key_concurrency"
        patient = openai.OpenAI(base_url=agw.url + "/v1", api_key=KEYS["conc"], max_retries=10)
        threading.Timer(0.8, release.set).start()  # the holder lets go while the SDK waits
        started = time.monotonic()
        out = patient.chat.completions.create(model="gpt-test", messages=MSG)  # type: ignore[arg-type]
        assert out.choices[0].message.content
        assert time.monotonic() - started >= 0.5  # it waited as told, then got through


def test_anthropic_sdk_exception_classes(agw: GatewayProcess) -> None:
    import anthropic

    for name, cls in (
        ("modelwl", anthropic.PermissionDeniedError),
        ("quota", anthropic.RateLimitError),
    ):
        client = anthropic.Anthropic(base_url=agw.url, api_key=KEYS[name], max_retries=0)
        with pytest.raises(cls):
            client.messages.create(model="gpt-test", max_tokens=5, messages=MSG)  # type: ignore[arg-type]


def test_genai_sdk_errors(agw: GatewayProcess) -> None:
    from google import genai
    from google.genai import errors, types

    for name, code in (("ipwl", 403), ("quota", 429), ("disabled", 401)):
        client = genai.Client(
            api_key=KEYS[name],
            http_options=types.HttpOptions(base_url=agw.url, api_version="v1beta"),
        )
        with pytest.raises(errors.ClientError) as info:
            client.models.generate_content(model="gpt-test", contents="hi")
        assert info.value.code == code
