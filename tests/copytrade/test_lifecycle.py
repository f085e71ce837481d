"""A follower's lifecycle and risk envelope in the running engine, against the simulator: joining
the master's open positions (`copy_existing: enter`) inside and outside the slippage guard,
leaving (`on_disable: close`), a drawdown halt with and without `flatten_on_breach` that only an
operator lifts, and the circuit breaker opening after failed copies and closing on a good read.
Every rule stops entries only; exits always follow."""

from __future__ import annotations

import dataclasses
import threading
from decimal import Decimal
from pathlib import Path

from nija.brokers.ccxt import SharedMarkets
from nija.copytrade.engine import CopyEngine
from nija.copytrade.followers import Follower
from nija.models import MASTER_ACCOUNT, BalanceSnapshot, BrokerName, CopyStatus, SignalKind, utc_now
from nija.store import Store
from nija.users import CopyExisting, OnDisable
from tests.copytrade.conftest import LOG, _account, _master_buy, copy_signal
from tests.copytrade.test_exits import _master_sell
from tests.sim.simulator import Simulator

KRAKEN = BrokerName.KRAKEN
SYMBOL = "BTC/USD"


def _own_btc(sim: Simulator, key: str) -> Decimal:
    """Give the follower BTC of their own worth their cash (its price moves their equity, as a
    trading loss would); returns the BTC price."""
    price = sim.price("kraken", SYMBOL)
    usd = sim.balances("kraken", key)["USD"]
    sim.set_balance("kraken", key, "BTC", (usd / price).quantize(Decimal("0.00000001")))
    return price


def _copied(store: Store, user: str) -> Decimal:
    position = store.positions_of(KRAKEN, SYMBOL, [user]).get(user)
    return position.qty if position is not None else Decimal(0)


def _master_equity(store: Store, equity: Decimal = Decimal(10000)) -> None:
    store.record_equity(KRAKEN, MASTER_ACCOUNT, BalanceSnapshot(
        total_equity=equity, available=equity, locked_in_positions=Decimal(0), taken_at=utc_now()))


def _run_raised(engine: CopyEngine, kind: SignalKind) -> dict[str, dict[str, str]]:
    """Copy every pending signal of `kind`; returns signal id -> user id -> ledger status."""
    return {s.signal_id: copy_signal(engine, s) for s, _ in engine.store.signals("pending") if s.kind is kind}


def _row(store: Store, user: str) -> dict:
    return [r for r in store.copy_rows() if r["user_id"] == user][-1]


def _dave(sim: Simulator, tmp_path: Path, **settings) -> Follower:
    return Follower("dave", _account(sim, tmp_path, "dave", "1000", SharedMarkets()), **settings)


def test_a_joining_follower_enters_the_masters_open_position_at_a_price_inside_the_guard(
    sim: Simulator, setup, tmp_path: Path
) -> None:
    store, master, users = setup
    copy_signal(CopyEngine(store, users, LOG), _master_buy(master, "500", "m-buy"))
    _master_equity(store)
    dave = _dave(sim, tmp_path, copy_existing=CopyExisting.ENTER)
    engine = CopyEngine(store, [*users, dave], LOG)
    engine.start()
    assert engine.control() == 1  # dave is new and enabled: he joins the one open position
    assert engine.control() == 0
    (result,) = _run_raised(engine, SignalKind.JOIN).values()
    assert result == {"dave": "filled"}  # only dave: the others already hold their copies
    assert _copied(store, "dave") > 0


def test_a_join_outside_the_slippage_guard_is_skipped_with_the_reason(sim: Simulator, setup, tmp_path: Path) -> None:
    store, master, users = setup
    copy_signal(CopyEngine(store, users, LOG), _master_buy(master, "500", "m-buy"))
    _master_equity(store)
    entry = store.positions(KRAKEN, MASTER_ACCOUNT)[0].entry_price
    sim.set_price("kraken", SYMBOL, (entry * Decimal("1.02")).quantize(Decimal(1)))  # 2 % above the master's entry
    dave = _dave(sim, tmp_path, copy_existing=CopyExisting.ENTER)
    engine = CopyEngine(store, [*users, dave], LOG)
    engine.start()
    engine.control()
    (result,) = _run_raised(engine, SignalKind.JOIN).values()
    assert result == {"dave": "skipped"}
    assert "worse than the master's fill" in _row(store, "dave")["reason"]
    assert _copied(store, "dave") == 0 and sim.orders("kraken", "dave-key") == []


