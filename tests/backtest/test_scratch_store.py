"""The backtest's throwaway store: in memory, its cached reads never outlive a write, and the
daemon's store keeps its durability settings and is never in memory."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from nija.backtest.engine import _ScratchStore
from nija.execution.lookup import OPEN_ORDER_STATUSES
from nija.models import BrokerName, EquityMarks, IntentStatus, QuantityUnit, Side
from nija.store import IN_MEMORY, Store, StrategyState

KRAKEN = BrokerName.KRAKEN


def test_daemon_store_keeps_wal_and_no_read_cache(tmp_path: Path) -> None:
    store = Store(tmp_path / "nija.db")
    try:
        assert store._query("PRAGMA journal_mode")[0][0] == "wal"
        assert store._query("PRAGMA synchronous")[0][0] == 1  # NORMAL
        assert store._reads is None
    finally:
        store.close()


def test_only_a_throwaway_store_lives_in_memory() -> None:
    with pytest.raises(ValueError, match="only a throwaway store"):
        Store(IN_MEMORY)


def test_throwaway_reads_follow_writes() -> None:
    store = _ScratchStore()
    try:
        assert store._query("PRAGMA synchronous")[0][0] == 0  # OFF
        assert store.paper_balances(KRAKEN, "a") == {}
        assert store.risk_state(KRAKEN, "a") == (None, None)
        store.seed_paper_account(KRAKEN, "a", {"USD": Decimal(5)})
        marks = EquityMarks(Decimal("10.0"), date(2024, 1, 2), Decimal(9))
        store.save_risk_marks(KRAKEN, "a", marks, None)
        assert store.paper_balances(KRAKEN, "a") == {"USD": Decimal(5)}
        assert store.risk_state(KRAKEN, "a") == (marks, None)
        # A value equal as a Decimal but stored differently is written, not skipped.
        store.save_risk_marks(KRAKEN, "a", EquityMarks(Decimal("10.00"), date(2024, 1, 2), Decimal(9)), None)
        assert str(store.risk_state(KRAKEN, "a")[0].high_water_mark) == "10.00"
        store.forget_risk_marks(KRAKEN, "a")
        assert store.risk_state(KRAKEN, "a") == (None, None)
        store.save_risk_marks(KRAKEN, "a", marks, "drawdown")
        assert store.risk_state(KRAKEN, "a") == (marks, "drawdown")
    finally:
        store.close()


def test_throwaway_store_serves_one_thread() -> None:
    store = _ScratchStore()
    errors: list[BaseException] = []

    def other() -> None:
        try:  # its first write (or uncached read) needs a connection of its own: refused
            store.forget_risk_marks(KRAKEN, "a")
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)

    try:
        store.positions(KRAKEN, "a")
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert errors and isinstance(errors[0], RuntimeError)
    finally:
        store.close()


def test_positions_copy_is_the_callers() -> None:
    store = _ScratchStore()
    try:
        first = store.positions(KRAKEN, "a")
        first.append("x")  # type: ignore[arg-type]
        assert store.positions(KRAKEN, "a") == []
    finally:
        store.close()


def _fresh_reads(store: Store) -> tuple[object, ...]:
    """What the store's file holds now, read past every cache."""
    assert store._reads is not None
    store._reads.clear()  # the row cache too: these reads run their SQL
    return (
        Store.positions(store, KRAKEN, "a"), Store.paper_balances(store, KRAKEN, "a"),
        Store.risk_state(store, KRAKEN, "a"), Store.strategy_states(store, KRAKEN, "a"),
        Store.manual_intents(store, KRAKEN, IntentStatus.TAKEN),
        Store.orders_in_status(store, KRAKEN, "a", OPEN_ORDER_STATUSES),
    )


def _cached_reads(store: _ScratchStore) -> tuple[object, ...]:
    return (
        store.positions(KRAKEN, "a"), store.paper_balances(KRAKEN, "a"), store.risk_state(KRAKEN, "a"),
        store.strategy_states(KRAKEN, "a"), store.manual_intents(KRAKEN, IntentStatus.TAKEN),
        store.orders_in_status(KRAKEN, "a", OPEN_ORDER_STATUSES),
    )


def test_reads_kept_over_a_one_table_write_equal_the_file() -> None:
    store = _ScratchStore()
    try:
        store.seed_paper_account(KRAKEN, "a", {"USD": Decimal(5)})
        intent = store.add_manual_intent(KRAKEN, "ETH/USD", Side.BUY, Decimal(1), QuantityUnit.QUOTE, "cid-1")
        store.move_manual_intent(intent, IntentStatus.TAKEN)
        marks = EquityMarks(Decimal("10.0"), date(2024, 1, 2), Decimal(9))
        writes = (
            lambda: store.save_strategy_state(KRAKEN, "a", "ETH/USD", StrategyState({"stop": "1", "stage": 0})),
            lambda: store.save_risk_marks(KRAKEN, "a", marks, None),
            lambda: store.save_strategy_state(
                KRAKEN, "a", "ETH/USD", StrategyState({"stop": "2", "stage": 1}, "cid-2", {"stop": "3", "levels": [1, 2]})
            ),
            lambda: store.record_entry_cost("cid-3", KRAKEN, "a", "ETH/USD", Decimal("0.01"), None),
            lambda: store.save_risk_marks(KRAKEN, "a", marks, "drawdown"),
            lambda: store.forget_position(KRAKEN, "a", "ETH/USD"),
        )
        for write in writes:
            assert _cached_reads(store) == _fresh_reads(store)  # and now kept
            write()
            assert _cached_reads(store) == _fresh_reads(store)
    finally:
        store.close()


def test_strategy_states_are_the_callers_own() -> None:
    store = _ScratchStore()
    try:
        store.save_strategy_state(KRAKEN, "a", "ETH/USD", StrategyState({"stop": "1", "levels": [1, {"x": 2}]}, "c", {"n": [3]}))
        first = store.strategy_states(KRAKEN, "a")
        first["ETH/USD"].state["stop"] = "changed"
        first["ETH/USD"].state["levels"][1]["x"] = 9
        first["ETH/USD"].pending_state["n"].append(4)  # type: ignore[index]
        first["BTC/USD"] = first["ETH/USD"]
        assert store.strategy_states(KRAKEN, "a") == Store.strategy_states(store, KRAKEN, "a")
        assert store.strategy_states(KRAKEN, "a")["ETH/USD"].state == {"stop": "1", "levels": [1, {"x": 2}]}
    finally:
        store.close()


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
