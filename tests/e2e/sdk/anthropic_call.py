"""Run one Anthropic-SDK call described by a JSON argument and print the outcome as JSON.

Executed by the project's venv (anthropic 2.x, Bearer) and .venvs/anthropic0 (0.x, x-api-key).
"""

import json
import sys

import anthropic


def main() -> None:
    spec = json.loads(sys.argv[1])
    client = anthropic.Anthropic(
        base_url=spec["base_url"], api_key=spec["key"], max_retries=0, timeout=30
    )
    out: dict = {"sdk": anthropic.__version__}
    params = spec.get("params", {})
    try:
        if spec["op"] == "create":
            raw = client.messages.with_raw_response.create(**params)
            out["request_id"] = raw.headers.get("x-request-id")
            out["dropped"] = raw.headers.get("x-torouter-dropped")
            msg = raw.parse()
            out.update(
                text="".join(b.text for b in msg.content if b.type == "text"),
                thinking=[b.thinking for b in msg.content if b.type == "thinking"],
                signatures=[b.signature for b in msg.content if b.type == "thinking"],
                tools=[
                    {"name": b.name, "input": b.input, "id": b.id}
                    for b in msg.content
                    if b.type == "tool_use"
                ],
                stop_reason=msg.stop_reason,
                usage=msg.usage.model_dump(),
                model=msg.model,
            )
        elif spec["op"] == "stream":
            with client.messages.stream(**params) as stream:
                events = [e.type for e in stream]
                msg = stream.get_final_message()
            out.update(
                events=events,
                text="".join(b.text for b in msg.content if b.type == "text"),
                thinking=[b.thinking for b in msg.content if b.type == "thinking"],
                signatures=[b.signature for b in msg.content if b.type == "thinking"],
                tools=[
                    {"name": b.name, "input": b.input, "id": b.id}
                    for b in msg.content
                    if b.type == "tool_use"
                ],
                stop_reason=msg.stop_reason,
                usage=msg.usage.model_dump(),
            )
        elif spec["op"] == "count":
            raw = client.messages.with_raw_response.count_tokens(**params)
            out["estimated"] = raw.headers.get("x-torouter-estimated")
            out["input_tokens"] = raw.parse().input_tokens
        elif spec["op"] == "models":
            out["ids"] = [m.id for m in client.models.list()]
    except anthropic.APIStatusError as exc:
        out["error"] = {
            "class": type(exc).__name__,
            "status": exc.status_code,
            "body": exc.body,
            "request_id": exc.response.headers.get("x-request-id"),
        }
    except anthropic.APIError as exc:
        out["error"] = {"class": type(exc).__name__, "message": str(exc)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
