"""Report arithmetic on a constructed three-trade series: exact P&L, fees, drawdown, exposure,
exits by reason and buy-and-hold, to the last Decimal digit."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pytest

from nija.backtest.engine import FillRecord
from nija.backtest.report import (
    buy_and_hold,
    combine_curves,
    equity_curve,
    max_drawdown,
    summarize,
)
from nija.backtest.trades import closed_trades, exit_reason, fingerprint
from nija.models import FeeSchedule, Side

STEP = 300_000
TS = np.arange(7, dtype=np.float64) * STEP
CLOSE = np.array([100.0, 110.0, 105.0, 112.0, 101.0, 100.0, 95.0])


def _fill(at: int, side: Side, qty: str, price: str, fee: str, reason: str) -> FillRecord:
    return FillRecord(at * STEP, "ETH/USD", side, D(qty), D(price), D(fee), reason)


FILLS = (
    _fill(0, Side.BUY, "1", "100", "0.26", "apex entry score=60 conditions=3"),
    _fill(1, Side.SELL, "1", "110", "0.286", "ema_cross: EMA9 < EMA21"),
    _fill(2, Side.BUY, "2", "105", "0.546", "apex entry score=70 conditions=4"),
    _fill(3, Side.SELL, "1", "112", "0.2912", "take_profit: take profit 1: price 112 >= 111 (1R)"),
    _fill(4, Side.SELL, "1", "101", "0.2626", "trailing_stop: trailing stop: price 101 <= 102"),
    _fill(5, Side.BUY, "1", "100", "0.26", "apex entry score=55 conditions=3"),
    _fill(6, Side.SELL, "1", "95", "0.247", "emergency: emergency: -5.00% <= -1%"),
)


def test_three_trades_exact_pnl_and_fees() -> None:
    trades = closed_trades(FILLS)
    assert [t.gross for t in trades] == [D(10), D(3), D(-5)]
    assert [t.fees for t in trades] == [D("0.546"), D("1.0998"), D("0.507")]
    assert [t.net for t in trades] == [D("9.454"), D("1.9002"), D("-5.507")]
    assert [t.exits for t in trades] == [("ema_cross",), ("tp1", "trailing"), ("emergency",)]
    assert [t.reason for t in trades] == ["ema_cross", "trailing", "emergency"]


def test_three_trades_equity_drawdown_and_summary() -> None:
    start = D(1000)
    curve = equity_curve(start, TS, CLOSE, FILLS)
    assert curve.equity == (
        D("999.74"), D("1009.454"), D("1008.908"), D("1022.6168"), D("1011.3542"), D("1011.0942"), D("1005.8472"),
    )
    assert curve.held == (True, False, True, True, False, True, False)
    assert max_drawdown(curve.equity) == (D("16.7696"), D("16.7696") / D("1022.6168") * 100)

    fees = FeeSchedule(taker=D("0.0026"), maker=D("0.0016"), spread=D("0.0010"))
    held = buy_and_hold(start, TS, CLOSE, fees, D(5))
    bought = start / D("1.0026") / D("100.100025")  # 100 + half the spread + 5 bps slippage, after the fee
    assert held.equity[0] == bought * 100 and held.equity[-1] == bought * 95
    assert round(held.equity[-1], 4) == D("946.5896")  # 95000 / (1.0026 × 100.100025)
    # Valued when read (the summary reads the last alone), the same whichever way it is read.
    every = tuple(bought * D(str(c)) for c in CLOSE.tolist())
    assert len(held.equity) == 7 and held.equity == every and tuple(held.equity) == every
    assert held.equity[2:5] == every[2:5] and held.equity[-7] == every[0]
    with pytest.raises(IndexError):
        held.equity[7]

    summary = summarize(closed_trades(FILLS), FILLS, curve, held, start)
    assert (summary.trades, summary.wins) == (3, 2)
    assert summary.win_rate_pct == D(2) / 3 * 100
    assert summary.net == D("5.8472") == summary.end_equity - start  # nothing open at the end
    assert summary.gross == D(8) and summary.fees == D("2.1528")
    assert summary.mean_trade == D("5.8472") / 3
    assert summary.median_trade == D("1.9002")
    assert summary.median_trade_pct == D("1.9002") / 210 * 100
    assert summary.mean_trade_pct == (D("9.454") + D("1.9002") / 210 * 100 + D("-5.507")) / 3
    assert summary.exposure_pct == D(4) / 7 * 100
    assert summary.avg_hold_minutes == D(20) / 3  # 5, 10 and 5 minutes
    assert summary.max_drawdown == D("16.7696")
    assert summary.buy_hold_end == bought * 95
    assert summary.exits == {
        "emergency": 1, "stop": 0, "tp1": 1, "tp2": 0, "tp3": 0, "trailing": 1, "ema_cross": 1, "kill_switch": 0,
    }


def test_an_open_position_counts_in_equity_not_in_trades() -> None:
    fills = FILLS[:4]  # the second trade still holds 1 at the end
    assert len(closed_trades(fills)) == 1
    curve = equity_curve(D(1000), TS[:4], CLOSE[:4], fills)
    assert curve.equity[-1] == D("1022.6168") and curve.held[-1]


def test_combined_curve_sums_accounts_on_the_union_of_times() -> None:
    a = equity_curve(D(100), TS[:2], CLOSE[:2], ())
    b = equity_curve(D(50), TS[1:3], CLOSE[1:3], ())
    total = combine_curves([a, b], [D(100), D(50)])
    assert total.ts.tolist() == TS[:3].tolist()
    assert total.equity == (D(150), D(150), D(150))


def test_exit_reason_vocabulary() -> None:
    assert exit_reason("take_profit: take profit 3: price 1 >= 1 (3R)") == "tp3"
    assert exit_reason("stop: price 1 <= stop 2") == "stop"
    assert exit_reason("kill_switch: flatten: drawdown") == "kill_switch"
    assert exit_reason("apex entry score=50 conditions=3") == "entry"


def test_fingerprint_follows_the_trades_not_their_order() -> None:
    trades = closed_trades(FILLS)
    assert fingerprint(trades) == fingerprint(list(reversed(trades)))
    changed = closed_trades((*FILLS[:-1], _fill(6, Side.SELL, "1", "95.01", "0.247", "emergency: x")))
    assert fingerprint(changed) != fingerprint(trades)
