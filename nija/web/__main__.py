"""`python -m nija.web`: serve the read-only dashboard until SIGTERM or SIGINT.

Exit codes: 0 clean stop; 2 bad configuration (a malformed setting, a non-loopback
NIJA_WEB_HOST without NIJA_WEB_TOKEN), no readable store, or the address cannot be bound.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Final, TextIO

from nija.config import ConfigError, load_settings
from nija.logs import add_secrets, configure_logging, get_logger
from nija.store import StoreUnavailable, db_path
from nija.store.dashboard import DashboardStore
from nija.users import discover_users, environment_with_dotenv
from nija.web.server import WebServer, bind_problem

__all__ = ["main"]

EXIT_CONFIG: Final = 2
STOP_DEADLINE_SECONDS: Final = 5.0


def _parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="python -m nija.web",
        description="Serve NIJA's read-only web dashboard (overview, one page per account, the copy ledger)"
        " from the store in NIJA_DATA_DIR, at http://NIJA_WEB_HOST:NIJA_WEB_PORT/ (127.0.0.1:8787 by default)."
        " It never trades and never writes the store.",
        epilog="Settings: NIJA_DATA_DIR, NIJA_WEB_HOST, NIJA_WEB_PORT, NIJA_WEB_TOKEN (required to bind"
        " anything but loopback; then every request needs it: 'Authorization: Bearer <token>' or open a page"
        " once with ?token=<token>), NIJA_WEB_REFRESH_SECONDS. NIJA_WEB=true runs the same dashboard inside"
        " the daemon. Exit codes: 0 clean stop; 2 bad configuration, no store, or the address cannot be bound.",
    )


def main(argv: Sequence[str] | None = None, err: TextIO = sys.stderr) -> int:
    """Serve the dashboard until a signal; return the exit code. `--help` starts nothing."""
    try:
        _parser().parse_args(list(argv or []))
    except SystemExit as exc:  # --help (0) or an unknown argument (2, usage printed)
        return exc.code if isinstance(exc.code, int) else EXIT_CONFIG
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"nija.web: {exc}", file=err)
        return EXIT_CONFIG
    if (problem := bind_problem(settings)) is not None:
        print(f"nija.web: {problem}", file=err)
        return EXIT_CONFIG
    try:
        store = DashboardStore(db_path(settings.data_dir), readonly=True)
    except StoreUnavailable as exc:
        print(f"nija.web: {exc} (start the daemon first, or set NIJA_DATA_DIR)", file=err)
        return EXIT_CONFIG
    configure_logging(settings.log_format, settings.log_level, settings.secret_values())
    # Followers' keys and notification tokens too: every value a page prints passes the redactor.
    add_secrets(discover_users(settings.users_path, environment_with_dotenv()).secret_values())
    log = get_logger("nija.web")
    stop = threading.Event()
    _install_signal_handlers(stop)
    server = WebServer(settings, store, log)
    try:
        if not server.start():
            print(f"nija.web: cannot serve {server.url} (is the port in use?)", file=err)
            return EXIT_CONFIG
        server.wait(stop)
    except StoreUnavailable as exc:  # the first read of the figures failed: one line, not a traceback
        print(f"nija.web: {exc}", file=err)
        return EXIT_CONFIG
    finally:
        server.stop(STOP_DEADLINE_SECONDS)
        store.close()
    return 0


def _install_signal_handlers(stop: threading.Event) -> None:
    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, handle)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
