"""The coding CLIs, unchanged, against the gateway on the mocks (SPEC R21.1; issue 7 item 6,
issue 9 item 1): Claude Code, Gemini CLI and Codex, each pointed at the gateway the way §21 says,
in a temporary HOME, with telemetry, update checks and error reports off (the network is closed).

Each run must exit 0 and print exactly the mock's answer: the CLIs prefix the user's words with
their own context, so the answer's echoed head is read back from the output and the same head is
asked of the model's native front door by plain HTTP. Every request the CLI made must have
succeeded (the gateway's access log lines are in the failure message). The CLIs are installed by
scripts/setup-node.sh, time-boxed; a test skips when its CLI is not installed.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import KEY
from tests.e2e.harness import GatewayProcess
from tests.e2e.node.runtime import cli_binary, node_env, skip_without_cli

pytestmark = pytest.mark.cli

PROMPT = "Say hello to the gateway"
# The mock calls the named tool (with arguments from its schema), then answers the tool result.
TOOL_PROMPT = "List the files [[mock:tool=%s]]"
ANSWER = re.compile(r"This is a mock response to: (.*?)\. The mock provider answers")
TIMEOUT = 90
# Provider variables of the machine running the tests must not reach the CLIs.
_FOREIGN = re.compile(r"^(ANTHROPIC|CLAUDE|OPENAI|CODEX|GEMINI|GOOGLE|VERTEX)_")


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in node_env().items() if not _FOREIGN.match(k)}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        NO_COLOR="1",
        TERM="dumb",
        CI="true",  # non-interactive: no prompts, no spinners
    )
    env.update(extra)
    return env


# The tests' own plain-HTTP requests carry this request id (R8.6), to tell them from the CLI's.
PROBE = "cli-test-probe"


def requests_since(gw: GatewayProcess, start: int) -> list[dict[str, Any]]:
    """The access lines of the CLI's requests logged since line `start`."""
    return [
        {k: r.get(k) for k in ("method", "path", "status", "code", "model")}
        for r in gw.lines[start:]
        if r.get("msg") == "request" and not str(r.get("request_id")).startswith(PROBE)
    ]


def run_cli(
    gw: GatewayProcess, argv: list[str], env: dict[str, str], cwd: Path, want: int = 1
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """Run a CLI to the end; its result and the gateway's access lines for its requests (at
    least `want` of them, unless the CLI failed or they do not come)."""
    start = len(gw.lines)
    proc = subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    # An access line is written once its response is over, which can be after the CLI exited:
    # wait for `want` of them (briefly if the CLI failed, as it may have sent nothing).
    try:
        gw.wait_log(
            lambda _: len(requests_since(gw, start)) >= want,
            timeout=10 if proc.returncode == 0 else 2,
            what="the CLI's access line",
        )
    except AssertionError:
        pass
    return proc, requests_since(gw, start)


def mock_answer(gw: GatewayProcess, model: str, head: str) -> str:
    """The mock's answer to a prompt starting with `head`, from `model`'s native front door."""
    msgs = [{"role": "user", "content": head}]
    with httpx.Client(base_url=gw.url, timeout=30, headers={"X-Request-Id": PROBE}) as c:
        if model == "claude-only":
            r = c.post(
                "/v1/messages",
                headers={"x-api-key": KEY},
                json={"model": model, "max_tokens": 4096, "messages": msgs},
            )
            assert r.status_code == 200, r.text
            return "".join(b["text"] for b in r.json()["content"] if b["type"] == "text")
        if model == "gemini-test":
            r = c.post(
                f"/v1beta/models/{model}:generateContent",
                headers={"x-goog-api-key": KEY},
                json={"contents": [{"role": "user", "parts": [{"text": head}]}]},
            )
            assert r.status_code == 200, r.text
            return "".join(p.get("text", "") for p in r.json()["candidates"][0]["content"]["parts"])
        r = c.post(
            "/v1/chat/completions",
            headers={"Authorization": f"Bearer {KEY}"},
            json={"model": model, "messages": msgs},
        )
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]["message"]["content"]


