"""The fenced code blocks of the user-facing pages that show how to start and call the gateway,
found by their markers, and the environment a reader's copy of them runs in.

Every fenced block of these pages carries a marker on the line before its fence,
`<!-- snippet: ID -->` (invisible on GitHub and in the MkDocs site), so a test names the block
it runs by `(page, ID)` and fails when the block is gone. The snippet tests run each block as
written against a fresh embedded default: the only change is the one a reader makes, the quick
start's address (`127.0.0.1:8080`) replaced by the test gateway's.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import GatewayProcess

__all__ = [
    "FOREIGN",
    "MOCK",
    "PAGES",
    "ROOT",
    "Runner",
    "Snippet",
    "clean_env",
    "demo_key",
    "explain",
    "fenced_blocks",
    "parse_blocks",
    "reader_copy",
    "reader_env",
    "run_script",
    "snippet",
    "snippet_gateway",
]

ROOT = Path(__file__).resolve().parents[2]
# The pages whose every fenced block is a snippet some test runs (or says why it cannot).
PAGES = ("README.md", "docs/index.md", "docs/clients.md")
QUICK_START_ADDRESS = "127.0.0.1:8080"
# The start of every mock answer: a snippet that prints it reached a model through the gateway.
MOCK = "This is a mock response to: "
# The machine's own provider variables must not reach a snippet: it must work without them.
FOREIGN = re.compile(r"^(OPENAI|ANTHROPIC|GEMINI|GOOGLE)_")
CONFIG = """
data_dir = "{dir}/data"
[server]
port = {port}
"""
# Each in its own group: the marker line, then the fence with its info string, body, closing fence.
_FENCE = re.compile(
    r"^(?:<!-- snippet: (?P<id>[a-z0-9-]+) -->\n)?```(?P<lang>[^\n`]*)\n(?P<code>.*?)^```[ \t]*$",
    re.M | re.S,
)


@dataclass(frozen=True)
class Snippet:
    page: str  # relative to the repository root
    id: str | None  # None: the block has no marker (a test fails on it)
    lang: str
    code: str
    line: int  # of the opening fence, for messages

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.page, self.id)


def fenced_blocks(page: str) -> list[Snippet]:
    """Every fenced block of `page`, in order, with its marker's id when it has one."""
    return parse_blocks(page, (ROOT / page).read_text())


def parse_blocks(page: str, text: str) -> list[Snippet]:
    """The fenced blocks of Markdown `text` (pure; `page` only names them)."""
    found = []
    for m in _FENCE.finditer(text):
        fence_at = m.start("lang") - 3
        found.append(
            Snippet(
                page=page,
                id=m.group("id"),
                lang=m.group("lang").strip(),
                code=m.group("code"),
                line=text.count("\n", 0, fence_at) + 1,
            )
        )
    return found


def snippet(page: str, snippet_id: str) -> Snippet:
    """The block marked `snippet_id` on `page`; fails (not skips) when it is gone."""
    matches = [s for s in fenced_blocks(page) if s.id == snippet_id]
    assert len(matches) == 1, f"{page}: {len(matches)} blocks marked `snippet: {snippet_id}`"
    return matches[0]


def reader_copy(code: str, gw: GatewayProcess) -> str:
    """The block as a reader runs it against `gw`: the quick start's address made the gateway's."""
    return code.replace(QUICK_START_ADDRESS, f"127.0.0.1:{gw.port}")


def demo_key(gw: GatewayProcess) -> str:
    """The demo API key, read the way the docs' first line reads it (`data/demo.txt`)."""
    found = re.search(r"API key:\s+(\S+)", (gw.workdir / "data" / "demo.txt").read_text())
    assert found, "data/demo.txt names no API key"
    return found.group(1)


def run_script(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a reader's command to the end (no stdin) and return what it printed."""
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env if env is not None else dict(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def explain(proc: subprocess.CompletedProcess[str], block: Snippet) -> str:
    """A failure message: the block's place on its page and what the reader's run printed."""
    return (
        f"{block.page}:{block.line} (snippet {block.id}) exited {proc.returncode}\n"
        f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-3000:]}"
    )


def reader_env(gw: GatewayProcess) -> dict[str, str]:
    """The reader's shell after the clients page's first block: `TOROUTER_KEY` set by running
    that block itself (so a broken first block fails every client snippet). The machine's own
    provider variables are dropped: the snippets must not lean on them."""
    block = snippet("docs/clients.md", "key")
    proc = run_script(
        ["bash", "-euo", "pipefail", "-c", block.code + 'printf %s "$TOROUTER_KEY"'],
        cwd=gw.workdir,
    )
    assert proc.returncode == 0, explain(proc, block)
    assert proc.stdout == demo_key(gw), explain(proc, block)
    return {**clean_env(), "TOROUTER_KEY": proc.stdout}


def clean_env() -> dict[str, str]:
    """This process's environment without the machine's provider variables or a key."""
    return {k: v for k, v in os.environ.items() if not FOREIGN.match(k) and k != "TOROUTER_KEY"}


def snippet_gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    """A fresh embedded default (SQLite, demo data, mock providers) in a new folder: the body of
    each test module's module-scoped `gateway` fixture. The folder stands for the reader's clone:
    `data/` is where the quick start's `data/demo.txt` is, and `.venv` is the clone's."""
    home = tmp_path_factory.mktemp("snippets")
    (home / ".venv").symlink_to(ROOT / ".venv")
    gw = GatewayProcess(home, CONFIG).start()
    try:
        yield gw
    finally:
        gw.stop()


# How a test runs one kind of block: the gateway, the block, a fresh folder of the test's own.
Runner = Callable[[GatewayProcess, Snippet, Path], None]
