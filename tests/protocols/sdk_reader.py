"""Standalone: read translated bytes with whatever SDK major this interpreter holds.

Run by `test_sdk_majors.py` with the older SDK venvs (openai 1.x, anthropic 0.x, google-genai
1.x), which have neither pytest nor torouter. Input on stdin: a JSON list of
`{"front", "stream", "body"}`; output: one JSON list of summaries (text, thinking, tool calls,
stop reason, raw usage) or `{"error": …}` per item.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import httpx

BASE = "http://gateway.test"
MODEL = "test-model"


def _http(body: bytes, stream: bool) -> httpx.Client:
    ctype = "text/event-stream" if stream else "application/json"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": ctype})

    return httpx.Client(transport=httpx.MockTransport(handler))


def read_openai(body: bytes, stream: bool) -> dict[str, Any]:
    import openai

    client = openai.OpenAI(
        api_key="sk-test", base_url=f"{BASE}/v1", http_client=_http(body, stream)
    )
    messages: Any = [{"role": "user", "content": "hi"}]
    out: dict[str, Any] = {
        "text": "",
        "thinking": "",
        "tool_calls": [],
        "stop": None,
        "usage": None,
    }
    if stream:
        calls: dict[int, list[Any]] = {}
        for chunk in client.chat.completions.create(model=MODEL, messages=messages, stream=True):
            if chunk.usage is not None:
                out["usage"] = chunk.usage.model_dump()
            for choice in chunk.choices:
                d = choice.delta
                out["text"] += d.content or ""
                out["thinking"] += (d.model_extra or {}).get("reasoning_content") or ""
                for tc in d.tool_calls or []:
                    slot = calls.setdefault(tc.index, [tc.id, "", ""])
                    slot[1] += (tc.function and tc.function.name) or ""
                    slot[2] += (tc.function and tc.function.arguments) or ""
                if choice.finish_reason:
                    out["stop"] = choice.finish_reason
        out["tool_calls"] = [[i, n, json.loads(a or "{}")] for i, n, a in calls.values()]
        return out
    done = client.chat.completions.create(model=MODEL, messages=messages)
    msg = done.choices[0].message
    out["text"] = msg.content or ""
    out["thinking"] = (msg.model_extra or {}).get("reasoning_content") or ""
    calls_ = [
        [c.id, c.function.name, json.loads(c.function.arguments)] for c in msg.tool_calls or []
    ]
    out["tool_calls"] = calls_
    out["stop"] = done.choices[0].finish_reason
    out["usage"] = done.usage.model_dump() if done.usage else None
    return out


def read_anthropic(body: bytes, stream: bool) -> dict[str, Any]:
    import anthropic

    client = anthropic.Anthropic(api_key="sk-test", base_url=BASE, http_client=_http(body, stream))
    messages: Any = [{"role": "user", "content": "hi"}]
    if stream:
        with client.messages.stream(model=MODEL, max_tokens=64, messages=messages) as s:
            msg = s.get_final_message()
    else:
        msg = client.messages.create(model=MODEL, max_tokens=64, messages=messages)
    out: dict[str, Any] = {"text": "", "thinking": "", "tool_calls": [], "stop": msg.stop_reason}
    out["usage"] = msg.usage.model_dump()
    for b in msg.content:
        if b.type == "text":
            out["text"] += b.text
        elif b.type == "thinking":
            out["thinking"] += b.thinking
        elif b.type == "tool_use":
            out["tool_calls"].append([b.id, b.name, b.input])
    return out


def read_gemini(body: bytes, stream: bool) -> dict[str, Any]:
    from google import genai
    from google.genai import types

    options = types.HttpOptions(base_url=BASE, httpx_client=_http(body, stream))
    client = genai.Client(api_key="AIza-test", http_options=options)
    if stream:
        chunks = list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    else:
        chunks = [client.models.generate_content(model=MODEL, contents="hi")]
    out: dict[str, Any] = {
        "text": "",
        "thinking": "",
        "tool_calls": [],
        "stop": None,
        "usage": None,
    }
    for chunk in chunks:
        cand = (chunk.candidates or [None])[0]
        if cand is not None:
            for p in (cand.content and cand.content.parts) or []:
                if p.function_call is not None:
                    fc = p.function_call
                    out["tool_calls"].append([fc.id, fc.name, fc.args])
                elif p.thought:
                    out["thinking"] += p.text or ""
                elif p.text:
                    out["text"] += p.text
            if cand.finish_reason is not None:
                out["stop"] = cand.finish_reason.value
        if chunk.usage_metadata is not None:
            out["usage"] = chunk.usage_metadata.model_dump(by_alias=True, exclude_none=True)
    return out


READERS = {"openai": read_openai, "anthropic": read_anthropic, "gemini": read_gemini}


def main() -> None:
    results = []
    for item in json.load(sys.stdin):
        try:
            results.append(READERS[item["front"]](item["body"].encode(), item["stream"]))
        except Exception as exc:  # reported to the test, which decides
            results.append({"error": f"{type(exc).__name__}: {exc}"})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
