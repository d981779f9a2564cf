"""Run one google-genai `embed_content` call (the Gemini API sends `batchEmbedContents`) and
print the outcome as JSON (issue 9). Executed by google-genai 3.x and 1.x interpreters."""

import json
import sys

from google import genai
from google.genai import errors, types


def main() -> None:
    spec = json.loads(sys.argv[1])
    client = genai.Client(
        api_key=spec["key"],
        http_options=types.HttpOptions(
            base_url=spec["base_url"],
            timeout=30_000,
            headers={"x-request-id": spec["request_id"]},
        ),
    )
    out: dict = {"sdk": getattr(genai, "__version__", "?")}
    try:
        r = client.models.embed_content(
            model=spec["model"], contents=spec["contents"], config=spec.get("config")
        )
        out["dims"] = [len(e.values or []) for e in r.embeddings or []]
    except errors.APIError as exc:
        out["error"] = {"status": exc.code, "message": exc.message, "status_text": exc.status}
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
