#!/usr/bin/env bash
# Screenshots of every console page, both widths, both languages: see scripts/screenshots.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/screenshots.py "$@"
