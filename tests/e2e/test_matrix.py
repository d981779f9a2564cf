"""Every cell of the R5.2 matrix through the real gateway against the mock providers (issue 12
item 13): each (front door × platform × operation) that R5.2 serves answers correctly, whole
and streamed, read back by the official SDKs; each cell it does not serve is E16 (R3.2).

The expected table is written out here from SPEC R5.2 and R3.3, not read from
`routing/matrix.py`, so that it guards any rewrite of the routing tables. `azure-openai` behaves
like `openai` (OpenAI wire, `api-key` header, deployment paths, R9.1), except that Responses
go through chat completions there (Azure serves Responses outside the deployment paths) and the
legacy completions and moderations are openai / openai-compatible only (R3.3).

Every channel maps its model to an upstream id (`m-X` → `up-X`), so the answer tells native
from translated: pass-through relays the upstream's model id, translation names the client's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic as anthropic_sdk
import httpx
import httpx2
import openai as openai_sdk
import pytest
from google import genai
from google.genai import types as genai_types

from tests.e2e.harness import GatewayProcess

KEY = "sk-matrixTestKey0000000000000000000000000000000000M"
assert len(KEY) == 51

# R5.2 (and R3.3 for completions and moderations); columns in PLATFORMS order.
PLATFORMS = ("openai", "anthropic", "gemini", "openrouter", "openai-compatible", "azure-openai")
R52 = {
    "chat": "N T T N N N",
    "responses": "N T T T T T",
    "embeddings": "N - T N N N",
    "images": "N - - - N N",
    "image_edits": "N - - - N N",
    "audio_transcription": "N - - - N N",
    "audio_speech": "N - - - N N",
    "rerank": "- - - - N -",
    "completions": "N - - - N -",
    "moderations": "N - - - N -",
    "messages": "T N T T T T",
    "count_tokens": "L N T L L L",
    "generate": "T T N T T T",
    "gemini_count_tokens": "L T N L L L",
    "embed_content": "T - N T T T",
    "batch_embed_contents": "T - N T T T",
}
CELLS = [
    (op, platform, mode)
    for op, row in R52.items()
    for platform, mode in zip(PLATFORMS, row.split(), strict=True)
]
STREAMED = ("chat", "responses", "messages", "generate", "completions")
MODEL = {p: "m-" + p for p in PLATFORMS}
BASE = {
    "openai": "/mock/openai/v1",
    "anthropic": "/mock/anthropic",
    "gemini": "/mock/gemini",
    "openrouter": "/mock/openai/v1",
    "openai-compatible": "/mock/openai/v1",
    "azure-openai": "/mock",
}
VENDOR = {"anthropic": "anthropic", "gemini": "google"}
PRICES = (
    "{ input = 1, output = 2, per_image = 0.01, per_request = 0.001, per_audio_minute = 0.006, "
    "per_1m_characters = 15 }"
)
ENDPOINTS = [
    "chat",
    "responses",
    "messages",
    "generate",
    "embeddings",
    "images",
    "audio_transcription",
    "audio_speech",
    "rerank",
    "completions",
    "moderations",
]


def _config() -> str:
    models = "".join(
        f"""
[[models]]
id = "{MODEL[p]}"
vendor = "{VENDOR.get(p, "openai")}"
endpoints = {ENDPOINTS!r}
prices = {PRICES}

[[channels]]
name = "matrix-{p}"
platform = "{p}"
base_url = "http://127.0.0.1:{{port}}{BASE[p]}"
credential = "mock-key-{p}"
models = ["{MODEL[p]}"]
model_mapping = {{ "{MODEL[p]}" = "up-{p}" }}
groups = ["matrix"]
"""
        for p in PLATFORMS
    )
    return f"""
data_dir = "{{dir}}/data"
[server]
port = {{port}}
[demo]
enabled = false
[mock]
mount = true
[usage]
flush_interval_s = 0.05

