"""The daemon's lifecycle: settings → store → build (`nija.build`) → supervisor and copy engine;
signals; shutdown; exit codes.

Exit codes: 0 clean stop, 2 bad configuration, an unusable data dir, a damaged, newer or busy
store, a store of another mode or account, or another daemon on the same data dir, 3 refused to
start because `EMERGENCY_STOP` exists.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any, Final, TextIO

from nija.brokers.fees import configure_fees
from nija.build import (
    Shared,
    build_copy_engine,
    build_loop,
    build_loops,
    master_key_fingerprints,
    master_key_problem,
)
from nija.config import ConfigError, load_settings
from nija.datadir import DataDirLock
from nija.logs import configure_logging, get_logger, redact_text
from nija.models import MASTER_ACCOUNT
from nija.notify import build_notifier
from nija.store import Store, StoreMismatch, StoreUnavailable, check_data_dir, db_path
from nija.trading.guard import EMERGENCY_STOP_FILE
from nija.trading.supervisor import Supervisor

__all__ = ["main"]

SHUTDOWN_DEADLINE_SECONDS: Final = 5.0
EXIT_CONFIG: Final = 2
EXIT_EMERGENCY_STOP: Final = 3
OPEN_FILES_PER_USER: Final = 2  # a kept-alive connection and, on Kraken, the nonce lock file
OPEN_FILES_RESERVE: Final = 256  # masters, the store, logs, sockets being replaced
OPEN_FILES_WANTED: Final = 65_536  # asked for when the hard limit is unlimited


def _fail(message: str, code: int, err: TextIO) -> int:
    print(f"nija: {message}", file=err)
    return code


def raise_open_file_limit(log: Any) -> int:
    """Lift the soft open-file limit to the hard one and return it: each copy user keeps a
    connection open, and a Kraken user also its nonce lock file, so 1,000 users need about 2,000
    descriptors, twice the 1,024 most systems start a process with."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, OPEN_FILES_WANTED)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:  # a container may refuse even within the hard limit
            log.warning("open_file_limit_unchanged", soft=soft, hard=hard, error=str(exc))
    return soft


def warn_if_too_few_files(limit: int, users: int, log: Any) -> None:
    """One warning when the open-file limit can't hold every copy user's descriptors."""
    needed = OPEN_FILES_PER_USER * users + OPEN_FILES_RESERVE
    if limit != resource.RLIM_INFINITY and limit < needed:
        log.warning(
            "open_file_limit_low", limit=limit, needed=needed, users=users,
            detail="raise the hard limit (ulimit -Hn, or LimitNOFILE= in the systemd unit)",
        )


def _parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="python -m nija",
        description="Run the NIJA trading daemon until SIGTERM, SIGINT or SIGHUP (./start.sh runs it"
        " after loading .env). Paper mode unless NIJA_MODE=live and a broker's credentials are set.",
        epilog="Every setting is an environment variable or a line of .env in the working directory;"
        " .env.example lists each one with its default. Exit codes: 0 clean stop; 2 bad configuration,"
        " an unusable data dir or store, or another daemon on the data dir; 3 EMERGENCY_STOP exists."
        " See also: python -m nija.status, python -m nija.trade.",
    )


