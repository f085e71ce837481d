"""The doctor's checks of one account, in order, through its adapter and its venue probe.

Order matters: the nonce file is read before any private call rewrites it; the keys are proven
by the first private call (the balance NIJA itself reads); nothing after a refused key is asked.
Every venue call is read-only except the dry-run order, which is the venue's validate/test/preview
form (never a real order). A venue error becomes a finding, never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, TypeVar

from nija.brokers.base import (
    AuthError,
    Broker,
    BrokerError,
    InsufficientFunds,
    InvalidNonce,
    OrderRejected,
)
from nija.brokers.fees import fee_schedule
from nija.brokers.preflight import MarketState, Probe
from nija.copytrade.sizing import size_copy_entry
from nija.doctor.report import AccountReport, HoldingRow, Level
from nija.models import BalanceSnapshot, MarketRules
from nija.strategy.risk import MAX_PCT, MIN_PCT, size_master_entry

__all__ = ["AccountPlan", "check_account", "entry_quote_amount"]

T = TypeVar("T")

CLOCK_WARN_MS: Final = 1_000.0  # beyond the venue's own resolution: worth fixing (NTP)
CLOCK_FAIL_MS: Final = 5_000.0  # Binance's default recvWindow; Coinbase/OKX refuse well before 30 s
NONCE_AHEAD_WARN_MS: Final = 86_400_000  # a mark a day ahead: another program used the key with a larger value
_STRONGEST_ADX: Final = 50.0  # APEX's top band (10 % of equity), 4 of 5 conditions
_WEAKEST_ADX: Final = 20.0  # its lowest band (2 %)
_COPY_REFERENCE: Final = Decimal(1000)  # copy sizing scales master/user equity: the master's own cancels out
_NEW_KEY: Final = (
    "Kraken's mark for this key is then in that larger unit and refuses every millisecond nonce:"
    " no software fix exists; create a new API key for NIJA (and use it nowhere else)"
)


@dataclass(frozen=True, slots=True)
class AccountPlan:
    """What NIJA would do with this account: its markets and how its entries are sized."""

    symbols: tuple[str, ...]  # NIJA_SYMBOLS_<BROKER> minus disabled pairs; () = the venue's default universe
    minimum_funded_balance: Decimal
    follower: bool = False
    risk_multiplier: Decimal = Decimal(1)  # followers: their file's risk_multiplier
    max_user_risk: Decimal = Decimal("0.10")
    min_position_usd: Decimal = Decimal("1.0")


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _attempt(report: AccountReport, check: str, fn: Callable[[], T], level: Level = Level.WARN) -> T | None:
    """Run one venue call; its error becomes a finding at `level` (the keys are known good by then)."""
    try:
        return fn()
    except BrokerError as exc:
        report.add(check, level, f"{type(exc).__name__}: {exc}")
        return None


def check_account(report: AccountReport, broker: Broker, probe: Probe, plan: AccountPlan) -> None:
    """Run every check on one account, adding findings to `report`."""
    report.environment = probe.environment()
    _check_nonce(report, probe)
    _check_clock(report, probe)
    snapshot = _check_keys(report, broker, probe)
    if snapshot is None:
        return
    _check_permissions(report, probe)
    _equity(report, broker, probe, snapshot, plan)
    tradable = _check_markets(report, broker, probe, plan)
    symbol = _pick_symbol(tradable, probe.cash_currencies())
    if symbol is None:
        report.add("dry-run order", Level.INFO, "no tradable market to size an entry on")
        return
    rules = _attempt(report, "entry size", lambda: broker.market_rules(symbol))
    if rules is None:
        return
    amount, detail = entry_quote_amount(plan, snapshot, rules, fee_schedule(broker.name).taker)
    report.add("entry size", Level.OK if amount > 0 else Level.WARN, detail)
    if amount > 0:
        _check_dry_run(report, probe, symbol, amount)
    else:
        report.add("dry-run order", Level.INFO, "skipped: NIJA would send no entry on this account")


def _check_nonce(report: AccountReport, probe: Probe) -> None:
    state = _attempt(report, "nonce", probe.nonce_state)
    if state is None:
        return
    where = f"key {state.fingerprint}"
    if state.converted_from is not None:
        report.add("nonce", Level.WARN, (
            f"this key was last used with nonces in {state.converted_from}, a larger scale than NIJA's"
            f" milliseconds ({where}); NIJA converted its saved mark. If Kraken refuses the key below with"
            f" 'Invalid nonce', {_NEW_KEY}"
        ))
    elif state.ahead_ms > NONCE_AHEAD_WARN_MS:
        report.add("nonce", Level.WARN, (
            f"the saved mark is {state.ahead_ms / 86_400_000:.1f} days ahead of the clock ({where}): something"
            " used this key with larger nonces; NIJA continues above it, but any other program on this key will"
            " be refused"
        ))
    elif state.saved_ms == 0:
        report.add("nonce", Level.OK, f"no nonce saved yet ({where}): first use of this key by NIJA")
    else:
        report.add("nonce", Level.OK, f"milliseconds, saved mark {state.saved_ms} ({where})")


def _check_clock(report: AccountReport, probe: Probe) -> None:
    clock = _attempt(report, "clock", probe.server_clock)
    if clock is None:
        return
    off = abs(clock.skew_ms) - clock.resolution_ms  # the venue's answer can be this coarse
    side = "ahead of" if clock.skew_ms > 0 else "behind"
    resolution = ", answers in whole seconds" if clock.resolution_ms >= 1000 else ""
    text = f"venue is {abs(clock.skew_ms) / 1000:.3f}s {side} this machine ({clock.source}{resolution})"
    if off <= CLOCK_WARN_MS:
        report.add("clock", Level.OK, text)
    elif off > CLOCK_FAIL_MS and clock.signed_with_time:
        report.add("clock", Level.FAIL, f"{text}: signed requests will be refused; sync this machine's clock (NTP)")
    else:
        report.add("clock", Level.WARN, f"{text}: sync this machine's clock (NTP)")


def _check_keys(report: AccountReport, broker: Broker, probe: Probe) -> BalanceSnapshot | None:
    """Prove the keys with the balance NIJA reads each cycle; None when they are refused."""
    try:
        snapshot = broker.balance_snapshot()
    except InvalidNonce as exc:
        report.add("keys", Level.FAIL, f"Kraken refused the nonce even after a jump forward ({exc}): {_NEW_KEY}")
        return None
    except AuthError as exc:
        report.add("keys", Level.FAIL, f"refused by the venue: {exc}")
        return None
    except BrokerError as exc:
        report.add("keys", Level.FAIL, f"could not be checked: {type(exc).__name__}: {exc}")
        return None
    report.add("keys", Level.OK, "accepted (balance read)")
    return snapshot


def _check_permissions(report: AccountReport, probe: Probe) -> None:
    permissions = _attempt(report, "permissions", probe.permissions)
    if permissions is None:
        return
    if permissions.can_withdraw:
        report.add("withdrawals", Level.WARN, (
            f"!!! WITHDRAWALS ARE ALLOWED for this key ({permissions.source}). A stolen key could empty the"
            " account: create a key with trade and query permissions only"
        ))
    elif permissions.can_withdraw is False:
        report.add("withdrawals", Level.OK, f"not allowed ({permissions.source})")
    else:
        report.add("withdrawals", Level.INFO, f"not exposed by the venue ({permissions.source})")
    if permissions.can_trade is False:
        report.add("trade permission", Level.FAIL, f"the key cannot trade ({permissions.source})")
    elif permissions.can_trade:
        report.add("trade permission", Level.OK, f"can trade ({permissions.source})")
    else:
        report.add("trade permission", Level.INFO, "not exposed by the venue: the dry-run order below proves it")


def _equity(report: AccountReport, broker: Broker, probe: Probe, snapshot: BalanceSnapshot, plan: AccountPlan) -> None:
    """Equity as NIJA computes it, broken down: free cash, each holding at its price, cash on hold."""
    report.equity, report.available = snapshot.total_equity, snapshot.available
    cash = ",".join(probe.cash_currencies())
    report.holdings.append(HoldingRow(cash, snapshot.available, None, snapshot.available, "free cash"))
    counted = snapshot.available
    holdings = _attempt(report, "equity", broker.holdings) or {}
    for asset, qty in sorted(holdings.items()):
        symbol = probe.price_symbol(asset)
        if symbol is None:
            report.holdings.append(HoldingRow(asset, qty, None, None, f"no {asset}/{cash} market: not in equity"))
            continue
        ticker = _attempt(report, "equity", lambda symbol=symbol: broker.ticker(symbol))
        if ticker is None:
            continue
        value = qty * ticker.last
        counted += value
        report.holdings.append(HoldingRow(asset, qty, ticker.last, value.quantize(Decimal("0.01")), symbol))
    on_hold = snapshot.total_equity - counted
    if abs(on_hold) >= Decimal("0.01"):  # cash held by open orders, or prices moved between the two reads
        report.holdings.append(HoldingRow(cash, on_hold, None, on_hold.quantize(Decimal("0.01")), "on hold / price moves"))
    if snapshot.total_equity < plan.minimum_funded_balance:
        report.add("equity", Level.WARN, (
            f"{_money(snapshot.total_equity)} is below MINIMUM_FUNDED_BALANCE {plan.minimum_funded_balance}:"
            " NIJA will not trade this account until it is funded"
        ))
    else:
        report.add("equity", Level.OK, f"{_money(snapshot.total_equity)} ({_money(snapshot.available)} available)")
    if snapshot.note:  # money the venue holds outside the tradable account (OKX funding): not equity
        report.add("equity", Level.WARN, snapshot.note)


def _check_markets(report: AccountReport, broker: Broker, probe: Probe, plan: AccountPlan) -> list[str]:
    """The markets NIJA would trade: each configured one exists and takes orders; returns the tradable."""
    explicit = bool(plan.symbols)
    symbols = list(plan.symbols) if explicit else (_attempt(report, "markets", broker.symbols, Level.FAIL) or [])
    tradable: list[str] = []
    blocked: list[MarketState] = []
    for symbol in symbols:
        state = _attempt(report, f"market {symbol}", lambda symbol=symbol: probe.market_state(symbol), Level.FAIL)
        if state is None:
            continue
        if not state.exists:
            report.add(f"market {symbol}", Level.FAIL, "not listed at the venue: fix NIJA_SYMBOLS_" + broker.name.upper())
        elif not state.tradable:
            blocked.append(state)
        else:
            tradable.append(symbol)
            if explicit:
                report.add(f"market {symbol}", Level.OK, f"tradable ({state.status})")
    for state in blocked:
        report.add(f"market {state.symbol}", Level.WARN, f"not taking new orders ({state.status}): no entries there")
    if not explicit:
        level = Level.OK if tradable else Level.FAIL
        report.add("markets", level, f"{len(tradable)} tradable of {len(symbols)} in the default universe")
    return tradable


def _pick_symbol(tradable: list[str], cash: tuple[str, ...]) -> str | None:
    """The market the entry size and dry run use: BTC if NIJA trades it, else the first."""
    for quote in cash:
        if f"BTC/{quote}" in tradable:
            return f"BTC/{quote}"
    return tradable[0] if tradable else None


def entry_quote_amount(plan: AccountPlan, snapshot: BalanceSnapshot, rules: MarketRules, fee_rate: Decimal) -> tuple[Decimal, str]:
    """The largest entry NIJA would send on this account, in quote currency, and how it came out.

    Masters: APEX's formula (`size_master_entry`) at its strongest signal, 10 % of equity, capped
    by cash; the weakest signal's 2 % is shown beside it. Followers: the copy formula
    (`size_copy_entry`) of a master entry of 10 % of the master's equity, scaled by equity and
    `risk_multiplier`, capped by MAX_USER_RISK and cash (the master's own equity cancels out).
    """
    equity, available = snapshot.total_equity, snapshot.available
    if not plan.follower:
        top = size_master_entry(equity, available, _STRONGEST_ADX, 4, rules.min_cost, fee_rate)
        low = size_master_entry(equity, available, _WEAKEST_ADX, 4, rules.min_cost, fee_rate)
        shown = [f"{s.quote_amount} {rules.quote}" if s.skip_reason is None else f"none ({s.skip_reason})" for s in (low, top)]
        detail = f"{rules.symbol}: {MIN_PCT:.0%}–{MAX_PCT:.0%} of equity {_money(equity)}: {shown[0]} to {shown[1]}"
        return top.quote_amount, detail
    copy = size_copy_entry(
        master_quote_value=_COPY_REFERENCE * MAX_PCT, master_equity=_COPY_REFERENCE, user_equity=equity,
        user_available=available, risk_multiplier=plan.risk_multiplier, max_user_risk=plan.max_user_risk,
        min_position_usd=plan.min_position_usd, rules=rules, fee_rate=fee_rate,
    )
    if copy.skipped:
        return Decimal(0), f"{rules.symbol}: a copy of a 10 % master entry is skipped: {copy.skip_reason}"
    return copy.quantity, f"{rules.symbol}: a copy of a 10 % master entry: {copy.quantity} {rules.quote} ({copy.detail})"


def _check_dry_run(report: AccountReport, probe: Probe, symbol: str, amount: Decimal) -> None:
    try:
        result = probe.dry_run_buy(symbol, amount)
    except AuthError as exc:
        report.add("dry-run order", Level.FAIL, f"the key cannot place orders: {exc}")
        return
    except (OrderRejected, InsufficientFunds) as exc:
        report.add("dry-run order", Level.FAIL, f"the venue refused NIJA's entry: {exc}")
        return
    except BrokerError as exc:
        report.add("dry-run order", Level.WARN, f"could not be checked: {type(exc).__name__}: {exc}")
        return
    if not result.supported:
        report.add("dry-run order", Level.INFO, result.detail)
    else:
        report.add("dry-run order", Level.OK if result.accepted else Level.FAIL, result.detail)