[[groups]]
name = "matrix"
billing_type = "balance"
price_multiplier = 1
models = {list(MODEL.values())!r}
{models}
[[users]]
email = "matrix@example.com"
verified = true
balance_usd = 100

[[keys]]
name = "matrix"
user = "matrix@example.com"
group = "matrix"
key = "{KEY}"
"""


@pytest.fixture(scope="module")
def mgw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir: Path = tmp_path_factory.mktemp("matrix")
    gw = GatewayProcess(workdir, _config())
    gw.start(timeout=120)  # generous: the machine may be loaded by other test processes
    yield gw
    gw.stop()


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6364f8ff1f0002870180eb47ba920000000049454e44ae426082"
)
PROMPT = "Describe a routing gateway"


def request(op: str, model: str, *, stream: bool = False, sse: bool = True) -> dict[str, Any]:
    """httpx keyword arguments for one operation at its front door."""
    auth = {"authorization": f"Bearer {KEY}"}
    gem = f"/v1beta/models/{model}"
    goog = {"x-goog-api-key": KEY}
    content = {"role": "user", "parts": [{"text": PROMPT}]}
    if op == "chat":
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": 50,
        }
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        return {"url": "/v1/chat/completions", "json": body, "headers": auth}
    if op == "responses":
        body = {"model": model, "input": PROMPT, "max_output_tokens": 50, "stream": stream}
        return {"url": "/v1/responses", "json": body, "headers": auth}
    if op == "messages":
        body = {
            "model": model,
            "max_tokens": 50,
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": stream,
        }
        return {"url": "/v1/messages", "json": body, "headers": auth}
    if op == "count_tokens":
        body = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
        return {"url": "/v1/messages/count_tokens", "json": body, "headers": auth}
    if op == "generate":
        action = "streamGenerateContent" if stream else "generateContent"
        body = {"contents": [content], "generationConfig": {"maxOutputTokens": 50}}
        params = {"alt": "sse"} if stream and sse else {}
        return {"url": f"{gem}:{action}", "json": body, "headers": goog, "params": params}
    if op == "gemini_count_tokens":
        return {"url": f"{gem}:countTokens", "json": {"contents": [content]}, "headers": goog}
    if op == "embed_content":
        body = {"content": {"parts": [{"text": "hello"}]}}
        return {"url": f"{gem}:embedContent", "json": body, "headers": goog}
    if op == "batch_embed_contents":
        one = {"model": f"models/{model}", "content": {"parts": [{"text": "hello"}]}}
        body = {"requests": [one, one]}
        return {"url": f"{gem}:batchEmbedContents", "json": body, "headers": goog}
    if op == "embeddings":
        return {
            "url": "/v1/embeddings",
            "json": {"model": model, "input": "hello"},
            "headers": auth,
        }
    if op == "images":
        body = {"model": model, "prompt": "a fox", "n": 1, "size": "256x256"}
        return {"url": "/v1/images/generations", "json": body, "headers": auth}
    if op == "image_edits":
        files = {"image": ("img.png", PNG, "image/png")}
        data = {"model": model, "prompt": "a fox"}
        return {"url": "/v1/images/edits", "files": files, "data": data, "headers": auth}
    if op == "audio_transcription":
        files = {"file": ("a.mp3", b"ID3" * 100, "audio/mpeg")}
        return {
            "url": "/v1/audio/transcriptions",
            "files": files,
            "data": {"model": model},
            "headers": auth,
        }
    if op == "audio_speech":
        body = {"model": model, "input": "hello there", "voice": "alloy"}
        return {"url": "/v1/audio/speech", "json": body, "headers": auth}
    if op == "rerank":
        body = {"model": model, "query": "cats", "documents": ["dogs bark", "cats purr"]}
        return {"url": "/v1/rerank", "json": body, "headers": auth}
    if op == "completions":
        body = {"model": model, "prompt": PROMPT, "max_tokens": 8, "stream": stream}
        return {"url": "/v1/completions", "json": body, "headers": auth}
    assert op == "moderations"
    return {"url": "/v1/moderations", "json": {"model": model, "input": "hi"}, "headers": auth}


def call(gw: GatewayProcess, op: str, platform: str, **kw: Any) -> httpx.Response:
    spec = request(op, MODEL[platform], **kw)
    with gw.client() as c:
        return c.post(spec.pop("url"), **spec)


def _sdk_http(body: bytes, stream: bool) -> httpx2.Client:
    """The current SDK majors run on httpx2: replay the gateway's bytes to them."""
    ctype = "text/event-stream" if stream else "application/json"
    transport = httpx2.MockTransport(
        lambda _: httpx2.Response(200, content=body, headers={"content-type": ctype})
    )
    return httpx2.Client(transport=transport)


