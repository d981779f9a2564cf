"""A small reader of deploy/Dockerfile and .dockerignore (no Docker engine on these machines).

Enough of the Dockerfile grammar for the kit's file: line continuations, comments, the exec
(JSON) and shell forms, `KEY=VALUE` lists of ENV/LABEL/ARG, and stages. The .dockerignore
matcher follows Docker's rules: patterns are matched against the path and each of its parent
folders, `*` stays within one folder, `**` crosses folders, and the last matching line wins
(`!` lines re-include).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from tests.deploy.kit import DEPLOY, REPO

__all__ = ["Instruction", "Stage", "ignored", "image_env", "parse", "stages"]

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction, None for the shell form."""
        text = self.args.strip()
        if text.startswith("["):
            value = json.loads(text)
            assert isinstance(value, list)
            return [str(v) for v in value]
        return None

    def pairs(self) -> dict[str, str]:
        """`KEY=VALUE …` (ENV, LABEL, ARG) as a dict; a bare `ARG NAME` maps to ''."""
        out: dict[str, str] = {}
        for token in shlex.split(self.args):
            key, _, value = token.partition("=")
            out[key] = value
        return out


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse(text: str) -> list[Instruction]:
    out: list[Instruction] = []
    buf: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if not buf:
            start = n
        if line.endswith("\\"):
            buf.append(line[:-1].strip())
            continue
        buf.append(line)
        joined = " ".join(b for b in buf if b)
        keyword, _, args = joined.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buf = []
    assert not buf, "the Dockerfile ends inside a continued line"
    return out


def stages(instructions: list[Instruction]) -> tuple[dict[str, str], list[Stage]]:
    """The global ARG defaults (before the first FROM) and the stages, base images expanded."""
    args: dict[str, str] = {}
    result: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            words = ins.args.split()
            base = re.sub(
                r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], words[0]
            )
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(base, name))
        elif not result:
            assert ins.keyword == "ARG", f"line {ins.line}: only ARG may precede FROM"
            args.update(ins.pairs())
        else:
            result[-1].instructions.append(ins)
    return args, result


def image_env() -> dict[str, str]:
    """The ENV of the final stage (what every container of the image starts with)."""
    _, all_stages = stages(parse(DOCKERFILE.read_text()))
    env: dict[str, str] = {}
    for ins in all_stages[-1].all("ENV"):
        env.update(ins.pairs())
    return env


def _pattern(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def ignored(path: str, dockerignore: str) -> bool:
    """Whether Docker leaves `path` (relative to the build context) out of the context."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in dockerignore.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line.lstrip("!").strip().strip("/")
        rules.append((negate, _pattern(line)))
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negate, rx in rules:
        if any(rx.match(p) for p in prefixes):
            excluded = not negate
    return excluded
