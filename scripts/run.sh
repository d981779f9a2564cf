#!/usr/bin/env bash
# Set up and run the gateway on its embedded default (SQLite, in-process counters, demo data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/torouter serve "$@"
