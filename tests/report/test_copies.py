"""Follower figures on constructed copies: outcomes by reason, latency, slippage and the
tracking difference against the master over the same trades."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from nija.models import CopyStatus, Side, SignalKind, TradeSignal
from nija.report.collect import Window, collect
from tests.report.builders import KRAKEN, T0, copy, fill, master_fill, new_store


def test_tracking_difference_slippage_and_latency(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    buy = master_fill(store, fill("master", "buy", "1", "100", "m1", T0))
    sell = master_fill(store, fill("master", "sell", "1", "110", "m2", T0 + timedelta(hours=1)), position_before="1")
    late = master_fill(store, fill("master", "buy", "1", "105", "m3", T0 + timedelta(hours=2)))
    # alice copies both trades at worse prices; the third is skipped below her minimum.
    copy(store, buy, "alice", fill("alice", "buy", "0.5", "101", "a1", T0 + timedelta(seconds=1)),
         slippage_bps="100", ack_ms=100.0, fill_ms=300.0, equity="500")
    copy(store, sell, "alice", fill("alice", "sell", "0.5", "109", "a2", T0 + timedelta(hours=1, seconds=1)),
         slippage_bps="50", ack_ms=200.0, fill_ms=400.0, equity="504")
    copy(store, late, "alice", None, status=CopyStatus.SKIPPED, reason="below minimum: 0.1 < 1")
    report = collect(store, Window())
    store.close()
    by_name = {a.account: a for a in report.accounts}
    assert by_name["master"].role == "master" and by_name["alice"].role == "follower"
    alice = by_name["alice"]
    assert alice.totals.realised == Decimal(4)  # 0.5 * (109 - 101)
    copies = alice.copies
    assert copies is not None
    assert copies.by_status == {"filled": 2, "skipped": 1}
    assert copies.by_reason == {("skipped", "below minimum"): 1}
    assert copies.mean_slippage_bps == Decimal(75)
    latency = (copies.ack_p50_ms, copies.ack_p95_ms, copies.fill_p50_ms, copies.fill_p95_ms)
    assert latency == (100.0, 200.0, 300.0, 400.0)
    tracking = alice.tracking
    assert tracking is not None and tracking.master == "master"
    # The master's same trades are m1 and m2 (alice skipped m3): +10 on 100 put in.
    assert tracking.master_return_pct == Decimal(10)
    assert tracking.follower_return_pct == Decimal(4) / Decimal("50.5") * 100
    assert tracking.difference_pct == Decimal(4) / Decimal("50.5") * 100 - 10
    # The master itself: m3 is still open, valued at its own last fill (no unrealised P&L).
    assert by_name["master"].totals.realised == Decimal(10)
    assert by_name["master"].marks["BTC/USD"].source == "last fill"


def test_paper_price_newer_than_the_last_fill_is_the_mark(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    master_fill(store, fill("master", "buy", "2", "100", "m1", T0))
    store.publish_paper_prices(KRAKEN, {"BTC/USD": Decimal(125)}, market_ms=1)
    report = collect(store, Window())
    store.close()
    master = report.accounts[0]
    assert master.marks["BTC/USD"].source == "paper price"
    assert master.totals.unrealised_end == Decimal(50)
    assert master.return_pct == Decimal(5)  # 50 on the 1000 of equity it had


def test_a_window_tracks_exits_of_positions_opened_before_it(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    buy = master_fill(store, fill("master", "buy", "1", "100", "m1", T0))
    sell = master_fill(store, fill("master", "sell", "1", "120", "m2", T0 + timedelta(days=2)), position_before="1")
    copy(store, buy, "alice", fill("alice", "buy", "0.5", "100", "a1", T0))
    copy(store, sell, "alice", fill("alice", "sell", "0.5", "118", "a2", T0 + timedelta(days=2)))
    report = collect(store, Window(since=T0 + timedelta(days=1)))
    store.close()
    alice = {a.account: a for a in report.accounts}["alice"]
    # Both sides sold in the window what they bought before it: the same trades on both sides.
    assert alice.totals.realised == Decimal(9) and alice.totals.unrealised_start == Decimal(0)
    assert alice.copies is not None and alice.copies.by_status == {"filled": 1}
    assert alice.tracking is not None
    # Each side's return is on what it held when the window opened: 9 on 50, 20 on 100.
    assert alice.tracking.follower_return_pct == Decimal(18)
    assert alice.tracking.master_return_pct == Decimal(20)
    assert alice.tracking.difference_pct == Decimal(-2)


def test_marks_are_the_last_recorded_fill_before_each_end(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    master_fill(store, fill("master", "buy", "1", "100", "m1", T0))
    master_fill(store, fill("master", "buy", "1", "110", "m2", T0 + timedelta(days=2)))
    report = collect(store, Window(since=T0 + timedelta(days=1)))
    store.close()
    master = report.accounts[0]
    assert master.totals.unrealised_start == Decimal(0)  # 1 held at the mark 100 when the window opened
    assert master.totals.unrealised_end == Decimal(10)  # 2 held at 105 average, marked at 110
    assert master.marks["BTC/USD"].price == Decimal(110)


def test_the_engines_own_exit_counts_for_the_follower_not_the_master(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    buy = master_fill(store, fill("master", "buy", "1", "100", "m1", T0))
    copy(store, buy, "alice", fill("alice", "buy", "0.5", "100", "a1", T0))
    # The master is flat elsewhere: the engine closes alice's copy itself (a converge signal).
    converge = TradeSignal(
        signal_id="sig-converge", broker=KRAKEN, master_account="master", symbol="BTC/USD", side=Side.SELL,
        qty=Decimal("0.5"), price=Decimal(90), quote_value=Decimal(45), master_equity=Decimal(1000),
        master_position_before=Decimal(0), fill_time=T0 + timedelta(hours=1), trade_id="converge-1",
        kind=SignalKind.CONVERGE, target_user="alice",
    )
    store.raise_signals([converge])
    copy(store, converge, "alice", fill("alice", "sell", "0.5", "90", "a2", T0 + timedelta(hours=1)))
    store.publish_paper_prices(KRAKEN, {"BTC/USD": Decimal(90)}, market_ms=1)
    report = collect(store, Window())
    store.close()
    alice = {a.account: a for a in report.accounts}["alice"]
    assert alice.copies is not None and alice.copies.filled == 2
    assert alice.totals.realised == Decimal(-5)
    assert alice.tracking is not None
    assert alice.tracking.follower_return_pct == Decimal(-10)  # -5 on 50
    assert alice.tracking.master_return_pct == Decimal(-10)  # m1 still held, marked at 90
    assert alice.tracking.difference_pct == 0
