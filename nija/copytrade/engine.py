"""CopyEngine: fans every master fill out to the users of that broker, exactly once.

One engine thread wakes on new signals (an in-process event, plus a poll of the outbox so a
signal written by another process is picked up too) and fans each signal out on a bounded
thread pool, one task per eligible user: a slow or failing user never delays another.

Exactly once: before anything is sent, every (signal, user) pair of a signal gets its ledger row
with a deterministic client order id, in one transaction. A copy's order intent is stored by the
user's `OrderExecutor` before it is sent; after a crash, a pending row is resolved by that client
order id (sent once if the venue never saw it, recorded if it did) before anything else.
Signals older than the age limit are not chased: their unsent copies are marked `expired`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from nija.brokers.base import Broker, TransientError
from nija.brokers.fees import fee_schedule
from nija.copytrade.sizing import CopySize, size_entry, size_exit
from nija.logs import redact_text
from nija.models import BrokerName, OrderRequest, OrderStatus, Side, TradeSignal, client_order_id_for, utc_now
from nija.store import Store
from nija.trading.orders import OrderExecutor

__all__ = ["CopyEngine", "CopyUser"]

POLL_SECONDS: Final = 1.0  # the outbox poll that picks up signals written by another process
DEFAULT_MAX_AGE_SECONDS: Final = 60.0
_OPEN_ROWS: Final = frozenset({"pending", "unknown"})  # ledger rows a later pass must still resolve
_OPEN_ORDERS: Final = frozenset({OrderStatus.PENDING, OrderStatus.UNKNOWN, OrderStatus.SUBMITTED, OrderStatus.PARTIAL})


@dataclass
class CopyUser:
    """One user account the engine copies to: its own broker client, used by one task at a time."""

    user_id: str
    broker: Broker
    risk_multiplier: Decimal = Decimal(1)
    disabled_symbols: frozenset[str] = frozenset()
    enabled: bool = True
    copy_from_master: bool = True
    healthy: Callable[[], bool] = lambda: True

    def __post_init__(self) -> None:
        self.lock = threading.Lock()  # one order at a time per user account

    def eligible(self, signal: TradeSignal) -> bool:
        """Enabled, copying, same broker as the master, symbol allowed, account healthy."""
        return (
            self.enabled and self.copy_from_master and self.broker.name == signal.broker
            and signal.symbol not in self.disabled_symbols and self.healthy()
        )


class CopyEngine:
    """The copy-trading thread; `run` is the thread target, `process_pending` one pass."""

    def __init__(
        self,
        store: Store,
        users: Sequence[CopyUser],
        log: Any,
        *,
        copy_mode: str = "MASTER_FOLLOW",
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        max_workers: int = 32,
        max_user_risk: Decimal = Decimal("0.10"),
        min_position_usd: Decimal = Decimal("1.0"),
        stop: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.log = log
        self.copy_mode = copy_mode
        self.max_age_seconds = max_age_seconds
        self.max_user_risk = max_user_risk
        self.min_position_usd = min_position_usd
        self.stop = stop or threading.Event()
        self.wake = threading.Event()  # set by the broker loops after a master fill
        self._users: dict[BrokerName, list[CopyUser]] = {}
        for user in users:
            self._users.setdefault(user.broker.name, []).append(user)
        self._executors = {
            user.user_id: OrderExecutor(user.broker, store, log.bind(account=user.user_id), track_positions=False)
            for user in users
        }
        self._pool = ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="copy")

    # -- thread ------------------------------------------------------------------------------

    def run(self) -> None:
        """Thread target: process the outbox whenever woken (or polled) until stopped."""
        self.log.info("copy_engine_started", mode=self.copy_mode, users=sum(map(len, self._users.values())))
        while not self.stop.is_set():
            try:
                self.process_pending()
            except Exception as exc:  # the engine outlives any one bad signal or store hiccup
                self.log.error("copy_pass_failed", error=redact_text(f"{type(exc).__name__}: {exc}"))
            self.wake.wait(POLL_SECONDS)
            self.wake.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.log.info("copy_engine_stopped")

    def process_pending(self) -> int:
        """Fan out every pending signal, oldest first; returns how many were handled."""
        pending = self.store.signals("pending")
        for signal, _ in pending:
            if self.stop.is_set():
                break
            self.fan_out(signal)
        return len(pending)

    # -- one signal --------------------------------------------------------------------------

    def fan_out(self, signal: TradeSignal) -> dict[str, str]:
        """Copy one signal to every eligible user; returns user id -> ledger status."""
        if self.copy_mode != "MASTER_FOLLOW":
            self.store.finish_signal(signal.signal_id, "skipped", f"COPY_TRADING_MODE={self.copy_mode}")
            return {}
        if signal.side is Side.BUY and signal.master_equity <= 0:
            self.store.finish_signal(signal.signal_id, "rejected", f"master equity {signal.master_equity} <= 0")
            return {}
        users = [u for u in self._users.get(signal.broker, []) if u.eligible(signal)]
        client_ids = {u.user_id: client_order_id_for("copy", signal.signal_id, u.user_id) for u in users}
        statuses = self.store.open_copy_rows(signal.signal_id, signal.broker, client_ids)
        todo = [u for u in users if statuses.get(u.user_id) in _OPEN_ROWS]
        age = (utc_now() - signal.fill_time).total_seconds()
        fresh = age <= self.max_age_seconds
        started = time.monotonic()
        futures = [self._pool.submit(self._copy_one, signal, user, client_ids[user.user_id], fresh) for user in todo]
        results = [future.result() for future in futures]
        if results:
            self.store.record_copies(results)
        final = {**statuses, **{r["user_id"]: r["status"] for r in results}}
        if not any(status in _OPEN_ROWS for status in final.values()):
            self.store.finish_signal(signal.signal_id, "done")
        counts = {status: list(final.values()).count(status) for status in set(final.values())}
        self.log.info(
            "copy_summary", signal_id=signal.signal_id, broker=str(signal.broker), symbol=signal.symbol,
            side=str(signal.side), users_total=len(final), succeeded=counts.get("filled", 0) + counts.get("partial", 0),
            skipped=counts.get("skipped", 0), failed=counts.get("failed", 0), expired=counts.get("expired", 0),
            unknown=counts.get("unknown", 0), fanout_ms=round((time.monotonic() - started) * 1000, 1),
        )
        return final

    def _row(self, signal: TradeSignal, user: CopyUser, status: str, reason: str | None = None, **values: Any) -> dict[str, Any]:
        return {"signal_id": signal.signal_id, "user_id": user.user_id, "status": status, "reason": reason, **values}

    def _copy_one(self, signal: TradeSignal, user: CopyUser, client_order_id: str, fresh: bool) -> dict[str, Any]:
        """Size, send and record one user's copy; never raises (isolation between users).

        An intent already stored (a crash, or an answer still unknown) is resolved as it was
        decided, never re-sized; it is sent only if the venue never saw it and the signal is fresh.
        """
        executor = self._executors[user.user_id]
        with user.lock:
            try:
                stored = self.store.get_order(client_order_id)
                equity = None
                if stored is not None:
                    request = stored.request
                elif not fresh:
                    age = (utc_now() - signal.fill_time).total_seconds()
                    return self._row(signal, user, "expired", f"signal {age:.0f}s old > {self.max_age_seconds:.0f}s")
                else:
                    size, equity = self._size(signal, user)
                    if size.skipped:
                        return self._row(
                            signal, user, "skipped", size.skip_reason, size_asked=Decimal(0), unit=size.unit, user_equity=equity
                        )
                    request = OrderRequest(
                        broker=signal.broker, account=user.user_id, symbol=signal.symbol, side=signal.side,
                        quantity=size.quantity, unit=size.unit, client_order_id=client_order_id,
                        reason=f"copy of {signal.signal_id}: {size.detail}"[:500],
                    )
                executor.submit(request, None, send_if_unsent=fresh)
            except TransientError as exc:  # outcome unknown: resolved by client order id next pass
                return self._row(signal, user, "unknown", redact_text(str(exc)))
            except Exception as exc:  # one user's failure is that user's ledger row, nothing more
                error = redact_text(f"{type(exc).__name__}: {exc}")
                # Once the intent is stored the order may have reached the venue (e.g. the store
                # was busy while recording the fill): only a lookup by client order id can tell.
                return self._row(signal, user, "unknown" if self._outcome_open(client_order_id) else "failed", error)
        order = self.store.get_order(client_order_id)
        asked = {"size_asked": request.quantity, "unit": request.unit, "user_equity": equity}
        if order is None or order.filled_qty <= 0:
            reason = (order.error if order is not None else None) or "not filled"
            status = "expired" if order is not None and order.status is OrderStatus.CANCELED and not fresh else "failed"
            return self._row(signal, user, status, reason, **asked)
        latency_ms = (order.updated_at - signal.fill_time).total_seconds() * 1000
        return self._row(
            signal, user, "filled" if order.status is OrderStatus.FILLED else "partial", None, **asked,
            size_filled=order.filled_qty, price=order.avg_price, fee=order.fee, latency_ms=round(latency_ms, 1),
        )

    def _outcome_open(self, client_order_id: str) -> bool:
        """Whether a stored intent may still have reached the venue (not refused, not final)."""
        try:
            order = self.store.get_order(client_order_id)
        except Exception:  # the store itself is failing: assume the worst, resolve next pass
            return True
        return order is not None and order.status in _OPEN_ORDERS

    def _size(self, signal: TradeSignal, user: CopyUser) -> tuple[CopySize, Decimal | None]:
        """The user's copy size, and the user's equity when it was read (entries)."""
        rules = user.broker.market_rules(signal.symbol)
        if signal.side is Side.SELL:
            held = user.broker.holdings().get(rules.base, Decimal(0))
            return size_exit(
                master_sold_qty=signal.qty, master_position_before=signal.master_position_before,
                user_holding=held, rules=rules, price=signal.price,
            ), None
        snapshot = user.broker.balance_snapshot()
        return size_entry(
            master_quote_value=signal.quote_value, master_equity=signal.master_equity,
            user_equity=snapshot.total_equity, user_available=snapshot.available,
            risk_multiplier=user.risk_multiplier, max_user_risk=self.max_user_risk,
            min_position_usd=self.min_position_usd, rules=rules, fee_rate=fee_schedule(signal.broker).taker,
        ), snapshot.total_equity