def read_chat(body: bytes, stream: bool) -> dict[str, Any]:
    client = openai_sdk.OpenAI(
        api_key="sk-x", base_url="http://gw.test/v1", http_client=_sdk_http(body, stream)
    )
    msgs: Any = [{"role": "user", "content": "hi"}]
    if stream:
        with client.chat.completions.stream(model="x", messages=msgs) as s:
            done = s.get_final_completion()
    else:
        done = client.chat.completions.create(model="x", messages=msgs)
    assert done.usage is not None and done.usage.completion_tokens > 0
    choice = done.choices[0]
    return {"text": choice.message.content, "stop": choice.finish_reason}


def read_responses(body: bytes, stream: bool) -> dict[str, Any]:
    client = openai_sdk.OpenAI(
        api_key="sk-x", base_url="http://gw.test/v1", http_client=_sdk_http(body, stream)
    )
    if not stream:
        done = client.responses.create(model="x", input="hi")
    else:
        with client.responses.stream(model="x", input="hi") as s:
            done = s.get_final_response()
    assert done.usage is not None and done.usage.output_tokens > 0
    return {"text": done.output_text, "stop": done.status}


def read_messages(body: bytes, stream: bool) -> dict[str, Any]:
    client = anthropic_sdk.Anthropic(
        api_key="sk-x", base_url="http://gw.test", http_client=_sdk_http(body, stream)
    )
    msgs: Any = [{"role": "user", "content": "hi"}]
    if stream:
        with client.messages.stream(model="x", max_tokens=64, messages=msgs) as s:
            msg = s.get_final_message()
    else:
        msg = client.messages.create(model="x", max_tokens=64, messages=msgs)
    assert msg.usage.output_tokens > 0
    text = "".join(b.text for b in msg.content if b.type == "text")
    return {"text": text, "stop": msg.stop_reason}


def read_generate(body: bytes, stream: bool) -> dict[str, Any]:
    options = genai_types.HttpOptions(
        base_url="http://gw.test", httpx_client=_sdk_http(body, stream)
    )
    client = genai.Client(api_key="AIza-x", http_options=options)
    if stream:
        chunks = list(client.models.generate_content_stream(model="x", contents="hi"))
    else:
        chunks = [client.models.generate_content(model="x", contents="hi")]
    last = chunks[-1]
    assert last.usage_metadata is not None and last.usage_metadata.candidates_token_count
    cand = last.candidates[0] if last.candidates else None
    assert cand is not None and cand.finish_reason is not None
    return {"text": "".join(c.text or "" for c in chunks), "stop": cand.finish_reason.value}


READ = {
    "chat": (read_chat, "stop"),
    "responses": (read_responses, "completed"),
    "messages": (read_messages, "end_turn"),
    "generate": (read_generate, "STOP"),
}


def answered_model(op: str, raw: bytes, stream: bool) -> str:
    """The model id a text answer names (the first event's, for streams)."""
    if not stream:
        obj = json.loads(raw)
        return obj.get("model") or obj.get("modelVersion")
    first = raw.split(b"\n\n", 1)[0].split(b"data: ", 1)[1].split(b"\r\n", 1)[0]
    obj = json.loads(first)
    if op == "responses":
        return obj["response"]["model"]
    if op == "messages":
        return obj["message"]["model"]
    return obj.get("model") or obj.get("modelVersion")