def check_run(
    gw: GatewayProcess,
    proc: subprocess.CompletedProcess[str],
    requests: list[dict[str, Any]],
    model: str,
    path: str,
    min_requests: int = 1,
) -> None:
    report = (
        f"exit {proc.returncode}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}\n"
        f"gateway requests: {json.dumps(requests, indent=1)}"
    )
    assert proc.returncode == 0, report
    assert len(requests) >= min_requests, report
    assert all(r["status"] == 200 for r in requests), report
    assert any(r["path"] == path and r["model"] == model for r in requests), report
    found = ANSWER.search(proc.stdout)
    assert found, report
    assert proc.stdout.strip() == mock_answer(gw, model, found.group(1)), report


# ── Claude Code ──────────────────────────────────────────────────────────────────────────────


def claude(gw: GatewayProcess, tmp_path: Path, model: str, auth: str, tool: bool = False) -> None:
    binary = cli_binary("claude", "claude")
    home = tmp_path / "home"
    home.mkdir()
    key_var = "ANTHROPIC_API_KEY" if auth == "x-api-key" else "ANTHROPIC_AUTH_TOKEN"
    env = cli_env(
        home,
        ANTHROPIC_BASE_URL=gw.url,
        **{key_var: KEY},
        ANTHROPIC_MODEL=model,
        DISABLE_TELEMETRY="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_ERROR_REPORTING="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
    )
    work = tmp_path / "work"
    work.mkdir()
    argv = [str(binary), "-p", TOOL_PROMPT % "Glob" if tool else PROMPT, "--model", model]
    want = 2 if tool else 1
    proc, requests = run_cli(gw, argv, env, work, want)
    check_run(gw, proc, requests, model, "/v1/messages", want)


@skip_without_cli("claude")
@pytest.mark.parametrize(
    ("auth", "tool"),
    [("x-api-key", False), ("bearer", False), ("x-api-key", True)],
    ids=["api-key", "auth-token", "tool-loop"],
)
def test_claude_code(gateway: GatewayProcess, tmp_path: Path, auth: str, tool: bool) -> None:
    """Claude Code on the anthropic channel: `?beta=true`, betas and mid-conversation system
    messages reach it untouched (R3.4); ANTHROPIC_API_KEY (x-api-key) or ANTHROPIC_AUTH_TOKEN
    (Bearer); a tool call it runs (Glob) and the answer to its result."""
    claude(gateway, tmp_path, "claude-only", auth, tool)


@skip_without_cli("claude")
def test_claude_code_translated(gateway: GatewayProcess, tmp_path: Path) -> None:
    claude(gateway, tmp_path, "gpt-test", "x-api-key")


@skip_without_cli("claude")
def test_claude_code_does_not_retry_a_refused_key(gateway: GatewayProcess, tmp_path: Path) -> None:
    """Issue 12 point 7 (R8.1): Claude Code retries a 401 unless told `x-should-retry: false`;
    with a wrong key it must give up after one request (up to 3 retries allowed here: without
    the header it makes 4; its default keeps going for minutes)."""
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(
        home,
        ANTHROPIC_BASE_URL=gateway.url,
        ANTHROPIC_API_KEY="sk-" + "Q" * 48,
        ANTHROPIC_MODEL="claude-only",
        CLAUDE_CODE_MAX_RETRIES="3",
        DISABLE_TELEMETRY="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_ERROR_REPORTING="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
    )
    work = tmp_path / "work"
    work.mkdir()
    argv = [str(cli_binary("claude", "claude")), "-p", PROMPT, "--model", "claude-only"]
    start = len(gateway.lines)
    proc, _ = run_cli(gateway, argv, env, work)
    assert proc.returncode != 0
    # A later request's line comes after every line of the CLI's requests.
    barrier = f"{PROBE}-{tmp_path.name}"
    with httpx.Client(base_url=gateway.url, timeout=30) as c:
        c.get("/v1/models", headers={"x-api-key": KEY, "X-Request-Id": barrier})
    gateway.access_line(barrier)
    refused = [
        r
        for r in gateway.lines[start:]
        if r.get("msg") == "request" and r.get("code") == "INVALID_API_KEY"
    ]
    assert len(refused) == 1, refused


