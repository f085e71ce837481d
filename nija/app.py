"""Wiring only: settings → store → accounts → supervisor; signals; exit codes.

Exit codes: 0 clean stop, 2 bad configuration or another daemon on the same data dir,
3 refused to start because `EMERGENCY_STOP` exists.
"""

from __future__ import annotations

import fcntl
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any, Final, TextIO

from nija.brokers.alpaca import DEFAULT_ALPACA_SYMBOLS, AlpacaBroker
from nija.brokers.base import Broker, BrokerError
from nija.brokers.ccxt import VENUES, CcxtBroker, SharedMarkets
from nija.brokers.fees import configure_fees, fee_schedule
from nija.brokers.paper import BoardMarket, MarketSource, PaperBroker, PriceBoard, ReplayMarket, SyntheticMarket
from nija.brokers.paper.live import LiveMarket
from nija.accounts import DiscoveredUsers, UserAccount, credential_variables, demo_users, discover_users, environment_with_dotenv
from nija.config import ConfigError, Settings, load_settings
from nija.copytrade.engine import CopyEngine, CopyUser
from nija.logs import add_secrets, configure_logging, get_logger, redact_text
from nija.models import BrokerHealth, BrokerName, HealthStatus
from nija.store import Store, db_path
from nija.strategy.risk import RiskLimits
from nija.trading.broker_loop import EMERGENCY_STOP_FILE, BrokerLoop, LoopConfig
from nija.trading.routing import EligibleBrokers
from nija.trading.supervisor import Supervisor

__all__ = ["main"]

MASTER: Final = "master"
SHUTDOWN_DEADLINE_SECONDS: Final = 5.0
EXIT_CONFIG: Final = 2
EXIT_EMERGENCY_STOP: Final = 3
OPEN_FILES_PER_USER: Final = 2  # a kept-alive connection and, on Kraken, the nonce lock file
OPEN_FILES_RESERVE: Final = 256  # masters, the store, logs, sockets being replaced
OPEN_FILES_WANTED: Final = 65_536  # asked for when the hard limit is unlimited


def _fail(message: str, code: int, err: TextIO) -> int:
    print(f"nija: {message}", file=err)
    return code


def build_market(settings: Settings, broker: BrokerName, markets: SharedMarkets) -> MarketSource:
    """The paper market of one broker: live public prices if asked, else its replay folder,
    else the synthetic market."""
    if settings.paper_market == "live" and broker in VENUES:
        public = CcxtBroker(
            broker, "market-data", None, markets, api_url=settings.api_url_for(broker),
            symbols=settings.symbols_for(broker), disabled_symbols=frozenset(settings.disabled_pairs),
            timeout_ms=int(settings.http_timeout_seconds * 1000), data_dir=settings.data_dir,
        )
        return LiveMarket(public)
    replay_dir = settings.replay_dir_for(broker)
    if replay_dir is not None:
        return ReplayMarket(replay_dir)
    if settings.synthetic_symbols:
        return SyntheticMarket(settings.synthetic_symbols, seed=settings.synthetic_seed)
    return SyntheticMarket(seed=settings.synthetic_seed)


def loop_config(settings: Settings) -> LoopConfig:
    """The broker loops' settings (also `nija.trade`'s, for the same entry rule)."""
    return LoopConfig(
        cycle_seconds=settings.cycle_seconds,
        minimum_funded_balance=settings.minimum_funded_balance,
        max_concurrent_positions=settings.max_concurrent_positions,
        data_dir=settings.data_dir,
        risk_limits=RiskLimits(settings.max_drawdown_pct, settings.max_daily_loss_pct),
        min_net_profit_pct=settings.min_net_profit_pct,
        coinbase_min_balance=settings.coinbase_min_balance,
        entry_blocking=settings.entry_blocking,
    )


def _failed_at_start(store: Store, name: BrokerName, exc: Exception, log: Any) -> BrokerHealth:
    """A broker that cannot even be built fails alone; the others start."""
    log.error("broker_setup_failed", error_class=type(exc).__name__, error=str(exc))
    health = BrokerHealth(
        broker=name, account=MASTER, status=HealthStatus.FAILED, last_error=redact_text(f"{type(exc).__name__}: {exc}")
    )
    store.save_health(health)
    return health


