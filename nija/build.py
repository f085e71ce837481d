"""The one place NIJA's parts are built: broker adapters (master, follower, manual), broker loops
and the copy engine, from settings.

The daemon (`app.py`) and `nija.trade` both build through here, so every adapter gets the same
options: one `SharedMarkets` per process (a venue's market rules are loaded once and shared by
its master and every follower client) and a stop event (a rate-limit wait ends at shutdown).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from nija.brokers.alpaca import DEFAULT_ALPACA_SYMBOLS, AlpacaBroker
from nija.brokers.base import Broker, BrokerError
from nija.brokers.ccxt import VENUES, CcxtBroker, SharedMarkets
from nija.brokers.ccxt.coinbase import key_type_problem
from nija.brokers.ccxt.nonce import key_fingerprint
from nija.brokers.fees import fee_schedule
from nija.brokers.paper import (
    BoardMarket,
    MarketSource,
    PaperBroker,
    PriceBoard,
    ReplayMarket,
    SyntheticMarket,
)
from nija.brokers.paper.live import LiveMarket
from nija.config import Settings
from nija.copytrade.engine import CopyEngine
from nija.copytrade.envelope import RiskEnvelope
from nija.copytrade.followers import Follower
from nija.logs import add_secrets, redact_text
from nija.models import MASTER_ACCOUNT, BrokerHealth, BrokerName, HealthStatus
from nija.store import Store
from nija.strategy import registry as strategy_registry
from nija.strategy.risk import RiskLimits
from nija.trading.broker_loop import BrokerLoop, LoopConfig
from nija.trading.routing import EligibleBrokers
from nija.users import (
    DiscoveredUsers,
    UserAccount,
    credential_variables,
    demo_users,
    discover_users,
    environment_with_dotenv,
)

__all__ = [
    "Shared",
    "build_copy_engine",
    "build_loop",
    "build_loops",
    "envelope_defaults",
    "loop_config",
    "manual_master_broker",
    "master_key_fingerprints",
]


MANUAL_PRICE_MAX_AGE_CYCLES = 3  # nija.trade without a daemon: older paper prices are refused


@dataclass
class Shared:
    """What the adapters of one process share: market rules per venue, the paper masters' price
    boards (their followers trade on them), the routing registry, and the shutdown event."""

    stop: threading.Event = field(default_factory=threading.Event)
    markets: SharedMarkets = field(default_factory=SharedMarkets)
    boards: dict[BrokerName, PriceBoard] = field(default_factory=dict)
    eligible: EligibleBrokers = field(default_factory=EligibleBrokers)

    def board(self, broker: BrokerName) -> PriceBoard:
        """The price board of `broker`'s paper master (made on first use)."""
        return self.boards.setdefault(broker, PriceBoard())


def loop_config(settings: Settings) -> LoopConfig:
    """The broker loops' settings (also `nija.trade`'s, for the same entry rule)."""
    return LoopConfig(
        cycle_seconds=settings.cycle_seconds,
        minimum_funded_balance=settings.minimum_funded_balance,
        max_concurrent_positions=settings.max_concurrent_positions,
        data_dir=settings.data_dir,
        strategy=strategy_registry.get(settings.strategy),
        risk_limits=RiskLimits(settings.max_drawdown_pct, settings.max_daily_loss_pct),
        min_net_profit_pct=settings.min_net_profit_pct,
        coinbase_min_balance=settings.coinbase_min_balance,
        entry_blocking=settings.entry_blocking,
        open_order_timeout=timedelta(seconds=settings.open_order_timeout_seconds),
    )


def envelope_defaults(settings: Settings) -> RiskEnvelope:
    """The followers' risk envelope from `.env` (FOLLOWER_*): what a follower file's absent limits take."""
    return RiskEnvelope(
        max_drawdown_pct=settings.follower_max_drawdown_pct,
        max_position_pct=settings.follower_max_position_pct,
        max_entry_slippage_pct=settings.follower_max_entry_slippage_pct,
        breaker_failures=settings.follower_breaker_failures,
    )


