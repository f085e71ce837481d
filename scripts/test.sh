#!/usr/bin/env bash
# Set up .venv with the test extra and run the whole pytest suite (offline).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh
nija_bootstrap test
nija_test_packages
# Two workers: most of the suite's time is daemons and simulators waiting, so both cores stay
# busy (NIJA_TEST_WORKERS=0 runs in one process, e.g. to debug with -x or --pdb).
exec "$NIJA_VENV_PYTHON" -m pytest -n "${NIJA_TEST_WORKERS:-2}" "$@"
