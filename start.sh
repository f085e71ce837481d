#!/usr/bin/env bash
# Set up .venv on first run, load .env, and run the NIJA daemon. Paper mode unless .env (or the
# environment) says NIJA_MODE=live; this script never forces a mode.
set -euo pipefail
cd "$(dirname "$0")"
. scripts/bootstrap.sh
nija_bootstrap
# .env is parsed by python-dotenv, not sourced by bash: a quoted multi-line key (Coinbase's PEM)
# or a '$' in a secret survives intact. Variables already in the environment win over .env.
exec "$NIJA_VENV_PYTHON" -c '
import os, sys
from dotenv import load_dotenv
if os.path.exists(".env"):
    load_dotenv(".env", override=False)
os.execv(sys.executable, [sys.executable, "-m", "nija", *sys.argv[1:]])
' "$@"
