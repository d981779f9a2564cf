"""The processes under test: the instant mock provider and the gateway, each on its own port.

The gateway runs as shipped (``torouter serve``, one uvicorn worker, uvloop + httptools) with all
the normal features of the embedded default on: admission against the snapshot, reservation,
routing, metering, the usage recorder writing to SQLite, and one JSON access line per request
(written to a file in the run's temporary folder).
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from bench.machine import REPO
from bench.procs import Server, free_port
from bench.scaled import ScaledStores

__all__ = [
    "KEY",
    "MOCK_AUTH",
    "MODEL",
    "export_commit",
    "floor_server",
    "gateway_config",
    "gateway_server",
    "mock_server",
    "pick_source",
    "summarize_access_log",
    "torouter_cmd",
]

MODEL = "bench-gpt"
KEY = "sk-bench" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"  # sk- and 48 characters
MOCK_AUTH = "Bearer mock-key"
assert len(KEY) == 51


def torouter_cmd(source: Path | None = None) -> list[str]:
    """The CLI of the interpreter running the bench (the repository's venv).

    With ``source`` (a folder holding a ``torouter`` package, e.g. from ``export_commit``) that
    code runs instead of the work tree's, with the same installed dependencies.
    """
    script = Path(sys.executable).parent / "torouter"
    if source is None and script.exists():
        return [str(script)]
    return [sys.executable, "-m", "torouter.cli"]


def _source_env(source: Path | None) -> dict[str, str]:
    return {"PYTHONPATH": str(source)} if source is not None else {}


def export_commit(repo: Path, rev: str, folder: Path) -> str:
    """Extract ``rev``'s ``torouter/`` into ``folder`` (``git archive``: the work tree, the index
    and HEAD stay untouched); returns the full commit id."""
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tar = subprocess.run(
        ["git", "archive", "--format=tar", sha, "torouter"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(folder, filter="data")
    return sha


def pick_source(rev: str | None, folder: Path) -> tuple[Path | None, dict[str, Any]]:
    """The code to benchmark: the work tree (``rev`` None), or ``rev`` exported to ``folder``."""
    if rev is None:
        return None, {"from": "work tree", "path": str(REPO)}
    sha = export_commit(REPO, rev, folder)
    return folder, {"from": "git archive", "rev": rev, "commit": sha}


def mock_server(folder: Path, cpu: str | None, source: Path | None = None) -> Server:
    port = free_port()
    return Server(
        "mock",
        [*torouter_cmd(source), "mock-provider", "--host", "127.0.0.1", "--port", str(port)],
        env=_source_env(source),
        cpu=cpu,
        log=folder / "mock.log",
        base_url=f"http://127.0.0.1:{port}",
        ready_path="/v1/models",
        ready_headers={"authorization": MOCK_AUTH},
    )


def floor_server(folder: Path, mock_base: str, cpu: str | None, engine: str = "uvicorn") -> Server:
    """The bare reference proxy of `bench/floor.py`, in front of the same mock; `engine`: its
    HTTP server (uvicorn, granian-asgi, granian-rsgi)."""
    port = free_port()
    return Server(
        "floor" if engine == "uvicorn" else f"floor-{engine}",
        [
            sys.executable,
            str(Path(__file__).with_name("floor.py")),
            "--port",
            str(port),
            "--upstream",
            f"{mock_base}/v1",
            "--key",
            KEY,
            "--auth",
            MOCK_AUTH,
            "--engine",
            engine,
        ],
        cpu=cpu,
        log=folder / ("floor.log" if engine == "uvicorn" else f"floor-{engine}.log"),
        base_url=f"http://127.0.0.1:{port}",
        ready_path="/healthz",
        cwd=folder,
    )


def gateway_config(data_dir: Path, mock_base: str, stores: str = "") -> str:
    """The gateway's TOML: one group, one model, one channel to the mock, one funded key.

    The model serves OpenAI chat (native on the openai channel: pass-through) and Anthropic
    messages (translated to chat on the same channel: the translated route of SPEC R20.1).
    """
    # `stores`: top-level keys and sections for the scaled-out run (bench/scaled.py).
    return f"""\
data_dir = "{data_dir}"
{stores}[demo]
enabled = false
[mock]
mount = false
[shutdown]
drain_s = 5

[[groups]]
name = "default"
billing_type = "balance"
models = ["{MODEL}"]

[[models]]
id = "{MODEL}"
vendor = "openai"
endpoints = ["chat", "messages"]
prices = {{ input = 1, output = 2 }}

[[channels]]
name = "mock"
platform = "openai"
base_url = "{mock_base}/v1"
credential = "mock-key"
models = ["{MODEL}"]
groups = ["default"]

[[users]]
email = "bench@example.com"
verified = true
balance_usd = 1000000

[[keys]]
name = "bench"
user = "bench@example.com"
group = "default"
key = "{KEY}"
"""


def gateway_server(
    folder: Path,
    mock_base: str,
    cpu: str | None,
    source: Path | None = None,
    *,
    stores: ScaledStores | None = None,
    workers: int = 1,
) -> Server:
    port = free_port()
    config = folder / "torouter.toml"
    extra = ""
    if stores is not None:
        from torouter.crypto import generate_key

        extra = stores.toml(generate_key())
    config.write_text(gateway_config(folder / "data", mock_base, extra))
    if stores is not None:
        stores.migrate(torouter_cmd(source), config, folder)
    return Server(
        "gateway",
        [
            *torouter_cmd(source),
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        cpu=cpu,
        log=folder / "gateway.log",
        base_url=f"http://127.0.0.1:{port}",
        ready_path="/readyz",
        env=_source_env(source),
        cwd=folder,
    )


def summarize_access_log(path: Path) -> dict[str, Any]:
    """Tally the gateway's access lines by status and outcome, and its warnings and errors."""
    statuses: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    levels: Counter[str] = Counter()
    samples: list[str] = []
    failures: list[dict[str, Any]] = []
    requests = 0
    try:
        fh = path.open("rb")
    except OSError:
        return {"missing": str(path)}
    with fh:
        for raw in fh:
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError:
                levels["non-json"] += 1
                continue
            if not isinstance(rec, dict):
                continue
            if rec.get("msg") == "request":
                requests += 1
                statuses[str(rec.get("status"))] += 1
                outcomes[str(rec.get("outcome"))] += 1
                status = rec.get("status")
                if isinstance(status, int) and status >= 500 and len(failures) < 5:
                    failures.append(rec)  # its code and attempt chain say why
            level = str(rec.get("level", ""))
            noteworthy = level in ("WARNING", "ERROR", "CRITICAL")
            if noteworthy:
                levels[level] += 1
            if noteworthy or "failed" in str(rec.get("msg", "")):
                if len(samples) < 10:
                    samples.append(raw[:400].decode("utf-8", "replace").rstrip())
    return {
        "requests": requests,
        "statuses": dict(statuses),
        "outcomes": dict(outcomes),
        "warnings_errors": dict(levels),
        "samples": samples,
        "failures": failures,
    }
