"""ToRouter versus the LiteLLM proxy on the same machine (SPEC R20.1; run by ``bench/litellm.py``).

LiteLLM is installed at a pinned version into its own venv (``.venvs/litellm``, created on first
use) and runs with a config that points its one model at the same instant mock: OpenAI provider,
no database, no callbacks, telemetry and the remote cost-map fetch off, one uvicorn worker on the
gateway's core. Both proxies then face the same wrk scenarios, one after the other (never both
running at once), and the report gives ToRouter / LiteLLM ratios. Not run by CI.

Pin: ``litellm[proxy]==1.106.2``. The issue asked for 1.110.2, but from 1.110 the ``proxy`` extra
needs a ``litellm-proxy`` package that the package index does not have, and 1.108-1.109 need
``litellm-proxy-extras`` releases it lacks; 1.106.2 installs whole and is the version read in
shared/STYLE.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.machine import REPO, machine_info
from bench.payloads import BODY_BYTES, write_bodies
from bench.procs import Server, free_port, sample
from bench.report import litellm_rows, render
from bench.scenarios import SCENARIOS, Target, Timing
from bench.stack import KEY, MOCK_AUTH, MODEL, gateway_server, mock_server, pick_source
from bench.suite import (
    CHAT_PATH,
    core,
    default_cores,
    flags_of,
    probe_all,
    run_pairs,
    say,
    warnings_of,
)

__all__ = ["LITELLM_PIN", "ensure_litellm", "litellm_config", "main"]

LITELLM_PIN = "1.106.2"
VENV = REPO / ".venvs" / "litellm"
MASTER_KEY = "sk-litellm-bench-master-key"
PEER_SCENARIOS = ("nonstream_c32", "stream_c32", "latency_c1")

# No network, no database, nothing phoning home: the proxy measured as a pure relay.
LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    "LITELLM_LOG": "ERROR",
    "LITELLM_MODE": "PRODUCTION",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    "DISABLE_ADMIN_UI": "True",
    "NO_DOCS": "True",
    "STORE_MODEL_IN_DB": "False",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
_UNSET = ("DATABASE_URL", "REDIS_URL", "REDIS_HOST", "LITELLM_MASTER_KEY", "OPENAI_API_KEY")


def _installed_version(python: Path) -> str:
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return out.stdout.strip() if out.returncode == 0 else ""


def ensure_litellm(venv: Path = VENV, pin: str = LITELLM_PIN) -> Path:
    """The ``litellm`` CLI of ``venv``, creating the venv and installing the pin if needed."""
    python, cli = venv / "bin" / "python", venv / "bin" / "litellm"
    if cli.exists() and _installed_version(python) == pin:
        return cli
    if not python.exists():
        say(f"creating {venv}")
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    say(f"installing litellm[proxy]=={pin} into {venv} (a few minutes the first time)")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"litellm[proxy]=={pin}"], check=True
    )
    if _installed_version(python) != pin:
        raise RuntimeError(f"litellm {pin} did not install into {venv}")
    return cli


def litellm_config(mock_base: str) -> str:
    """The proxy's YAML (written by hand: the bench's own venv has no YAML library)."""
    return f"""\
model_list:
  - model_name: {MODEL}
    litellm_params:
      model: openai/{MODEL}
      api_base: {mock_base}/v1
      api_key: mock-key
litellm_settings:
  telemetry: false
  drop_params: true
  callbacks: []
  success_callback: []
  failure_callback: []
  turn_off_message_logging: true
  request_timeout: 30
general_settings:
  master_key: {MASTER_KEY}
  disable_spend_logs: true
  disable_error_logs: true
  background_health_checks: false
