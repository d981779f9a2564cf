"""A declarations file for `torouter apply FILE --config DEPLOYMENT`.

The deployment's configuration says where its database is; FILE says what it should hold.
FILE may therefore contain only the `[[table]]` declarations: a `[database]` or `data_dir` in
it would silently point `apply` elsewhere than the running deployment, so it is refused.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path

from torouter.config import Settings

__all__ = ["TABLES", "read_declarations"]

TABLES = ("groups", "models", "channels", "users", "keys", "plans", "subscriptions")


def read_declarations(settings: Settings, file: Path) -> Settings:
    """`settings` with FILE's declarations in place of the configuration's own.

    Raises `ValueError` (one line per problem, `file: name: message`) for anything in FILE
    that is not a declaration table; `FileNotFoundError` when FILE is missing.
    """
    if settings.config_file is not None and file.resolve() == settings.config_file.resolve():
        return settings  # the configuration holds its own declarations
    with file.open("rb") as fh:
        data = tomllib.load(fh)
    problems = []
    for name, value in data.items():
        if name in TABLES and isinstance(value, list):
            continue
        close = difflib.get_close_matches(name, TABLES, n=1)
        if close:
            hint = f"unknown table (did you mean [[{close[0]}]]?)"
        elif name in TABLES:
            hint = f"must be written [[{name}]]"
        else:
            hint = (
                "only [[table]] declarations belong here; settings go in the deployment's "
                "configuration"
            )
        problems.append(f"{file}: {name}: {hint}")
    if problems:
        raise ValueError("\n".join(problems))
    update: dict[str, object] = {name: data.get(name, []) for name in TABLES}
    update["config_file"] = file
    return settings.model_copy(update=update)
