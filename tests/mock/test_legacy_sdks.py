"""The older SDK majors (openai 1.x, anthropic 0.x, google-genai 1.x), each in its own venv."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

VENVS = Path(__file__).resolve().parents[2] / ".venvs"

OPENAI1 = """
import json, os, openai
c = openai.OpenAI(base_url=os.environ["BASE"] + "/v1", api_key="sk-legacy", max_retries=0)
msgs = [{"role": "user", "content": "legacy"}]
r = c.chat.completions.create(model="m", messages=msgs)
assert r.choices[0].message.content.startswith("This is a mock response to: legacy"), r
chunks = list(c.chat.completions.create(model="m", messages=msgs, stream=True,
                                        stream_options={"include_usage": True}))
assert chunks[0].choices[0].delta.role == "assistant"
assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object",
          "properties": {"a": {"type": "string"}}}}}]
t = c.chat.completions.create(model="m", messages=msgs, tools=tools, tool_choice="required")
assert json.loads(t.choices[0].message.tool_calls[0].function.arguments) == {"a": "mock"}
try:
    c.chat.completions.create(model="m", messages=[{"role": "user", "content": "[[mock:429]]"}])
    raise SystemExit("no error")
except openai.RateLimitError as e:
    assert e.status_code == 429
with c.responses.stream(model="m", input="hi") as s:
    kinds = [e.type for e in s]
assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
print("ok")
"""

ANTHROPIC0 = """
import os, anthropic
c = anthropic.Anthropic(base_url=os.environ["BASE"], api_key="sk-ant-legacy", max_retries=0)
m = c.messages.create(model="c", max_tokens=64, messages=[{"role": "user", "content": "legacy"}])
assert m.content[0].text.startswith("This is a mock response to: legacy")
assert m.usage.output_tokens
thinking = {"type": "enabled", "budget_tokens": 1024}
with c.messages.stream(model="c", max_tokens=4096, thinking=thinking,
                       messages=[{"role": "user", "content": "think"}]) as s:
    final = s.get_final_message()
assert final.content[0].type == "thinking" and final.content[0].signature
assert final.content[1].text.startswith("This is a mock")
try:
    c.messages.create(model="c", max_tokens=8,
                      messages=[{"role": "user", "content": "[[mock:529]]"}])
    raise SystemExit("no error")
except anthropic.APIStatusError as e:
    assert e.status_code == 529 and e.body["error"]["type"] == "overloaded_error"
print("ok")
"""

GENAI1 = """
import os
from google import genai
from google.genai import errors, types
c = genai.Client(api_key="AIza-legacy", http_options=types.HttpOptions(base_url=os.environ["BASE"]))
r = c.models.generate_content(model="gemini-2.5-flash", contents="legacy")
assert r.text.startswith("This is a mock response to: legacy")
assert r.usage_metadata.total_token_count
chunks = list(c.models.generate_content_stream(model="gemini-2.5-flash", contents="legacy"))
assert len(chunks) == 20 and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
try:
    c.models.generate_content(model="gemini-2.5-flash", contents="[[mock:429]]")
    raise SystemExit("no error")
except errors.ClientError as e:
    assert e.code == 429
print("ok")
"""


@pytest.mark.parametrize(
    ("venv", "script"),
    [("openai1", OPENAI1), ("anthropic0", ANTHROPIC0), ("genai1", GENAI1)],
)
def test_legacy_sdk(base_url: str, venv: str, script: str) -> None:
    python = VENVS / venv / "bin" / "python"
    if not python.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"missing {python}")
        pytest.skip(f"no {venv} venv at {python}")
    env = {**os.environ, "BASE": base_url}
    done = subprocess.run(
        [str(python), "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
