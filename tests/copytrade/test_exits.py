"""Exit copies follow the followers' *copied* positions (DESIGN invariant 9), against the simulator:
coins a follower holds of its own are never sold, an exit never expires while a copied position
remains (through an outage and a restart), an exit copy the venue keeps open is canceled after
the open-order timeout and the rest sold, a crash at any step of an exit fan-out sells each
follower's fraction exactly once, convergence closes what the master no longer holds, and opting
out stops entries only."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import ROUND_DOWN, Decimal

import pytest

from nija.copytrade import exits as exits_module
from nija.copytrade import fanout as fanout_module
from nija.copytrade.engine import CopyEngine
from nija.copytrade.exits import CONVERGE_REASON, exit_retry_delay
from nija.copytrade.followers import Follower
from nija.models import (
    MASTER_ACCOUNT,
    BalanceSnapshot,
    BrokerName,
    OrderRequest,
    OrderStatus,
    QuantityUnit,
    Side,
    SignalKind,
    TradeSignal,
    client_order_id_for,
    utc_now,
)
from nija.store import Store
from tests.copytrade.conftest import LOG, Master, _master_buy, copy_signal
from tests.sim.simulator import Simulator

KRAKEN = BrokerName.KRAKEN
SYMBOL = "BTC/USD"
LOT = Decimal("1e-8")


def _master_sell(master: Master, fraction: Decimal, tag: str) -> TradeSignal:
    held = master.store.positions(KRAKEN, MASTER_ACCOUNT)[0].qty
    qty = held if fraction == 1 else (held * fraction).quantize(LOT, rounding=ROUND_DOWN)
    master.submit(OrderRequest(broker=KRAKEN, account=MASTER_ACCOUNT, symbol=SYMBOL, side=Side.SELL, quantity=qty,
                               unit=QuantityUnit.BASE, client_order_id=client_order_id_for(tag)))
    return master.store.signals("pending")[-1][0]


def _copied(store: Store, user: str) -> Decimal:
    position = store.positions_of(KRAKEN, SYMBOL, [user]).get(user)
    return position.qty if position is not None else Decimal(0)


def _sells(sim: Simulator, user: str) -> list:
    return [o for o in sim.orders("kraken", f"{user}-key") if o.side == "sell"]


def _until_done(engine: CopyEngine, signal: TradeSignal, passes: int = 20, between: Callable[[], None] = lambda: None) -> dict[str, str]:
    """Run engine passes over one signal until its rows are final (waiting rows made due at once)."""
    for _ in range(passes):
        engine.store._query("UPDATE copy_orders SET retry_at = NULL WHERE status = 'waiting'")
        statuses = copy_signal(engine, signal)
        if not any(s in ("pending", "sent", "unknown", "waiting") for s in statuses.values()):
            return statuses
        between()
    raise AssertionError(f"still open after {passes} passes: {statuses}")


def test_a_full_master_exit_leaves_the_followers_own_coins(sim: Simulator, setup) -> None:
    store, master, users = setup
    sim.set_balance("kraken", "alice-key", "BTC", Decimal(1))  # alice's own bitcoin, bought long ago
    engine = CopyEngine(store, users, LOG)
    engine.start()
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    copied = _copied(store, "alice")
    assert copied > 0 and sim.balances("kraken", "alice-key")["BTC"] == 1 + copied
    result = copy_signal(engine, _master_sell(master, Decimal(1), "m-exit"))
    assert result["alice"] == "filled"
    assert sim.balances("kraken", "alice-key")["BTC"] == Decimal(1)  # exactly her own coin, none sold
    assert [o.filled for o in _sells(sim, "alice")] == [copied]
    assert _copied(store, "alice") == 0


def test_a_partial_exit_sells_the_fraction_of_the_copied_position_and_no_entry_cap_shrinks_it(sim: Simulator, setup) -> None:
    store, master, users = setup
    sim.set_balance("kraken", "bob-key", "BTC", Decimal(3))
    engine = CopyEngine(store, users, LOG, max_user_risk=Decimal("0.001"))  # a cap that would shrink anything
    engine.start()
    copy_signal(CopyEngine(store, users, LOG), _master_buy(master, "500", "m-buy"))
    copied = _copied(store, "bob")
    quarter = _master_sell(master, Decimal("0.25"), "m-quarter")
    copy_signal(engine, quarter)
    sold = (copied * quarter.qty / quarter.master_position_before).quantize(LOT, rounding=ROUND_DOWN)
    assert [o.filled for o in _sells(sim, "bob")] == [sold]
    assert sim.balances("kraken", "bob-key")["BTC"] == 3 + copied - sold


def test_an_exit_outlives_an_outage_longer_than_the_age_limit_and_a_restart(sim: Simulator, setup) -> None:
    """The follower's venue answers 503 to everything during the master's exit, longer than the
    signal age limit (scaled down: a 0.2 s limit), and the daemon restarts in the outage; once the
    venue is back, the follower is flat in the symbol with one sell and no twin."""
    store, master, users = setup
    limits = {"max_age_seconds": 0.2, "unknown_grace_seconds": 1.0}
    engine = CopyEngine(store, users, LOG, **limits)
    engine.start()
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    copied = _copied(store, "alice")
    sim.inject("kraken", ".", "http_5xx", api_key="alice-key", times=None)
    exit_signal = _master_sell(master, Decimal(1), "m-exit")
    first = copy_signal(engine, exit_signal)
    assert first["alice"] in ("unknown", "waiting") and first["bob"] == "filled"
    for _ in range(3):  # well past the age limit: still open, never expired
        engine.store._query("UPDATE copy_orders SET retry_at = NULL WHERE status = 'waiting'")
        assert copy_signal(engine, exit_signal)["alice"] in ("unknown", "waiting")
    restarted = CopyEngine(store, users, LOG, **limits)  # a restart inside the outage
    restarted.start()
    assert copy_signal(restarted, exit_signal)["alice"] in ("unknown", "waiting")
    sim.clear_faults("kraken")
    time.sleep(1.1)  # the ambiguous first attempt is now past its grace: the venue never booked it
    final = _until_done(restarted, exit_signal)
    assert final["alice"] == "filled"
    assert _copied(store, "alice") == 0 and sim.balances("kraken", "alice-key").get("BTC", 0) == 0
    assert [o.filled for o in _sells(sim, "alice")] == [copied]  # one sell at the venue
    cids = [o.client_order_id for o in sim.orders("kraken", "alice-key")]
    assert len(cids) == len(set(cids))
    row = next(r for r in store.copy_rows(exit_signal.signal_id) if r["user_id"] == "alice")
    assert row["attempts"] == 1 and Decimal(row["size_filled"]) == copied


def test_a_refused_exit_waits_and_retries_capped_by_what_is_still_held(sim: Simulator, setup) -> None:
    store, master, users = setup
    engine = CopyEngine(store, users, LOG)
    engine.start()
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    copied = _copied(store, "alice")
    left = (copied / 2).quantize(LOT, rounding=ROUND_DOWN)
    sim.set_balance("kraken", "alice-key", "BTC", left)  # she sold half of it by hand
    exit_signal = _master_sell(master, Decimal(1), "m-exit")
    assert copy_signal(engine, exit_signal)["alice"] == "waiting"
    row = next(r for r in store.copy_rows(exit_signal.signal_id) if r["user_id"] == "alice")
    assert "InsufficientFunds" in row["reason"] and row["retry_at"] is not None
    assert _until_done(engine, exit_signal)["alice"] in ("filled", "partial", "skipped")
    assert sim.balances("kraken", "alice-key").get("BTC", 0) == 0  # what was left of the copy is sold
    assert [o.filled for o in _sells(sim, "alice")] == [left]


def test_an_exit_copy_the_venue_keeps_open_is_canceled_after_the_timeout_and_the_rest_sold(
    sim: Simulator, setup
) -> None:
    store, master, users = setup
    patient = CopyEngine(store, users, LOG)
    patient.start()
    copy_signal(patient, _master_buy(master, "500", "m-buy"))
    copied = _copied(store, "alice")
    sim.inject("kraken", r"/AddOrder$", "partial_fill", method="POST", api_key="alice-key", fraction="0.5")
    exit_signal = _master_sell(master, Decimal(1), "m-exit")
    assert copy_signal(patient, exit_signal)["alice"] == "sent"  # half filled, the rest kept open
    [first] = _sells(sim, "alice")
    assert first.status == "open" and 0 < first.filled < copied
    assert copy_signal(patient, exit_signal)["alice"] == "sent"  # within the timeout: left open

    engine = CopyEngine(store, users, LOG, open_order_timeout_seconds=0)  # the same store: every open copy overdue
    engine.start()
    assert _until_done(engine, exit_signal)["alice"] == "filled"
    first_after, second = _sells(sim, "alice")
    assert first_after.status == "canceled" and first_after.filled == first.filled  # what filled is kept
    assert second.filled == copied - first.filled  # the rest, sold by the exit's next attempt
    assert sim.balances("kraken", "alice-key").get("BTC", 0) == 0 and _copied(store, "alice") == 0


CRASH_POINTS = ["copy_intents", "copy_sent", "copy_recorded"]


class _Killed(BaseException):
    """The process dying at a crash point: nothing after it runs, the store keeps what it committed."""


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_crash_at_each_step_of_an_exit_fan_out_sells_each_fraction_once(
    sim: Simulator, setup, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    store, master, users = setup
    engine = CopyEngine(store, users, LOG)
    engine.start()
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    copied = {u.user_id: _copied(store, u.user_id) for u in users if _copied(store, u.user_id) > 0}
    exit_signal = _master_sell(master, Decimal("0.5"), "m-half")

    def crash(name: str) -> None:
        if name == point:
            raise _Killed(name)

    monkeypatch.setattr(fanout_module, "crash_point", crash)
    with pytest.raises(_Killed):
        engine.dispatch(exit_signal)
    monkeypatch.undo()
    restarted = CopyEngine(store, [Follower(u.user_id, u.broker) for u in users], LOG)
    restarted.start()
    final = _until_done(restarted, exit_signal)
    for user, qty in copied.items():
        sold = (qty * exit_signal.qty / exit_signal.master_position_before).quantize(LOT, rounding=ROUND_DOWN)
        sold = sold if sold >= Decimal("0.00005") else qty  # a part below Kraken's minimum sells it all
        assert final[user] == "filled", (user, final)
        assert [o.filled for o in _sells(sim, user)] == [sold], user  # one sell of its fraction
        assert _copied(store, user) == qty - sold


def test_a_crash_as_an_exit_retry_starts_sells_only_what_is_left(
    sim: Simulator, setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, master, users = setup
    engine = CopyEngine(store, users, LOG)
    engine.start()
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    copied = _copied(store, "alice")
    sim.inject("kraken", "AddOrder", "insufficient_funds", api_key="alice-key", times=1)
    exit_signal = _master_sell(master, Decimal("0.5"), "m-half")
    assert copy_signal(engine, exit_signal)["alice"] == "waiting"  # attempt 1 refused
    copy_signal(engine, _master_buy(master, "300", "m-buy-more"))  # meanwhile her copied position grows
    assert _copied(store, "alice") > copied

    def crash(name: str) -> None:
        if name == "exit_attempt":
            raise _Killed(name)

    monkeypatch.setattr(exits_module, "crash_point", crash)
    store._query("UPDATE copy_orders SET retry_at = NULL WHERE status = 'waiting'")
    with pytest.raises(_Killed):
        engine.dispatch(exit_signal)  # died right after starting attempt 2, before storing its intent
    monkeypatch.undo()
    final = _until_done(CopyEngine(store, [Follower(u.user_id, u.broker) for u in users], LOG), exit_signal)
    sold = (copied / 2).quantize(LOT, rounding=ROUND_DOWN)
    assert final["alice"] == "filled"
    # the row's own size (half of the position the master's sell saw), once; not re-sized from today's
    assert [o.filled for o in _sells(sim, "alice") if o.filled > 0] == [sold]


def test_convergence_closes_a_copied_position_the_master_no_longer_holds(sim: Simulator, setup) -> None:
    store, master, users = setup
    engine = CopyEngine(store, users, LOG)
    engine.start()
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    holders = [u.user_id for u in users if _copied(store, u.user_id) > 0]
    assert engine.converge() == 0  # the master still holds the position: nothing to do
    store.forget_position(KRAKEN, MASTER_ACCOUNT, SYMBOL)  # the master went flat without a signal
    assert engine.converge() == len(holders)
    assert engine.converge() == 0  # raised once per position left behind
    signals = [s for s, _ in store.signals("pending") if s.kind is SignalKind.CONVERGE]
    assert sorted(s.target_user for s in signals) == sorted(holders)
    for signal in signals:
        assert _until_done(engine, signal)[signal.target_user] == "filled"
    for user in holders:
        assert _copied(store, user) == 0
        assert sim.balances("kraken", f"{user}-key").get("BTC", 0) == 0
        (order,) = store.orders_in_status(KRAKEN, user, [OrderStatus.FILLED])[1:]  # the buy, then the close
        assert order.request.side is Side.SELL and order.request.reason.startswith(CONVERGE_REASON)


def test_opting_out_stops_entries_but_the_copied_position_still_follows_the_exit(sim: Simulator, setup) -> None:
    store, master, users = setup
    engine = CopyEngine(store, users, LOG)
    engine.start()
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    alice, bob = users[0], users[1]
    alice.copy_from_master = False
    bob.disabled_symbols = frozenset({SYMBOL})
    copied = {u.user_id: _copied(store, u.user_id) for u in (alice, bob)}
    second = copy_signal(engine, _master_buy(master, "500", "m-buy-2"))
    assert "alice" not in second and "bob" not in second  # no new entries for them
    result = copy_signal(engine, _master_sell(master, Decimal(1), "m-exit"))
    assert result["alice"] == "filled" and result["bob"] == "filled"
    for user, qty in copied.items():
        assert [o.filled for o in _sells(sim, user)] == [qty]
        assert _copied(store, user) == 0


def test_exit_retry_backoff_doubles_up_to_two_minutes() -> None:
    assert [exit_retry_delay(n).total_seconds() for n in range(7)] == [5, 10, 20, 40, 80, 120, 120]


def test_each_pass_reports_drift_from_the_master_scaled_to_the_follower(sim: Simulator, setup) -> None:
    store, master, users = setup
    engine = CopyEngine(store, users, LOG, drift_tolerance_pct=Decimal(10))
    engine.start()
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    store.record_equity(KRAKEN, MASTER_ACCOUNT, BalanceSnapshot(total_equity=Decimal(10000), available=Decimal(10000),
                                                                locked_in_positions=Decimal(0), taken_at=utc_now()))
    master_qty = store.positions(KRAKEN, MASTER_ACCOUNT)[0].qty
    alice = users[0]
    alice.balance.equity = Decimal(1000)  # the equity the copy was sized on
    engine.converge()
    rows = {r.user_id: r for r in store.drift_rows()}
    expected = master_qty * Decimal(1000) / Decimal(10000)
    assert rows["alice"].expected_qty == expected and rows["alice"].copied_qty == _copied(store, "alice")
    assert rows["alice"].drift_pct == (rows["alice"].copied_qty - expected) * 100 / expected
