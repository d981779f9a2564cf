"""The Node snippets of the clients page (the openai, @anthropic-ai/sdk and @google/genai SDKs,
the Vercel AI SDK) run as written, each saved as `hello.mjs` and run with `node hello.mjs` the
way the page says, against a fresh embedded default (issue 19 point 7).

The packages are tests/e2e/node's (installed by scripts/setup-node.sh): the script's folder gets
a `node_modules` link to them, as a reader's project has its own. Missing Node or packages skip
with the command to run, and fail under CI, as tests/e2e/node/runtime.py decides.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs_site.snippets import (
    FOREIGN,
    MOCK,
    Runner,
    Snippet,
    explain,
    reader_copy,
    reader_env,
    run_script,
    snippet,
    snippet_gateway,
)
from tests.e2e.harness import GatewayProcess
from tests.e2e.node.runtime import NODE_DIR, node_env, require_sdks, skip_without_sdks

pytestmark = skip_without_sdks


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    yield from snippet_gateway(tmp_path_factory)


def reader_node_env(gw: GatewayProcess) -> dict[str, str]:
    """Node's environment (tests/e2e/node's Node first on PATH, its quiet switches) with the
    reader's `TOROUTER_KEY` and none of the machine's provider variables."""
    env = {k: v for k, v in node_env().items() if not FOREIGN.match(k)}
    return {**env, "TOROUTER_KEY": reader_env(gw)["TOROUTER_KEY"]}


def run_module(
    gw: GatewayProcess, block: Snippet, tmp: Path, source: str, *, before: str = ""
) -> subprocess.CompletedProcess[str]:
    """`node hello.mjs` holding `source`, in a project folder whose `node_modules` are
    tests/e2e/node's, after the shell lines `before`; it must exit 0."""
    node = require_sdks()
    (tmp / "node_modules").symlink_to(NODE_DIR / "node_modules")
    (tmp / "hello.mjs").write_text(source)
    script = f'{before}\nexec "$@"\n'
    argv = ["bash", "-euo", "pipefail", "-c", script, "reader", node, "hello.mjs"]
    proc = run_script(argv, cwd=tmp, env=reader_node_env(gw))
    assert proc.returncode == 0, explain(proc, block)
    return proc


def answers(count: int) -> Runner:
    """A runner for a Node block that must print `count` answers of the mock."""

    def run_answers(gw: GatewayProcess, block: Snippet, tmp: Path) -> None:
        proc = run_module(gw, block, tmp, reader_copy(block.code, gw))
        assert proc.stdout.count(MOCK) == count, explain(proc, block)

    return run_answers


# The page's environment blocks (shown under Python) hold for Node too, it says: each SDK made
# with no options must reach the gateway through them.
NODE_PROBES = {
    "openai-env": """import OpenAI from "openai";
const reply = await new OpenAI().chat.completions.create({
  model: "demo-gpt", messages: [{ role: "user", content: "Hello" }],
});
console.log(reply.choices[0].message.content);""",
    "anthropic-env": """import Anthropic from "@anthropic-ai/sdk";
const message = await new Anthropic().messages.create({
  model: "demo-claude", max_tokens: 100, messages: [{ role: "user", content: "Hello" }],
});
console.log(message.content[0].text);""",
    "gemini-env": """import { GoogleGenAI } from "@google/genai";
const answer = await new GoogleGenAI({}).models.generateContent({
  model: "demo-gemini", contents: "Hello",
});
console.log(answer.text);""",
}


def run_env_block(gw: GatewayProcess, block: Snippet, tmp: Path) -> None:
    before = reader_copy(block.code, gw)
    proc = run_module(gw, block, tmp, NODE_PROBES[block.id or ""], before=before)
    assert MOCK in proc.stdout, explain(proc, block)


def run_structured_output(gw: GatewayProcess, block: Snippet, tmp: Path) -> None:
    """The object printed is one the block's schema accepts (the mock fills it in)."""
    proc = run_module(gw, block, tmp, reader_copy(block.code, gw))
    output = json.loads(proc.stdout.strip().splitlines()[-1])
    assert isinstance(output.get("city"), str), explain(proc, block)
    assert isinstance(output.get("population"), int), explain(proc, block)


RUNS: dict[tuple[str, str], Runner] = {
    ("docs/clients.md", "openai-node"): answers(1),
    ("docs/clients.md", "anthropic-node"): answers(1),
    ("docs/clients.md", "gemini-node"): answers(1),
    # Two calls: the OpenAI provider (Responses API) and the Anthropic provider.
    ("docs/clients.md", "vercel-ai"): answers(2),
    ("docs/clients.md", "vercel-ai-object"): run_structured_output,
    **{("docs/clients.md", sid): run_env_block for sid in NODE_PROBES},
}


@pytest.mark.parametrize("key", RUNS, ids=[f"{page}#{sid}" for page, sid in RUNS])
def test_the_node_snippet_runs_as_written(
    gateway: GatewayProcess, tmp_path: Path, key: tuple[str, str]
) -> None:
    RUNS[key](gateway, snippet(*key), tmp_path)
