#!/usr/bin/env bash
# Set up .venv with the test extra and run the whole pytest suite (offline).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh
nija_bootstrap test
nija_test_packages
exec "$NIJA_VENV_PYTHON" -m pytest "$@"
