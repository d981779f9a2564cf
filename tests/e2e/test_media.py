"""Embeddings, images, audio, rerank, completions and moderations through the real gateway,
with the official SDKs where they have the call (issue 9).

SPEC R3.1, R3.3, R5.2, R5.3, R9.2, R9.3, R10.3, R10.6, R18.5.
"""

from __future__ import annotations

import socket
import sqlite3
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from ulid import ULID

from tests.e2e.conftest import KEY, MEDIA_KEY
from tests.e2e.harness import GatewayProcess
from tests.e2e.sdks import GENAI_MAJORS, OPENAI_MAJORS, run_sdk
from tests.e2e.test_openai_chat import usage_row

AUTH = {"Authorization": f"Bearer {MEDIA_KEY}"}
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6364f8ff1f0002870180eb47ba920000000049454e44ae426082"
)


def sdk(gw: GatewayProcess, venv: str | None, op: str, **spec: Any) -> dict[str, Any]:
    rid = f"req-media-{ULID()}"
    out = run_sdk(
        "openai_media_call.py",
        venv,
        {"op": op, "base_url": gw.url + "/v1", "key": MEDIA_KEY, "request_id": rid, **spec},
    )
    out["request_id"] = rid
    return out


def nusd(usd: Decimal) -> int:
    return int((usd * 10**9).to_integral_value(rounding=ROUND_HALF_UP))


def channel_ids(gw: GatewayProcess) -> dict[str, int]:
    con = sqlite3.connect(gw.workdir / "data" / "torouter.db")
    try:
        return dict(con.execute("SELECT name, id FROM channels").fetchall())
    finally:
        con.close()


def post(gw: GatewayProcess, path: str, **kw: Any) -> httpx.Response:
    with gw.client() as c:
        return c.post(path, headers={**AUTH, **kw.pop("headers", {})}, **kw)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    (d / "img.png").write_bytes(PNG)
    (d / "speech.mp3").write_bytes(bytes(i % 251 for i in range(48_000)))  # 3 s at 16 kB/s
    (d / "big.mp3").write_bytes(bytes(i % 253 for i in range(3 * 1024 * 1024)))  # spooled
    return {p.stem: p for p in d.iterdir()}


# ── embeddings ──────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("venv", OPENAI_MAJORS)
@pytest.mark.parametrize(
    ("model", "price", "estimated"),
    [("text-embed", Decimal("0.02"), False), ("google-embed", Decimal("0.15"), True)],
    ids=["native", "gemini"],
)
def test_embeddings(
    gateway: GatewayProcess, venv: str | None, model: str, price: Decimal, estimated: bool
) -> None:
    """Native on openai; translated to batchEmbedContents on gemini (no usage there: the
    input's estimate, flagged). The SDK asks for base64 and decodes it."""
    out = sdk(
        gateway,
        venv,
        "embeddings",
        params={"model": model, "input": ["hello world", "routing"], "dimensions": 8},
    )
    assert "error" not in out, out
    assert out["count"] == 2 and out["dims"] == [8, 8]
    row = usage_row(gateway, out["request_id"])
    assert row["endpoint"] == "embeddings" and row["outcome"] == "success"
    assert row["input_tokens"] == out["usage"]["prompt_tokens"] > 0
    assert row["output_tokens"] == 0 and row["estimated"] is estimated
    assert row["cost_nusd"] == nusd(row["input_tokens"] * price / 10**6)


@pytest.mark.parametrize("venv", GENAI_MAJORS)
@pytest.mark.parametrize(
    ("model", "estimated"),
    [("google-embed", True), ("text-embed", False)],
    ids=["native", "openai"],
)
def test_gemini_embed_front_door(
    gateway: GatewayProcess, venv: str | None, model: str, estimated: bool
) -> None:
    """google-genai `embed_content` (batchEmbedContents): native on gemini, translated to
    /v1/embeddings on openai channels (R5.2)."""
    rid = f"req-embed-{ULID()}"
    spec = {
        "base_url": gateway.url,
        "key": MEDIA_KEY,
        "request_id": rid,
        "model": model,
        "contents": ["first text", "second text"],
        "config": {"output_dimensionality": 6},
    }
    out = run_sdk("genai_embed_call.py", venv, spec)
    assert "error" not in out, out
    assert out["dims"] == [6, 6]
    row = usage_row(gateway, rid)
    assert row["endpoint"] == "batch_embed_contents" and row["input_tokens"] > 0
    assert row["estimated"] is estimated
    body = {"content": {"parts": [{"text": "one text"}]}, "outputDimensionality": 5}
    for path in (f"/v1beta/models/{model}:embedContent", f"/v1/models/{model}:embedContent"):
        r = post(gateway, path, json=body, headers={"x-goog-api-key": MEDIA_KEY})
        assert r.status_code == 200, r.text
        assert len(r.json()["embedding"]["values"]) == 5


