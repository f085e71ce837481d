"""BrokerLoop: one master account's trading cycle, run in that broker's own thread.

cycle = reconcile orders → begin cycle → balance snapshot → exits → entries → record → wait.
Everything a loop touches is its own: broker client, strategy state, positions, health. Any
exception ends that cycle only; it is classified, logged with the broker name and recorded in
health. Entries stop while `EMERGENCY_STOP` exists in the data dir; exits never stop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from nija.brokers.base import AuthError, Broker, BrokerError, MarketDataError
from nija.brokers.fees import fee_schedule
from nija.logs import redact_text
from nija.models import (
    BalanceSnapshot,
    BrokerHealth,
    Candles,
    OrderRequest,
    Position,
    QuantityUnit,
    Side,
    client_order_id_for,
    round_down,
    utc_now,
)
from nija.store import Store
from nija.strategy.apex import DEFAULT_PARAMS, ApexParams, EntryDecision, ExitAction, evaluate_entry, evaluate_exit
from nija.strategy.risk import select_entries, size_entry
from nija.trading.health import HealthTracker
from nija.trading.orders import OrderExecutor
from nija.trading.scan import rotating_batch

__all__ = ["EMERGENCY_STOP_FILE", "BrokerLoop", "LoopConfig"]

EMERGENCY_STOP_FILE: Final = "EMERGENCY_STOP"
# APEX needs 100 candles; 200 lets EMA50 and ADX settle past TA-Lib's seed values.
CANDLES_PER_SYMBOL: Final = 200


@dataclass(frozen=True, slots=True)
class LoopConfig:
    """What a broker loop needs from settings."""

    cycle_seconds: float
    minimum_funded_balance: Decimal
    max_concurrent_positions: int
    data_dir: Path
    params: ApexParams = DEFAULT_PARAMS

    @property
    def emergency_stop_path(self) -> Path:
        return self.data_dir / EMERGENCY_STOP_FILE


class CycleFailed(BrokerError):
    """Some exits of this cycle failed; the first error is chained."""


class BrokerLoop:
    """Runs one master account; `run` is the thread target, `run_cycle` one isolated cycle."""

    def __init__(self, broker: Broker, store: Store, config: LoopConfig, log: Any, stop: threading.Event) -> None:
        self.broker = broker
        self.store = store
        self.config = config
        self.log = log
        self.stop = stop
        self.health = HealthTracker(broker.name, broker.account, config.cycle_seconds)
        self._equity = Decimal(0)  # master equity of the latest snapshot, carried by copy signals
        self._orders = OrderExecutor(broker, store, log, master_equity=lambda: self._equity)
        self._fee = fee_schedule(broker.name)
        self._entries_blocked_logged = False
        self._unmanaged: dict[str, str] = {}
        self.on_fill: Callable[[], None] = lambda: None  # wakes the copy engine after a master fill
        self._scan_offset = 0

    @property
    def name(self) -> str:
        return f"broker-{self.broker.name}"

    def run(self) -> None:
        """Thread target: cycle until stopped or the credentials are refused."""
        self.log.info("broker_loop_started", cycle_seconds=self.config.cycle_seconds)
        while not self.stop.is_set() and self.health.can_trade:
            self.run_cycle()
            self.stop.wait(self.health.next_wait())
        self.finish()

    def finish(self) -> None:
        """Record the stop in health (called once, when the thread ends)."""
        if not self.health.current.auth_failed:
            self.store.save_health(self.health.stopped())
        self.log.info("broker_loop_stopped", status=self.health.current.status)

    def run_cycle(self) -> BrokerHealth:
        """One isolated cycle; never raises (except on interpreter shutdown)."""
        started = time.monotonic()
        try:
            stats = self._cycle()
        except Exception as exc:  # isolation: nothing escapes a cycle
            error = redact_text(f"{type(exc).__name__}: {exc}")  # health is persisted: no secret may reach it
            health = self.health.cycle_failed(utc_now(), error, auth=isinstance(exc, AuthError))
            self.store.save_health(health)
            level = "error" if health.status in ("failed",) else "warning"
            getattr(self.log, level)(
                "cycle_failed", error_class=type(exc).__name__, error=str(exc), health=health.status,
                consecutive_errors=health.consecutive_errors, duration_ms=round((time.monotonic() - started) * 1000),
                exc_info=not isinstance(exc, BrokerError),
            )
            return health
        health = self.health.cycle_ok(utc_now(), stats.pop("funded"))
        self.store.save_health(health)
        self.log.info(
            "cycle_done", health=health.status, duration_ms=round((time.monotonic() - started) * 1000), **stats
        )
        return health

    # -- one cycle ---------------------------------------------------------------------------

    def _cycle(self) -> dict[str, Any]:
        self._orders.reconcile()
        self.broker.begin_cycle()
        snapshot = self.broker.balance_snapshot()
        self._equity = snapshot.total_equity
        self.store.record_equity(self.broker.name, self.broker.account, snapshot)
        funded = snapshot.total_equity >= self.config.minimum_funded_balance
        candles: dict[str, Candles] = {}
        exits = self._manage_exits(candles)
        entries, reason = 0, "unfunded" if not funded else None
        if funded:
            entries, reason = self._enter(self.broker.balance_snapshot() if exits else snapshot, candles)
        if exits or entries:
            self.on_fill()
        return {
            "funded": funded,
            "equity": str(snapshot.total_equity),
            "available": str(snapshot.available),
            "locked": str(snapshot.locked_in_positions),
            "exits": exits,
            "entries": entries,
            "entries_skipped": reason,
            "open_positions": len(self.store.positions(self.broker.name, self.broker.account)),
        }

    def _candles(self, cache: dict[str, Candles], symbol: str) -> Candles:
        if symbol not in cache:
            cache[symbol] = self.broker.ohlcv(symbol, CANDLES_PER_SYMBOL)
        return cache[symbol]

    def _manage_exits(self, cache: dict[str, Candles]) -> int:
        """Check every open position NIJA opened; sells are sized from the base actually held."""
        broker, account = self.broker.name, self.broker.account
        holdings = self.broker.holdings()
        positions = self.store.positions(broker, account)
        self._report_unmanaged(holdings, positions)
        sold = 0
        errors: list[Exception] = []
        for position in positions:
            try:
                sold += self._exit_one(position, holdings, cache)
            except AuthError:
                raise
            except Exception as exc:  # one position's failure must not block the other exits
                errors.append(exc)
                self.log.warning("exit_failed", symbol=position.symbol, error=f"{type(exc).__name__}: {exc}")
        if errors:
            raise CycleFailed(f"{len(errors)} exit(s) failed: {type(errors[0]).__name__}: {errors[0]}") from errors[0]
        return sold

    def _report_unmanaged(self, holdings: Mapping[str, Decimal], positions: list[Position]) -> None:
        """Log holdings NIJA did not open (once, and again when they change); they are never sold."""
        ours = {p.symbol.split("/")[0]: p.qty for p in positions}
        unmanaged = {
            asset: str(qty - ours.get(asset, Decimal(0)))
            for asset, qty in holdings.items()
            if qty > ours.get(asset, Decimal(0))
        }
        if unmanaged != self._unmanaged:
            self._unmanaged = unmanaged
            if unmanaged:
                self.log.info("unmanaged_holdings", holdings=unmanaged, note="not opened by NIJA: never sold")

    def _exit_one(self, position: Position, holdings: Mapping[str, Decimal], cache: dict[str, Candles]) -> int:
        base = position.symbol.split("/")[0]
        held = min(position.qty, holdings.get(base, Decimal(0)))
        if held <= 0:
            # Sold outside NIJA: forget it rather than sell what is not there.
            self.log.warning("position_gone", symbol=position.symbol, expected=str(position.qty))
            self.store.delete_position(position.broker, position.account, position.symbol)
            return 0
        if held < position.qty:
            position = position.model_copy(update={"qty": held})
        ticker = self.broker.ticker(position.symbol)
        price = ticker.last
        try:
            candles: Candles | None = self._candles(cache, position.symbol)
        except MarketDataError as exc:
            # Missing candles only disable the indicator exits; price exits still run.
            self.log.warning("exit_candles_missing", symbol=position.symbol, error=str(exc))
            candles = None
        decision = evaluate_exit(position, price, candles, self.config.params)
        updated = position.model_copy(
            update={"stop_price": decision.stop_price, "tp_stage": decision.tp_stage, "trailing_stop": decision.trailing_stop}
        )
        if decision.action is ExitAction.NONE:
            if updated != position:
                self.store.save_position(updated)
            return 0
        qty = min(decision.sell_qty, held)
        rules = self.broker.market_rules(position.symbol)
        qty = round_down(qty, rules.amount_step)
        if qty < held and (qty < rules.min_amount or qty * price < rules.min_cost):
            qty = held  # a partial below the minimum becomes a full exit rather than no exit
        if qty * price < rules.min_cost or qty < rules.min_amount or qty <= 0:
            self.log.warning("exit_below_minimum", symbol=position.symbol, qty=str(qty), action=decision.action)
            self.store.delete_position(position.broker, position.account, position.symbol)
            return 0
        candle_ts = int(candles.ts[-1]) if candles is not None and len(candles) else int(ticker.ts.timestamp() * 1000)
        request = OrderRequest(
            broker=position.broker, account=position.account, symbol=position.symbol, side=Side.SELL,
            quantity=qty, unit=QuantityUnit.BASE, reason=f"{decision.action}: {decision.reason}",
            client_order_id=client_order_id_for(
                position.broker, position.account, position.symbol, "exit", position.opened_at.isoformat(),
                decision.action, position.tp_stage, candle_ts,
            ),
        )
        # The ladder state moves with the fill (position_after_fill derives it from what is left).
        report = self._orders.submit(request, updated.model_copy(update={"tp_stage": position.tp_stage}))
        return 1 if report is not None else 0

    def _enter(self, snapshot: BalanceSnapshot, cache: dict[str, Candles]) -> tuple[int, str | None]:
        """Scan the universe, rank entry signals by score and enter within the caps."""
        if self.config.emergency_stop_path.exists():
            if not self._entries_blocked_logged:
                self.log.warning("entries_blocked", reason=f"{EMERGENCY_STOP_FILE} file present")
                self._entries_blocked_logged = True
            return 0, "emergency_stop"
        self._entries_blocked_logged = False
        if not self.broker.is_market_open():
            return 0, "market_closed"
        positions = self.store.positions(self.broker.name, self.broker.account)
        if len(positions) >= self.config.max_concurrent_positions:
            return 0, "max_positions"
        held = {p.symbol for p in positions} | self._orders.unresolved_symbols()
        candidates: list[tuple[str, EntryDecision]] = []
        batch, self._scan_offset = rotating_batch(self.broker.symbols(), self._scan_offset, self.broker.scan_batch)
        for symbol in batch:
            if symbol in held:
                continue
            decision = evaluate_entry(self._candles(cache, symbol), self.config.params)
            if decision.enter:
                candidates.append((symbol, decision))
        chosen = select_entries(candidates, held, len(positions), self.config.max_concurrent_positions)
        available = snapshot.available
        entered = 0
        for symbol, decision in chosen:
            rules = self.broker.market_rules(symbol)
            sizing = size_entry(
                snapshot.total_equity, available, decision.adx, decision.conditions_met, rules.min_cost, self._fee.taker
            )
            if sizing.quote_amount <= 0:
                self.log.info("entry_skipped", symbol=symbol, reason=sizing.skip_reason, score=decision.score)
                continue
            request = OrderRequest(
                broker=self.broker.name, account=self.broker.account, symbol=symbol, side=Side.BUY,
                quantity=sizing.quote_amount, unit=QuantityUnit.QUOTE,
                reason=f"apex entry score={decision.score} conditions={decision.conditions_met}",
                stop_price=Decimal(repr(decision.stop_price)),
                client_order_id=client_order_id_for(
                    self.broker.name, self.broker.account, symbol, "entry", int(self._candles(cache, symbol).ts[-1])
                ),
            )
            report = self._orders.submit(request, None)
            if report is not None:
                entered += 1
                available -= report.filled_qty * (report.avg_price or 0) + report.fee
        return entered, None
