#!/usr/bin/env bash
# Set up everything the tests need and run the whole suite (the README's second command).
# Extra arguments go to pytest. pytest's "no tests ran" (exit 5) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test || exit 1
scripts/setup-node.sh || exit 1
eval "$(scripts/services.sh start)" || exit 1
export TOROUTER_RECORDED_DIR=${TOROUTER_RECORDED_DIR:-$(cd .. && pwd)/shared/fixtures/recorded}
# Three workers on two cores: about a third of the suite's time is spent waiting (servers
# starting, timeouts under test, browsers), so a third worker fills the cores. Work stealing
# keeps the long tests from leaving one worker alone at the end.
workers=${TOROUTER_TEST_WORKERS:-3}
# The slowest tests in every log: what to split or speed up when the budget tightens.
.venv/bin/python -m pytest -n "$workers" --dist worksteal -p no:cacheprovider --durations=25 "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "pytest ran no tests: failing" >&2; exit 1; fi
exit $rc
