"""Packaging a newcomer reads: an SPDX license expression with its LICENSE file, and a first
`scripts/run.sh` that says what it is doing while it installs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_license_is_an_spdx_expression_with_its_file() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License") and "Version 2.0" in text


def test_every_slow_setup_step_is_announced() -> None:
    """Each venv creation, pip install and apt-get install in setup.sh follows a `say` line,
    and run.sh announces the start: the first run no longer looks hung."""
    lines = (ROOT / "scripts" / "setup.sh").read_text().splitlines()
    slow = re.compile(r'-m venv|pip" install|pip install -q --disable|apt-get install')
    for i, line in enumerate(lines):
        if slow.search(line) and not line.lstrip().startswith("#"):
            before = [x.strip() for x in lines[max(0, i - 10) : i]]
            assert any(x.startswith("say ") for x in before), line
    run = (ROOT / "scripts" / "run.sh").read_text()
    assert "starting the gateway" in run
