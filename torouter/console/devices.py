"""A short name for a session's user agent ("Chrome 126 · Windows"), for the sessions list.

The full string stays in the page as a tooltip; this is only to make the list readable.
"""

from __future__ import annotations

import re

__all__ = ["device"]

_BROWSERS = (
    ("Edge", re.compile(r"Edg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"OPR/(\d+)")),
    ("Firefox", re.compile(r"Firefox/(\d+)")),
    ("Chrome", re.compile(r"(?:Headless)?Chrom(?:e|ium)/(\d+)")),
    ("Safari", re.compile(r"Version/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/")),
    ("curl", re.compile(r"^curl/(\d+)")),
)
_SYSTEMS = (
    ("Android", re.compile(r"Android")),
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Mac OS X|Macintosh")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Linux", re.compile(r"Linux|X11")),
)


def device(user_agent: str | None) -> str:
    if not user_agent:
        return "—"
    browser = next(
        (f"{name} {m.group(1)}" for name, rx in _BROWSERS if (m := rx.search(user_agent))), None
    )
    system = next((name for name, rx in _SYSTEMS if rx.search(user_agent)), None)
    parts = [p for p in (browser, system) if p]
    return " · ".join(parts) if parts else user_agent[:60]