# ── Gemini CLI ───────────────────────────────────────────────────────────────────────────────

GEMINI_SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
}


@skip_without_cli("gemini")
@pytest.mark.parametrize("tool", [False, True], ids=["text", "tool-loop"])
@pytest.mark.parametrize("model", ["gemini-test", "claude-only"])
def test_gemini_cli(gateway: GatewayProcess, tmp_path: Path, model: str, tool: bool) -> None:
    """Native and translated (to the anthropic channel); with `tool`, the mock calls Gemini
    CLI's `glob`, which runs it (and fails: no such path), then answers its result."""
    binary = cli_binary("gemini", "gemini")
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps(GEMINI_SETTINGS))
    work = tmp_path / "work"
    work.mkdir()
    env = cli_env(
        home,
        GEMINI_API_KEY=KEY,
        GOOGLE_GEMINI_BASE_URL=gateway.url,
        GEMINI_CLI_TRUST_WORKSPACE="true",
        GEMINI_TELEMETRY_ENABLED="false",
    )
    prompt = TOOL_PROMPT % "glob" if tool else PROMPT
    want = 2 if tool else 1
    proc, requests = run_cli(gateway, [str(binary), "-m", model, "-p", prompt], env, work, want)
    path = f"/v1beta/models/{model}:streamGenerateContent"
    check_run(gateway, proc, requests, model, path, want)


# ── Codex ────────────────────────────────────────────────────────────────────────────────────


def codex(
    tmp_path: Path, base_url: str, key: str, model: str = "gpt-test"
) -> tuple[list[str], dict[str, str], Path]:
    """argv, environment and working directory of one `codex exec` on provider `base_url`."""
    binary = cli_binary("codex", "codex")
    codex_home = tmp_path / "codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(
        f"""model = "{model}"
model_provider = "torouter"
check_for_update_on_startup = false

[model_providers.torouter]
name = "ToRouter"
base_url = "{base_url}"
env_key = "TOROUTER_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[feedback]
enabled = false
"""
    )
    work = tmp_path / "work"
    work.mkdir()
    env = cli_env(tmp_path, CODEX_HOME=str(codex_home), TOROUTER_KEY=key)
    # `codex exec` prints the final message alone on stdout (progress goes to stderr).
    return [str(binary), "exec", "--skip-git-repo-check", "--color", "never", PROMPT], env, work


@skip_without_cli("codex")
@pytest.mark.parametrize("model", ["gpt-test", "claude-only"])
def test_codex(gateway: GatewayProcess, tmp_path: Path, model: str) -> None:
    """Codex speaks only the Responses API (`wire_api = "chat"` is refused by its config)."""
    argv, env, work = codex(tmp_path, gateway.url + "/v1", KEY, model)
    proc, requests = run_cli(gateway, argv, env, work)
    check_run(gateway, proc, requests, model, "/v1/responses")


@skip_without_cli("codex")
def test_codex_on_mock_responses(gateway: GatewayProcess, tmp_path: Path) -> None:
    """Baseline for issue 9: Codex works against the mock's own Responses API (no gateway in
    between), so whatever fails in test_codex lies in the gateway."""
    argv, env, work = codex(tmp_path, gateway.url + "/mock/openai/v1", "mock-key-1")
    proc = subprocess.run(
        argv,
        env=env,
        cwd=work,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == mock_answer(gateway, "gpt-test", PROMPT)