def build_paper_loops(
    settings: Settings, store: Store, log: Any, boards: dict[BrokerName, PriceBoard] | None = None
) -> tuple[list[BrokerLoop], list[BrokerHealth]]:
    """One paper master per NIJA_PAPER_BROKERS entry, each on its own market source; each master
    publishes its prices on a board (in `boards`) for its copy users."""
    boards = boards if boards is not None else {}
    eligible = EligibleBrokers()  # shared: each loop reports which brokers could have taken its entries
    loops: list[BrokerLoop] = []
    failed: list[BrokerHealth] = []
    markets = SharedMarkets()
    for name in dict.fromkeys(settings.paper_brokers):
        broker_log = log.bind(broker=str(name), account=MASTER)
        try:
            market = build_market(settings, name, markets)
        except BrokerError as exc:
            failed.append(_failed_at_start(store, name, exc, broker_log))
            continue
        live = isinstance(market, LiveMarket)
        broker_log.info("market_source", source=market.name)
        broker = PaperBroker(
            name, MASTER, store, market, fee_schedule(name),
            starting_cash=settings.paper_equity, slippage_bps=settings.paper_slippage_bps,
            scan_batch=VENUES[name].scan_batch if live else None, check_feed=not live,
            board=boards.setdefault(name, PriceBoard()),
        )
        # Paper calls never reach a venue: pace them on the market's clock, so a replay moving five
        # minutes per cycle is never slowed, while paper on live prices is paced like live.
        clock = (lambda m=market: m.now_ms() / 1000) if not live else time.monotonic
        loops.append(
            BrokerLoop(broker, store, loop_config(settings), broker_log, threading.Event(), eligible=eligible, clock=clock)
        )
    return loops, failed


def live_broker(settings: Settings, name: BrokerName, markets: SharedMarkets, stop: threading.Event, log: Any) -> Broker:
    """The live adapter of one master account (Alpaca through alpaca-py, the rest through ccxt)."""
    credentials = settings.master_credentials(name)
    if name is BrokerName.ALPACA:
        return AlpacaBroker(
            MASTER, credentials, paper=settings.alpaca_paper, api_url=settings.api_url_for(name),
            timeout_s=settings.http_timeout_seconds, symbols=settings.symbols_for(name) or DEFAULT_ALPACA_SYMBOLS,
        )
    broker = CcxtBroker(
        name, MASTER, credentials, markets, api_url=settings.api_url_for(name), data_dir=settings.data_dir,
        symbols=settings.symbols_for(name), disabled_symbols=frozenset(settings.disabled_pairs),
        timeout_ms=int(settings.http_timeout_seconds * 1000), kraken_tier=settings.kraken_tier, stop=stop,
    )
    if broker.nonce_converted_from:
        log.warning("nonce_unit_converted", previous_unit=broker.nonce_converted_from)
    return broker


def build_live_loops(settings: Settings, store: Store, log: Any) -> tuple[list[BrokerLoop], list[BrokerHealth]]:
    """One live master per broker with complete credentials; markets shared per venue."""
    markets = SharedMarkets()
    eligible = EligibleBrokers()  # shared: each loop reports which brokers could have taken its entries
    loops: list[BrokerLoop] = []
    failed: list[BrokerHealth] = []
    for name in settings.configured_live_brokers():
        broker_log = log.bind(broker=str(name), account=MASTER)
        stop = threading.Event()  # shared with the adapter: a rate-limit wait ends on shutdown
        try:
            broker = live_broker(settings, name, markets, stop, broker_log)
        except BrokerError as exc:
            failed.append(_failed_at_start(store, name, exc, broker_log))
            continue
        broker_log.info("live_broker", api_url=settings.api_url_for(name) or "production")
        loops.append(BrokerLoop(broker, store, loop_config(settings), broker_log, stop, eligible=eligible))
    return loops, failed


def _copy_user_broker(
    settings: Settings, mode: str, store: Store, user: UserAccount, discovered: DiscoveredUsers,
    boards: dict[BrokerName, PriceBoard], markets: SharedMarkets,
) -> Broker:
    """The user's own account: a paper account on its master's prices, or the user's live keys."""
    if mode == "paper":
        if settings.paper_market == "live" and user.broker in VENUES:
            market: MarketSource = build_market(settings, user.broker, markets)
        else:
            market = BoardMarket(boards.setdefault(user.broker, PriceBoard()), str(user.broker))
        return PaperBroker(
            user.broker, user.user_id, store, market, fee_schedule(user.broker),
            starting_cash=user.paper_equity or settings.paper_equity, slippage_bps=settings.paper_slippage_bps,
            check_feed=False,
        )
    credentials = discovered.credentials.get(user.user_id)
    if credentials is None:
        raise BrokerError(f"{user.broker}: user {user.user_id} has no credentials")
    if user.broker is BrokerName.ALPACA:
        return AlpacaBroker(
            user.user_id, credentials, paper=discovered.alpaca_paper.get(user.user_id, True),
            api_url=settings.api_url_for(user.broker), timeout_s=settings.http_timeout_seconds,
        )
    return CcxtBroker(
        user.broker, user.user_id, credentials, markets, api_url=settings.api_url_for(user.broker),
        data_dir=settings.data_dir, timeout_ms=int(settings.http_timeout_seconds * 1000), kraken_tier=settings.kraken_tier,
    )


