"""BrokerLoop: one master account's trading cycle, run in that broker's own thread.

cycle = reconcile orders → begin cycle → balance snapshot → kill switch → exits → entries
→ record → wait.
Everything a loop touches is its own: broker client, strategy state, positions, health. Any
exception ends that cycle only; it is classified, logged with the broker name and recorded in
health. Exits never stop. Entries stop, with the reason in health, while:
  - the broker is halted: its kill switch tripped (drawdown or daily loss, `strategy.risk`) or an
    operator wrote its halt file `HALT_<broker>`. Halted means reduce-only: every position NIJA
    opened is sold (market, held quantity) and nothing is bought until an operator resumes it by
    removing the file (`python -m nija.trade resume --broker NAME`); never automatically;
  - `ENTRY_BLOCKING=true`, or the `EMERGENCY_STOP` file exists in the data dir;
  - Coinbase equity is below `COINBASE_MIN_BALANCE` (its round trip eats small positions);
  - the market is closed, or `MAX_CONCURRENT_POSITIONS` are open.
Calls are paced per account by its equity's rate profile (`trading.pacing`): entry orders keep
their minimum interval (waited in this thread, stop-aware); a balance read inside its interval
reuses the last one, unless an own fill made that stale.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from nija.brokers.base import AuthError, Broker, BrokerError, MarketDataError
from nija.brokers.fees import fee_schedule
from nija.execution.executor import OrderExecutor
from nija.execution.lookup import OPEN_ORDER_TIMEOUT
from nija.execution.transfers import TransferWatch
from nija.holdings import TransferSeen
from nija.logs import redact_text
from nija.models import (
    OPEN_ORDER_STATUSES,
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
from nija.store import Store, StrategyState
from nija.strategy.base import EntryDecision, ExitAction, ExitDecision, ExitState, Strategy
from nija.strategy.registry import default_strategy
from nija.strategy.risk import (
    RiskLimits,
    advance_marks,
    kill_switch_reason,
    reweighted_marks,
    select_entries,
    size_master_entry,
)
from nija.trading.guard import EntryRules, entry_block_reason
from nija.trading.halt import SwitchFiles, Switches
from nija.trading.health import HealthTracker
from nija.trading.manual import execute_manual_intent, finish_taken_intents
from nija.trading.pacing import AccountPacer, Pace, rate_profile
from nija.trading.routing import EligibleBrokers, cheaper_broker
from nija.trading.scan import rotating_batch

__all__ = ["BrokerLoop", "LoopConfig"]

# Candles fetched per symbol at least; the strategy's `candles_needed` raises it (APEX: 261).
CANDLES_PER_SYMBOL: Final = 200
MANUAL_POLL_SECONDS: Final = 0.5  # how soon an idle loop takes a manual trade from the inbox
LIVENESS_SECONDS: Final = 5.0  # a loop writes its liveness at most this often (status allows 15 s)


@dataclass(frozen=True, slots=True)
class LoopConfig:
    """What a broker loop needs from settings."""

    cycle_seconds: float
    minimum_funded_balance: Decimal
    max_concurrent_positions: int
    data_dir: Path
    strategy: Strategy = field(default_factory=default_strategy)  # NIJA_STRATEGY (APEX v7.1 by default)
    risk_limits: RiskLimits = field(default_factory=RiskLimits)
    min_net_profit_pct: Decimal = Decimal("0.2")  # percent, on top of the round trip, for TP levels
    coinbase_min_balance: Decimal = Decimal(50)
    entry_blocking: bool = False
    switches: Switches | None = None  # the operator's switches; None: the files in data_dir
    open_order_timeout: timedelta = OPEN_ORDER_TIMEOUT  # an order the venue keeps open longer is canceled

    @property
    def entry_rules(self) -> EntryRules:
        """What the entry rule (`guard.entry_block_reason`) reads of these settings."""
        switches = self.switches if self.switches is not None else SwitchFiles(self.data_dir)
        return EntryRules(switches, self.entry_blocking, self.coinbase_min_balance)


class CycleFailed(BrokerError):
    """Some exits of this cycle failed; the first error is chained."""


class BrokerLoop:
    """Runs one master account; `run` is the thread target, `run_cycle` one isolated cycle."""

    def __init__(
        self, broker: Broker, store: Store, config: LoopConfig, log: Any, stop: threading.Event, *,
        eligible: EligibleBrokers | None = None, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.broker = broker
        self.store = store
        self.config = config
        self.log = log
        self.stop = stop
        self.health = HealthTracker(broker.name, broker.account, config.cycle_seconds)
        # Master equity of the latest snapshot, carried by copy signals (also of fills found by
        # reconciliation before this run's first balance read).
        latest = store.latest_equity(broker.name, broker.account)
        self._equity = latest.total_equity if latest is not None else Decimal(0)
        self._orders = OrderExecutor(broker, store, log, open_order_timeout=config.open_order_timeout)
        self._fee = fee_schedule(broker.name)
        # TP levels must clear this broker's fees plus the net profit asked for.
        floor = self._fee.round_trip + config.min_net_profit_pct / 100
        self._strategy = config.strategy.with_fee_floor(float(floor))
        self._eligible = eligible if eligible is not None else EligibleBrokers()
        self._entry_rules = config.entry_rules  # the config is frozen: built once, read every cycle
        self._pacer = AccountPacer(clock=clock)
        self._account: tuple[BalanceSnapshot, dict[str, Decimal]] | None = None  # last balance read
        self._transfers = TransferWatch(store, broker, broker.account)
        self._entry_block_logged: str | None = None
        self._unmanaged: dict[str, str] = {}
        self.on_fill: Callable[[], None] = lambda: None  # wakes the copy engine after a master fill
        self._scan_offset = 0

    @property
    def name(self) -> str:
        return f"broker-{self.broker.name}"

    @property
    def strategy(self) -> Strategy:
        """The strategy this loop decides with: the configured one with this broker's fee floor."""
        return self._strategy

    def run(self) -> None:
        """Thread target: cycle until stopped or the credentials are refused; between cycles,
        execute the manual trades `nija.trade` hands this account. The loop writes its own
        liveness after each cycle and while it waits (status calls a silent loop `stalled`). An
        exception that escapes (a store or log failure outside a cycle's isolation) ends this
        call: the supervisor records it and runs the loop again."""
        self.log.info("broker_loop_started", cycle_seconds=self.config.cycle_seconds)
        self._alive_written = float("-inf")
        while not self.stop.is_set() and self.health.can_trade:
            self.record_alive()  # also before the first cycle: a loop stuck in it shows as stalled
            self.run_cycle()
            self._idle(self.health.next_wait())
        self.finish()

    def _idle(self, seconds: float) -> None:
        """Wait `seconds` (ends at once on stop), taking manual intents as they arrive and
        writing liveness, so a long cycle period is not mistaken for a dead loop."""
        end = time.monotonic() + seconds
        while not self.stop.is_set():
            self.record_alive()
            self.run_manual_intents()
            left = end - time.monotonic()
            if left <= 0:
                return
            self.stop.wait(min(left, MANUAL_POLL_SECONDS))

    def record_alive(self) -> None:
        """This loop is alive (at most every LIVENESS_SECONDS); a store hiccup is only logged."""
        now = time.monotonic()
        if now - getattr(self, "_alive_written", float("-inf")) < LIVENESS_SECONDS:
            return
        try:
            self.store.record_alive(self.broker.name, self.broker.account)
            self._alive_written = now
        except Exception as exc:  # the next wake tries again
            self.log.warning("liveness_not_recorded", error=redact_text(f"{type(exc).__name__}: {exc}"))

    def run_manual_intents(self) -> int:
        """Execute this account's pending manual trades (the loop is their one writer); never raises."""
        try:
            intents = self.store.manual_intents(self.broker.name)
        except Exception as exc:  # a store hiccup: the intent waits for the next poll
            self.log.warning("manual_intents_unreadable", error=redact_text(str(exc)))
            return 0
        filled = 0
        for intent in intents:
            try:
                filled += execute_manual_intent(
                    intent, self.broker, self.store, self._orders, self._entry_rules, self.log
                )
            except Exception as exc:  # isolation: a bad intent never ends the loop
                self.log.error("manual_trade_error", manual_intent=intent.intent_id, error=redact_text(str(exc)))
        if filled:
            self._pacer.forget(Pace.MONITORING)  # own fills make the last balance read stale
            self.on_fill()
        return len(intents)

    def finish(self) -> None:
        """Record the stop in health (called once, when the thread ends)."""
        self._eligible.update(self.broker.name, False)  # a stopped broker is nobody's cheaper choice
        self.store.forget_alive(self.broker.name, self.broker.account)  # ended on purpose: not stalled
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
            self._eligible.update(self.broker.name, False)  # not a broker to route to until it cycles again
            level = "error" if health.status in ("failed",) else "warning"
            getattr(self.log, level)(
                "cycle_failed", error_class=type(exc).__name__, error=str(exc), health=health.status,
                consecutive_errors=health.consecutive_errors, duration_ms=round((time.monotonic() - started) * 1000),
                exc_info=not isinstance(exc, BrokerError),
            )
            return health
        health = self.health.cycle_ok(
            utc_now(), stats.pop("funded"), halted=stats.pop("halted") is not None, note=stats.pop("entries_blocked")
        )
        self.store.save_health(health)
        self.log.info(
            "cycle_done", health=health.status, duration_ms=round((time.monotonic() - started) * 1000), **stats
        )
        return health

    # -- one cycle ---------------------------------------------------------------------------

    def _cycle(self) -> dict[str, Any]:
        self._orders.reconcile(master_equity=self._equity)
        finish_taken_intents(self.broker, self.store)  # manual trades a crash left unanswered
        self.broker.begin_cycle()
        snapshot, holdings, fresh = self._read_account()
        self._equity = snapshot.total_equity
        if fresh:
            self.store.record_equity(self.broker.name, self.broker.account, snapshot)
        halted = self._kill_switch(snapshot, fresh)
        funded = snapshot.total_equity >= self.config.minimum_funded_balance
        candles: dict[str, Candles] = {}
        exits = self._manage_exits(candles, holdings, halted)
        blocked = self._entry_block(snapshot, funded, halted)
        reason = blocked
        entries = 0
        if reason is None:
            # Sells only add cash: the snapshot read before them never overspends.
            entries, reason = self._enter(snapshot, candles)
        # Could this broker have taken an entry now (for the cheaper-broker report of the others)?
        self._eligible.update(self.broker.name, blocked is None and reason != "market_closed", self.broker.symbols())
        if exits or entries:
            self._pacer.forget(Pace.MONITORING)  # own fills make the last balance read stale
            self.on_fill()
        return {
            "funded": funded,
            "halted": halted,
            "equity": str(snapshot.total_equity),
            "available": str(snapshot.available),
            "locked": str(snapshot.locked_in_positions),
            "exits": exits,
            "entries": entries,
            "entries_skipped": reason,
            # What an operator should see in status: why entries are off (a closed market or a
            # full book are normal trading, not a block); unfunded: where the money is, if the
            # venue holds it outside the tradable account (OKX funding).
            "entries_blocked": blocked if blocked != "unfunded" else snapshot.note,
            "open_positions": len(self.store.positions(self.broker.name, self.broker.account)),
            "rate_profile": self._pacer.profile.name,
        }

    def _read_account(self) -> tuple[BalanceSnapshot, dict[str, Decimal], bool]:
        """Balance and holdings, read at most once per the rate profile's monitoring interval."""
        if self._account is not None and self._pacer.wait_seconds(Pace.MONITORING) > 0:
            snapshot, holdings = self._account
            return snapshot, holdings, False
        snapshot = self.broker.balance_snapshot()
        holdings = dict(self.broker.holdings())
        self._pacer.record(Pace.MONITORING)
        self._account = (snapshot, holdings)
        profile = rate_profile(snapshot.total_equity)
        if profile != self._pacer.profile:
            self.log.info("rate_profile", profile=profile.name, equity=str(snapshot.total_equity),
                          entry_interval_s=profile.entry_interval_s, monitoring_interval_s=profile.monitoring_interval_s)
            self._pacer.profile = profile
        return snapshot, holdings, True

    # -- kill switch -------------------------------------------------------------------------

    def _kill_switch(self, snapshot: BalanceSnapshot, fresh: bool) -> str | None:
        """The halt reason of this broker (None: trading), tripping the switch when a limit is crossed.

        The halt file is the switch: written before the store (a crash in between still halts),
        removed only by an operator. A stored halt whose file is gone was resumed: measure afresh.
        A deposit or withdrawal seen since the last read scales the marks (`transfers`).
        """
        broker, account, equity = self.broker.name, self.broker.account, snapshot.total_equity
        switches = self._entry_rules.switches
        reason = switches.halted(broker)
        marks, stored = self.store.risk_state(broker, account)
        if stored is not None and reason is None:
            self.log.warning("broker_resumed", previous_reason=stored, equity=str(equity),
                             note="halt file removed by an operator; high-water mark and day start reset")
            self.store.forget_risk_marks(broker, account)
            marks = stored = None
        if not fresh:
            return reason
        value, holdings = self._transfers.observe(snapshot)
        transfer = TransferSeen(value, equity, snapshot.taken_at) if value else None
        if transfer is not None:
            marks = reweighted_marks(marks, equity, value) if marks is not None else None
            self.log.info("transfer_seen", value=str(value), equity=str(equity),
                          note="a deposit, withdrawal or trade made outside NIJA, not NIJA's trading: the kill"
                          " switch's marks are scaled to it")
        # The snapshot's own time: paper replays run on market time, whose days are the market's.
        marks = advance_marks(marks, equity, snapshot.taken_at.date())
        if reason is None and (reason := kill_switch_reason(marks, equity, self.config.risk_limits)) is not None:
            switches.halt(broker, reason)
            self.log.error("kill_switch_tripped", reason=reason, equity=str(equity),
                           note=f"reduce-only: positions are closed; resume with python -m nija.trade resume --broker {broker}")
        elif reason is not None and stored is None:
            self.log.error("broker_halted", reason=reason, note="halt file present: reduce-only")
        try:
            self.store.save_risk_marks(broker, account, marks, reason, holdings, transfer)
        except Exception:
            self._transfers.forget()  # the stored marks were not scaled: neither are the holdings
            raise
        return reason

    def _entry_block(self, snapshot: BalanceSnapshot, funded: bool, halted: str | None) -> str | None:
        """Why this cycle makes no entries (also recorded in health), or None."""
        reason = entry_block_reason(self._entry_rules, self.broker.name, snapshot.total_equity, funded=funded, halted=halted)
        if reason != self._entry_block_logged and reason not in (None, "unfunded"):
            self.log.warning("entries_blocked", reason=reason)
        self._entry_block_logged = reason
        return reason

    def _candles(self, cache: dict[str, Candles], symbol: str) -> Candles:
        if symbol not in cache:
            cache[symbol] = self.broker.ohlcv(symbol, max(CANDLES_PER_SYMBOL, self._strategy.candles_needed))
        return cache[symbol]

    def _manage_exits(self, cache: dict[str, Candles], holdings: Mapping[str, Decimal], halted: str | None) -> int:
        """Check every open position NIJA opened (all sold when halted); sells are sized from the base held."""
        broker, account = self.broker.name, self.broker.account
        positions = self.store.positions(broker, account)
        if any(holdings.get(p.symbol.split("/")[0], Decimal(0)) < p.qty for p in positions):
            # A position recorded after `holdings` was read (a paced read, or a fill recorded by
            # reconcile or `nija.trade` in between) is not gone: decide on holdings read now.
            holdings = dict(self.broker.holdings())
            if self._account is not None:
                self._account = (self._account[0], holdings)
        self._report_unmanaged(holdings, positions)
        held_symbols = {p.symbol for p in positions}
        states = self.store.strategy_states(broker, account)
        for symbol in set(states) - held_symbols:
            # A state whose position is gone would hand its stale stop to the next position there.
            self.store.forget_position(broker, account, symbol)
        sold = 0
        errors: list[Exception] = []
        for position in positions:
            try:
                sold += self._exit_one(position, holdings, cache, halted, states)
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

    def _exit_one(
        self, position: Position, holdings: Mapping[str, Decimal], cache: dict[str, Candles], halted: str | None,
        states: Mapping[str, StrategyState],
    ) -> int:
        base = position.symbol.split("/")[0]
        held = min(position.qty, holdings.get(base, Decimal(0)))
        if held <= 0:
            # Sold outside NIJA: forget it rather than sell what is not there.
            self.log.warning("position_gone", symbol=position.symbol, expected=str(position.qty))
            self.store.forget_position(position.broker, position.account, position.symbol)
            return 0
        if held < position.qty:
            position = position.model_copy(update={"qty": held})
        state = self._exit_state(position, states)
        if state is None:
            return 0  # an exit order of this position is still open: decided again once it settles
        ticker = self.broker.ticker(position.symbol)
        price = ticker.last
        candles: Candles | None = None
        if halted is not None:
            decision = ExitDecision(ExitAction.KILL_SWITCH, held, f"flatten: {halted}", state)
        else:
            try:
                candles = self._candles(cache, position.symbol)
            except MarketDataError as exc:
                # Missing candles only disable the indicator exits; price exits still run.
                self.log.warning("exit_candles_missing", symbol=position.symbol, error=str(exc))
            decision = self._strategy.evaluate_exit(position, state, price, candles)
        if decision.action is ExitAction.NONE:
            if decision.state != state:
                self._save_state(position.symbol, decision.state)
            return 0
        qty = min(decision.sell_qty, held)
        rules = self.broker.market_rules(position.symbol)
        qty = round_down(qty, rules.amount_step)
        if qty < held and (qty < rules.min_amount or qty * price < rules.min_cost):
            qty = held  # a partial below the minimum becomes a full exit rather than no exit
        if qty * price < rules.min_cost or qty < rules.min_amount or qty <= 0:
            self.log.warning("exit_below_minimum", symbol=position.symbol, qty=str(qty), action=decision.action)
            self.store.forget_position(position.broker, position.account, position.symbol)
            return 0
        candle_ts = int(candles.ts[-1]) if candles is not None and len(candles) else int(ticker.ts.timestamp() * 1000)
        request = OrderRequest(
            broker=position.broker, account=position.account, symbol=position.symbol, side=Side.SELL,
            quantity=qty, unit=QuantityUnit.BASE, reason=f"{decision.action}: {decision.reason}",
            # The same decision on the same position gets the same id (sent once, crash or not);
            # the quantity held is part of it: once a partial fill changed it (an exit the venue
            # kept open, then canceled), the exit decided again is a new order.
            client_order_id=client_order_id_for(
                position.broker, position.account, position.symbol, "exit", position.opened_at.isoformat(),
                decision.action, state.tp_stage, candle_ts, position.qty,
            ),
        )
        # The state this exit leads to is stored with its order before it is sent: it takes over
        # when the order fills, now or when reconciliation finds the fill after a crash.
        self._save_state(position.symbol, state, pending=(request.client_order_id, decision.state))
        outcome = self._orders.submit(request, master_equity=self._equity)
        self._exit_state(position)  # settles the pending state with the order's answer
        return 1 if outcome is not None and outcome.order.filled_qty > 0 else 0

    # -- strategy state ------------------------------------------------------------------------

    def _exit_state(self, position: Position, states: Mapping[str, StrategyState] | None = None) -> ExitState | None:
        """The strategy's exit state of `position`, after settling a pending exit's state with
        its order; None while that order is still open (no second exit is decided meanwhile).

        A position without state (just opened, or found by reconciliation) starts from the stop
        planned with its entry. Only APEX's own decisions move the state: a manual or outside
        sell changes the position's quantity only. `states`: the account's stored states as
        this cycle read them (else read now).
        """
        if states is None:
            states = self.store.strategy_states(position.broker, position.account)
        stored = states.get(position.symbol)
        if stored is None:
            state = self._strategy.initial_exit_state(
                position, self.store.planned_stop(position.broker, position.account, position.symbol)
            )
            # An exit that sold it all deleted the state with the position: storing one now would
            # leave an orphan that the next position in this symbol inherits (its stale stop).
            if self._is_open(position):
                self._save_state(position.symbol, state)
            return state
        state = self._strategy.state_from_record(stored.state)
        if stored.pending_client_order_id is None:
            return state
        order = self.store.get_order(stored.pending_client_order_id)
        if order is not None and order.status in OPEN_ORDER_STATUSES:
            return None
        if order is not None and order.filled_qty > 0 and stored.pending_state is not None:
            state = self._strategy.state_from_record(stored.pending_state)
        if self._is_open(position):
            self._save_state(position.symbol, state)  # a closed position's state went with it
        return state

    def _is_open(self, position: Position) -> bool:
        """Whether the store still holds this position (an exit may have closed it just now)."""
        return any(p.symbol == position.symbol for p in self.store.positions(position.broker, position.account))

    def _save_state(self, symbol: str, state: ExitState, pending: tuple[str, ExitState] | None = None) -> None:
        self.store.save_strategy_state(
            self.broker.name, self.broker.account, symbol,
            StrategyState(
                state=state.to_record(),
                pending_client_order_id=pending[0] if pending else None,
                pending_state=pending[1].to_record() if pending else None,
            ),
        )

    def _enter(self, snapshot: BalanceSnapshot, cache: dict[str, Candles]) -> tuple[int, str | None]:
        """Scan the universe, rank entry signals by score and enter within the caps."""
        if not self.broker.is_market_open():
            return 0, "market_closed"
        positions = self.store.positions(self.broker.name, self.broker.account)
        if len(positions) >= self.config.max_concurrent_positions:
            return 0, "max_positions"
        held = {p.symbol for p in positions} | self._orders.unresolved_symbols()
        candidates: list[tuple[str, EntryDecision]] = []
        batch, self._scan_offset = rotating_batch(self.broker.symbols(), self._scan_offset, self.broker.scan_batch)
        scanned = [symbol for symbol in batch if symbol not in held]
        if not scanned:
            return 0, None  # every symbol of the batch is held or has an order in flight
        universe = [self._candles(cache, symbol) for symbol in scanned]
        for symbol, decision in zip(scanned, self._strategy.evaluate_entries(universe), strict=True):
            if decision.enter:
                candidates.append((symbol, decision))
        chosen = select_entries(candidates, held, len(positions), self.config.max_concurrent_positions)
        available = snapshot.available
        entered = 0
        for symbol, decision in chosen:
            rules = self.broker.market_rules(symbol)
            # An amount that cannot buy the market's minimum quantity would be refused at the venue,
            # and again every cycle (a whole-share stock on a small account). A buy pays the ask:
            # where that quantity is what sets the minimum, it is priced at the ask when above the
            # close decided on (a whole share sized at the close can be out of reach at the ask).
            unit_price = Decimal(repr(decision.price))
            if rules.min_amount * unit_price > rules.min_cost:
                unit_price = max(unit_price, self.broker.ticker(symbol).ask)
            min_cost = max(rules.min_cost, rules.min_amount * unit_price)
            sizing = size_master_entry(
                snapshot.total_equity, available, decision.adx, decision.conditions_met, min_cost, self._fee.taker
            )
            if sizing.quote_amount <= 0:
                self.log.info("entry_skipped", symbol=symbol, reason=sizing.skip_reason, score=decision.score)
                continue
            if (delay := self._pacer.wait_seconds(Pace.ENTRY)) > 0 and self.stop.wait(delay):
                break  # shutting down: the entry interval wait ends with the stop flag
            stop_price = Decimal(repr(decision.stop_price))
            note = self._strategy.entry_note(decision)
            request = OrderRequest(
                broker=self.broker.name, account=self.broker.account, symbol=symbol, side=Side.BUY,
                quantity=sizing.quote_amount, unit=QuantityUnit.QUOTE,
                reason=f"{self._strategy.name} entry score={decision.score} conditions={decision.conditions_met}"
                + (f"; {note}" if note else ""),
                stop_price=stop_price,
                client_order_id=client_order_id_for(
                    self.broker.name, self.broker.account, symbol, "entry", int(self._candles(cache, symbol).ts[-1])
                ),
            )
            self._record_entry_cost(request)
            self._pacer.record(Pace.ENTRY)
            outcome = self._orders.submit(request, master_equity=self._equity)
            if outcome is not None and outcome.order.filled_qty > 0:
                entered += 1
                available -= outcome.order.filled_qty * (outcome.order.avg_price or 0) + outcome.order.fee
        return entered, None

    def _record_entry_cost(self, request: OrderRequest) -> None:
        """Note what this entry pays in fees here against the cheapest other eligible broker."""
        cheaper = cheaper_broker(request.symbol, self.broker.name, self._eligible.snapshot())
        self.store.record_entry_cost(
            request.client_order_id, self.broker.name, self.broker.account, request.symbol, self._fee.round_trip,
            (cheaper[0], cheaper[1].round_trip) if cheaper else None,
        )
        if cheaper:
            self.log.info("cheaper_broker_available", symbol=request.symbol, round_trip=str(self._fee.round_trip),
                          cheaper_broker=str(cheaper[0]), cheaper_round_trip=str(cheaper[1].round_trip),
                          note="capital isolation: the entry stays on this broker")