"""


def litellm_server(folder: Path, cli: Path, mock_base: str, cpu: str | None) -> Server:
    port = free_port()
    config = folder / "litellm.yaml"
    config.write_text(litellm_config(mock_base))
    cmd = [str(cli), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    return Server(
        "litellm",
        [*cmd, "--num_workers", "1"],
        cpu=cpu,
        log=folder / "litellm.log",
        base_url=f"http://127.0.0.1:{port}",
        ready_path="/health/liveliness",
        env=LITELLM_ENV,
        unset=_UNSET,
        cwd=folder,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    gw, mock, load = default_cores()
    p = argparse.ArgumentParser(prog="bench/litellm.py", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, help="result JSON (default: bench/results/litellm-…)")
    p.add_argument("--seconds", type=int, default=10, help="measured run per scenario")
    p.add_argument("--warmup", type=int, default=3, help="warm-up run per scenario")
    p.add_argument("--gateway-cpu", default=gw, help="core of ToRouter and of LiteLLM")
    p.add_argument("--mock-cpu", default=mock)
    p.add_argument("--load-cpu", default=load)
    p.add_argument("--commit", metavar="REV", help="measure REV's torouter/, not the work tree")
    p.add_argument("--quiet-wait", type=float, default=0.0, metavar="S", help="see run.py")
    p.add_argument("--repeat", type=int, default=1, metavar="N", help="see run.py")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    p.add_argument("--show", type=Path, metavar="JSON", help="print a saved result and exit")
    p.add_argument("--markdown", action="store_true", help="with --show: a Markdown table")
    return p.parse_args(argv)


def _phase(
    name: str, server: Server, auth: str, bodies: dict[str, Path], timing: Timing
) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Probe and measure one proxy; returns (probes, scenario results, peak RSS MB)."""
    server.start(timeout=180)
    try:
        target = Target(name, server.base_url + CHAT_PATH, auth, server.pid)
        probes = probe_all([target], bodies)
        scenarios = [s for s in SCENARIOS if s.key in PEER_SCENARIOS]
        results = run_pairs(scenarios, [target], bodies, timing)
        peak = sample(server.pid).peak_rss_kb / 1024
    finally:
        server.stop()
    return probes, results, round(peak, 1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    cli = ensure_litellm()
    gw_cpu, mock_cpu, load_cpu = core(args.gateway_cpu), core(args.mock_cpu), core(args.load_cpu)
    result: dict[str, Any] = {
        "schema": 1,
        "kind": "torouter-vs-litellm",
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "setup": {
            "litellm": LITELLM_PIN,
            "cores": {"proxy": gw_cpu, "mock": mock_cpu, "wrk": load_cpu},
            "workers": 1,
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "body_bytes": BODY_BYTES,
        },
        "probes": {},
        "scenarios": {},
        "peak_rss_mb": {},
    }
    tmp = Path(tempfile.mkdtemp(prefix="torouter-bench-litellm-"))
    bodies = write_bodies(tmp, MODEL)
    source, result["source"] = pick_source(args.commit, tmp / "src")
    mock = mock_server(tmp, mock_cpu, source)
    try:
        mock.start()
        timing = Timing(
            args.seconds,
            args.warmup,
            args.seconds,
            load_cpu,
            (mock.pid,),
            args.quiet_wait,
            args.repeat,
        )
        direct = Target("direct", mock.base_url + CHAT_PATH, MOCK_AUTH, mock.pid)
        result["probes"] |= probe_all([direct], bodies)
        scenarios = [s for s in SCENARIOS if s.key in PEER_SCENARIOS]
        result["scenarios"] = run_pairs(scenarios, [direct], bodies, timing)
        phases = (
            ("gateway", gateway_server(tmp, mock.base_url, gw_cpu, source), f"Bearer {KEY}"),
            ("litellm", litellm_server(tmp, cli, mock.base_url, gw_cpu), f"Bearer {MASTER_KEY}"),
        )
        for name, server, auth in phases:
            probes, scenario_results, peak = _phase(name, server, auth, bodies, timing)
            result["probes"] |= probes
            result["peak_rss_mb"][name] = peak
            for key, entry in scenario_results.items():
                result["scenarios"][key][name] = entry[name]
    finally:
        mock.stop()
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result["table"] = [row.as_dict() for row in litellm_rows(result)]
    result["flags"] = flags_of(result)
    result["warnings"] = warnings_of(result)
    return result


HEADER = ("metric", "LiteLLM", "ToRouter", "ToRouter vs LiteLLM", "SPEC", "goal", "result")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.show:
        saved = orjson.loads(args.show.read_bytes())
        print(render(litellm_rows(saved), markdown=args.markdown, header=HEADER))
        return 0
    t0 = time.monotonic()
    result = run(args)
    result["wall_s"] = round(time.monotonic() - t0, 1)
    day = dt.date.today().isoformat()
    commit = result["machine"]["git_commit"][:7] or "nogit"
    out = args.out or REPO / "bench" / "results" / f"litellm-{day}-{commit}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print(render(litellm_rows(result), header=HEADER))
    for warning in result["warnings"]:
        print(f"WARNING: {warning}")
    for flag in result["flags"]:
        print(f"FLAGGED: {flag}")
    print(f"saved {out} ({result['wall_s']} s)")
    return 1 if result["flags"] else 0
