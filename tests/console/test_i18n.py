"""Both languages for every string (R15.1): the catalogs have the same keys and placeholders,
and every key the code names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from torouter.console.i18n import (
    LANGUAGES,
    Translator,
    catalog,
    choose_language,
    normalize,
    placeholders,
)

CONSOLE = Path(__file__).resolve().parents[2] / "torouter" / "console"
_USED = re.compile(r"""\bt\(\s*['"]([a-z0-9_]+(?:\.[a-z0-9_A-Z]+)+)['"]""")
_PREFIXED = ("modality.", "endpoint.", "price.", "notice.", "errors.field.", "errors.code.")


def test_same_keys_in_every_language() -> None:
    en, zh = catalog("en"), catalog("zh-CN")
    assert sorted(set(en) - set(zh)) == []
    assert sorted(set(zh) - set(en)) == []


def test_same_placeholders_in_every_language() -> None:
    en, zh = catalog("en"), catalog("zh-CN")
    differ = [k for k in en if placeholders(en[k]) != placeholders(zh[k])]
    assert differ == []


def test_no_message_is_left_untranslated() -> None:
    """A Chinese message identical to the English one is a forgotten translation, except
    for names (products, SDKs) that read the same in both."""
    en, zh = catalog("en"), catalog("zh-CN")
    same = {k for k in en if en[k] == zh[k] and re.search(r"[a-z]{3}", en[k])}
    names = {k for k in same if k.startswith(("snippets.", "endpoint."))}
    assert same - names == set()


def test_every_key_named_in_templates_and_code_exists() -> None:
    messages = catalog("en")
    used: set[str] = set()
    for path in [*CONSOLE.rglob("*.html"), *CONSOLE.rglob("*.py")]:
        used.update(_USED.findall(path.read_text()))
    used.update(re.findall(r'"(snippets\.[a-z_]+)"', (CONSOLE / "snippets.py").read_text()))
    assert used, "the scan found nothing"
    assert sorted(used - set(messages)) == []


@pytest.mark.parametrize("prefix", _PREFIXED)
def test_families_looked_up_by_computed_key_exist(prefix: str) -> None:
    assert any(k.startswith(prefix) for k in catalog("en"))


def test_every_modality_endpoint_and_price_has_a_name() -> None:
    from torouter.console.pages.models import MODALITIES, TOKEN_PRICES, UNIT_PRICES

    messages = catalog("en")
    for m in MODALITIES:
        assert f"modality.{m}" in messages
    for p in (*TOKEN_PRICES, *UNIT_PRICES):
        assert f"price.{p}" in messages
    for e in (
        "chat",
        "responses",
        "messages",
        "generate",
        "embeddings",
        "images",
        "audio_transcription",
        "audio_speech",
        "rerank",
        "completions",
        "moderations",
    ):
        assert f"endpoint.{e}" in messages


@pytest.mark.parametrize(
    ("user", "cookie", "accept", "default", "expected"),
    [
        ("zh-CN", "en", "en", "en", "zh-CN"),  # the user's setting first
        (None, "zh-CN", "en-US,en", "en", "zh-CN"),  # then the switch's cookie
        (None, None, "zh-TW,zh;q=0.9,en;q=0.8", "en", "zh-CN"),  # then Accept-Language
        (None, None, "en-GB,zh;q=0.5", "zh-CN", "en"),
        (None, None, "fr-FR", "zh-CN", "zh-CN"),  # then the deployment's default
        (None, "klingon", None, "en", "en"),
    ],
)
def test_choice_of_language(
    user: str | None, cookie: str | None, accept: str | None, default: str, expected: str
) -> None:
    got = choose_language(user_setting=user, cookie=cookie, accept_language=accept, default=default)
    assert got == expected


def test_translator_fills_placeholders_and_normalizes() -> None:
    assert Translator("zh-CN")("onboarding.progress", done=1, total=3) == "已完成 1/3"
    assert Translator("fr").lang == "en"
    assert normalize("zh_Hans") == "zh-CN" and normalize("") is None
    assert set(LANGUAGES) == {"en", "zh-CN"}