def master_key_problem(settings: Settings) -> str | None:
    """A configured master key the venue is known to refuse, as one line naming its variable (the
    daemon exits 2 on it); None when every configured key has a usable shape. Coinbase Advanced
    Trade refuses Ed25519 CDP keys (ccxt would sign EdDSA with them, and every call would fail)."""
    credentials = settings.master_credentials(BrokerName.COINBASE)
    if credentials is not None and (problem := key_type_problem(credentials["api_secret"].get_secret_value())):
        return f"config error: COINBASE_API_SECRET: {problem}"
    return None


def master_key_fingerprints(settings: Settings, mode: str) -> dict[tuple[str, str], str]:
    """The venue account each live master trades, as a fingerprint of its API key (the same
    non-secret sha256 prefix that names its nonce files), by (broker, account); none in paper."""
    if mode != "live":
        return {}
    keys: dict[tuple[str, str], str] = {}
    for name in settings.configured_live_brokers():
        credentials = settings.master_credentials(name)
        if credentials is not None and "api_key" in credentials:
            keys[(str(name), MASTER_ACCOUNT)] = key_fingerprint(credentials["api_key"].get_secret_value())
    return keys


def _market(settings: Settings, broker: BrokerName, shared: Shared) -> MarketSource:
    """The paper market of one broker: live public prices if asked, else its replay folder,
    else the synthetic market."""
    if settings.paper_market == "live" and broker in VENUES:
        public = CcxtBroker(
            broker, "market-data", None, shared.markets, api_url=settings.api_url_for(broker),
            symbols=settings.symbols_for(broker), disabled_symbols=frozenset(settings.disabled_pairs),
            timeout_ms=int(settings.http_timeout_seconds * 1000), data_dir=settings.data_dir, stop=shared.stop,
        )
        return LiveMarket(public)
    replay_dir = settings.replay_dir_for(broker)
    if replay_dir is not None:
        return ReplayMarket(replay_dir)
    if settings.synthetic_symbols:
        return SyntheticMarket(settings.synthetic_symbols, seed=settings.synthetic_seed)
    return SyntheticMarket(seed=settings.synthetic_seed)


def _paper_master(settings: Settings, name: BrokerName, store: Store, market: MarketSource, shared: Shared) -> PaperBroker:
    """The paper master of `name`. An offline market resumes at the clock its prices were last
    published at (the store keeps it each cycle), so a restart continues the market instead of
    trading the same candles again; DISABLED_PAIRS never enter its universe."""
    live = isinstance(market, LiveMarket)
    if isinstance(market, ReplayMarket | SyntheticMarket):
        _, saved_ms = store.paper_prices(name)
        if saved_ms:
            market.resume_at(saved_ms)  # False (left alone): the clock of another market
    return PaperBroker(
        name, MASTER_ACCOUNT, store, market, fee_schedule(name),
        starting_cash=settings.paper_equity, slippage_bps=settings.paper_slippage_bps,
        scan_batch=VENUES[name].scan_batch if live else None, check_feed=not live, board=shared.board(name),
        disabled_symbols=frozenset(settings.disabled_pairs),
    )


def _live_broker(
    settings: Settings, name: BrokerName, account: str, credentials: Any, shared: Shared, *,
    alpaca_paper: bool, master: bool,
) -> Broker:
    """A live account's adapter: Alpaca through alpaca-py, the rest through ccxt."""
    if name is BrokerName.ALPACA:
        return AlpacaBroker(
            account, credentials, paper=alpaca_paper or settings.sandbox_for(name), api_url=settings.api_url_for(name),
            timeout_s=settings.http_timeout_seconds,
            **({"symbols": settings.symbols_for(name) or DEFAULT_ALPACA_SYMBOLS} if master else {}),
        )
    options: dict[str, Any] = (
        {"symbols": settings.symbols_for(name), "disabled_symbols": frozenset(settings.disabled_pairs)} if master else {}
    )
    return CcxtBroker(
        name, account, credentials, shared.markets, api_url=settings.api_url_for(name), data_dir=settings.data_dir,
        timeout_ms=int(settings.http_timeout_seconds * 1000), kraken_tier=settings.kraken_tier, stop=shared.stop,
        sandbox=settings.sandbox_for(name), **options,
    )