def test_each_operation_reaches_only_its_channels(gateway: GatewayProcess) -> None:
    """R9.2: a channel's `endpoints` restrict what it is tried for."""
    ids = channel_ids(gateway)
    for _ in range(3):
        r = post(gateway, "/v1/embeddings", json={"model": "split-test", "input": "x"})
        assert r.status_code == 200
        row = usage_row(gateway, r.headers["x-request-id"])
        assert [a["channel_id"] for a in row["attempt_chain"]] == [ids["split-embed"]]
        chat = {"model": "split-test", "messages": [{"role": "user", "content": "hi"}]}
        r = post(gateway, "/v1/chat/completions", json=chat)
        assert usage_row(gateway, r.headers["x-request-id"])["channel_id"] == ids["split-chat"]


# ── images ──────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("venv", OPENAI_MAJORS)
def test_images_generate(gateway: GatewayProcess, venv: str | None) -> None:
    """Reported tokens win (gpt-image); else per image returned (dall-e), R10.6."""
    out = sdk(gateway, venv, "images", params={"model": "img-gpt", "prompt": "a cat", "n": 2})
    assert "error" not in out, out
    assert out["count"] == 2 and all(out["b64"])
    row = usage_row(gateway, out["request_id"])
    assert row["model_upstream"] == "gpt-image-1" and row["images"] == 0
    assert row["input_tokens"] == out["usage"]["input_tokens"]
    assert row["output_tokens"] == out["usage"]["output_tokens"] > 0
    cost = (row["input_tokens"] * 5 + row["output_tokens"] * 40) * 1000
    assert row["cost_nusd"] == cost

    out = sdk(gateway, venv, "images", params={"model": "img-dalle", "prompt": "a dog", "n": 3})
    assert "error" not in out, out
    assert out["count"] == 3
    row = usage_row(gateway, out["request_id"])
    assert row["images"] == 3 and row["input_tokens"] == row["output_tokens"] == 0
    assert row["cost_nusd"] == nusd(3 * Decimal("0.02"))


@pytest.mark.parametrize("venv", OPENAI_MAJORS)
def test_images_edit(gateway: GatewayProcess, venv: str | None, files: dict[str, Path]) -> None:
    """Multipart, forwarded as received with the model id rewritten (img-gpt → gpt-image-1:
    the mock reports tokens only for gpt-image models)."""
    out = sdk(
        gateway,
        venv,
        "images",
        file=str(files["img"]),
        params={"model": "img-gpt", "prompt": "add a hat"},
    )
    assert "error" not in out, out
    assert out["count"] == 1 and out["usage"]["output_tokens"] > 0
    row = usage_row(gateway, out["request_id"])
    assert row["endpoint"] == "image_edits" and row["model_upstream"] == "gpt-image-1"
    assert row["output_tokens"] == out["usage"]["output_tokens"]


def test_image_stream_relayed(gateway: GatewayProcess) -> None:
    body = {"model": "img-gpt", "prompt": "a fox", "stream": True, "partial_images": 2}
    r = post(gateway, "/v1/images/generations", json=body)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.content.count(b"event: image_generation.partial_image") == 2
    assert b"event: image_generation.completed" in r.content
    row = usage_row(gateway, r.headers["x-request-id"])
    assert row["stream"] is True and row["output_tokens"] > 0


# ── audio ───────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("venv", OPENAI_MAJORS)
def test_transcription(gateway: GatewayProcess, venv: str | None, files: dict[str, Path]) -> None:
    """Duration-billed (whisper), token-billed, and text output without a duration."""
    audio = str(files["speech"])
    out = sdk(gateway, venv, "transcription", file=audio, params={"model": "whisper-test"})
    assert "error" not in out, out
    assert out["text"]
    row = usage_row(gateway, out["request_id"])
    assert row["endpoint"] == "audio_transcription" and row["audio_seconds"] == 3.0
    per_minute = Decimal("0.006")
    assert row["cost_nusd"] == nusd(Decimal(3) / 60 * per_minute + Decimal("0.001"))

    out = sdk(gateway, venv, "transcription", file=audio, params={"model": "transcribe-tokens"})
    row = usage_row(gateway, out["request_id"])
    assert row["audio_seconds"] == 0 and row["input_tokens"] > 0 and row["output_tokens"] > 0
    assert row["cost_nusd"] == nusd(
        (row["input_tokens"] * Decimal("2.5") + row["output_tokens"] * 10) / 10**6
    )

    out = sdk(
        gateway,
        venv,
        "transcription",
        file=audio,
        params={"model": "whisper-test", "response_format": "text"},
    )
    assert out["text"].strip()
    row = usage_row(gateway, out["request_id"])
    assert row["audio_seconds"] == 0 and row["cost_nusd"] == nusd(Decimal("0.001"))


