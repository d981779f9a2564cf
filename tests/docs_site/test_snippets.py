"""The quick start and the Python and shell snippets of the README and the docs run as written
(extracted from the Markdown by their markers) against a fresh embedded default with its demo
data (issue 19 point 7); the models `/v1/models` lists are all named in the README and the
quick start.

The official SDKs of the project's own test environment run in `.venv`; LiteLLM and LangChain,
which pin SDK majors of their own, in the side environment `.venvs/clients` that
`scripts/setup.sh --test` builds (missing: skip, but fail under CI, where setup must have built
it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.docs_site.snippets import (
    MOCK,
    ROOT,
    Runner,
    Snippet,
    clean_env,
    demo_key,
    explain,
    reader_copy,
    reader_env,
    run_script,
    snippet,
    snippet_gateway,
)
from tests.e2e.harness import GatewayProcess, free_port, wait_until

CLIENTS_VENV = ROOT / ".venvs" / "clients"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    yield from snippet_gateway(tmp_path_factory)


def json_documents(text: str) -> list[object]:
    """The JSON documents printed one after another (curl prints no newline between them)."""
    decoder, docs, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        at += len(text[at:]) - len(text[at:].lstrip())  # to the next document's first character
        doc, at = decoder.raw_decode(text, at)
        docs.append(doc)
    return docs


# ── runners: how a reader runs each kind of block ────────────────────────────────────────────


def run_shell(gw: GatewayProcess, block: Snippet, _tmp: Path) -> None:
    """A shell block from the reader's clone (`data/demo.txt`, `.venv`) in a shell that has not
    run the clients page's first block, failing on any error; the mock's answer must be in what
    it printed."""
    argv = ["bash", "-euo", "pipefail", "-c", reader_copy(block.code, gw)]
    proc = run_script(argv, cwd=gw.workdir, env=clean_env())
    assert proc.returncode == 0, explain(proc, block)
    assert MOCK in proc.stdout, explain(proc, block)


def run_key(gw: GatewayProcess, block: Snippet, _tmp: Path) -> None:
    assert reader_env(gw)["TOROUTER_KEY"] == demo_key(gw)


def run_curls(gw: GatewayProcess, block: Snippet, _tmp: Path) -> None:
    """Every curl of the block answers a JSON document that is not an error (curl -s exits 0 on
    an HTTP error, so the documents are read instead)."""
    proc = run_script(
        ["bash", "-euo", "pipefail", "-c", reader_copy(block.code, gw)],
        cwd=gw.workdir,
        env=reader_env(gw),
    )
    assert proc.returncode == 0, explain(proc, block)
    docs = json_documents(proc.stdout)
    commands = [line for line in block.code.splitlines() if line.startswith("curl ")]
    assert len(docs) == len(commands), explain(proc, block)
    assert all(isinstance(d, dict) and "error" not in d for d in docs), explain(proc, block)


def python_runner(python: Path | str) -> Runner:
    def run_python(gw: GatewayProcess, block: Snippet, _tmp: Path) -> None:
        proc = run_script(
            [str(python), "-c", reader_copy(block.code, gw)], cwd=gw.workdir, env=reader_env(gw)
        )
        assert proc.returncode == 0, explain(proc, block)
        assert MOCK in proc.stdout, explain(proc, block)

    return run_python


def env_block_runner(probes: dict[str, str], argv: list[str]) -> Runner:
    """A block that only exports variables runs before a client made with no arguments
    (`probes[block id]`, run as `argv + [probe]`), which must reach the gateway through them."""

    def run_env_block(gw: GatewayProcess, block: Snippet, tmp: Path) -> None:
        script = reader_copy(block.code, gw) + '\nexec "$@"\n'
        proc = run_script(
            ["bash", "-euo", "pipefail", "-c", script, "reader", *argv, probes[block.id or ""]],
            cwd=tmp,
            env=reader_env(gw),
        )
        assert proc.returncode == 0, explain(proc, block)
        assert MOCK in proc.stdout, explain(proc, block)

    return run_env_block


PYTHON_PROBES = {
    "openai-env": """from openai import OpenAI
reply = OpenAI().chat.completions.create(
    model="demo-gpt", messages=[{"role": "user", "content": "Hello"}]
)
print(reply.choices[0].message.content)""",
    "anthropic-env": """from anthropic import Anthropic
