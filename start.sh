#!/usr/bin/env bash
# Set up .venv on first run, load .env, and run the NIJA daemon. Paper mode unless .env says
# NIJA_MODE=live; this script never forces a mode.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/bootstrap.sh
nija_bootstrap
if [ -f .env ]; then
    set -a
    . ./.env
    set +a
fi
exec "$NIJA_VENV_PYTHON" -m nija "$@"
