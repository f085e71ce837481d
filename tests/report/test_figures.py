"""The report's arithmetic on constructed fills: exact Decimal P&L and fees, fee in quote and in
the base asset, the window split, drawdown, percentiles — and agreement with the positions
execution stores."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from nija.execution.positions import apply_fills
from nija.holdings import TransferSeen
from nija.models import Fill
from nija.report.figures import AccountTotals, Mark, fold_fills, max_drawdown, percentile, settle
from nija.store import TAPE_SEP, EquityPoint, FillTape
from tests.report.builders import KRAKEN, T0, fill


def _tape(f: Fill, since: str | None) -> FillTape:
    # A fill as the store's tape carries it: stored text, fee in base None when 0.
    return (TAPE_SEP.join((f.broker, f.account, f.symbol)), int(f.side == "buy"), str(f.qty), str(f.price), str(f.fee),
            str(f.fee_in_base) if f.fee_in_base else None, int(since is None or f.ts_exchange.isoformat() >= since),
            f.ts_exchange.isoformat())


def _fold(fills: list[Fill], since: str | None = None) -> AccountTotals:
    return fold_fills([[_tape(f, since) for f in fills]])[0][(KRAKEN, fills[0].account)]


def test_fee_in_quote_comes_off_realised_pnl_exactly() -> None:
    fills = [
        fill("m", "buy", "1", "100", "t1", T0, fee="0.1"),
        fill("m", "sell", "1", "110", "t2", T0 + timedelta(hours=1), fee="0.11"),
    ]
    acct = _fold(fills)
    assert acct.realised == Decimal("9.79")  # 110 - 100 - 0.1 - 0.11
    assert acct.fees == Decimal("0.21")
    assert acct.fees_in_base == 0
    assert (acct.fills, acct.closed, acct.wins) == (2, 1, 1)
    assert acct.bought == Decimal(100) and acct.sold == Decimal(110)


def test_fee_in_base_is_in_the_cost_basis_and_leaves_with_a_sell() -> None:
    fills = [
        # 1.01 bought, 0.01 withheld as the fee: 1 received for 101, entry 101.
        fill("m", "buy", "1.01", "100", "t1", T0, fee="1", fee_in_base="0.01"),
        # 0.5 sold and 0.01 more charged in base: 0.51 leaves at cost 101 each.
        fill("m", "sell", "0.5", "110", "t2", T0 + timedelta(hours=1), fee="1.1", fee_in_base="0.01"),
    ]
    acct = _fold(fills)
    assert acct.realised == Decimal("3.49")  # 0.5 * 110 - 0.51 * 101
    assert acct.fees == Decimal("2.1")
    assert acct.fees_in_base == Decimal("2.1")  # both fees were taken in base (valued in quote)
    book = acct.books["BTC/USD"]
    assert (book.qty, book.entry) == (Decimal("0.49"), Decimal(101))
    settle(acct, KRAKEN, {}, {(KRAKEN, "BTC/USD"): Mark(Decimal(120), "last fill", None)})
    assert acct.unrealised_end == Decimal("9.31")  # 0.49 * (120 - 101)
    assert acct.net == Decimal("12.80")


def test_fold_agrees_with_the_positions_execution_stores() -> None:
    fills = [
        fill("m", "buy", "0.3", "101.7", "t1", T0, fee="0.0793"),
        fill("m", "buy", "0.7", "99.13", "t2", T0 + timedelta(minutes=1), fee="0.18", fee_in_base="0.0017"),
        fill("m", "sell", "0.4", "104.2", "t3", T0 + timedelta(minutes=2), fee="0.108"),
        fill("m", "sell", "0.2", "97.5", "t4", T0 + timedelta(minutes=3), fee="0.05", fee_in_base="0.0005"),
    ]
    acct = _fold(fills)
    position = apply_fills(None, fills)
    assert position is not None
    assert acct.realised == position.realised_pnl
    assert acct.books["BTC/USD"].qty == position.qty
    assert acct.books["BTC/USD"].entry == position.entry_price
    assert acct.fees == position.fees
    assert (acct.closed, acct.wins) == (2, 1)


def test_a_window_counts_only_its_fills_and_values_what_it_inherited() -> None:
    fills = [
        fill("m", "buy", "2", "100", "t1", T0, fee="0.2"),
        fill("m", "sell", "1", "130", "t2", T0 + timedelta(days=2), fee="0.13"),
    ]
    since = (T0 + timedelta(days=1)).isoformat()
    acct = _fold(fills, since)
    assert acct.realised_before == Decimal("-0.2")  # the buy's quote fee, before the window
    assert acct.realised == Decimal("29.87")  # 130 - 100 - 0.13
    settle(acct, KRAKEN, {(KRAKEN, "BTC/USD"): Mark(Decimal(110), "last fill", None)},
           {(KRAKEN, "BTC/USD"): Mark(Decimal(130), "last fill", None)})
    assert acct.unrealised_start == Decimal(20)  # 2 held at 110, bought at 100
    assert acct.unrealised_end == Decimal(30)  # 1 held at 130
    assert acct.net == Decimal("39.87")  # 29.87 + 30 - 20
    assert acct.value_start == Decimal(220) and acct.value_end == Decimal(130)
    assert acct.cumulative_end == Decimal("59.67")  # -0.2 + 29.87 + 30


def test_max_drawdown_is_the_deepest_fall_from_a_peak() -> None:
    values = ["100", "120", "90", "110", "130", "117"]
    points = [EquityPoint(T0 + timedelta(hours=i), Decimal(v)) for i, v in enumerate(values)]
    drawdown = max_drawdown(points)
    assert drawdown is not None
    assert drawdown.amount == Decimal(30) and drawdown.pct == Decimal(25)
    assert max_drawdown([]) is None


def test_a_withdrawal_or_deposit_is_no_drawdown_in_the_report() -> None:
    # 1000 → 950 (−5 %), then 475 withdrawn (seen at hour 2, equity 475), then 451.25 (−5 % more).
    values = ["1000", "950", "475", "451.25"]
    points = [EquityPoint(T0 + timedelta(hours=i), Decimal(v)) for i, v in enumerate(values)]
    assert max_drawdown(points).pct == Decimal("54.875")  # type: ignore[union-attr]  # as plain equity
    withdrawal = TransferSeen(Decimal(-475), Decimal(475), T0 + timedelta(hours=2))
    drawdown = max_drawdown(points, [withdrawal])
    assert drawdown is not None and drawdown.pct == Decimal("9.75")  # 1 − 0.95 × 0.95, in today's money
    assert drawdown.amount == Decimal("48.75")  # from the peak scaled to 500
    deposit = TransferSeen(Decimal(1000), Decimal(1950), T0 + timedelta(hours=2))
    rising = [EquityPoint(T0 + timedelta(hours=i), Decimal(v)) for i, v in enumerate(["1000", "950", "1950", "1900"])]
    # 1 − 0.95 × 1900 / 1950: the deposit neither hides the first 5 % nor dilutes the next fall.
    assert max_drawdown(rising, [deposit]).pct.quantize(Decimal("0.01")) == Decimal("7.44")  # type: ignore[union-attr]


def test_percentile_is_nearest_rank() -> None:
    assert percentile([300.0, 100.0, 200.0, 400.0], 50) == 200.0
    assert percentile([300.0, 100.0, 200.0, 400.0], 95) == 400.0
    assert percentile([], 50) is None