def check_text(op: str, mode: str, platform: str, r: httpx.Response, stream: bool) -> None:
    """The official SDK reads the answer: text, the end, usage; and it came the R5.2 way."""
    reader, stop = READ[op]
    out = reader(r.content, stream)
    assert out["text"] and out["stop"] == stop, out
    want = f"up-{platform}" if mode == "N" else MODEL[platform]
    assert answered_model(op, r.content, stream) == want


def check_other(op: str, mode: str, r: httpx.Response) -> None:
    if op == "audio_speech":
        assert r.headers["content-type"].startswith("audio/") and r.content
        return
    obj = r.json()
    if op in ("count_tokens", "gemini_count_tokens"):
        n = obj["input_tokens"] if op == "count_tokens" else obj["totalTokens"]
        assert n > 0
        # Answered by the gateway exactly where R5.2 says L (R10.7).
        assert (r.headers.get("x-torouter-estimated") == "true") == (mode == "L")
    elif op == "embeddings":
        assert len(obj["data"]) == 1 and obj["data"][0]["embedding"]
    elif op == "embed_content":
        assert obj["embedding"]["values"]
    elif op == "batch_embed_contents":
        assert len(obj["embeddings"]) == 2 and all(e["values"] for e in obj["embeddings"])
    elif op in ("images", "image_edits"):
        assert len(obj["data"]) == 1
    elif op == "audio_transcription":
        assert obj["text"]
    elif op == "rerank":
        assert [x["index"] for x in obj["results"]] == [1, 0]
    elif op == "completions":
        assert obj["object"] == "text_completion" and obj["choices"][0]["text"]
    else:
        assert op == "moderations" and obj["results"][0]["flagged"] is False


TEXT = ("chat", "responses", "messages", "generate")
BILLED = set(R52) - {"count_tokens", "gemini_count_tokens"}


@pytest.mark.parametrize(("op", "platform", "mode"), CELLS, ids=[f"{o}-{p}" for o, p, _ in CELLS])
def test_every_cell(mgw: GatewayProcess, op: str, platform: str, mode: str) -> None:
    variants = [{}]
    if op in STREAMED:
        variants.append({"stream": True})
    if op == "generate":
        variants.append({"stream": True, "sse": False})  # the streamed JSON array (R3.5)
    for kw in variants:
        r = call(mgw, op, platform, **kw)
        what = f"{op} on {platform} {kw}"
        if mode == "-":
            # R3.2: the model's group has no channel able to serve this endpoint.
            assert r.status_code == 400, (what, r.text)
            err = r.json()["error"]
            kinds = (err.get("code"), err.get("type"), err.get("status"))
            assert "INVALID_REQUEST" in kinds or "INVALID_ARGUMENT" in kinds, (what, err)
            assert "is not available on endpoint" in err["message"], (what, err)
            continue
        assert r.status_code == 200, (what, r.text[:500])
        stream = bool(kw.get("stream"))
        if stream and kw.get("sse") is False:
            chunks = json.loads(r.content)  # a whole JSON array of responses
            assert chunks[-1]["candidates"][0]["finishReason"] == "STOP", what
            model = chunks[0]["modelVersion"]
            assert model == (f"up-{platform}" if mode == "N" else MODEL[platform]), what
        elif op in TEXT:
            check_text(op, mode, platform, r, stream)
        elif stream:
            assert r.content.endswith(b"data: [DONE]\n\n"), what
        else:
            check_other(op, mode, r)
        line = mgw.access_line(r.headers["x-request-id"])
        assert line["outcome"] == "success" and line["status"] == 200, (what, line)
        if op in BILLED:
            assert line["cost_nusd"] > 0, (what, line)