message = Anthropic().messages.create(
    model="demo-claude", max_tokens=100, messages=[{"role": "user", "content": "Hello"}]
)
print(message.content[0].text)""",
    "gemini-env": """from google import genai
client = genai.Client()  # held: a Client closes its connections when collected
print(client.models.generate_content(model="demo-gemini", contents="Hello").text)""",
}


def clients_python() -> Path:
    """`.venvs/clients/bin/python`; skip when it is missing (fail under CI)."""
    python = CLIENTS_VENV / "bin" / "python"
    if not python.exists():
        reason = f"{CLIENTS_VENV} (LiteLLM, LangChain) is missing: run scripts/setup.sh --test"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return python


def run_in_clients_venv(gw: GatewayProcess, block: Snippet, tmp: Path) -> None:
    python_runner(clients_python())(gw, block, tmp)


PROXY_KEY = "sk-proxy-" + "7" * 32  # the proxy's own master key (its clients', not ToRouter's)


def run_litellm_proxy(gw: GatewayProcess, block: Snippet, tmp: Path) -> None:
    """The block as a LiteLLM proxy's `config.yaml`: `litellm --config config.yaml`, with the
    master key the proxy insists on, serves each of its models through the gateway."""
    models = [m["model_name"] for m in yaml.safe_load(block.code)["model_list"]]
    assert models
    config = tmp / "config.yaml"
    config.write_text(reader_copy(block.code, gw))
    litellm = clients_python().parent / "litellm"
    port = free_port()
    log = (tmp / "proxy.log").open("w")
    proxy = subprocess.Popen(
        [str(litellm), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp,
        env={**reader_env(gw), "LITELLM_MASTER_KEY": PROXY_KEY},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: proxy.poll() is not None or alive(f"{url}/health/liveliness"),
            timeout=180,  # its start-up alone takes a minute on a loaded machine
            what="the LiteLLM proxy listening",
        )
        assert proxy.poll() is None, (tmp / "proxy.log").read_text()[-3000:]
        for model in models:
            r = httpx.post(
                f"{url}/v1/chat/completions",
                json={"model": model, "messages": [{"role": "user", "content": "Hello"}]},
                headers={"Authorization": f"Bearer {PROXY_KEY}"},
                timeout=60,
            )
            assert r.status_code == 200, (model, r.text, (tmp / "proxy.log").read_text()[-3000:])
            assert MOCK in r.json()["choices"][0]["message"]["content"], r.text
    finally:
        proxy.terminate()
        try:
            proxy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()
        log.close()


def alive(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


RUNS: dict[tuple[str, str], Runner] = {
    ("README.md", "first-call"): run_shell,
    ("README.md", "openai-sdk"): run_shell,
    ("docs/index.md", "first-call"): run_shell,
    ("docs/clients.md", "key"): run_key,
    ("docs/clients.md", "curl"): run_curls,
    ("docs/clients.md", "openai-python"): python_runner(sys.executable),
    ("docs/clients.md", "anthropic-python"): python_runner(sys.executable),
    ("docs/clients.md", "gemini-python"): python_runner(sys.executable),
    **{
        ("docs/clients.md", sid): env_block_runner(PYTHON_PROBES, [sys.executable, "-c"])
        for sid in PYTHON_PROBES
    },
    ("docs/clients.md", "litellm"): run_in_clients_venv,
    ("docs/clients.md", "litellm-proxy"): run_litellm_proxy,
    ("docs/clients.md", "langchain-openai"): run_in_clients_venv,
    ("docs/clients.md", "langchain-anthropic"): run_in_clients_venv,
}


@pytest.mark.parametrize("key", RUNS, ids=[f"{page}#{sid}" for page, sid in RUNS])
def test_the_snippet_runs_as_written(
    gateway: GatewayProcess, tmp_path: Path, key: tuple[str, str]
) -> None:
    RUNS[key](gateway, snippet(*key), tmp_path)


def test_every_listed_model_is_named_in_the_readme_and_quick_start(
    gateway: GatewayProcess,
) -> None:
    r = httpx.get(
        f"{gateway.url}/v1/models", headers={"Authorization": f"Bearer {demo_key(gateway)}"}
    )
    ids = [m["id"] for m in r.json()["data"]]
    assert ids
    for page in (ROOT / "README.md", ROOT / "docs" / "index.md"):
        text = page.read_text()
        assert [i for i in ids if f"`{i}`" not in text] == [], page.name
