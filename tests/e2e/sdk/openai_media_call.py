"""Run one OpenAI-SDK call of the Responses API or a media endpoint, described by a JSON
argument, and print the outcome as JSON (issue 9).

Executed by the interpreter of each SDK major (the project's venv: openai 3.x; .venvs/openai1:
openai 1.x). The caller passes its own `x-request-id`, so rows are found by it (R8.6).
"""

import json
import sys

import openai


def _responses_create(client, spec):
    resp = client.responses.create(**spec["params"])
    return {
        "id": resp.id,
        "status": resp.status,
        "text": resp.output_text,
        "model": resp.model,
        "types": [item.type for item in resp.output],
        "calls": [
            {"name": i.name, "arguments": i.arguments, "call_id": i.call_id}
            for i in resp.output
            if i.type == "function_call"
        ],
        "usage": resp.usage.model_dump() if resp.usage else None,
    }


def _responses_stream(client, spec):
    kinds, numbers, text = [], [], ""
    with client.responses.stream(**spec["params"]) as stream:
        for event in stream:
            kinds.append(event.type)
            numbers.append(event.sequence_number)
            if event.type == "response.output_text.delta":
                text += event.delta
        final = stream.get_final_response()
    return {
        "id": final.id,
        "status": final.status,
        "events": kinds,
        "sequence": numbers,
        "text": text,
        "final_text": final.output_text,
        "types": [item.type for item in final.output],
        "calls": [
            {"name": i.name, "arguments": i.arguments, "call_id": i.call_id}
            for i in final.output
            if i.type == "function_call"
        ],
        "usage": final.usage.model_dump() if final.usage else None,
    }


def _embeddings(client, spec):
    out = client.embeddings.create(**spec["params"])
    return {
        "count": len(out.data),
        "dims": [len(d.embedding) for d in out.data],
        "first": out.data[0].embedding[:3],
        "usage": out.usage.model_dump() if out.usage else None,
    }


def _images(client, spec):
    if spec.get("file"):
        with open(spec["file"], "rb") as f:
            out = client.images.edit(image=f, **spec["params"])
    else:
        out = client.images.generate(**spec["params"])
    usage = getattr(out, "usage", None)
    return {
        "count": len(out.data or []),
        "b64": [bool(d.b64_json) for d in out.data or []],
        "usage": usage.model_dump() if usage is not None else None,
    }


def _transcription(client, spec):
    with open(spec["file"], "rb") as f:
        out = client.audio.transcriptions.create(file=f, **spec["params"])
    return {"text": out if isinstance(out, str) else out.text}


def _speech(client, spec):
    with client.audio.speech.with_streaming_response.create(**spec["params"]) as r:
        data = b"".join(r.iter_bytes())
        headers = dict(r.headers)
    return {
        "size": len(data),
        "head": data[:4].hex(),
        "content_type": headers.get("content-type"),
        "content_length": headers.get("content-length"),
    }


OPS = {
    "responses_create": _responses_create,
    "responses_stream": _responses_stream,
    "embeddings": _embeddings,
    "images": _images,
    "transcription": _transcription,
    "speech": _speech,
}


def main() -> None:
    spec = json.loads(sys.argv[1])
    client = openai.OpenAI(
        base_url=spec["base_url"],
        api_key=spec["key"],
        max_retries=0,
        timeout=60,
        default_headers={"x-request-id": spec["request_id"]},
    )
    out: dict = {"sdk": openai.__version__}
    try:
        out.update(OPS[spec["op"]](client, spec))
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