def _live_master(settings: Settings, name: BrokerName, shared: Shared, log: Any) -> Broker:
    broker = _live_broker(
        settings, name, MASTER_ACCOUNT, settings.master_credentials(name), shared,
        alpaca_paper=settings.alpaca_paper, master=True,
    )
    if isinstance(broker, CcxtBroker) and broker.nonce_converted_from:
        log.warning("nonce_unit_converted", previous_unit=broker.nonce_converted_from)
    return broker


def _failed_at_start(store: Store, name: BrokerName, exc: Exception, log: Any) -> BrokerHealth:
    """A broker that cannot even be built fails alone; the others start."""
    log.error("broker_setup_failed", error_class=type(exc).__name__, error=str(exc))
    health = BrokerHealth(
        broker=name, account=MASTER_ACCOUNT, status=HealthStatus.FAILED,
        last_error=redact_text(f"{type(exc).__name__}: {exc}"),
    )
    store.save_health(health)
    return health


def build_loop(settings: Settings, mode: str, store: Store, log: Any, shared: Shared, name: BrokerName) -> BrokerLoop:
    """The master loop of one broker; raises BrokerError when its adapter cannot be built (the
    supervisor retries that with backoff)."""
    broker_log = log.bind(broker=str(name), account=MASTER_ACCOUNT)
    clock = time.monotonic
    if mode == "live":
        broker = _live_master(settings, name, shared, broker_log)
        broker_log.info("live_broker", api_url=settings.api_url_for(name) or "production")
    else:
        market = _market(settings, name, shared)
        broker_log.info("market_source", source=market.name)
        broker = _paper_master(settings, name, store, market, shared)
        if not isinstance(market, LiveMarket):
            # Paper calls never reach a venue: pace them on the market's clock, so a replay
            # moving five minutes per cycle is never slowed, while paper on live prices is
            # paced like live.
            clock = lambda m=market: m.now_ms() / 1000  # noqa: E731
    return BrokerLoop(broker, store, loop_config(settings), broker_log, shared.stop, eligible=shared.eligible, clock=clock)


def build_loops(
    settings: Settings, mode: str, store: Store, log: Any, shared: Shared
) -> tuple[list[BrokerLoop], list[BrokerHealth]]:
    """One master loop per broker: live, one per broker with complete credentials; paper, one per
    NIJA_PAPER_BROKERS entry on its own market, publishing its prices for its followers. A broker
    that cannot be built is returned as a failed health record; the others start."""
    loops: list[BrokerLoop] = []
    failed: list[BrokerHealth] = []
    names = settings.configured_live_brokers() if mode == "live" else list(dict.fromkeys(settings.paper_brokers))
    for name in names:
        try:
            loops.append(build_loop(settings, mode, store, log, shared, name))
        except BrokerError as exc:
            failed.append(_failed_at_start(store, name, exc, log.bind(broker=str(name), account=MASTER_ACCOUNT)))
    return loops, failed


def _follower_broker(
    settings: Settings, mode: str, store: Store, user: UserAccount, discovered: DiscoveredUsers, shared: Shared
) -> Broker:
    """The follower's own account: a paper account on its master's prices, or the user's live keys."""
    if mode == "paper":
        if settings.paper_market == "live" and user.broker in VENUES:
            market: MarketSource = _market(settings, user.broker, shared)
        else:
            market = BoardMarket(shared.board(user.broker), str(user.broker))
        return PaperBroker(
            user.broker, user.user_id, store, market, fee_schedule(user.broker),
            starting_cash=user.paper_equity or settings.paper_equity, slippage_bps=settings.paper_slippage_bps,
            check_feed=False,
        )
    credentials = discovered.credentials.get(user.user_id)
    if credentials is None:
        raise BrokerError(f"{user.broker}: user {user.user_id} has no credentials")
    return _live_broker(
        settings, user.broker, user.user_id, credentials, shared,
        alpaca_paper=discovered.alpaca_paper.get(user.user_id, True), master=False,
    )


