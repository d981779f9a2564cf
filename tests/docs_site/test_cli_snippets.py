"""The coding CLIs' snippets of the clients page (Claude Code, Codex, Gemini CLI) run as written
against a fresh embedded default (issue 19 point 7): each shell block in bash with the CLI on
PATH, from a project folder (a git repository, as Codex wants), in a temporary HOME holding the
configuration file the page shows (Codex's `config.toml`, Gemini CLI's `settings.json`).

Beyond what the page says, only the closed network's hygiene is added, as tests/e2e/test_clis.py
does: telemetry, update checks and error reports off. The CLIs are installed by
scripts/setup-node.sh, time-boxed and allowed to fail, so a missing CLI skips, CI or not
(tests/e2e/node/runtime.py's policy).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs_site.snippets import (
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
from tests.e2e.node.runtime import cli_binary
from tests.e2e.test_clis import GEMINI_SETTINGS, cli_env

pytestmark = pytest.mark.cli

# Codex's own switches for the closed network, around the page's configuration: top-level keys
# before it, tables after it (a key after `[model_providers.torouter]` would land in that table).
CODEX_BEFORE = "check_for_update_on_startup = false\n\n"
CODEX_AFTER = "\n[analytics]\nenabled = false\n\n[feedback]\nenabled = false\n"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    yield from snippet_gateway(tmp_path_factory)


def reader_setup(
    gw: GatewayProcess, tmp: Path, cli: str, command: str
) -> tuple[dict[str, str], Path]:
    """The reader's environment (HOME, `TOROUTER_KEY`, the CLI on PATH) and project folder."""
    binary = cli_binary(cli, command)
    home = tmp / "home"
    home.mkdir()
    env = cli_env(home, TOROUTER_KEY=reader_env(gw)["TOROUTER_KEY"])
    del env["CI"]  # a reader's terminal, not CI's
    env["PATH"] = f"{binary.parent}{os.pathsep}{env['PATH']}"
    project = tmp / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    return env, project


def run_cli_block(gw: GatewayProcess, block: Snippet, env: dict[str, str], project: Path) -> None:
    proc = run_script(
        ["bash", "-euo", "pipefail", "-c", reader_copy(block.code, gw)],
        cwd=project,
        env=env,
        timeout=150,
    )
    assert proc.returncode == 0, explain(proc, block)
    assert MOCK in proc.stdout, explain(proc, block)


def run_claude_code(gw: GatewayProcess, block: Snippet, tmp: Path) -> None:
    env, project = reader_setup(gw, tmp, "claude", "claude")
    run_cli_block(gw, block, env, project)


def run_codex(gw: GatewayProcess, block: Snippet, tmp: Path) -> None:
    """The page's `config.toml` in `~/.codex`, then its command."""
    env, project = reader_setup(gw, tmp, "codex", "codex")
    config = snippet("docs/clients.md", "codex-config")
    (tmp / "home" / ".codex").mkdir()
    (tmp / "home" / ".codex" / "config.toml").write_text(
        CODEX_BEFORE + reader_copy(config.code, gw) + CODEX_AFTER
    )
    run_cli_block(gw, block, env, project)


def run_gemini_cli(gw: GatewayProcess, block: Snippet, tmp: Path) -> None:
    """The page's `settings.json` in `~/.gemini` (its keys win over the hygiene ones), then its
    commands."""
    env, project = reader_setup(gw, tmp, "gemini", "gemini")
    settings = json.loads(snippet("docs/clients.md", "gemini-cli-settings").code)
    hygiene = {k: v for k, v in GEMINI_SETTINGS.items() if k not in settings}
    (tmp / "home" / ".gemini").mkdir()
    (tmp / "home" / ".gemini" / "settings.json").write_text(json.dumps({**hygiene, **settings}))
    run_cli_block(gw, block, env, project)


RUNS: dict[tuple[str, str], Runner] = {
    ("docs/clients.md", "claude-code"): run_claude_code,
    ("docs/clients.md", "codex"): run_codex,
    ("docs/clients.md", "gemini-cli"): run_gemini_cli,
}
# Configuration blocks, each run by the run of the command block that reads it.
READ_BY: dict[tuple[str, str], tuple[str, str]] = {
    ("docs/clients.md", "codex-config"): ("docs/clients.md", "codex"),
    ("docs/clients.md", "gemini-cli-settings"): ("docs/clients.md", "gemini-cli"),
}


@pytest.mark.parametrize("key", RUNS, ids=[f"{page}#{sid}" for page, sid in RUNS])
def test_the_cli_snippet_runs_as_written(
    gateway: GatewayProcess, tmp_path: Path, key: tuple[str, str]
) -> None:
    RUNS[key](gateway, snippet(*key), tmp_path)