def test_a_follower_disabled_with_on_disable_close_sells_its_copies_and_takes_no_new_entries(
    sim: Simulator, setup
) -> None:
    store, master, users = setup
    alice = users[0]
    alice.on_disable = OnDisable.CLOSE
    engine = CopyEngine(store, users, LOG)
    engine.start()
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    engine.control()  # alice's enabled state recorded
    copied = _copied(store, "alice")
    assert copied > 0
    store.set_follower_enabled(KRAKEN, "alice", False)  # python -m nija.trade follower disable alice
    assert engine.control() == 1  # no restart: the next control pass acts on it
    (result,) = _run_raised(engine, SignalKind.CLOSE).values()
    assert result == {"alice": "filled"}
    assert _copied(store, "alice") == 0
    assert [o.filled for o in sim.orders("kraken", "alice-key") if o.side == "sell"] == [copied]
    assert "alice" not in copy_signal(engine, _master_buy(master, "500", "m-buy-2"))


def test_a_drawdown_breach_halts_entries_until_an_operator_resumes_and_keeps_the_copies(sim: Simulator, setup) -> None:
    store, master, users = setup
    alice = users[0]
    alice.envelope = dataclasses.replace(alice.envelope, max_drawdown_pct=Decimal(10))
    price = _own_btc(sim, "alice-key")  # half her equity is BTC of her own
    engine = CopyEngine(store, users, LOG)
    engine.start()  # her balance read: the high-water mark is her 2,000 USD
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    copied = _copied(store, "alice")
    usd = sim.balances("kraken", "alice-key")["USD"]
    sim.set_price("kraken", SYMBOL, price * Decimal("0.75"))  # BTC −25 %: she lost over 12.5 % of her equity
    engine.refresh_books([alice])
    assert alice.halted_reason is not None
    engine.control()  # saved; no flatten_on_breach: nothing is raised
    assert [s for s, _ in store.signals("pending") if s.kind is SignalKind.FLATTEN] == []
    second = copy_signal(engine, _master_buy(master, "500", "m-buy-2"))
    assert second["alice"] == "skipped" and "halted" in _row(store, "alice")["reason"]
    assert _copied(store, "alice") == copied  # the copies stay
    sim.set_balance("kraken", "alice-key", "USD", usd + Decimal(500))  # a deposit: still halted
    engine.refresh_books([alice])
    assert copy_signal(engine, _master_buy(master, "100", "m-buy-3"))["alice"] == "skipped"
    assert store.follower_risks()[(KRAKEN, "alice")].halted_reason is not None  # survives a restart
    store.resume_follower(KRAKEN, "alice")  # python -m nija.trade follower resume alice
    engine.control()
    assert copy_signal(engine, _master_buy(master, "100", "m-buy-4"))["alice"] == "filled"


def test_a_drawdown_breach_with_flatten_on_breach_closes_the_copies(sim: Simulator, setup) -> None:
    store, master, users = setup
    bob = users[1]
    bob.envelope = dataclasses.replace(bob.envelope, max_drawdown_pct=Decimal(10), flatten_on_breach=True)
    price = _own_btc(sim, "bob-key")
    own = sim.balances("kraken", "bob-key")["BTC"]
    engine = CopyEngine(store, users, LOG)
    engine.start()
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    copied = _copied(store, "bob")
    sim.set_price("kraken", SYMBOL, price * Decimal("0.75"))
    engine.refresh_books([bob])
    assert engine.control() == 1
    (result,) = _run_raised(engine, SignalKind.FLATTEN).values()
    assert result == {"bob": "filled"}
    assert _copied(store, "bob") == 0
    assert [o.filled for o in sim.orders("kraken", "bob-key") if o.side == "sell"] == [copied]
    assert sim.balances("kraken", "bob-key")["BTC"] == own  # his own coins stay his
    assert engine.control() == 0