def build_copy_engine(
    settings: Settings, mode: str, store: Store, loops: list[BrokerLoop], shared: Shared, log: Any
) -> CopyEngine | None:
    """Followers of the running master brokers, and the engine that copies to them (None: nobody)."""
    discovered = discover_users(settings.users_path, environment_with_dotenv(), live=mode == "live")
    add_secrets(discovered.secret_values())  # before any user's client exists, or its first error is logged
    for problem in discovered.problems:
        log.warning("user_file_problem", problem=problem.message)
    users = list(discovered.users)
    if mode == "paper" and not users and not discovered.problems:
        users = list(demo_users())
        log.info("demo_users", users=[u.user_id for u in users], note="paper mode with no users configured")
    masters = {loop.broker.name for loop in loops}
    defaults = envelope_defaults(settings)
    followers: list[Follower] = []
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
        credentials = discovered.credentials.get(user.user_id)
        if user.broker is BrokerName.COINBASE and credentials is not None and (
            problem := key_type_problem(credentials["api_secret"].get_secret_value())
        ):  # an Ed25519 key: refused at start, naming the user's variable, never tried every cycle
            variable = credential_variables(user.broker, user.user_id)["api_secret"]
            user_log.error("user_key_refused", variable=variable, problem=problem)
            unavailable.append((user.broker, user.user_id, f"{variable}: {problem}"))
            continue
        try:
            broker = _follower_broker(settings, mode, store, user, discovered, shared)
        except BrokerError as exc:
            user_log.error("user_setup_failed", error=str(exc))
            unavailable.append((user.broker, user.user_id, f"setup failed: {exc}"))
            continue
        followers.append(Follower.from_account(user, broker, defaults))
    if not followers and not unavailable:
        return None
    return CopyEngine(
        store, followers, log.bind(component="copy"), copy_mode=settings.copy_trading_mode,
        max_age_seconds=settings.copy_signal_max_age_seconds,
        unknown_grace_seconds=settings.copy_unknown_grace_seconds,
        open_order_timeout_seconds=settings.open_order_timeout_seconds,
        drift_tolerance_pct=settings.copy_drift_tolerance_pct, max_workers=settings.copy_workers,
        max_user_risk=settings.max_user_risk, min_position_usd=settings.min_position_usd, unavailable=unavailable,
        stop=shared.stop,
    )


def manual_master_broker(settings: Settings, name: BrokerName, store: Store, shared: Shared, log: Any) -> Broker:
    """The master account of `name` for a manual trade made while no daemon runs: the live
    account in live mode (without its credentials: refused, never a paper book a live daemon would
    copy to real followers), else the paper master at the prices the daemon last published, if
    they were published within `MANUAL_PRICE_MAX_AGE_CYCLES` cycles."""
    if settings.mode == "live":
        if name not in settings.configured_live_brokers():
            missing = " and ".join(settings.missing_master_credentials(name))
            raise BrokerError(f"NIJA_MODE=live but {name} has no master credentials ({missing} not set)")
        if name is BrokerName.COINBASE and (problem := master_key_problem(settings)) is not None:
            raise BrokerError(problem)
        return _live_master(settings, name, shared, log)
    prices, market_ms = store.paper_prices(name)
    if not prices:
        raise BrokerError(f"no paper prices for {name} yet: is the daemon running with {name} in NIJA_PAPER_BROKERS?")
    daemon = store.daemon()
    cycle_seconds = daemon.cycle_seconds if daemon is not None else settings.cycle_seconds
    published_ms = store.paper_prices_published_ms(name)
    age_s = None if published_ms is None else time.time() - published_ms / 1000
    if age_s is None or age_s > MANUAL_PRICE_MAX_AGE_CYCLES * cycle_seconds:
        when = "at an unknown time" if age_s is None else f"{age_s:.0f}s ago"
        raise BrokerError(
            f"{name}'s paper prices were published {when}, more than {MANUAL_PRICE_MAX_AGE_CYCLES} cycles"
            f" ({MANUAL_PRICE_MAX_AGE_CYCLES * cycle_seconds:g}s): start the daemon (./start.sh) and trade through it"
        )
    board = shared.board(name)
    board.publish(prices, market_ms)
    return PaperBroker(
        name, MASTER_ACCOUNT, store, BoardMarket(board, str(name)), fee_schedule(name),
        starting_cash=settings.paper_equity, slippage_bps=settings.paper_slippage_bps, check_feed=False,
    )