def main(argv: Sequence[str] | None = None, err: TextIO = sys.stderr) -> int:
    """Run the daemon until SIGTERM/SIGINT; return the process exit code. `argv` (None: no
    arguments) takes only --help, which prints usage and starts nothing."""
    try:
        _parser().parse_args(list(argv or []))
    except SystemExit as exc:  # --help (0) or an unknown argument (2, usage printed)
        return exc.code if isinstance(exc.code, int) else EXIT_CONFIG
    try:
        settings = load_settings()
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG, err)
    if (key_problem := master_key_problem(settings)) is not None:  # a key the venue is known to refuse
        return _fail(key_problem, EXIT_CONFIG, err)
    web_module = None
    if settings.web:  # imported only when asked for: the web stack would cost every start-up time
        import nija.web as web_module

        if (web_problem := web_module.bind_problem(settings)) is not None:
            return _fail(web_problem, EXIT_CONFIG, err)
    configure_fees(settings.fee_overrides())  # before any thread reads a fee
    configure_logging(settings.log_format, settings.log_level, settings.secret_values())
    log = get_logger("nija.daemon")
    stop = threading.Event()
    _install_signal_handlers(stop, log)  # first: a SIGTERM during start-up still stops cleanly

    if (settings.data_dir / EMERGENCY_STOP_FILE).exists():
        return _fail(
            f"{settings.data_dir / EMERGENCY_STOP_FILE} exists: refusing to start."
            " Delete the file to allow trading again.",
            EXIT_EMERGENCY_STOP,
            err,
        )
    mode = "live" if settings.mode == "live" and settings.configured_live_brokers() else "paper"
    if settings.mode == "live" and mode == "paper":
        log.warning("live_without_credentials", detail="NIJA_MODE=live but no broker credentials: running paper")

    try:
        check_data_dir(settings.data_dir)  # a file, a read-only mount: one line, not a traceback
    except StoreUnavailable as exc:
        return _fail(str(exc), EXIT_CONFIG, err)
    lock = DataDirLock(settings.data_dir)
    if not lock.acquire():
        return _fail(f"another NIJA daemon is running on {settings.data_dir}", EXIT_CONFIG, err)
    file_limit = raise_open_file_limit(log)  # before any user's nonce file or connection opens
    try:
        # A new store only where none exists; a damaged or newer one is refused, never replaced.
        # The store then belongs to this mode and these accounts: paper and live never mix.
        store = Store(db_path(settings.data_dir))
        store.claim(mode, master_key_fingerprints(settings, mode))
    except (StoreUnavailable, StoreMismatch) as exc:
        return _fail(str(exc), EXIT_CONFIG, err)
    shared = Shared(stop=stop)  # one stop flag: a signal ends every loop, adapter wait and the copy engine
    loops, failed = build_loops(settings, mode, store, log, shared)
    engine = build_copy_engine(settings, mode, store, loops, shared, log)
    warn_if_too_few_files(file_limit, engine.user_count if engine is not None else 0, log)
    engine_thread = None
    if engine is not None:
        for loop in loops:
            loop.on_fill = engine.wake.set
        engine_thread = threading.Thread(target=engine.run, name="copy-engine", daemon=True)
    store.forget_health(
        [(str(loop.broker.name), MASTER_ACCOUNT) for loop in loops] + [(str(h.broker), h.account) for h in failed]
    )
    store.daemon_started(os.getpid(), mode, settings.cycle_seconds, settings.copy_trading_mode)
    log.info(
        "daemon_started", mode=mode, pid=os.getpid(), brokers=[str(loop.broker.name) for loop in loops],
        cycle_seconds=settings.cycle_seconds, data_dir=str(settings.data_dir),
    )
    supervisor = Supervisor(
        loops, store, log,
        independent=settings.multi_broker_independent,
        funding_recheck_seconds=settings.funding_recheck_seconds,
        summary_seconds=settings.status_summary_seconds,
        failed_at_start=failed,
        setup=lambda name: build_loop(settings, mode, store, log, shared, name),  # retried with backoff
        setup_retry_seconds=settings.cycle_seconds,
    )
    supervisor.start()
    if engine_thread is not None:
        engine_thread.start()
    # Notifications read the store on threads of their own: trading never waits for a receiver.
    notifier = build_notifier(settings, store, stop, mode=mode, brokers=[str(loop.broker.name) for loop in loops])
    if notifier is not None:
        notifier.start()
    # After trading has started: the dashboard's first figures take a moment on a big store.
    web = web_module.start_web(settings, log) if web_module is not None else None
    heartbeat_every = min(5.0, settings.cycle_seconds)
    while not stop.wait(heartbeat_every):
        try:
            store.heartbeat()
            supervisor.tick()
        except Exception as exc:  # a store or venue hiccup in a re-check: the daemon stays up, tries again
            log.error("main_tick_failed", error=redact_text(f"{type(exc).__name__}: {exc}"))

    log.info("daemon_stopping")
    if engine is not None:
        engine.wake.set()
    if web is not None:
        web.request_stop()  # winds down while the loops stop
    stuck = supervisor.stop(SHUTDOWN_DEADLINE_SECONDS)
    if web is not None:
        stuck += web.stop(SHUTDOWN_DEADLINE_SECONDS / 5)
    if engine_thread is not None:
        engine_thread.join(SHUTDOWN_DEADLINE_SECONDS / 2)
        if engine_thread.is_alive():
            stuck.append(engine_thread.name)
    if notifier is not None and not notifier.join(1.0):  # it flushed in parallel since the signal
        stuck.append("notifier")
    supervisor.log_summary()
    store.daemon_stopped()
    for loop in loops:
        loop.broker.close()
    store.close()
    log.info("daemon_stopped", stuck_threads=stuck)
    return 0


def _install_signal_handlers(stop: threading.Event, log: Any) -> None:
    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():  # second signal: the operator wants out now
            os._exit(128 + signum)
        log.info("signal_received", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    # SIGHUP: the terminal the daemon was started from closed; stop cleanly rather than die.
    # Under `nohup` it is ignored on purpose, and stays ignored.
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
        signal.signal(signal.SIGHUP, handle)
