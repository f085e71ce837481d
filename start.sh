#!/usr/bin/env bash
# Set up .venv on first run, load .env, and run the NIJA daemon. Paper mode unless .env (or the
# environment) says NIJA_MODE=live; this script never forces a mode.
set -euo pipefail
cd "$(dirname "$0")"
case "${1:-}" in
    -h|--help)  # before anything is set up or started
        echo "usage: ./start.sh [-h]"
        echo
        echo "Create .venv on first run, load .env from this folder, and run the NIJA daemon"
        echo "(python -m nija) until Ctrl-C or SIGTERM. Paper mode unless NIJA_MODE=live and a"
        echo "broker's credentials are set. Settings: .env (copy .env.example). A .env line that"
        echo "cannot be parsed stops start-up naming the file and line (exit 2)."
        if [ -x .venv/bin/python ]; then
            echo
            .venv/bin/python -m nija --help
        fi
        exit 0
        ;;
esac
. scripts/bootstrap.sh
nija_bootstrap
# .env is parsed by python-dotenv, not sourced by bash: a quoted multi-line key (Coinbase's PEM)
# or a '$' in a secret survives intact. Variables already set (non-empty) in the environment win
# over .env. A line python-dotenv cannot parse stops here with the file and line (exit 2).
exec "$NIJA_VENV_PYTHON" -c '
import os, sys
from nija.config import ConfigError, export_dotenv
try:
    export_dotenv()
except ConfigError as exc:
    print(f"nija: {exc}", file=sys.stderr)
    sys.exit(2)
os.execv(sys.executable, [sys.executable, "-m", "nija", *sys.argv[1:]])
' "$@"
