"""Mock OpenAI endpoints besides text generation: embeddings, moderations, rerank (Cohere/Jina
style, as openai-compatible servers offer it), images (JSON and multipart edits), audio
transcription (multipart) and speech."""

from __future__ import annotations

import base64
import math
import struct
import time
from typing import Any

import orjson

from torouter.mock.context import Call
from torouter.mock.faults import NONE
from torouter.mock.openai import SSE, OpenAI, send_json
from torouter.mock.provider import group
from torouter.mock.text import answer, embedding, new_id, split_words, tokens

__all__ = [
    "embeddings",
    "image_edits",
    "images",
    "moderations",
    "parse_multipart",
    "rerank",
    "speech",
    "transcriptions",
]

# A 1x1 transparent PNG.
PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
_IMAGE_TOKENS = {"low": 272, "medium": 1056, "high": 4160, "auto": 1056}
_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
_AUDIO_TYPES = {
    "mp3": b"audio/mpeg",
    "opus": b"audio/opus",
    "aac": b"audio/aac",
    "flac": b"audio/flac",
    "wav": b"audio/wav",
    "pcm": b"audio/pcm",
}
_BYTES_PER_SECOND = 16_000  # how transcription guesses an upload's duration


def _provider(call: Call) -> OpenAI:
    provider: OpenAI = call.provider
    return provider


