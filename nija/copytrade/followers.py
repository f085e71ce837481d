"""A copy user's account as the engine sees it: configuration, health, and a cached balance.

The hot path of a fan-out must be one venue round trip per user (the order itself), so entries
are sized from a cached balance (`CachedBalance`) instead of reading balance and tickers first. The book
is read when the engine starts and refreshed in the background; between reads it is moved by the
user's own copy fills (`CachedBalance.after_fill`) and by quote committed to buys acknowledged but not yet
settled (`reserved`), so back-to-back signals never spend the same cash twice. NIJA expects a
dedicated key per user, so the account changes only through these orders between reads; a
deposit or withdrawal shows at the next refresh, and a buy sized on a stale high balance is
refused by the venue (insufficient funds: recorded, never retried). Exits never use the cache:
they read the holding fresh (invariant 3 and 5: a sell is sized from what is actually held).

Health reuses the broker loops' `HealthTracker`: an auth error fails the user until restart, a
transient error degrades it, five in a row fail it until the tracker's backoff has passed.

Each follower also carries its own risk envelope (`copytrade.envelope`) and lifecycle: a drawdown
halt from its own high-water mark (scaled by the deposits and withdrawals its balance reads
show: `execution.transfers`), a circuit breaker, the operator's enable/disable override, and
the join/leave rules of its file. These only ever stop NEW ENTRIES (`entry_blocked`); exits are
never asked. The state is kept in the store (`FollowerRiskRecord`): restored at start
(`restore`), re-read every pass for the operator's commands (`apply_control`), saved when it
changes (`take_risk_record`). A file edit takes effect without a restart (`reload_if_changed`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, NamedTuple, TypeVar

from nija.brokers.base import (
    AuthError,
    Broker,
    InsufficientFunds,
    MarketDataError,
    OrderRejected,
    TransientError,
)
from nija.copytrade.envelope import (
    Breaker,
    BreakerEvent,
    RiskEnvelope,
    breaker_after,
    drawdown_breach,
    raised_high_water_mark,
)
from nija.execution.transfers import TransferWatch
from nija.holdings import TransferSeen, ValuedHoldings
from nija.logs import redact_text
from nija.models import BalanceSnapshot, HealthStatus, Order, Side, TradeSignal, utc_now
from nija.store import FollowerRiskRecord
from nija.strategy.risk import transfer_ratio
from nija.trading.health import HealthTracker
from nija.users import CopyExisting, OnDisable, UserAccount, UserProblem, load_user_file

__all__ = [
    "BOOK_REFRESH_SECONDS",
    "BOOK_STALE_SECONDS",
    "CachedBalance",
    "EnabledChange",
    "FileReload",
    "Follower",
    "envelope_for",
]

BOOK_REFRESH_SECONDS: Final = 60.0  # background refresh period of a user's cached balance
BOOK_STALE_SECONDS: Final = 900.0  # older than this, an entry reads the balance inline first
_ZERO: Final = Decimal(0)
T = TypeVar("T")


@dataclass
class CachedBalance:
    """A user's equity and free cash as last read, moved by the user's own copy fills since."""

    equity: Decimal
    available: Decimal
    read_at: datetime
    reserved: Decimal = _ZERO  # quote committed to acknowledged buys whose fill is not settled yet

    @classmethod
    def of(cls, snapshot: BalanceSnapshot) -> CachedBalance:
        """A fresh book from a balance read."""
        return cls(snapshot.total_equity, snapshot.available, snapshot.taken_at)

    def free_cash(self) -> Decimal:
        """Cash a new entry may spend: what was free less what acknowledged buys committed."""
        return max(self.available - self.reserved, _ZERO)

    def age_seconds(self, now: datetime) -> float:
        """Seconds since the balance was read."""
        return (now - self.read_at).total_seconds()

    def after_fill(self, order: Order) -> None:
        """Move cash and equity by an order's settled fill: a buy spends cost + fee, a sell frees
        cost - fee; equity changes only by the fee (the asset is valued at the fill price)."""
        if order.filled_qty <= 0 or order.avg_price is None:
            return
        cost = order.filled_qty * order.avg_price
        if order.request.side is Side.BUY:
            self.available = max(self.available - cost - order.fee, _ZERO)
        else:
            self.available += cost - order.fee
        self.equity -= order.fee


class EnabledChange(StrEnum):
    """A follower's enabled state moved: the join (`copy_existing`) or leave (`on_disable`) rule applies."""

    ENABLED = "enabled"  # added, or re-enabled (file or operator)
    DISABLED = "disabled"  # disabled (file or operator)


