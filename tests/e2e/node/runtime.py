"""Find and run what scripts/setup-node.sh installed under tests/e2e/node/.

Policy when something is missing:
- the Node SDKs (node_modules here) and Node itself: skip with the command to run, except under
  `CI=true`, where they fail. scripts/test.sh runs scripts/setup-node.sh, which installs Node
  too when the machine lacks it (Debian's nodejs only to bootstrap Node 20 from the registry
  package node-linux-<arch>), so under CI an absent Node or SDK tree means setup broke;
- a CLI (clis/<name>/node_modules): skip, CI or not — its install is time-boxed and allowed to
  fail (setup-node.sh prints why).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "NODE_DIR",
    "cli_binary",
    "node_env",
    "require_sdks",
    "run_node",
    "skip_without_cli",
    "skip_without_sdks",
]

NODE_DIR = Path(__file__).resolve().parent
RUNTIME_BIN = NODE_DIR / ".runtime" / "bin"
SETUP = "scripts/setup-node.sh"
# Telemetry, update checks and error reports off for every Node process the tests start.
QUIET = {
    "NO_UPDATE_NOTIFIER": "1",
    "npm_config_update_notifier": "false",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "GEMINI_TELEMETRY_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
}


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI: {SETUP} must have installed it)", pytrace=False)
    pytest.skip(f"{reason}: run {SETUP}")


def node_env(**extra: str) -> dict[str, str]:
    """The environment for a Node process: setup-node.sh's own Node first on PATH, if any."""
    env = {**os.environ, **QUIET}
    if RUNTIME_BIN.is_dir():
        env["PATH"] = f"{RUNTIME_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def _sdks_installed() -> bool:
    return (NODE_DIR / "node_modules" / ".torouter-installed").exists()


def _cli_installed(name: str) -> bool:
    return (NODE_DIR / "clis" / name / "node_modules" / ".torouter-installed").exists()


# Marks that skip before any fixture starts a gateway (never under CI for the SDKs, which then
# fail in require_sdks with the reason).
skip_without_sdks = pytest.mark.skipif(
    not _sdks_installed() and os.environ.get("CI") != "true",
    reason=f"the Node SDKs are not installed: run {SETUP}",
)


def skip_without_cli(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not _cli_installed(name),
        reason=f"{name} CLI not installed ({SETUP}; its install may fail or time out)",
    )


def require_sdks() -> str:
    """The `node` binary, once the Node SDKs are installed; else skip (fail under CI)."""
    node = shutil.which("node", path=node_env()["PATH"])
    if node is None:
        _missing("node is not installed")
    if not _sdks_installed():
        _missing("the Node SDKs are not installed (tests/e2e/node/node_modules)")
    return str(node)


def run_node(script: str, spec: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    """Run tests/e2e/node/<script> with a JSON spec; its last stdout line, parsed."""
    proc = subprocess.run(
        [require_sdks(), str(NODE_DIR / script), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=NODE_DIR,
        env=node_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cli_binary(name: str, command: str) -> Path:
    """clis/<name>/node_modules/.bin/<command>; skip when that CLI is not installed."""
    path = NODE_DIR / "clis" / name / "node_modules" / ".bin" / command
    if not _cli_installed(name):
        pytest.skip(f"{command} CLI not installed ({SETUP}; its install may fail or time out)")
    if not path.exists():
        pytest.skip(f"{path} missing")
    if shutil.which("node", path=node_env()["PATH"]) is None:
        pytest.skip("node is not installed")
    return path
