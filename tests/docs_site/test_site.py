"""The documentation site (docs/ + mkdocs.yml): built strictly (a broken link or anchor fails),
readable offline, its reference pages generated from the code, and no page sending users to a
file they do not have."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from torouter.docs_gen.errors import GUIDE
from torouter.docs_gen.pages import PAGES
from torouter.errors import ERRORS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MKDOCS = [sys.executable, "-m", "mkdocs"]


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MKDOCS, "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )


def test_site_builds_strict_and_offline(tmp_path: Path) -> None:
    out = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert out.returncode == 0, out.stderr
    for page in ("clients", "errors", "configuration-reference", "provisioning", "operations"):
        # The offline plugin: one file per page, linked by file name, so file:// works.
        assert (tmp_path / "site" / f"{page}.html").is_file()
    assert 'href="clients.html"' in (tmp_path / "site" / "index.html").read_text()


@pytest.mark.parametrize(
    "broken", ["[x](nowhere.md)", "[x](errors.md#no-such-anchor)", "[x](#not-here)"]
)
def test_a_broken_link_or_anchor_fails_the_build(tmp_path: Path, broken: str) -> None:
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "clients.md"
    page.write_text(page.read_text() + f"\n{broken}\n")
    out = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert out.returncode != 0


@pytest.mark.parametrize("name", sorted(PAGES))
def test_generated_pages_match_the_code(name: str) -> None:
    """Regenerate with `python -m torouter.docs_gen` after changing errors or settings."""
    assert (DOCS / name).read_text() == PAGES[name](), f"docs/{name} is stale"


def test_the_error_reference_covers_every_code() -> None:
    assert set(GUIDE) == set(ERRORS)
    text = (DOCS / "errors.md").read_text()
    for key, spec in ERRORS.items():
        assert f"| {spec.status} | `{spec.code}` |" in text, key


def test_the_configuration_reference_names_every_setting() -> None:
    from torouter.config import Settings

    text = (DOCS / "configuration-reference.md").read_text()
    for name, info in Settings.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and hasattr(model, "model_fields"):
            for key in model.model_fields:
                assert f"`TOROUTER_{name.upper()}__{key.upper()}`" in text


FORBIDDEN = re.compile(r"SPEC\.md|DESIGN\.md|STYLE\.md|shared/|\bSPEC\b|§|\bR\d{1,2}\.\d+\b")


@pytest.mark.parametrize("page", [*sorted(DOCS.glob("*.md")), ROOT / "README.md"], ids=str)
def test_no_page_refers_to_files_users_do_not_have(page: Path) -> None:
    hits = [line for line in page.read_text().splitlines() if FORBIDDEN.search(line)]
    assert hits == []


def test_every_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in DOCS.glob("*.md"):
        assert f" {page.name}" in nav, page.name
