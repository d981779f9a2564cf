"""The console's two languages (R15.1): message catalogs and the choice of language.

Catalogs are TOML files in `i18n/` (`en.toml`, `zh-CN.toml`, plus one pair per area such as
`admin.en.toml` / `admin.zh-CN.toml`), nested tables read as dotted keys
(`keys.create.title`); a key defined by two files of one language is an error. Messages may
hold `{name}` placeholders, filled by `t(key, name=…)`.
A missing key raises: a test renders every page in both languages, and another one fails when a
key or a placeholder exists in one catalog and not the other.

The language of a request: the signed-in user's setting, else the `torouter_lang` cookie (the
language switch of a visitor), else `Accept-Language`, else `default_language`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from string import Formatter
from typing import Any

from torouter.protocols.envelopes import pick_language

__all__ = [
    "CATALOG_DIR",
    "LANGUAGES",
    "LANG_COOKIE",
    "Translator",
    "catalog",
    "choose_language",
    "placeholders",
]

CATALOG_DIR = Path(__file__).parent / "i18n"
LANGUAGES = ("en", "zh-CN")
LANG_COOKIE = "torouter_lang"


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, key + "."))
        else:
            out[key] = str(value)
    return out


@cache
def catalog(lang: str) -> dict[str, str]:
    """Every message of one language, by dotted key (read once per process)."""
    out: dict[str, str] = {}
    for path in (CATALOG_DIR / f"{lang}.toml", *sorted(CATALOG_DIR.glob(f"*.{lang}.toml"))):
        with path.open("rb") as fh:
            messages = _flatten(tomllib.load(fh))
        twice = sorted(set(messages) & set(out))
        if twice:
            raise ValueError(f"{path.name}: keys defined twice: {', '.join(twice[:5])}")
        out.update(messages)
    return out


def placeholders(message: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in Formatter().parse(message) if name)


def normalize(lang: str | None) -> str | None:
    """`zh`, `zh-cn`, `zh-Hans` → `zh-CN`; `en-GB` → `en`; anything else → None."""
    if not lang:
        return None
    base = lang.strip().lower().replace("_", "-").split("-")[0]
    return {"zh": "zh-CN", "en": "en"}.get(base)


def choose_language(
    *, user_setting: str | None, cookie: str | None, accept_language: str | None, default: str
) -> str:
    for candidate in (user_setting, cookie):
        lang = normalize(candidate)
        if lang is not None:
            return lang
    return normalize(pick_language(accept_language, default)) or "en"


class Translator:
    """`t("keys.title")` → the message in this language; `t("x", n=3)` fills `{n}`."""

    __slots__ = ("lang", "messages")

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else "en"
        self.messages = catalog(self.lang)

    def __call__(self, key: str, **values: Any) -> str:
        message = self.messages[key]
        return message.format(**values) if values else message

    def has(self, key: str) -> bool:
        return key in self.messages