def test_a_withdrawal_is_no_drawdown_and_a_loss_after_it_is_measured_on_what_is_left(sim: Simulator, setup) -> None:
    store, master, users = setup
    bob = users[1]
    bob.envelope = dataclasses.replace(bob.envelope, max_drawdown_pct=Decimal(10), flatten_on_breach=True)
    price = _own_btc(sim, "bob-key")
    engine = CopyEngine(store, users, LOG)
    engine.start()  # his high-water mark: about 100,000 USD, half of it his own BTC
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    copied = _copied(store, "bob")
    usd = sim.balances("kraken", "bob-key")["USD"]
    sim.set_balance("kraken", "bob-key", "USD", usd - Decimal(40000))  # he withdraws 40 % of his equity
    engine.refresh_books([bob])
    assert bob.halted_reason is None
    assert engine.control() == 0  # nothing flattened
    assert _copied(store, "bob") == copied
    mark = store.follower_risks()[(KRAKEN, "bob")].high_water_mark
    assert mark is not None and mark < Decimal(60100)  # scaled with the withdrawal, and saved
    # A restart measures against the saved holdings: the withdrawal is not seen twice.
    restarted = CopyEngine(store, [Follower("bob", bob.broker, envelope=bob.envelope)], LOG)
    restarted.start()
    assert restarted._by_id["bob"].halted_reason is None
    # BTC −10 %: about 5,000 of the 60,000 left (8 %), inside the limit; −20 %: 17 %, past it.
    sim.set_price("kraken", SYMBOL, price * Decimal("0.9"))
    restarted.refresh_books(restarted._all)
    assert restarted._by_id["bob"].halted_reason is None
    sim.set_price("kraken", SYMBOL, price * Decimal("0.8"))
    restarted.refresh_books(restarted._all)
    assert "drawdown" in (restarted._by_id["bob"].halted_reason or "")


def test_the_circuit_breaker_opens_after_failed_copies_and_closes_on_a_healthy_read(sim: Simulator, setup) -> None:
    store, master, users = setup
    alice = users[0]
    alice.envelope = dataclasses.replace(alice.envelope, breaker_failures=3)
    engine = CopyEngine(store, users, LOG)
    engine.start()
    sim.inject("kraken", "AddOrder", "insufficient_funds", api_key="alice-key", times=None)
    for n in range(3):
        assert copy_signal(engine, _master_buy(master, "100", f"m-{n}"))["alice"] == "failed"
    result = copy_signal(engine, _master_buy(master, "100", "m-paused"))
    assert result["alice"] == "skipped" and result["bob"] == "filled"  # the others never wait
    assert "InsufficientFunds" in _row(store, "alice")["reason"]  # paused with the last failure's reason
    sim.clear_faults("kraken")
    engine.refresh_books([alice])  # reads healthy again
    assert copy_signal(engine, _master_buy(master, "100", "m-again"))["alice"] == "filled"


def test_exits_follow_a_halted_or_disabled_follower(sim: Simulator, setup) -> None:
    store, master, users = setup
    alice = users[0]
    engine = CopyEngine(store, users, LOG)
    engine.start()
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    alice.halted_reason = "drawdown 30 % from its high-water mark"
    store.set_follower_enabled(KRAKEN, "alice", False)
    engine.control()
    result = copy_signal(engine, _master_sell(master, Decimal(1), "m-exit"))
    assert result["alice"] == CopyStatus.FILLED and _copied(store, "alice") == 0


def test_balance_reads_on_the_pool_never_open_a_store_connection(sim: Simulator, setup) -> None:
    # The pool's threads talk to venues only: each thread that touches the store keeps a SQLite
    # connection (two open files, a page cache) for as long as it lives, up to NIJA_COPY_WORKERS.
    store, master, users = setup
    engine = CopyEngine(store, users, LOG)
    engine.start()
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    for user in users:  # each withdraws half their cash: a transfer to measure
        key = f"{user.user_id}-key"
        sim.set_balance("kraken", key, "USD", sim.balances("kraken", key)["USD"] / 2)
    engine.refresh_books(users)
    engine.control()  # the measured transfers are saved with the marks
    assert {thread.name for thread in store._all} == {threading.current_thread().name}
    assert {t.account for t in store.transfers_after(0) if t.value < 0} == {u.user_id for u in users}
