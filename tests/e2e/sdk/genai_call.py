"""Run one google-genai call described by a JSON argument and print the outcome as JSON.

Executed by the project's venv (google-genai 3.x: `/v1`) and .venvs/genai1 (1.x: `/v1beta`).
"""

import json
import sys

from google import genai
from google.genai import errors, types


def main() -> None:
    spec = json.loads(sys.argv[1])
    client = genai.Client(
        api_key=spec["key"],
        http_options=types.HttpOptions(base_url=spec["base_url"], timeout=30_000),
    )
    out: dict = {"sdk": getattr(genai, "__version__", "?")}
    model = spec["model"]
    config = spec.get("config")
    try:
        if spec["op"] == "generate":
            r = client.models.generate_content(
                model=model, contents=spec["contents"], config=config
            )
            out.update(_summary(r))
        elif spec["op"] == "stream":
            text, last, n = "", None, 0
            calls = []
            for chunk in client.models.generate_content_stream(
                model=model, contents=spec["contents"], config=config
            ):
                n += 1
                last = chunk
                for part in (chunk.candidates[0].content.parts or []) if chunk.candidates else []:
                    if part.text and not part.thought:
                        text += part.text
                    if part.function_call:
                        calls.append(
                            {
                                "name": part.function_call.name,
                                "args": dict(part.function_call.args or {}),
                            }
                        )
            out.update(text=text, chunks=n, calls=calls)
            if last is not None and last.usage_metadata:
                out["usage"] = last.usage_metadata.model_dump(exclude_none=True)
                out["finish"] = str(last.candidates[0].finish_reason) if last.candidates else None
        elif spec["op"] == "count":
            r = client.models.count_tokens(model=model, contents=spec["contents"])
            out["total_tokens"] = r.total_tokens
        elif spec["op"] == "models":
            out["names"] = [m.name for m in client.models.list()]
    except errors.APIError as exc:
        out["error"] = {
            "class": type(exc).__name__,
            "status": exc.code,
            "message": exc.message,
            "status_text": exc.status,
        }
    print(json.dumps(out, default=str))


def _summary(r) -> dict:
    cand = r.candidates[0] if r.candidates else None
    parts = (cand.content.parts or []) if cand and cand.content else []
    return {
        "text": "".join(p.text for p in parts if p.text and not p.thought),
        "thoughts": [p.text for p in parts if p.thought],
        "calls": [
            {"name": p.function_call.name, "args": dict(p.function_call.args or {})}
            for p in parts
            if p.function_call
        ],
        "finish": str(cand.finish_reason) if cand else None,
        "usage": r.usage_metadata.model_dump(exclude_none=True) if r.usage_metadata else None,
    }


if __name__ == "__main__":
    main()
