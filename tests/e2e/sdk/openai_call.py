"""Run one OpenAI-SDK call described by a JSON argument and print the outcome as JSON.

Executed by the interpreter of each SDK major (the project's venv: openai 3.x; .venvs/openai1:
openai 1.x), so the same scenario is checked against both.
"""

import json
import sys

import openai


def main() -> None:
    spec = json.loads(sys.argv[1])
    client = openai.OpenAI(
        base_url=spec["base_url"],
        api_key=spec["key"],
        max_retries=0,
        timeout=30,
        default_headers=spec.get("headers") or None,
    )
    out: dict = {"sdk": openai.__version__}
    try:
        if spec["op"] == "models":
            out["ids"] = [m.id for m in client.models.list()]
        elif spec["op"] == "chat":
            raw = client.chat.completions.with_raw_response.create(**spec["params"])
            out["request_id"] = raw.headers.get("x-request-id")
            if spec["params"].get("stream"):
                text, usage, finish, chunks = "", None, None, 0
                for chunk in raw.parse():
                    chunks += 1
                    if chunk.usage is not None:
                        usage = chunk.usage.model_dump()
                    for choice in chunk.choices:
                        text += choice.delta.content or ""
                        finish = choice.finish_reason or finish
                out.update(text=text, usage=usage, finish=finish, chunks=chunks)
            else:
                completion = raw.parse()
                out.update(
                    text=completion.choices[0].message.content,
                    usage=completion.usage.model_dump() if completion.usage else None,
                    finish=completion.choices[0].finish_reason,
                    model=completion.model,
                )
    except openai.APIStatusError as exc:
        out["error"] = {
            "class": type(exc).__name__,
            "status": exc.status_code,
            "body": exc.body,
            "request_id": exc.response.headers.get("x-request-id"),
        }
    except openai.APIError as exc:  # stream errors, connection errors
        out["error"] = {"class": type(exc).__name__, "message": str(exc)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
