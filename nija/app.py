"""The daemon's lifecycle: settings → store → build (`nija.build`) → supervisor and copy engine;
signals; shutdown; exit codes.

Exit codes: 0 clean stop, 2 bad configuration or another daemon on the same data dir,
3 refused to start because `EMERGENCY_STOP` exists.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any, Final, TextIO

from nija.brokers.fees import configure_fees
from nija.build import Shared, build_copy_engine, build_loops
from nija.config import ConfigError, load_settings
from nija.datadir import DataDirLock
from nija.logs import configure_logging, get_logger
from nija.models import MASTER_ACCOUNT
from nija.store import Store, db_path
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


def main(argv: Sequence[str] | None = None, err: TextIO = sys.stderr) -> int:
    """Run the daemon until SIGTERM/SIGINT; return the process exit code."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG, err)
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

    lock = DataDirLock(settings.data_dir)
    if not lock.acquire():
        return _fail(f"another NIJA daemon is running on {settings.data_dir}", EXIT_CONFIG, err)
    file_limit = raise_open_file_limit(log)  # before any user's nonce file or connection opens
    store = Store(db_path(settings.data_dir))
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
    )
    supervisor.start()
    if engine_thread is not None:
        engine_thread.start()
    heartbeat_every = min(5.0, settings.cycle_seconds)
    while not stop.wait(heartbeat_every):
        store.heartbeat()
        supervisor.tick()

    log.info("daemon_stopping")
    if engine is not None:
        engine.wake.set()
    stuck = supervisor.stop(SHUTDOWN_DEADLINE_SECONDS)
    if engine_thread is not None:
        engine_thread.join(SHUTDOWN_DEADLINE_SECONDS / 2)
        if engine_thread.is_alive():
            stuck.append(engine_thread.name)
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
