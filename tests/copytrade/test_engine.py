"""The copy engine against the simulator: a real master fill on Kraken fans out to several user
accounts, concurrently, sized by equity, exactly once — also across a crash — and stale signals
are not chased."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_DOWN, Decimal

from nija.copytrade.engine import CopyEngine
from nija.models import BrokerName, OrderRequest, QuantityUnit, Side, client_order_id_for, utc_now
from tests.copytrade.conftest import LOG, _master_buy, copy_signal
from tests.sim.simulator import Simulator


def test_entry_fans_out_scaled_by_equity_concurrently_exactly_once(sim: Simulator, setup) -> None:
    store, master, users = setup
    sim.set_latency("kraken", 150)
    signal = _master_buy(master, "500", "m-buy")  # 5 % of the master's 10,000
    engine = CopyEngine(store, users, LOG)
    result = copy_signal(engine, signal)
    assert result == {"alice": "filled", "bob": "filled", "carol": "filled"}
    rows = {r["user_id"]: r for r in store.copy_rows(signal.signal_id)}
    # the master's 500 USD buy filled 498.70 USD worth (Kraken: sized in base, fee inside the budget)
    filled = signal.qty * signal.price
    for user, equity in (("alice", 1000), ("bob", 50000), ("carol", 100)):
        assert Decimal(rows[user]["size_asked"]) == (filled * equity / 10000).quantize(Decimal("0.01"), ROUND_DOWN)
    for user in ("alice", "bob", "carol"):
        cid = client_order_id_for("copy", signal.signal_id, user)
        assert sim.count_orders("kraken", cid) == 1
        assert rows[user]["latency_ms"] is not None
    # the users' order requests overlapped in time: fanned out, not one after the other
    creates = [r for r in sim.requests("kraken", path_contains="AddOrder") if r.api_key != "master-key"]
    assert len(creates) == 3
    assert max(r.received_at_s for r in creates) < min(r.received_at_s + r.duration_ms / 1000 for r in creates)
    assert store.signals("done")[0][0].signal_id == signal.signal_id
    assert copy_signal(engine, signal) == result  # a replay sends nothing
    assert sim.count_orders("kraken", client_order_id_for("copy", signal.signal_id, "alice")) == 1


def test_exit_mirrors_the_fraction_of_each_users_own_holding(sim: Simulator, setup) -> None:
    store, master, users = setup
    engine = CopyEngine(store, users, LOG)
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    held_before = {u.user_id: u.broker.holdings().get("BTC", Decimal(0)) for u in users}
    position = store.positions(BrokerName.KRAKEN, "master")[0]
    sell = OrderRequest(broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", side=Side.SELL,
                        quantity=position.qty / 2, unit=QuantityUnit.BASE, client_order_id=client_order_id_for("m-sell"))
    master.submit(sell)
    signal = store.signals("pending")[-1][0]
    result = copy_signal(engine, signal)
    for user in users:  # each sells half of what that user holds, whatever the master holds
        assert result[user.user_id] == "filled"
        left = user.broker.holdings().get("BTC", Decimal(0))
        half = held_before[user.user_id] / 2
        expected = half if half >= Decimal("0.00005") else 0  # a half below Kraken's minimum sells it all
        assert abs(left - expected) <= Decimal("0.00000001")


def test_a_20_dollar_master_buy_skips_the_100_dollar_user_and_a_user_without_the_asset_sends_nothing(
    sim: Simulator, setup
) -> None:
    store, master, users = setup
    engine = CopyEngine(store, users, LOG)
    result = copy_signal(engine, _master_buy(master, "20", "m-small"))
    assert result["carol"] == "skipped"  # 20 × 100/10000 = 0.20 < 1
    assert "below min_position_usd" in store.copy_rows()[2]["reason"]
    position = store.positions(BrokerName.KRAKEN, "master")[0]
    sell = OrderRequest(broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", side=Side.SELL,
                        quantity=position.qty, unit=QuantityUnit.BASE, client_order_id=client_order_id_for("m-exit"))
    master.submit(sell)
    exit_result = copy_signal(engine, store.signals("pending")[-1][0])
    assert "carol" not in exit_result  # no copied position: no exit row, nothing sent
    assert [r["status"] for r in store.copy_rows() if r["user_id"] == "carol"] == ["skipped"]


def test_one_users_failure_never_blocks_the_others(sim: Simulator, setup) -> None:
    store, master, users = setup
    sim.inject("kraken", "AddOrder", "auth_error", api_key="alice-key", times=None)
    signal = _master_buy(master, "500", "m-buy")
    result = copy_signal(CopyEngine(store, users, LOG), signal)
    assert result["alice"] == "failed" and result["bob"] == "filled"
    assert "AuthError" in store.copy_rows(signal.signal_id)[0]["reason"]


def test_crash_between_row_inserted_and_order_sent_sends_exactly_once(sim: Simulator, setup) -> None:
    store, master, users = setup
    signal = _master_buy(master, "500", "m-buy")
    cid = client_order_id_for("copy", signal.signal_id, "alice")
    store.open_copy_rows(signal.signal_id, signal.broker, {"alice": cid})
    store.insert_orders([OrderRequest(broker=BrokerName.KRAKEN, account="alice", symbol="BTC/USD", side=Side.BUY,
                                      quantity=Decimal("50"), unit=QuantityUnit.QUOTE, client_order_id=cid)])
    # ...the process died here. The restarted engine resolves by client id, then sends once.
    result = copy_signal(CopyEngine(store, users, LOG), signal)
    assert result["alice"] == "filled" and sim.count_orders("kraken", cid) == 1


def test_crash_between_order_sent_and_result_recorded_is_not_resent(sim: Simulator, setup) -> None:
    store, master, users = setup
    signal = _master_buy(master, "500", "m-buy")
    cid = client_order_id_for("copy", signal.signal_id, "bob")
    request = OrderRequest(broker=BrokerName.KRAKEN, account="bob", symbol="BTC/USD", side=Side.BUY,
                           quantity=Decimal("2500"), unit=QuantityUnit.QUOTE, client_order_id=cid)
    store.open_copy_rows(signal.signal_id, signal.broker, {"bob": cid})
    store.insert_orders([request])
    users[1].broker.place(request)  # reached the venue and filled; the result was never recorded
    result = copy_signal(CopyEngine(store, users, LOG), signal)
    assert result["bob"] == "filled" and sim.count_orders("kraken", cid) == 1
    assert Decimal(store.copy_rows(signal.signal_id)[0]["size_filled"]) == sim.balances("kraken", "bob-key")["BTC"]


def test_stale_signals_expire_and_independent_mode_copies_nothing(sim: Simulator, setup) -> None:
    store, master, users = setup
    signal = _master_buy(master, "500", "m-buy")
    old = signal.model_copy(update={"fill_time": utc_now() - timedelta(seconds=120)})
    assert set(copy_signal(CopyEngine(store, users, LOG), old).values()) == {"expired"}
    assert not [r for r in sim.requests("kraken", path_contains="AddOrder") if r.api_key != "master-key"]
    second = _master_buy(master, "500", "m-buy-2")
    assert copy_signal(CopyEngine(store, users, LOG, copy_mode="INDEPENDENT"), second) == {}
    assert store.signals("skipped")[0][0].signal_id == second.signal_id
