"""The quick start and the client snippets run as written (extracted from the Markdown) against
a fresh embedded default with its demo data; the models `/v1/models` lists are all named in
the README and the quick start."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import GatewayProcess

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
data_dir = "{dir}/data"
[server]
port = {port}
"""
RUNNABLE_PYTHON = ("from openai import", "from anthropic import", "from google import genai")


def blocks(page: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", page.read_text(), re.S)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    home = tmp_path_factory.mktemp("snippets")
    gw = GatewayProcess(home, CONFIG).start()
    try:
        yield gw
    finally:
        gw.stop()


def run(gw: GatewayProcess, argv: list[str], script: str) -> subprocess.CompletedProcess[str]:
    script = script.replace("127.0.0.1:8080", f"127.0.0.1:{gw.port}")
    key = re.search(r"API key:\s+(\S+)", (gw.workdir / "data" / "demo.txt").read_text())
    assert key
    env = {**os.environ, "TOROUTER_KEY": key.group(1)}
    return subprocess.run(
        [*argv, script],
        cwd=gw.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_the_quick_start_call_works(gateway: GatewayProcess) -> None:
    first_call = blocks(ROOT / "docs" / "index.md", "sh")[1]
    assert "curl" in first_call
    out = run(gateway, ["bash", "-euo", "pipefail", "-c"], first_call)
    assert out.returncode == 0, out.stderr
    assert '"chat.completion"' in out.stdout


def test_the_curl_snippets_work(gateway: GatewayProcess) -> None:
    page = ROOT / "docs" / "clients.md"
    setup, *curls = blocks(page, "sh")
    curls = [b for b in curls if b.lstrip().startswith("curl")]
    assert curls
    for block in curls:
        # Each curl as its own command, failing on an HTTP error.
        script = setup + block.replace("curl -s", "curl -sf")
        out = run(gateway, ["bash", "-euo", "pipefail", "-c"], script)
        assert out.returncode == 0, (block, out.stderr)
        assert out.stdout.count("{") >= 1


@pytest.mark.parametrize("sdk", RUNNABLE_PYTHON)
def test_the_python_sdk_snippets_work(gateway: GatewayProcess, sdk: str) -> None:
    found = [b for b in blocks(ROOT / "docs" / "clients.md", "python") if sdk in b]
    assert found, sdk
    for block in found:
        out = run(gateway, [sys.executable, "-c"], block)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip(), block


def test_every_listed_model_is_named_in_the_readme_and_quick_start(
    gateway: GatewayProcess,
) -> None:
    key = re.search(r"API key:\s+(\S+)", (gateway.workdir / "data" / "demo.txt").read_text())
    assert key
    r = httpx.get(f"{gateway.url}/v1/models", headers={"Authorization": f"Bearer {key.group(1)}"})
    ids = [m["id"] for m in r.json()["data"]]
    assert ids
    for page in (ROOT / "README.md", ROOT / "docs" / "index.md"):
        text = page.read_text()
        assert [i for i in ids if f"`{i}`" not in text] == [], page.name
