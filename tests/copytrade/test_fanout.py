"""The lean fan-out against the simulator: one venue call per user in the hot path, batched
store writes, a cached balance for entries but a fresh holding for exits, settling fills
afterwards without re-sending, user health gating eligibility, and status listing every user
from the moment the engine starts."""

from __future__ import annotations

import io
import threading
import time
import json
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest

from nija import status
from nija.copytrade.engine import CopyEngine
from nija.copytrade.followers import Follower
from nija.models import BrokerName, OrderRequest, QuantityUnit, Side, client_order_id_for
from nija.store import Recording, Store
from tests.copytrade.conftest import LOG, _master_buy, copy_signal
from tests.sim.simulator import Simulator


def _user_calls(sim: Simulator, path: str) -> list[Any]:
    return [r for r in sim.requests("kraken", path_contains=path) if r.api_key != "master-key"]


class _Counting:
    """Counts calls of chosen store methods (the batching contract), passing them through."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...]) -> None:
        self.calls: dict[str, list[int]] = {name: [] for name in names}
        for name in names:
            original = getattr(store, name)

            def counted(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
                first = args[0] if args else None
                if isinstance(first, Recording):
                    first = first.reports  # the one write of execution: count the orders it moves
                self.calls[_name].append(len(first) if isinstance(first, (list, tuple)) else 1)
                return _original(*args, **kwargs)

            monkeypatch.setattr(store, name, counted)


def test_hot_path_is_one_order_call_per_user_and_a_fixed_number_of_batched_writes(
    sim: Simulator, setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, master, users = setup
    engine = CopyEngine(store, users, LOG)
    engine.start()  # balances read here, once, off the hot path
    signal = _master_buy(master, "500", "m-buy")
    sim.clear_requests()
    counting = _Counting(store, monkeypatch, ("insert_orders", "record"))
    sent = engine.dispatch(signal)
    assert sent == {"alice": "sent", "bob": "sent", "carol": "sent"}  # acknowledged, fills not read yet
    assert [r.path.rsplit("/", 1)[-1] for r in _user_calls(sim, "/0/private/")] == ["AddOrder"] * 3
    assert counting.calls["insert_orders"] == [3]  # every intent in one transaction, before any send
    assert counting.calls["record"] == [3]  # every answer in one transaction
    rows = {r["user_id"]: r for r in store.copy_rows(signal.signal_id)}
    assert all(r["latency_ms"] is not None and r["size_asked"] for r in rows.values())
    assert store.signals("pending")[0][0].signal_id == signal.signal_id  # open until the fills settle

    assert engine.settle() == 3
    assert counting.calls["record"] == [3, 3]  # the fills, again in one transaction
    rows = {r["user_id"]: r for r in store.copy_rows(signal.signal_id)}
    assert {r["status"] for r in rows.values()} == {"filled"}
    # 2,493.52 USD (its share of the master's fill) in base at 50,000, fee inside
    assert Decimal(rows["bob"]["size_filled"]) == sim.balances("kraken", "bob-key")["BTC"] > Decimal("0.0497")
    assert rows["bob"]["latency_ms"] is not None  # the acknowledgment's latency is kept
    assert store.signals("done")[0][0].signal_id == signal.signal_id
    for user in ("alice", "bob", "carol"):
        assert sim.count_orders("kraken", client_order_id_for("copy", signal.signal_id, user)) == 1


def test_back_to_back_entries_never_spend_the_same_cash_twice(sim: Simulator, setup) -> None:
    store, master, users = setup
    sim.set_balance("kraken", "master-key", "USD", Decimal("100000"))  # the master can buy twice
    engine = CopyEngine(store, users, LOG, max_user_risk=Decimal("0.8"))
    engine.start()
    first = engine.dispatch(_master_buy(master, "6000", "m-1"))  # carol: ~60 % of 100 -> 59.84 USD
    second = engine.dispatch(_master_buy(master, "6000", "m-2"))  # before anything settled
    assert first["carol"] == "sent" and second["carol"] == "sent"
    sizes = [Decimal(r["size_asked"]) for r in store.copy_rows() if r["user_id"] == "carol"]
    assert sizes[0] == Decimal("59.84")  # the master's 6,000 USD buy filled 5,984.4 USD worth (fee inside)
    assert sizes[1] < Decimal("40")  # only what the first buy left (less its fee), not 60 again
    engine.settle()
    assert {r["status"] for r in store.copy_rows() if r["user_id"] == "carol"} == {"filled"}


def test_exit_sells_the_fraction_of_the_copied_position_never_coins_held_besides(sim: Simulator, setup) -> None:
    store, master, users = setup
    engine = CopyEngine(store, users, LOG)
    engine.start()
    copy_signal(engine, _master_buy(master, "500", "m-buy"))
    copied = store.positions_of(BrokerName.KRAKEN, "BTC/USD", ["alice"])["alice"].qty
    sim.set_balance("kraken", "alice-key", "BTC", Decimal("0.5"))  # alice bought coins of her own meanwhile
    position = store.positions(BrokerName.KRAKEN, "master")[0]
    master.submit(OrderRequest(broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", side=Side.SELL,
                               quantity=position.qty / 2, unit=QuantityUnit.BASE,
                               client_order_id=client_order_id_for("m-sell")))
    sell = store.signals("pending")[-1][0]
    result = copy_signal(engine, sell)
    assert result["alice"] == "filled"
    sold = (copied * sell.qty / sell.master_position_before).quantize(Decimal("1e-8"), rounding=ROUND_DOWN)
    assert sim.balances("kraken", "alice-key")["BTC"] == Decimal("0.5") - sold  # half the copy, none of hers
    assert store.positions_of(BrokerName.KRAKEN, "BTC/USD", ["alice"])["alice"].qty == copied - sold


def test_crash_after_acknowledgment_settles_by_lookup_without_resending(sim: Simulator, setup) -> None:
    store, master, users = setup
    signal = _master_buy(master, "500", "m-buy")
    engine = CopyEngine(store, users, LOG)
    engine.start()
    assert set(engine.dispatch(signal).values()) == {"sent"}
    # ...the process died before settling. A new engine finds the sent rows and only looks them up.
    again = copy_signal(CopyEngine(store, users, LOG), signal)
    assert set(again.values()) == {"filled"}
    for user in ("alice", "bob", "carol"):
        assert sim.count_orders("kraken", client_order_id_for("copy", signal.signal_id, user)) == 1


def test_auth_failure_fails_the_user_who_is_then_skipped_until_restart(sim: Simulator, setup) -> None:
    store, master, users = setup
    sim.inject("kraken", "AddOrder", "auth_error", api_key="alice-key", times=None)
    engine = CopyEngine(store, users, LOG)
    engine.start()
    first = copy_signal(engine, _master_buy(master, "500", "m-1"))
    assert first["alice"] == "failed" and first["bob"] == "filled"
    second = _master_buy(master, "500", "m-2")
    result = copy_signal(engine, second)
    assert result["alice"] == "skipped" and result["bob"] == "filled"
    row = next(r for r in store.copy_rows(second.signal_id) if r["user_id"] == "alice")
    assert row["reason"].startswith("account failed:")
    assert len([r for r in sim.requests("kraken", path_contains="AddOrder") if r.api_key == "alice-key"]) == 1
    state = {u["user_id"]: u for u in store.copy_users()}
    assert state["alice"]["state"] == "failed" and state["bob"]["state"] == "healthy"


def test_transient_errors_degrade_a_user_who_is_still_copied(sim: Simulator, setup) -> None:
    store, master, users = setup
    sim.inject("kraken", "Balance", "http_5xx", api_key="alice-key", times=3)  # every retry of the start read
    engine = CopyEngine(store, users, LOG)
    engine.start()
    state = {u["user_id"]: u for u in store.copy_users()}
    assert state["alice"]["state"] == "degraded" and state["alice"]["equity"] is None
    signal = _master_buy(master, "500", "m-buy")
    assert users[0].configured_for(signal) and users[0].unavailable() is None  # degraded, still copied
    result = copy_signal(engine, signal)
    assert result["alice"] == "filled"  # read inline (no cached balance), sized, sent
    assert {u["user_id"]: u for u in store.copy_users()}["alice"]["state"] == "healthy"


def test_status_lists_every_user_with_state_and_equity_before_any_copy(
    sim: Simulator, setup, tmp_path: Path
) -> None:
    store, _, users = setup
    users.append(Follower("dave", users[0].broker, enabled=False))
    engine = CopyEngine(store, users, LOG, unavailable=[(BrokerName.KRAKEN, "erin", "no credentials")])
    engine.start()
    doc = status.collect(Store(store.path, readonly=True))
    listed = {u["user_id"]: u for u in doc["copy"]["users"]}
    assert set(listed) == {"alice", "bob", "carol", "dave", "erin"}
    assert listed["bob"]["state"] == "healthy" and listed["bob"]["total_equity"] == 50000.0
    assert listed["alice"]["last_copy"] is None and listed["alice"]["broker"] == "kraken"
    assert listed["dave"]["enabled"] is False
    assert listed["erin"]["state"] == "failed" and listed["erin"]["last_error"] == "no credentials"
    json.dumps(doc)  # the JSON document stays serialisable
    out = io.StringIO()
    status.render(doc, out)
    text = out.getvalue()
    for user in ("alice", "bob", "carol", "dave", "erin"):
        assert user in text
    assert "none yet" in text and "no credentials" in text


def test_paper_like_brokers_that_fill_at_once_record_the_fill_in_the_hot_path(sim: Simulator, setup) -> None:
    store, master, users = setup
    for user in users:  # a venue whose acknowledgment carries the fill (as paper does)

        def acknowledged_with_fill(request: OrderRequest, broker: Any = user.broker, submit: Any = user.broker.submit) -> Any:
            submit(request)
            return broker.fetch_order(request.client_order_id, request.symbol)

        user.broker.submit = acknowledged_with_fill  # type: ignore[method-assign]
    engine = CopyEngine(store, users, LOG)
    engine.start()
    signal = _master_buy(master, "500", "m-buy")
    assert set(engine.dispatch(signal).values()) == {"filled"}
    assert store.signals("done")[0][0].signal_id == signal.signal_id
    assert len(store.fills(BrokerName.KRAKEN, "bob")) == 1


def test_executor_is_still_used_for_intents_a_crashed_pass_stored(sim: Simulator, setup) -> None:
    store, master, users = setup
    signal = _master_buy(master, "500", "m-buy")
    cid = client_order_id_for("copy", signal.signal_id, "carol")
    store.open_copy_rows(signal.signal_id, signal.broker, {"carol": cid})
    store.insert_orders([OrderRequest(broker=BrokerName.KRAKEN, account="carol", symbol="BTC/USD", side=Side.BUY,
                                      quantity=Decimal("5"), unit=QuantityUnit.QUOTE, client_order_id=cid)])
    result = copy_signal(CopyEngine(store, users, LOG), signal)
    assert result["carol"] == "filled" and sim.count_orders("kraken", cid) == 1
    assert Decimal(next(r for r in store.copy_rows(signal.signal_id) if r["user_id"] == "carol")["size_asked"]) == 5


def test_engine_thread_registers_users_copies_and_settles_then_stops(sim: Simulator, setup) -> None:
    store, master, users = setup
    engine = CopyEngine(store, users, LOG)
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    signal = _master_buy(master, "500", "m-buy")
    engine.wake.set()
    deadline = time.monotonic() + 30  # a generous bound for a busy machine, not a performance claim
    while not store.signals("done") and time.monotonic() < deadline:
        time.sleep(0.05)
    engine.stop.set()
    engine.wake.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert {r["status"] for r in store.copy_rows(signal.signal_id)} == {"filled"}
    assert {u["user_id"] for u in store.copy_users()} == {"alice", "bob", "carol"}