def _texts(value: Any) -> list[str]:
    """Inputs of embeddings/moderations as texts (token arrays become their decimal text)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        if value and all(isinstance(v, int) for v in value):
            return [" ".join(map(str, value))]
        out = []
        for item in value:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict) and isinstance(item.get("text"), str):
                out.append(item["text"])
            elif isinstance(item, list):
                out.append(" ".join(map(str, item)))
        return out
    return []


async def embeddings(call: Call) -> None:
    provider = _provider(call)
    body = await provider.parse(call, "input")
    if body is None:
        return
    texts = _texts(body["input"])
    d, _ = call.directives(texts[-1] if texts else "")
    if d is not NONE and await provider.gate(call, d):
        return
    model = body["model"]
    dims = body.get("dimensions")
    if not isinstance(dims, int) or dims <= 0:
        dims = 3072 if "large" in model else 1536
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(texts):
        vector: Any = embedding(text, dims)
        if as_base64:
            vector = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    prompt = sum(max(1, tokens(len(t))) for t in texts)
    out: dict[str, Any] = {"object": "list", "data": data, "model": model}
    if not d.no_usage:
        out["usage"] = {"prompt_tokens": prompt, "total_tokens": prompt}
    await send_json(call, out, d)


async def moderations(call: Call) -> None:
    provider = _provider(call)
    body = await provider.parse(call, "input", model=False)
    if body is None:
        return
    texts = _texts(body["input"]) or [""]
    d, _ = call.directives(texts[-1])
    if d is not NONE and await provider.gate(call, d):
        return
    results = []
    for _ in texts:
        flagged = bool(d.content_filter)
        scores = {c: 0.9 if flagged and c == "violence" else 1e-06 for c in _CATEGORIES}
        results.append(
            {
                "flagged": flagged,
                "categories": {c: flagged and c == "violence" for c in _CATEGORIES},
                "category_scores": scores,
                "category_applied_input_types": {c: ["text"] for c in _CATEGORIES},
            }
        )
    model = body.get("model") or "omni-moderation-latest"
    await send_json(call, {"id": "modr-" + new_id(32), "model": model, "results": results}, d)


async def rerank(call: Call) -> None:
    provider = _provider(call)
    body = await provider.parse(call, "documents")
    if body is None:
        return
    query = body.get("query")
    if not isinstance(query, str):
        query = ""
    d, query = call.directives(query)
    if d is not NONE and await provider.gate(call, d):
        return
    docs = [_doc_text(doc) for doc in body["documents"]]
    wanted = set(query.lower().split())
    scored = []
    for index, doc in enumerate(docs):
        overlap = len(wanted & set(doc.lower().split()))
        score = round((overlap + 1) / (len(wanted) + 2) - index * 1e-6, 6)
        scored.append((score, index))
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    top_n = body.get("top_n")
    if isinstance(top_n, int) and top_n > 0:
        scored = scored[:top_n]
    keep_docs = body.get("return_documents") is not False
    results = []
    for score, index in scored:
        result: dict[str, Any] = {"index": index, "relevance_score": score}
        if keep_docs:
            result["document"] = {"text": docs[index]}
        results.append(result)
    used = tokens(len(query)) + sum(tokens(len(doc)) for doc in docs)
    out: dict[str, Any] = {"id": new_id(32), "model": body["model"], "results": results}
    if not d.no_usage:
        out["usage"] = {"prompt_tokens": used, "total_tokens": used}
        out["meta"] = {"billed_units": {"search_units": 1}}
    await send_json(call, out, d)


def _doc_text(doc: Any) -> str:
    if isinstance(doc, str):
        return doc
    text = doc.get("text") if isinstance(doc, dict) else None
    if isinstance(text, str):
        return text
    return orjson.dumps(doc).decode()


# -- images --------------------------------------------------------------------------------


async def images(call: Call) -> None:
    provider = _provider(call)
    body = await provider.parse(call, "prompt")
    if body is None:
        return
    await _images(call, body, "image_generation")


async def image_edits(call: Call) -> None:
    provider = _provider(call)
    fields, files = parse_multipart(call)
    if not fields.get("model") or not fields.get("prompt") or not files:
        message = (
            "Missing required parameter: 'image'." if not files else "Missing prompt or model."
        )
        await provider.error(call, 400, message, param="image" if not files else "prompt")
        return
    body: dict[str, Any] = dict(fields)
    for key in ("n", "partial_images"):
        if str(body.get(key, "")).isdigit():
            body[key] = int(body[key])
    body["stream"] = fields.get("stream") == "true"
    await _images(call, body, "image_edit")


async def _images(call: Call, body: dict[str, Any], event_prefix: str) -> None:
    provider = _provider(call)
    d, _ = call.directives(str(body.get("prompt", "")))
    if d is not NONE and await provider.gate(call, d):
        return
    model = str(body.get("model") or "dall-e-2")
    n = body.get("n")
    if not (isinstance(n, int) and n > 0):
        n = 1
    size = str(body.get("size") or "1024x1024")
    quality = str(body.get("quality") or "auto")
    gpt_image = model.startswith("gpt-image")
    prompt_tokens = max(1, tokens(len(str(body.get("prompt", "")))))
    out_tokens = _IMAGE_TOKENS.get(quality, 1056) * n
    usage = {
        "input_tokens": prompt_tokens,
        "input_tokens_details": {"image_tokens": 0, "text_tokens": prompt_tokens},
        "output_tokens": out_tokens,
        "total_tokens": prompt_tokens + out_tokens,
    }
    created = int(time.time())
    meta = {"background": "opaque", "output_format": "png", "quality": quality, "size": size}
    if body.get("stream") is True and gpt_image:
        events: list[tuple[bytes, bool]] = []
        partial = body.get("partial_images")
        if not isinstance(partial, int):
            partial = 0
        for index in range(partial):
            kind = f"{event_prefix}.partial_image"
            frame = {"type": kind, "b64_json": PNG_B64, "created_at": created, **meta}
            frame["partial_image_index"] = index
            events.append((_named(kind, frame), True))
        kind = f"{event_prefix}.completed"
        done = {"type": kind, "b64_json": PNG_B64, "created_at": created, **meta}
        if not d.no_usage:
            done["usage"] = usage
        events.append((_named(kind, done), True))
        await call.stream(group(events, d), SSE, d)
        return
    if gpt_image or body.get("response_format") == "b64_json":
        data = [{"b64_json": PNG_B64} for _ in range(n)]
    else:
        data = [{"url": f"https://mock.invalid/images/{new_id(24)}.png"} for _ in range(n)]
    if model == "dall-e-3":
        for item in data:
            item["revised_prompt"] = str(body.get("prompt", ""))
    out: dict[str, Any] = {"created": created, "data": data}
    if gpt_image:
        out |= meta
        if not d.no_usage:
            out["usage"] = usage
    await send_json(call, out, d)


def _named(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


# -- audio ---------------------------------------------------------------------------------


async def transcriptions(call: Call) -> None:
    provider = _provider(call)
    fields, files = parse_multipart(call)
    upload = files.get("file")
    if not fields.get("model") or upload is None:
        await provider.error(call, 400, "Missing required parameter: 'file'.", param="file")
        return
    d, prompt = call.directives(fields.get("prompt", ""))
    if d is not NONE and await provider.gate(call, d):
        return
    filename, size = upload[0]
    seconds = max(1, math.ceil(size / _BYTES_PER_SECOND))
    text = answer(f"{filename} {prompt}".strip(), d.tokens or 16, d.chunks or call.config.chunks)
    model = fields["model"]
    text_tokens = tokens(len(text))
    if model.startswith("whisper"):
        usage: dict[str, Any] = {"type": "duration", "seconds": seconds}
    else:
        audio_tokens = seconds * 10
        usage = {
            "type": "tokens",
            "input_tokens": audio_tokens,
            "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
            "output_tokens": text_tokens,
            "total_tokens": audio_tokens + text_tokens,
        }
    if fields.get("stream") == "true" and not model.startswith("whisper"):
        events = []
        for piece in split_words(text, d.chunks or call.config.chunks):
            data = {"type": "transcript.text.delta", "delta": piece}
            events.append((b"data: " + orjson.dumps(data) + b"\n\n", True))
        done: dict[str, Any] = {"type": "transcript.text.done", "text": text}
        if not d.no_usage:
            done["usage"] = usage
        events.append((b"data: " + orjson.dumps(done) + b"\n\n", False))
        await call.stream(group(events, d), SSE, d)
        return
    response_format = fields.get("response_format", "json")
    if response_format in ("text", "srt", "vtt"):
        await call.reply(200, text.encode() + b"\n", b"text/plain; charset=utf-8")
        return
    out: dict[str, Any] = {"text": text}
    if response_format == "verbose_json":
        out = {
            "task": "transcribe",
            "language": "english",
            "duration": float(seconds),
            "text": text,
        }
        out["segments"] = []
    if not d.no_usage:
        out["usage"] = usage
    await send_json(call, out, d)


async def speech(call: Call) -> None:
    provider = _provider(call)
    body = await provider.parse(call, "input")
    if body is None:
        return
    text = str(body["input"])
    d, _ = call.directives(text)
    if d is not NONE and await provider.gate(call, d):
        return
    fmt = str(body.get("response_format") or "mp3")
    audio = _audio(fmt, 400 + 40 * len(text))
    if body.get("stream_format") == "sse":
        events = [
            (
                b"data: "
                + orjson.dumps(
                    {"type": "speech.audio.delta", "audio": base64.b64encode(piece).decode()}
                )
                + b"\n\n",
                True,
            )
            for piece in (audio[i : i + 4096] for i in range(0, len(audio), 4096))
        ]
        input_tokens = tokens(len(text))
        output_tokens = len(audio) // 100
        usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
        usage["total_tokens"] = input_tokens + output_tokens
        events.append(
            (
                b"data: " + orjson.dumps({"type": "speech.audio.done", "usage": usage}) + b"\n\n",
                False,
            )
        )
        await call.stream(group(events, d), SSE, d)
        return
    content_type = _AUDIO_TYPES.get(fmt, b"audio/mpeg")
    await call.reply(200, audio, content_type, disconnect=d.disconnect_after is not None)


def _audio(fmt: str, size: int) -> bytes:
    """Deterministic audio-looking bytes; WAV is a valid file of silence."""
    if fmt == "wav":
        frames = b"\x00\x00" * (size // 2)
        header = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVEfmt "
        header += struct.pack("<IHHIIHH", 16, 1, 1, 24000, 48000, 2, 16)
        return header + b"data" + struct.pack("<I", len(frames)) + frames
    head = {"mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00", "flac": b"fLaC", "opus": b"OggS"}.get(
        fmt, b""
    )
    return head + bytes(i % 251 for i in range(size))


def parse_multipart(call: Call) -> tuple[dict[str, str], dict[str, list[tuple[str, int]]]]:
    """Fields (as text) and files (name -> [(filename, size)]) of a multipart body."""
    content_type = ""
    for name, value in call.scope["headers"]:
        if name == b"content-type":
            content_type = value.decode("latin-1")
    fields: dict[str, str] = {}
    files: dict[str, list[tuple[str, int]]] = {}
    marker = "boundary="
    if marker not in content_type:
        return fields, files
    boundary = content_type.split(marker, 1)[1].split(";", 1)[0].strip().strip('"')
    for part in call.body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.partition(b"\r\n\r\n")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        disposition = ""
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                disposition = line
        params = {}
        for item in disposition.split(";")[1:]:
            key, _, value = item.strip().partition("=")
            params[key.lower()] = value.strip('"')
        name = params.get("name", "")
        if name.endswith("[]"):
            name = name[:-2]
        if "filename" in params:
            files.setdefault(name, []).append((params["filename"], len(data)))
        elif name:
            fields[name] = data.decode("utf-8", "replace")
    return fields, files
