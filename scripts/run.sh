#!/usr/bin/env bash
# Set up and run the gateway on its embedded default (SQLite, in-process counters, demo data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "ToRouter: starting the gateway (.venv/bin/torouter serve $*)" >&2
exec .venv/bin/torouter serve "$@"
