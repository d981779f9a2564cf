"""Unknown names in the configuration, found from the settings models themselves (R17.5).

A misspelt key used to be dropped silently, so `[signup] alowed_domains` left sign-up open to
every domain. Every section of the file and every `TOROUTER_<SECTION>__<KEY>` variable is now
checked against the pydantic models that read them: a new section needs only its model. The
answer names the file (or variable), the section and the key, with the closest known name.

Single-level variables (`TOROUTER_<KEY>`) share their prefix with the program's own variables
and with other tools' (`TOROUTER_CONFIG`, a CLI's `env_key`, the test harness), so an unknown
one is only a warning, and only when it looks like a misspelt setting.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

__all__ = ["UnknownName", "env_problems", "file_problems"]

ENV_PREFIX = "TOROUTER_"
_DELIMITER = "__"


@dataclass(frozen=True, slots=True)
class UnknownName:
    """One unknown section or key; `str()` is the sentence shown to the operator."""

    where: str  # the file, or the environment variable
    section: str  # "" at the top level; dotted for nested sections
    key: str
    suggestion: str | None
    is_section: bool = False

    def __str__(self) -> str:
        # `where: section.key: message`, the one shape of every configuration error.
        dotted = f"{self.section}.{self.key}" if self.section else self.key
        if self.is_section:
            hint = f" (did you mean [{self.suggestion}]?)" if self.suggestion else ""
            return f"{self.where}: {dotted}: unknown section{hint}"
        hint = f" (did you mean `{self.suggestion}`?)" if self.suggestion else ""
        return f"{self.where}: {dotted}: unknown key{hint}"


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a field that is a section (`X` or `X | None`), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, UnionType):
        models = [a for a in get_args(annotation) if isinstance(a, type)]
        models = [a for a in models if issubclass(a, BaseModel)]
        if len(models) == 1:
            return models[0]
    return None


def _is_section(field: FieldInfo) -> bool:
    return _section_model(field.annotation) is not None


def _is_tables(field: FieldInfo) -> bool:
    """A list of tables (`[[groups]]`…, R17.10)."""
    args = get_args(field.annotation)
    return get_origin(field.annotation) is list and bool(args) and get_origin(args[0]) is dict


def _closest(name: str, known: Collection[str]) -> str | None:
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return match[0] if match else None


def file_problems(
    data: Mapping[str, Any],
    model: type[BaseModel],
    where: str,
    *,
    hidden: Collection[str] = (),
    section: str = "",
) -> list[UnknownName]:
    """Every name of `data` (a parsed TOML table) that `model` does not declare, recursively.

    `hidden` are fields the program sets itself and a file must not (e.g. `config_file`).
    """
    fields = {n: f for n, f in model.model_fields.items() if n not in hidden}
    problems: list[UnknownName] = []
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            is_section = not section and isinstance(value, dict)
            candidates = [n for n in fields if _is_section(fields[n])] if is_section else fields
            hint = _closest(key, candidates)
            problems.append(UnknownName(where, section, key, hint, is_section=is_section))
            continue
        sub = _section_model(field.annotation)
        if sub is not None and isinstance(value, dict):
            path = f"{section}.{key}" if section else key
            problems += file_problems(value, sub, where, section=path)
    return problems


def env_problems(
    environ: Mapping[str, str], model: type[BaseModel], *, hidden: Collection[str] = ()
) -> tuple[list[UnknownName], list[UnknownName]]:
    """(errors, warnings) among the `TOROUTER_` variables.

    `TOROUTER_A__B` is unmistakably meant as a setting: an unknown section or key is an error.
    `TOROUTER_A` is a warning only when it is close to a top-level setting's name.
    """
    errors: list[UnknownName] = []
    warnings: list[UnknownName] = []
    fields = {n: f for n, f in model.model_fields.items() if n not in hidden}
    # Suggested only among plain settings: nobody writes `[[keys]]` tables in a variable.
    scalars = [n for n, f in fields.items() if not _is_section(f) and not _is_tables(f)]
    for var in sorted(environ):
        if not var.upper().startswith(ENV_PREFIX):
            continue
        parts = var[len(ENV_PREFIX) :].lower().split(_DELIMITER)
        if len(parts) == 1:
            name = parts[0]
            if name not in fields:
                hint = difflib.get_close_matches(name, scalars, n=1, cutoff=0.8)
                if hint:
                    warnings.append(UnknownName(var, "", name, ENV_PREFIX + hint[0].upper()))
            continue
        problem = _env_path(var, parts, model, hidden)
        if problem is not None:
            errors.append(problem)
    return errors, warnings


def _env_path(
    var: str, parts: list[str], model: type[BaseModel], hidden: Collection[str]
) -> UnknownName | None:
    current: type[BaseModel] | None = model
    section = ""
    for depth, part in enumerate(parts):
        if current is None:  # a scalar setting has no keys below it
            return UnknownName(var, section, part, None)
        fields = {n: f for n, f in current.model_fields.items() if depth or n not in hidden}
        field = fields.get(part)
        if field is None:
            if not depth:
                hint = _closest(part, [n for n in fields if _is_section(fields[n])])
                return UnknownName(var, "", part, hint, is_section=True)
            return UnknownName(var, section, part, _closest(part, fields))
        section = f"{section}.{part}" if section else part
        current = _section_model(field.annotation)
    return None
