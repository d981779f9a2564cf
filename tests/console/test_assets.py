"""Static files (R15.5): hashed names computed at start, a year of caching, nothing else
served; the vendored files are there with their licenses; the security headers (R18.5)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from torouter.console.assets import STATIC_DIR, Assets
from torouter.console.paths import is_console_path
from torouter.console.security import CSP, SecurityHeaders

VENDOR = STATIC_DIR / "vendor"


def test_hashed_urls_follow_the_content(tmp_path: Path) -> None:
    (tmp_path / "a.css").write_text("body{}")
    (tmp_path / "notes.md").write_text("not served")
    assets = Assets(tmp_path)
    digest = hashlib.sha256(b"body{}").hexdigest()[:10]
    assert assets.url("a.css") == f"/static/a.{digest}.css"
    assert assets.get(f"a.{digest}.css").body == b"body{}"  # type: ignore[union-attr]
    assert assets.get("a.css") is None and "notes.md" not in assets
    (tmp_path / "a.css").write_text("body{color:red}")
    assert Assets(tmp_path).url("a.css") != f"/static/a.{digest}.css"


def test_vendored_files_and_their_licenses() -> None:
    for name in ("htmx.min.js", "alpine-csp.min.js", "uplot.min.js", "uplot.min.css"):
        assert (VENDOR / name).stat().st_size > 1000
    for lic in ("htmx.LICENSE", "alpine-csp.LICENSE", "uplot.LICENSE"):
        assert "Permission" in (VENDOR / lic).read_text()  # htmx 0BSD, Alpine and uPlot MIT
    axe = Path(__file__).parent / "vendor"
    assert (axe / "axe.min.js").exists() and (axe / "axe.LICENSE").exists()
    versions = (VENDOR / "VERSIONS").read_text()
    assert "htmx.org 2." in versions and "@alpinejs/csp 3." in versions


def test_no_inline_script_or_style_in_templates() -> None:
    templates = STATIC_DIR.parent / "templates"
    for path in templates.rglob("*.html"):
        text = path.read_text()
        assert " style=" not in text, path
        assert "<style" not in text, path
        for tag in text.split("<script")[1:]:
            assert tag.split(">", 1)[0].strip().startswith("defer src="), path
        assert "onclick=" not in text and "onsubmit=" not in text and "hx-on" not in text, path


@pytest.mark.parametrize(
    ("path", "ours"),
    [
        ("/", True),
        ("/login", True),
        ("/login/totp", True),
        ("/keys/3/edit", True),
        ("/static/console.1234.css", True),
        ("/pricing", True),
        ("/models/openai/gpt-5", True),
        ("/v1/models", False),
        ("/api/me/keys", False),
        ("/healthz", False),
        ("/keysx", False),
        ("/mock/openai/v1", False),
    ],
)
def test_console_paths(path: str, ours: bool) -> None:
    assert is_console_path(path) is ours


async def test_security_headers_replace_the_apps_own() -> None:
    sent: list[dict[str, object]] = []

    async def app(scope: object, receive: object, send: object) -> None:
        await send(  # type: ignore[operator]
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"x-frame-options", b"ALLOW")],
            }
        )

    async def capture(message: dict[str, object]) -> None:
        sent.append(message)

    await SecurityHeaders(app)({"type": "http"}, None, capture)  # type: ignore[arg-type]
    headers = dict(sent[0]["headers"])  # type: ignore[arg-type]
    assert headers[b"x-frame-options"] == b"DENY"
    assert headers[b"content-security-policy"] == CSP.encode()
    assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP
