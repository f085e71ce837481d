"""Follower statements: a month boundary, and the performance fee's high-water mark across a
loss, a deposit and a recovery (stored by --commit, never lowered, unaffected by deposits)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from nija.models import BalanceSnapshot
from nija.report.__main__ import main
from nija.report.statement import fee_terms, parse_period, period_bounds, statement
from nija.store import Store, db_path
from tests.report.builders import KRAKEN, copy, fill, master_fill, new_store, record_fills


def _at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def test_period_bounds_cross_the_year() -> None:
    assert period_bounds("2026-12") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_period("2026-13")


def test_a_position_held_across_a_month_boundary(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    # Bought on 31 October, valued at the master's last October fill, sold on 2 November.
    buy = master_fill(store, fill("master", "buy", "2", "100", "m1", _at("2026-10-31", 20)))
    master_fill(store, fill("master", "buy", "1", "110", "m2", _at("2026-10-31", 23)))
    copy(store, buy, "alice", fill("alice", "buy", "1", "100", "a1", _at("2026-10-31", 20), fee="0.1"))
    record_fills(store, [fill("alice", "sell", "1", "120", "a2", _at("2026-11-02"), fee="0.12")])
    october = statement(store, KRAKEN, "alice", "2026-10", None)
    november = statement(store, KRAKEN, "alice", "2026-11", None)
    store.close()
    assert october.totals.value_start == 0 and october.totals.value_end == Decimal(110)
    assert october.totals.net == Decimal("9.9")  # 10 unrealised at 110, less the 0.1 fee
    assert november.totals.value_start == october.totals.value_end
    assert november.totals.value_end == 0
    assert november.totals.net == Decimal("9.88")  # sold at 120: 10 more, less the 0.12 fee
    assert november.totals.cumulative_end == october.totals.net + november.totals.net == Decimal("19.78")
    assert november.totals.fees == Decimal("0.12") and november.totals.sold == Decimal(120)


def test_fee_terms_charge_only_above_the_highest_mark() -> None:
    terms = fee_terms(Decimal(130), [], Decimal(20))
    assert (terms.mark_before, terms.profit_above_mark, terms.fee_due, terms.mark_after) == (0, 130, 26, 130)
    loss = fee_terms(Decimal(-5), [], Decimal(20))
    assert (loss.fee_due, loss.mark_after) == (0, 0)


def _month(store: Store, n: int, day: str, buy: str, sell: str) -> None:
    record_fills(store, [fill("alice", "buy", "1", buy, f"b{n}", _at(day, 10)),
                         fill("alice", "sell", "1", sell, f"s{n}", _at(day, 14))])


def _commit(data_dir: Path, period: str, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["statement", "--follower", "alice", "--period", period, "--commit", "--json",
                 "--data-dir", str(data_dir)]) == 0
    return json.loads(capsys.readouterr().out)


def test_high_water_mark_across_a_loss_a_deposit_and_a_recovery(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "users").mkdir(parents=True)
    (data_dir / "users" / "alice.json").write_text(json.dumps(
        {"user_id": "alice", "name": "Alice", "broker": "kraken", "performance_fee_pct": 20}))
    store = new_store(data_dir)
    signal = master_fill(store, fill("master", "buy", "1", "100", "m0", _at("2026-07-30")))
    copy(store, signal, "alice", None, equity="1000")  # alice is a follower the ledger knows
    _month(store, 1, "2026-08-10", "100", "200")  # profit 100
    _month(store, 2, "2026-09-10", "200", "150")  # loss 50: cumulative 50
    # A deposit doubles alice's equity in October: her copied P&L, and so the mark, ignore it.
    store.record_equity(KRAKEN, "alice", BalanceSnapshot.from_parts(Decimal(2000), Decimal(0), _at("2026-10-01")))
    _month(store, 3, "2026-10-10", "100", "180")  # recovery: cumulative 130
    store.close()

    august = _commit(data_dir, "2026-08", capsys)
    assert (august["cumulative_pnl"], august["fee_due"], august["high_water_mark_after"]) == ("100", "20", "100")
    september = _commit(data_dir, "2026-09", capsys)
    assert september["pnl"] == "-50" and september["fee_due"] == "0"
    assert september["committed"]["high_water_mark"] == "100"  # never lowered by the loss
    october = _commit(data_dir, "2026-10", capsys)
    assert october["high_water_mark_before"] == "100" and october["profit_above_mark"] == "30"
    assert october["fee_due"] == "6"  # 20% of the 30 above the mark, not of the deposit
    assert october["committed"]["high_water_mark"] == "130"

    again = _commit(data_dir, "2026-09", capsys)  # a second commit changes nothing
    assert again["committed"] == september["committed"]
    reader = Store(db_path(data_dir), readonly=True)
    marks = reader.fee_marks(KRAKEN, "alice")
    reader.close()
    assert [(m.period, m.high_water_mark, m.fee_due) for m in marks] == [
        ("2026-08", 100, 20), ("2026-09", 100, 0), ("2026-10", 130, 6),
    ]


def test_a_plain_statement_only_computes_and_a_running_month_is_not_committed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir = tmp_path / "data"
    store = new_store(data_dir)
    signal = master_fill(store, fill("master", "buy", "1", "100", "m0", _at("2026-08-01")))
    copy(store, signal, "bob", fill("bob", "buy", "1", "100", "b0", _at("2026-08-01")))
    store.close()
    assert main(["statement", "--follower", "bob", "--period", "2026-08", "--data-dir", str(data_dir)]) == 0
    text = capsys.readouterr().out
    assert "performance fee: none" in text and "not committed" in text
    future = (datetime.now(UTC) + timedelta(days=40)).strftime("%Y-%m")
    assert main(["statement", "--follower", "bob", "--period", future, "--commit", "--data-dir", str(data_dir)]) == 2
    assert "--commit" in capsys.readouterr().err
    reader = Store(db_path(data_dir), readonly=True)
    assert reader.fee_marks(KRAKEN, "bob") == []
    reader.close()
