"""The generated pages of docs/, by file name."""

from __future__ import annotations

from collections.abc import Callable

from torouter.docs_gen import errors, settings

__all__ = ["PAGES"]

PAGES: dict[str, Callable[[], str]] = {
    "errors.md": errors.render,
    "configuration-reference.md": settings.render_configuration,
    "provisioning.md": settings.render_provisioning,
}
