"""The Node snippets of the clients page (the openai, @anthropic-ai/sdk and @google/genai SDKs,
the Vercel AI SDK) run as written, each saved as `hello.mjs` and run with `node hello.mjs` the
way the page says, against a fresh embedded default (issue 19 point 7).

The packages are tests/e2e/node's (installed by scripts/setup-node.sh): the script's folder gets
a `node_modules` link to them, as a reader's project has its own. Missing Node or packages skip
with the command to run, and fail under CI, as tests/e2e/node/runtime.py decides.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs_site.snippets import (
    Runner,
    Snippet,
    explain,
    reader_copy,
    run_script,
    snippet,
    snippet_gateway,
)
from tests.docs_site.test_snippets import MOCK, reader_env
from tests.e2e.harness import GatewayProcess
from tests.e2e.node.runtime import NODE_DIR, node_env, require_sdks, skip_without_sdks

pytestmark = skip_without_sdks


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    yield from snippet_gateway(tmp_path_factory)


def answers(count: int) -> Runner:
    """A runner for a Node block that must print `count` answers of the mock."""

    def run_module(gw: GatewayProcess, block: Snippet, tmp: Path) -> None:
        node = require_sdks()
        (tmp / "node_modules").symlink_to(NODE_DIR / "node_modules")
        (tmp / "hello.mjs").write_text(reader_copy(block.code, gw))
        env = node_env(TOROUTER_KEY=reader_env(gw)["TOROUTER_KEY"])
        proc = run_script([node, "hello.mjs"], cwd=tmp, env=env)
        assert proc.returncode == 0, explain(proc, block)
        assert proc.stdout.count(MOCK) == count, explain(proc, block)

    return run_module


RUNS: dict[tuple[str, str], Runner] = {
    ("docs/clients.md", "openai-node"): answers(1),
    ("docs/clients.md", "anthropic-node"): answers(1),
    ("docs/clients.md", "gemini-node"): answers(1),
    # Two calls: the OpenAI provider (Responses API) and the Anthropic provider.
    ("docs/clients.md", "vercel-ai"): answers(2),
}


@pytest.mark.parametrize("key", RUNS, ids=[f"{page}#{sid}" for page, sid in RUNS])
def test_the_node_snippet_runs_as_written(
    gateway: GatewayProcess, tmp_path: Path, key: tuple[str, str]
) -> None:
    RUNS[key](gateway, snippet(*key), tmp_path)
