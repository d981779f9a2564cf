"""Static files with content-hashed names, computed once at start-up (R15.5).

`Assets.url("console.css")` → `/static/console.3f2a9c1e07.css`. A changed file gets a new
name, so every asset can be cached for a year (`immutable`); an old name is a 404, never a
stale file. Only files that exist at start are served: nothing under the folder is looked up
by a path taken from a request.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STATIC_DIR", "Asset", "Assets"]

STATIC_DIR = Path(__file__).parent / "static"
_SERVED = frozenset({".css", ".js", ".svg", ".png", ".ico", ".woff2", ".txt"})
_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


class Assets:
    def __init__(self, root: Path = STATIC_DIR) -> None:
        self._urls: dict[str, str] = {}
        self._files: dict[str, Asset] = {}
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.suffix not in _SERVED:
                continue
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:10]
            logical = path.relative_to(root).as_posix()
            stem, dot, ext = logical.rpartition(".")
            hashed = f"{stem}.{digest}.{ext}" if dot else f"{logical}.{digest}"
            ctype = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
            self._urls[logical] = f"/static/{hashed}"
            self._files[hashed] = Asset(body, ctype or "application/octet-stream", f'"{digest}"')

    def url(self, logical: str) -> str:
        """The hashed URL of a file under static/ (a KeyError names a missing file early)."""
        return self._urls[logical]

    def get(self, hashed: str) -> Asset | None:
        return self._files.get(hashed)

    def __contains__(self, logical: str) -> bool:
        return logical in self._urls