def build_copy_engine(
    settings: Settings, mode: str, store: Store, loops: list[BrokerLoop], boards: dict[BrokerName, PriceBoard], log: Any
) -> CopyEngine | None:
    """Users of the running master brokers, and the engine that copies to them (None: nobody)."""
    discovered = discover_users(settings.users_path, environment_with_dotenv(), live=mode == "live")
    add_secrets(discovered.secret_values())  # before any user's client exists, or its first error is logged
    for problem in discovered.problems:
        log.warning("user_file_problem", problem=problem.message)
    users = list(discovered.users)
    if mode == "paper" and not users and not discovered.problems:
        users = list(demo_users())
        log.info("demo_users", users=[u.user_id for u in users], note="paper mode with no users configured")
    masters = {loop.broker.name for loop in loops}
    markets = SharedMarkets()
    copy_users: list[CopyUser] = []
    unavailable: list[tuple[BrokerName, str, str]] = []  # shown by status with the reason
    for user in users:
        user_log = log.bind(broker=str(user.broker), account=user.user_id)
        if user.broker not in masters:
            user_log.warning("user_without_master", detail=f"no running {user.broker} master to copy")
            unavailable.append((user.broker, user.user_id, f"no running {user.broker} master to copy"))
            continue
        if mode == "live" and user.user_id in discovered.missing_credentials:
            variables = list(credential_variables(user.broker, user.user_id).values())
            user_log.error("user_missing_credentials", variables=variables)
            unavailable.append((user.broker, user.user_id, "missing credentials: " + ", ".join(variables)))
            continue
        try:
            broker = _copy_user_broker(settings, mode, store, user, discovered, boards, markets)
        except BrokerError as exc:
            user_log.error("user_setup_failed", error=str(exc))
            unavailable.append((user.broker, user.user_id, f"setup failed: {exc}"))
            continue
        copy_users.append(
            CopyUser(
                user.user_id, broker, risk_multiplier=user.risk_multiplier, disabled_symbols=user.disabled_symbols,
                enabled=user.enabled, copy_from_master=user.copy_from_master,
            )
        )
    if not copy_users and not unavailable:
        return None
    return CopyEngine(
        store, copy_users, log.bind(component="copy"), copy_mode=settings.copy_trading_mode,
        max_age_seconds=settings.copy_signal_max_age_seconds, max_workers=settings.copy_workers,
        max_user_risk=settings.max_user_risk, min_position_usd=settings.min_position_usd, unavailable=unavailable,
    )


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


class _DataDirLock:
    """One daemon per data dir: two would trade the same accounts twice."""

    def __init__(self, path: os.PathLike[str]) -> None:
        self._file = open(path, "a+")  # noqa: SIM115 - held for the process lifetime

    def acquire(self) -> bool:
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


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

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = _DataDirLock(settings.data_dir / "nija.lock")
    if not lock.acquire():
        return _fail(f"another NIJA daemon is running on {settings.data_dir}", EXIT_CONFIG, err)
    file_limit = raise_open_file_limit(log)  # before any user's nonce file or connection opens
    store = Store(db_path(settings.data_dir))
    boards: dict[BrokerName, PriceBoard] = {}
    if mode == "live":
        loops, failed = build_live_loops(settings, store, log)
    else:
        loops, failed = build_paper_loops(settings, store, log, boards)
    engine = build_copy_engine(settings, mode, store, loops, boards, log)
    warn_if_too_few_files(file_limit, engine.user_count if engine is not None else 0, log)
    engine_thread = None
    if engine is not None:
        for loop in loops:
            loop.on_fill = engine.wake.set
        engine_thread = threading.Thread(target=engine.run, name="copy-engine", daemon=True)
    store.forget_health([(str(loop.broker.name), MASTER) for loop in loops] + [(str(h.broker), h.account) for h in failed])
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
        engine.stop.set()
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
