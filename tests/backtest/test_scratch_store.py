"""The backtest's throwaway store: its cached reads never outlive a write, and the daemon's store
keeps its durability settings."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from nija.backtest.engine import _ScratchStore
from nija.models import BrokerName, EquityMarks
from nija.store import Store

KRAKEN = BrokerName.KRAKEN


def test_daemon_store_keeps_wal_and_no_read_cache(tmp_path: Path) -> None:
    store = Store(tmp_path / "nija.db")
    try:
        assert store._query("PRAGMA journal_mode")[0][0] == "wal"
        assert store._query("PRAGMA synchronous")[0][0] == 1  # NORMAL
        assert store._reads is None
    finally:
        store.close()


def test_throwaway_reads_follow_writes(tmp_path: Path) -> None:
    store = _ScratchStore(tmp_path / "nija.db")
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


def test_throwaway_store_serves_one_thread(tmp_path: Path) -> None:
    store = _ScratchStore(tmp_path / "nija.db")
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


def test_positions_copy_is_the_callers(tmp_path: Path) -> None:
    store = _ScratchStore(tmp_path / "nija.db")
    try:
        first = store.positions(KRAKEN, "a")
        first.append("x")  # type: ignore[arg-type]
        assert store.positions(KRAKEN, "a") == []
    finally:
        store.close()


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
