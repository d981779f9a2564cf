"""The README's first call works as written against the demo of the embedded default (R17.9)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.e2e.harness import GatewayProcess

README = Path(__file__).resolve().parents[1] / "README.md"

CONFIG = """
data_dir = "{dir}/data"
[server]
port = {port}
"""


def blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)


def test_readme_opens_with_the_two_commands() -> None:
    first = blocks()[0].strip().splitlines()
    assert [line.split()[0] for line in first] == ["scripts/run.sh", "scripts/test.sh"]
    # Right under the title; HTML comments (the docs tests' snippet markers) do not show.
    shown = re.sub(r"<!--.*?-->\n?", "", README.read_text(), flags=re.S)
    assert shown.index("```sh") < 20


def test_first_curl_and_sdk_call_work_against_the_demo(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, CONFIG).start()
    try:
        demo = tmp_path / "data" / "demo.txt"
        assert demo.stat().st_mode & 0o777 == 0o600
        gw.wait_stderr(b"API key:")  # the one-time banner
        assert not any("sk-" in str(line) for line in gw.lines)  # never in the JSON log
        curl, sdk = blocks()[1], blocks()[2]
        venv_bin = str(Path(__file__).resolve().parents[1] / ".venv" / "bin")
        for script in (curl, sdk.replace(".venv/bin/pip install -q openai\n", "")):
            script = script.replace("127.0.0.1:8080", f"127.0.0.1:{gw.port}")
            script = script.replace(".venv/bin/", venv_bin + "/")
            out = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert out.returncode == 0, out.stderr
            assert "mock" in out.stdout.lower() or "content" in out.stdout, out.stdout
    finally:
        gw.stop()
