"""`python -m torouter.docs_gen [DOCS_DIR]`: rewrite the generated reference pages."""

from __future__ import annotations

import sys
from pathlib import Path

from torouter.docs_gen.pages import PAGES


def main() -> None:
    docs = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    for name, render in PAGES.items():
        (docs / name).write_text(render())
        print(f"wrote {docs / name}")


if __name__ == "__main__":
    main()