class FileReload(NamedTuple):
    """What re-reading a changed follower file did: applied, or kept the old settings and why."""

    applied: bool
    problem: str | None  # one line: the file's problem, or what needs a restart


def envelope_for(account: UserAccount, defaults: RiskEnvelope) -> RiskEnvelope:
    """The follower's envelope: each limit its file sets, else the `.env` default in `defaults`."""
    limits = {
        name: value for name in ("max_drawdown_pct", "max_position_pct", "max_entry_slippage_pct")
        if (value := getattr(account, name)) is not None
    }
    return replace(defaults, flatten_on_breach=account.flatten_on_breach, **limits)


def _mtime_ns(path: Path | None) -> int | None:
    # None for no file, or one that can't be looked at now (the next look tries again).
    if path is None:
        return None
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


@dataclass
class Follower:
    """One user account the engine copies to: its own broker client, used by one task at a time."""

    user_id: str
    broker: Broker
    risk_multiplier: Decimal = Decimal(1)
    disabled_symbols: frozenset[str] = frozenset()
    enabled: bool = True  # the file's `enabled`; `is_enabled` folds in the operator's override
    copy_from_master: bool = True
    balance: CachedBalance | None = None
    health: HealthTracker = field(init=False)
    read_tried_at: float = float("-inf")  # time.monotonic() of the last balance read attempt
    copy_existing: CopyExisting = CopyExisting.SKIP
    on_disable: OnDisable = OnDisable.KEEP
    envelope: RiskEnvelope = field(default_factory=RiskEnvelope)
    defaults: RiskEnvelope = field(default_factory=RiskEnvelope)  # what a reloaded file's absent limits take
    source: Path | None = None  # the follower file; None for a demo user
    # Risk state, kept in the store (`restore`, `apply_control`, `take_risk_record`).
    enabled_override: bool | None = None  # the operator's enable/disable; None: the file decides
    high_water_mark: Decimal | None = None
    halted_reason: str | None = None  # a drawdown halt: entries stop until an operator resumes
    halted_at: datetime | None = None
    breaker: Breaker = field(default_factory=Breaker)
    # Deposits and withdrawals seen between balance reads, which scale the high-water mark rather
    # than count as gains or drawdown (the engine sets it; None: not measured).
    transfers: TransferWatch | None = None

    def __post_init__(self) -> None:
        self.lock = threading.Lock()  # one order at a time per user account
        self.health = HealthTracker(self.broker.name, self.user_id, BOOK_REFRESH_SECONDS)
        # Risk state moves from pool threads (copies, reads) and the engine thread (controls):
        # its own lock, never held while calling the venue, so it never waits on `lock`.
        self._risk_lock = threading.Lock()
        self._risk_dirty = False
        self._resumed_at: datetime | None = None  # the operator resume this state already reflects
        self._holdings: ValuedHoldings | None = None  # what the mark was last measured on (`transfers`)
        self._transfers_seen: list[TransferSeen] = []  # not saved yet: go with the next record
        self._unmeasured: BalanceSnapshot | None = None  # read on a pool thread, for `measure_read`
        self._enabled_seen: bool | None = None  # the enabled state last acted on; None: a new follower
        self._source_mtime_ns = _mtime_ns(self.source)

    @classmethod
    def from_account(cls, account: UserAccount, broker: Broker, defaults: RiskEnvelope) -> Follower:
        """The follower of a user file (or demo user), its envelope resolved against `defaults`."""
        return cls(
            account.user_id, broker, risk_multiplier=account.risk_multiplier,
            disabled_symbols=account.disabled_symbols, enabled=account.enabled,
            copy_from_master=account.copy_from_master, copy_existing=account.copy_existing,
            on_disable=account.on_disable, envelope=envelope_for(account, defaults), defaults=defaults,
            source=account.source,
        )

    def call(self, fn: Callable[[], T]) -> T:
        """A call to the follower's account, its outcome recorded in the follower's health: an
        auth error fails the follower until restart, a transient or garbled answer degrades it.
        A refused order (minimum, funds) says nothing about the account's health."""
        try:
            result = fn()
        except AuthError as exc:
            self.record_error(redact_text(str(exc)), auth=True)
            raise
        except (TransientError, MarketDataError) as exc:
            self.record_error(redact_text(f"{type(exc).__name__}: {exc}"))
            raise
        self.record_ok()
        return result

    def record_result(self, error: Exception | None) -> None:
        """Record an order send's outcome in health: a definitive refusal (minimum, funds) says
        nothing about the account; refused keys fail it; anything else degrades it."""
        if error is None:
            self.record_ok()
        elif isinstance(error, AuthError):
            self.record_error(redact_text(str(error)), auth=True)
        elif not isinstance(error, (OrderRejected, InsufficientFunds)):
            self.record_error(redact_text(f"{type(error).__name__}: {error}"))

    def read_balance(self) -> None:
        """Read the account's balance into the cache, keeping what acknowledged buys reserved
        (on a pool thread: the venue only). A successful read closes the circuit breaker; the
        engine then feeds it to the drawdown check on its own thread (`measure_read`)."""
        with self.lock:
            self.read_tried_at = time.monotonic()  # a failing account is retried once a period, not every poll
            snapshot = self.call(self.broker.balance_snapshot)
            reserved = self.balance.reserved if self.balance is not None else _ZERO
            self.balance = CachedBalance.of(snapshot)
            self.balance.reserved = reserved
            self._unmeasured = snapshot
        self._breaker_event(BreakerEvent.READ_OK)

    def measure_read(self) -> str | None:
        """Feed the last balance read to the drawdown check, with the deposits and withdrawals
        it shows (`transfers` reads the store: the engine's thread, which records the copies'
        fills too, so each fill is on one side of the read). Returns the breach reason when this
        read halted the follower's entries (see `observe_equity`); None without a new read."""
        snapshot, self._unmeasured = self._unmeasured, None
        if snapshot is None:
            return None
        transfer, holdings = self.transfers.observe(snapshot) if self.transfers is not None else (_ZERO, None)
        return self.observe_equity(snapshot.total_equity, snapshot.taken_at, transfer, holdings)

    def configured_for(self, signal: TradeSignal) -> bool:
        """Enabled, copying, same broker as the master, symbol allowed (what the config decides)."""
        return (
            self.is_enabled and self.copy_from_master and self.broker.name == signal.broker
            and signal.symbol not in self.disabled_symbols
        )

    def unavailable(self, now: datetime | None = None) -> str | None:
        """Why the account must not trade now (failed health), else None."""
        current = self.health.current
        if current.auth_failed:
            return f"account failed: {current.last_error or 'credentials refused'}"
        if current.status is HealthStatus.FAILED and current.retry_at is not None and (now or utc_now()) < current.retry_at:
            return f"account failed: {current.last_error or 'repeated errors'} (retry at {current.retry_at:%H:%M:%S})"
        return None

    def record_ok(self) -> bool:
        """A call to the account succeeded; returns whether the health state changed."""
        before = self.health.current
        funded = self.balance is None or self.balance.equity > 0
        if before.auth_failed or (before.status is HealthStatus.HEALTHY and before.funded == funded):
            return False  # nothing to move: skip rebuilding the record on every order
        after = self.health.cycle_ok(utc_now(), funded)
        return after.status is not before.status or after.last_error != before.last_error

    def record_error(self, error: str, *, auth: bool = False) -> bool:
        """A call failed (already redacted); returns whether the health state changed."""
        if self.health.current.auth_failed:
            return False
        self.health.cycle_failed(utc_now(), error, auth=auth)
        return True

    def state_row(self) -> dict[str, Any]:
        """The row `python -m nija.status` shows for this user (store.save_copy_users)."""
        current = self.health.current
        return {
            "user_id": self.user_id, "broker": str(self.broker.name), "state": str(current.status),
            "enabled": self.is_enabled and self.copy_from_master, "last_error": current.last_error,
            "equity": self.balance.equity if self.balance is not None else None,
            "available": self.balance.available if self.balance is not None else None,
            "equity_at": self.balance.read_at if self.balance is not None else None,
        }

    # -- entries: the envelope and the lifecycle ---------------------------------------------

    @property
    def is_enabled(self) -> bool:
        """Enabled now: the operator's override when set, else the file's `enabled`."""
        return self.enabled if self.enabled_override is None else self.enabled_override

    def entry_blocked(self, now: datetime | None = None) -> str | None:
        """Why this follower must take no NEW ENTRY now (disabled, not copying, halted on
        drawdown, circuit breaker open), else None. Never asked for an exit: a copied position
        always follows the master out. `now` is the decision's time (no rule reads it yet)."""
        del now  # the signature the fan-out calls; every rule today is a state, not a time
        if not self.is_enabled:
            if self.enabled_override is False:
                return f"disabled by operator (python -m nija.trade follower enable {self.user_id})"
            return "disabled in its file (enabled: false)"
        if not self.copy_from_master:
            return "not copying (copy_from_master: false)"
        with self._risk_lock:
            if self.halted_reason is not None:
                return f"halted: {self.halted_reason} (python -m nija.trade follower resume {self.user_id})"
            if self.breaker.is_open:
                return self.breaker.reason
        return None

    def observe_equity(
        self, equity: Decimal, now: datetime | None = None, transfer: Decimal = _ZERO,
        holdings: ValuedHoldings | None = None,
    ) -> str | None:
        """Raise the high-water mark to `equity` (never lowered but by a withdrawal); return the
        breach reason the first time equity falls more than `max_drawdown_pct` below it. The
        follower is then halted for entries until an operator resumes it (`apply_control` picks
        that up). `transfer`: money moved in (+) or out (-) since the last read, which scales the
        mark (`transfer_ratio`) instead of reading as a gain or a drawdown; `holdings`: what that
        was measured on, saved with the mark."""
        with self._risk_lock:
            if holdings is not None:
                self._holdings, self._risk_dirty = holdings, True
            if transfer:
                self._transfers_seen.append(TransferSeen(transfer, equity, now or utc_now()))
                self._risk_dirty = True
                if self.high_water_mark is not None:
                    ratio = transfer_ratio(equity, transfer)
                    self.high_water_mark = None if ratio is None else self.high_water_mark * ratio
            mark = raised_high_water_mark(self.high_water_mark, equity)
            if mark != self.high_water_mark:
                self.high_water_mark = mark
                self._risk_dirty = True
            if self.halted_reason is not None:
                return None  # halted already: one breach, one halt
            breach = drawdown_breach(self.high_water_mark, equity, self.envelope.max_drawdown_pct)
            if breach is not None:
                self.halted_reason, self.halted_at = breach, now or utc_now()
                self._risk_dirty = True
            return breach

    def copy_finished(self, ok: bool, reason: str | None = None) -> str | None:
        """Count one copy's outcome in the circuit breaker (`ok`: the order was accepted;
        `reason`: why it failed). Returns the breaker's reason when this failure opened it."""
        return self._breaker_event(BreakerEvent.COPY_OK if ok else BreakerEvent.COPY_FAILED, reason)

    def _breaker_event(self, event: BreakerEvent, error: str | None = None) -> str | None:
        # The breaker's move, saved when it changed; returns the reason when it just opened.
        with self._risk_lock:
            before = self.breaker
            after = breaker_after(before, event, self.envelope.breaker_failures, error)
            if after == before:
                return None
            self.breaker = after
            self._risk_dirty = True
            return after.reason if after.is_open and not before.is_open else None

    def take_enabled_change(self) -> EnabledChange | None:
        """The move of `is_enabled` since the last call (or since the store last recorded it),
        for the join (`copy_existing`) and leave (`on_disable`) rules; None when unchanged. A new
        follower (never seen by the store) that is enabled counts as ENABLED: it joins."""
        with self._risk_lock:
            before, enabled = self._enabled_seen, self.is_enabled
            if enabled == before:
                return None
            self._enabled_seen, self._risk_dirty = enabled, True
            if before is None and not enabled:
                return None  # a new follower that starts disabled has nothing to leave
            return EnabledChange.ENABLED if enabled else EnabledChange.DISABLED

    # -- the store: restore, operator controls, save -----------------------------------------

    def restore(self, record: FollowerRiskRecord | None) -> None:
        """Take the state the store kept (at engine start): mark, halt, breaker, the operator's
        override and the enabled state last acted on. None: a follower the store never saw."""
        with self._risk_lock:
            self._adopt(record)
            self.enabled_override = record.enabled_override if record is not None else None
            self._enabled_seen = record.enabled_seen if record is not None else None

    def apply_control(self, record: FollowerRiskRecord | None) -> None:
        """Pick up the operator's commands from the store's row (every engine pass): the
        enable/disable override, and after a `follower resume` the lifted halt, the reset
        breaker and the cleared high-water mark. The engine's own state is otherwise kept."""
        if record is None:
            return  # no row yet: no command was ever given
        with self._risk_lock:
            self.enabled_override = record.enabled_override
            if record.resumed_at != self._resumed_at:
                self._adopt(record)

    def _adopt(self, record: FollowerRiskRecord | None) -> None:
        # The stored measurements replace ours (caller holds the risk lock).
        if record is None:
            self.high_water_mark, self.halted_reason, self.halted_at = None, None, None
            self.breaker, self._resumed_at = Breaker(), None
        else:
            self.high_water_mark, self.halted_reason = record.high_water_mark, record.halted_reason
            self.halted_at, self._resumed_at = record.halted_at, record.resumed_at
            self.breaker = Breaker.restored(record.failures_in_row, record.paused_reason)
        self._risk_dirty = False

    def _record(self) -> FollowerRiskRecord:
        return FollowerRiskRecord(
            broker=self.broker.name, user_id=self.user_id, high_water_mark=self.high_water_mark,
            halted_reason=self.halted_reason, halted_at=self.halted_at,
            failures_in_row=self.breaker.failures_in_row, paused_reason=self.breaker.reason,
            enabled_override=self.enabled_override, enabled_seen=self._enabled_seen, resumed_at=self._resumed_at,
            holdings=self._holdings, transfers=tuple(self._transfers_seen),
        )

    def take_risk_record(self) -> FollowerRiskRecord | None:
        """The risk state to save when it changed since the last take, else None. If saving it
        fails, call `risk_unsaved` so the next take returns it again."""
        with self._risk_lock:
            if not self._risk_dirty:
                return None
            self._risk_dirty = False
            record = self._record()
            self._transfers_seen.clear()  # each is recorded once: with this record
            return record

    def risk_unsaved(self, record: FollowerRiskRecord) -> None:
        """`record` (the last taken) was not saved: the next `take_risk_record` returns the state,
        with its transfers."""
        with self._risk_lock:
            self._transfers_seen[:0] = record.transfers
            self._risk_dirty = True

    # -- the follower file -------------------------------------------------------------------

    def reload(self, account: UserAccount) -> str | None:
        """Apply a re-read file's settings (enabled, copy_from_master, disabled_symbols,
        risk_multiplier, join/leave rules, envelope limits) without a restart. Returns why
        nothing was applied (another user id or broker needs a restart), else None."""
        if account.user_id != self.user_id or account.broker != self.broker.name:
            return (
                f"{account.source or self.user_id}: user_id/broker: changed to {account.user_id}/{account.broker}"
                f" (was {self.user_id}/{self.broker.name}); takes effect at the next restart, old settings kept"
            )
        with self._risk_lock:
            self.enabled, self.copy_from_master = account.enabled, account.copy_from_master
            self.disabled_symbols, self.risk_multiplier = account.disabled_symbols, account.risk_multiplier
            self.copy_existing, self.on_disable = account.copy_existing, account.on_disable
            self.envelope = envelope_for(account, self.defaults)
        return None

    def reload_if_changed(self) -> FileReload | None:
        """Re-read the follower file when its mtime moved (None: unchanged, or no file). A bad
        or vanished file keeps the settings in force, with its one problem line."""
        mtime = _mtime_ns(self.source)
        if self.source is None or mtime == self._source_mtime_ns:
            return None
        self._source_mtime_ns = mtime
        if mtime is None:
            return FileReload(False, f"{self.source}: (file): missing or unreadable; settings in force kept")
        loaded = load_user_file(self.source)
        if isinstance(loaded, UserProblem):
            return FileReload(False, f"{loaded.message}; settings in force kept")
        problem = self.reload(loaded)
        return FileReload(problem is None, problem)
