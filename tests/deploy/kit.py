"""Helpers for the deployment-kit tests: paths, external tools, YAML, setting names."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from torouter.config import Settings

__all__ = [
    "DEPLOY",
    "REPO",
    "env_setting",
    "load_yaml",
    "load_yaml_all",
    "run",
    "tool",
]

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

# TOROUTER_* variables that are not settings but are read by the CLI itself.
_NOT_SETTINGS = frozenset({"TOROUTER_CONFIG", "TOROUTER_ADMIN_PASSWORD", "TOROUTER_NEW_PASSWORD"})


def tool(name: str) -> str:
    """The path of an external checker; skips without it, fails under CI (setup.sh installs it)."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (scripts/setup.sh --test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def run(*args: str, cwd: Path | None = None, input: str | None = None) -> tuple[int, str]:
    """Run a checker; returns its exit code and its stdout and stderr together."""
    proc = subprocess.run(
        args, cwd=cwd, input=input, capture_output=True, text=True, timeout=120, check=False
    )
    return proc.returncode, proc.stdout + proc.stderr


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def env_setting(name: str) -> str | None:
    """The dotted setting a `TOROUTER_<SECTION>__<KEY>` variable sets (R17.5), or None if the
    name matches no setting (a typo the gateway would silently ignore)."""
    if name in _NOT_SETTINGS:
        return name
    if not name.startswith("TOROUTER_"):
        return None
    parts = name[len("TOROUTER_") :].lower().split("__")
    model: type[BaseModel] = Settings
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        if i == len(parts) - 1:
            return ".".join(parts)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return None


_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


def interpolation_default(value: str) -> str:
    """A compose value with each `${NAME:-default}` replaced by its default (`${NAME:?…}` by
    a placeholder), as compose renders it when the variable is unset."""

    def repl(m: re.Match[str]) -> str:
        op = m.group("op") or ""
        if op.endswith("-"):
            return m.group("arg")
        return f"<{m.group('name')}>"

    return _INTERPOLATION.sub(repl, value)