def test_transcription_stream(gateway: GatewayProcess, files: dict[str, Path]) -> None:
    r = post(
        gateway,
        "/api/v1/audio/transcriptions",
        files={"file": ("speech.mp3", files["speech"].read_bytes(), "audio/mpeg")},
        data={"model": "transcribe-tokens", "stream": "true"},
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert b"transcript.text.delta" in r.content and b"transcript.text.done" in r.content
    row = usage_row(gateway, r.headers["x-request-id"])
    assert row["stream"] is True and row["input_tokens"] > 0 and row["estimated"] is False


def test_large_upload_is_spooled_and_replayed(
    gateway: GatewayProcess, files: dict[str, Path]
) -> None:
    """A 3 MiB upload (spooled to a temporary file) survives a failover: the second channel
    receives every byte (the mock bills 1 s per 16,000 bytes it got), R3.3, R9.3."""
    data = files["big"].read_bytes()
    r = post(
        gateway,
        "/v1/audio/transcriptions",
        files={"file": ("big.mp3", data, "audio/mpeg")},
        data={"model": "whisper-replay"},
    )
    assert r.status_code == 200, r.text
    row = usage_row(gateway, r.headers["x-request-id"])
    assert [a["class"] for a in row["attempt_chain"]][-1] == "success"
    assert row["audio_seconds"] == -(-len(data) // 16_000)


@pytest.mark.parametrize("venv", OPENAI_MAJORS)
def test_speech(gateway: GatewayProcess, venv: str | None) -> None:
    text = "Hello from the routing gateway."
    out = sdk(
        gateway, venv, "speech", params={"model": "tts-test", "input": text, "voice": "alloy"}
    )
    assert "error" not in out, out
    assert out["content_type"] == "audio/mpeg" and out["head"] == "49443304"  # ID3
    assert int(out["content_length"]) == out["size"] > 0  # relayed as a stream, length kept
    row = usage_row(gateway, out["request_id"])
    assert row["endpoint"] == "audio_speech" and row["characters"] == len(text)
    assert row["cost_nusd"] == nusd(len(text) * Decimal(15) / 10**6)


# ── rerank, completions, moderations ────────────────────────────────────────────────────────


def test_rerank(gateway: GatewayProcess) -> None:
    body = {"model": "rerank-test", "query": "cats", "documents": ["dogs bark", "cats purr"]}
    r = post(gateway, "/v1/rerank", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert [x["index"] for x in out["results"]] == [1, 0]
    row = usage_row(gateway, r.headers["x-request-id"])
    assert row["input_tokens"] == out["usage"]["total_tokens"] > 0
    assert row["cost_nusd"] == nusd(
        Decimal("0.002") + row["input_tokens"] * Decimal("0.05") / 10**6
    )


def test_completions_and_moderations(gateway: GatewayProcess) -> None:
    body = {"model": "legacy-test", "prompt": "Once upon a time", "max_tokens": 8}
    r = post(gateway, "/v1/completions", json=body)
    assert r.status_code == 200 and r.json()["object"] == "text_completion"
    row = usage_row(gateway, r.headers["x-request-id"])
    assert row["model_upstream"] == "gpt-3.5-turbo-instruct" and row["output_tokens"] > 0
    r = post(gateway, "/v1/completions", json={**body, "stream": True})
    assert r.status_code == 200 and r.content.endswith(b"data: [DONE]\n\n")
    assert b'"choices":[]' not in r.content  # the usage chunk only when asked (R4.2)
    row = usage_row(gateway, r.headers["x-request-id"])
    assert row["estimated"] is False and row["output_tokens"] > 0
    r = post(gateway, "/v1/moderations", json={"model": "legacy-test", "input": "hello"})
    assert r.status_code == 200 and r.json()["results"][0]["flagged"] is False
    # Native only on openai and openai-compatible channels: an Anthropic model is refused.
    r = post(gateway, "/v1/completions", json={"model": "claude-only", "prompt": "x"})
    assert r.status_code == 400


# ── unhappy paths ───────────────────────────────────────────────────────────────────────────

UPLOAD = {"image": ("img.png", PNG, "image/png"), "file": ("a.mp3", b"ID3" * 100, "audio/mpeg")}


@pytest.mark.parametrize(
    ("path", "model", "kind"),
    [
        ("/v1/embeddings", "tts-test", "json"),
        ("/v1/images/generations", "text-embed", "json"),
        ("/v1/images/edits", "whisper-test", "multipart"),
        ("/v1/audio/transcriptions", "img-gpt", "multipart"),
        ("/v1/audio/speech", "text-embed", "json"),
        ("/v1/rerank", "legacy-test", "json"),
        ("/v1/completions", "text-embed", "json"),
        ("/v1/moderations", "rerank-test", "json"),
        ("/v1/responses", "tts-test", "json"),
    ],
)
def test_model_not_on_endpoint(gateway: GatewayProcess, path: str, model: str, kind: str) -> None:
    """R3.2: E16 "model X is not available on endpoint Y"; nothing is tried upstream."""
    if kind == "json":
        r = post(gateway, path, json={"model": model, "input": "x", "prompt": "x"})
    else:
        r = post(gateway, path, data={"model": model, "prompt": "x"}, files=UPLOAD)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "INVALID_REQUEST" and err["param"] == "model"
    assert err["message"] == f"model {model} is not available on endpoint {path}"


@pytest.mark.parametrize("path", ["/v1/images/edits", "/v1/audio/transcriptions"])
def test_multipart_needs_model_field(gateway: GatewayProcess, path: str) -> None:
    r = post(gateway, path, data={"prompt": "x"}, files=UPLOAD)
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"


@pytest.mark.parametrize("path", ["/v1/images/edits", "/v1/audio/transcriptions"])
def test_oversize_upload_is_413(gateway: GatewayProcess, path: str) -> None:
    """E17 above `gateway.max_multipart_bytes` (64 MiB), refused before the body is read."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {MEDIA_KEY}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {64 * 1024 * 1024 + 1}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as s:
        s.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            piece = s.recv(4096)
            if not piece:
                break
            answer += piece
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code":"REQUEST_TOO_LARGE"' in answer


@pytest.mark.parametrize("venv", OPENAI_MAJORS)
def test_upstream_5xx_is_502_after_failover(
    gateway: GatewayProcess, venv: str | None, files: dict[str, Path]
) -> None:
    """Both channels of each operation answer 500: two attempts, then E21 (R9.5), cost 0."""
    fault = "x [[mock:500]]"
    calls = [
        ("embeddings", {}, {"model": "flaky-embeddings", "input": fault}),
        ("images", {}, {"model": "flaky-images", "prompt": fault}),
        ("images", {"file": str(files["img"])}, {"model": "flaky-image-edits", "prompt": fault}),
        (
            "transcription",
            {"file": str(files["speech"])},
            {"model": "flaky-audio-transcription", "prompt": fault},
        ),
        ("speech", {}, {"model": "flaky-audio-speech", "input": fault, "voice": "alloy"}),
    ]
    for op, extra, params in calls:
        out = sdk(gateway, venv, op, params=params, **extra)
        assert out.get("error", {}).get("status") == 502, (op, out)
        row = usage_row(gateway, out["request_id"])
        assert row["attempts"] == 2 and row["cost_nusd"] == 0, (op, row)
        assert {a["status"] for a in row["attempt_chain"]} == {500}


def test_rerank_5xx_is_502(gateway: GatewayProcess) -> None:
    body = {"model": "flaky-rerank", "query": "x [[mock:500]]", "documents": ["a"]}
    r = post(gateway, "/v1/rerank", json=body)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_unavailable"
    assert usage_row(gateway, r.headers["x-request-id"])["attempts"] == 2


def test_key_of_other_group_cannot_use_media_models(gateway: GatewayProcess) -> None:
    with gateway.client() as c:
        r = c.post(
            "/v1/embeddings",
            json={"model": "text-embed", "input": "x"},
            headers={"Authorization": f"Bearer {KEY}"},
        )
    assert r.status_code == 404 and r.json()["error"]["code"] == "MODEL_NOT_FOUND"
