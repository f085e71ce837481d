"""Copy quality on constructed figures: slippage (adverse positive), latency, nearest-rank
percentiles, drift from the scaled master, and the ledger entry that carries them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from nija.copytrade.ledger import entry_for_order
from nija.copytrade.telemetry import Drift, drift, latency_ms, percentile, slippage_bps
from nija.models import (
    BrokerName,
    CopyStatus,
    Order,
    OrderRequest,
    OrderStatus,
    QuantityUnit,
    Side,
    TradeSignal,
)

FILL_TIME = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("side", "master", "fill", "bps"), [
    (Side.BUY, "100", "100.5", "50"),  # paid more than the master: adverse
    (Side.BUY, "100", "99.9", "-10"),  # paid less: favourable
    (Side.SELL, "100", "99.8", "20"),  # received less than the master: adverse
    (Side.SELL, "100", "100.25", "-25"),  # received more: favourable
    (Side.BUY, "50000", "50000", "0"),
    (Side.BUY, "50000", "50012.5", "2.5"),
    (Side.SELL, "0.0004", "0.00039999", "0.25"),
])
def test_slippage_is_in_basis_points_of_the_masters_price_adverse_positive(
    side: Side, master: str, fill: str, bps: str
) -> None:
    assert slippage_bps(side, Decimal(master), Decimal(fill)) == Decimal(bps)


def test_slippage_against_no_master_price_is_refused() -> None:
    with pytest.raises(ValueError, match="master price must be > 0, was 0"):
        slippage_bps(Side.BUY, Decimal(0), Decimal("100"))


def test_latency_is_milliseconds_to_a_tenth() -> None:
    assert latency_ms(FILL_TIME, FILL_TIME + timedelta(seconds=1, microseconds=250_040)) == 1250.0
    assert latency_ms(FILL_TIME, FILL_TIME + timedelta(microseconds=1_560)) == 1.6
    assert latency_ms(FILL_TIME, FILL_TIME + timedelta(minutes=2)) == 120_000.0
    assert latency_ms(FILL_TIME, FILL_TIME - timedelta(milliseconds=3)) == -3.0  # clocks can disagree


def test_percentile_is_the_nearest_rank() -> None:
    assert percentile([40.0, 10.0, 30.0, 20.0], 50) == 20.0  # rank ceil(2) = 2
    assert percentile([40.0, 10.0, 30.0, 20.0], 95) == 40.0  # rank ceil(3.8) = 4
    assert percentile([40.0, 10.0, 30.0, 20.0], 0) == 10.0
    assert percentile([7.5], 95) == 7.5
    hundred = [float(v) for v in range(100, 0, -1)]
    assert (percentile(hundred, 50), percentile(hundred, 95), percentile(hundred, 100)) == (50.0, 95.0, 100.0)
    five = [Decimal("1.5"), Decimal("-2"), Decimal("3"), Decimal("0"), Decimal("9")]
    assert (percentile(five, 50), percentile(five, 95)) == (Decimal("1.5"), Decimal("9"))  # ranks 3 and 5
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="within 0..100, was 101"):
        percentile([1.0], 101)


def test_drift_is_measured_against_the_master_scaled_like_an_entry() -> None:
    # expected = 0.01 BTC × 1000 / 10000 × 1.5 = 0.0015; copied 0.0012 is 20 % short
    assert drift(Decimal("0.0012"), Decimal("0.01"), Decimal("1000"), Decimal("10000"), Decimal("1.5"), Decimal("5")) == Drift(
        copied_qty=Decimal("0.0012"), expected_qty=Decimal("0.0015"), drift_pct=Decimal("-20"), beyond=True, master_flat=False)
    inside = drift(Decimal("0.00105"), Decimal("0.01"), Decimal("1000"), Decimal("10000"), Decimal("1"), Decimal("5"))
    assert (inside.expected_qty, inside.drift_pct, inside.beyond) == (Decimal("0.001"), Decimal("5"), False)  # 5 is not beyond 5
    over = drift(Decimal("0.00106"), Decimal("0.01"), Decimal("1000"), Decimal("10000"), Decimal("1"), Decimal("5"))
    assert (over.drift_pct, over.beyond) == (Decimal("6"), True)


def test_a_copy_held_while_the_master_is_flat_is_its_own_case() -> None:
    flat = drift(Decimal("0.002"), Decimal("0"), Decimal("1000"), Decimal("10000"), Decimal("1"), Decimal("50"))
    assert flat == Drift(copied_qty=Decimal("0.002"), expected_qty=Decimal("0"), drift_pct=None, beyond=True, master_flat=True)
    both_flat = drift(Decimal("0"), Decimal("0"), Decimal("1000"), Decimal("10000"), Decimal("1"), Decimal("5"))
    assert (both_flat.drift_pct, both_flat.beyond, both_flat.master_flat) == (Decimal(0), False, True)
    # the master holds, but the follower's scale is zero: beyond, yet not the convergence case
    zero_scale = drift(Decimal("0.002"), Decimal("0.01"), Decimal("1000"), Decimal("10000"), Decimal("0"), Decimal("5"))
    assert (zero_scale.drift_pct, zero_scale.beyond, zero_scale.master_flat) == (None, True, False)


def test_drift_refuses_what_cannot_be_scaled() -> None:
    with pytest.raises(ValueError, match="master equity must be > 0, was 0"):
        drift(Decimal("1"), Decimal("1"), Decimal("1000"), Decimal("0"), Decimal("1"), Decimal("5"))
    with pytest.raises(ValueError, match="copied_qty must be >= 0, was -1"):
        drift(Decimal("-1"), Decimal("1"), Decimal("1000"), Decimal("10000"), Decimal("1"), Decimal("5"))


def _signal(side: Side, price: str) -> TradeSignal:
    return TradeSignal(
        signal_id="s1", broker=BrokerName.KRAKEN, master_account="master", symbol="BTC/USD", side=side,
        qty=Decimal("0.01"), price=Decimal(price), quote_value=Decimal("0.01") * Decimal(price),
        master_equity=Decimal("10000"), master_position_before=Decimal("0.01") if side is Side.SELL else Decimal(0),
        fill_time=FILL_TIME, trade_id="t1",
    )


def _order(side: Side, status: OrderStatus, filled: str = "0", avg: str | None = None, after_ms: int = 0) -> Order:
    unit = QuantityUnit.QUOTE if side is Side.BUY else QuantityUnit.BASE
    request = OrderRequest(broker=BrokerName.KRAKEN, account="alice", symbol="BTC/USD", side=side,
                           quantity=Decimal("50") if side is Side.BUY else Decimal("0.001"), unit=unit,
                           client_order_id="nj-alice")
    return Order(request=request, status=status, filled_qty=Decimal(filled), avg_price=Decimal(avg) if avg else None,
                 fee=Decimal("0.13") if avg else Decimal(0), created_at=FILL_TIME,
                 updated_at=FILL_TIME + timedelta(milliseconds=after_ms))


def test_the_ledger_entry_of_an_acknowledged_fill_carries_every_figure() -> None:
    order = _order(Side.BUY, OrderStatus.FILLED, "0.000999", "50050", after_ms=842)
    entry = entry_for_order("s1", "alice", order, True, asked=True, signal=_signal(Side.BUY, "50000"),
                            latency_ms=120.5, user_equity=Decimal("1000"))
    assert (entry.status, entry.master_price, entry.price, entry.fee) == (
        CopyStatus.FILLED, Decimal("50000"), Decimal("50050"), Decimal("0.13"))
    assert (entry.ack_latency_ms, entry.fill_latency_ms, entry.slippage_bps) == (120.5, 842.0, Decimal("10"))
    assert entry.latency_ms == 120.5  # the older column keeps the acknowledgment's latency


def test_an_acknowledged_order_not_filled_yet_has_no_fill_figures() -> None:
    entry = entry_for_order("s1", "alice", _order(Side.SELL, OrderStatus.SUBMITTED), True, asked=True,
                            signal=_signal(Side.SELL, "50000"), latency_ms=95.0)
    assert (entry.status, entry.master_price, entry.ack_latency_ms) == (CopyStatus.SENT, Decimal("50000"), 95.0)
    assert (entry.fill_latency_ms, entry.slippage_bps, entry.price) == (None, None, None)


def test_a_fill_read_later_has_its_fill_latency_and_slippage_but_no_acknowledgment() -> None:
    order = _order(Side.SELL, OrderStatus.FILLED, "0.001", "49900", after_ms=3_500)
    entry = entry_for_order("s1", "alice", order, True, signal=_signal(Side.SELL, "50000"))
    assert (entry.ack_latency_ms, entry.fill_latency_ms, entry.slippage_bps) == (None, 3500.0, Decimal("20"))
    assert entry.latency_ms == 3500.0  # as before: the fill's latency when no acknowledgment's is given


def test_a_refused_or_ambiguous_send_has_no_acknowledgment_latency() -> None:
    for status in (OrderStatus.REJECTED, OrderStatus.UNKNOWN):
        entry = entry_for_order("s1", "alice", _order(Side.BUY, status), True, asked=True,
                                signal=_signal(Side.BUY, "50000"), latency_ms=80.0)
        assert (entry.ack_latency_ms, entry.fill_latency_ms, entry.slippage_bps) == (None, None, None)
    bare = entry_for_order("s1", "alice", _order(Side.BUY, OrderStatus.FILLED, "0.001", "50000"), True)
    assert (bare.master_price, bare.fill_latency_ms, bare.slippage_bps, bare.latency_ms) == (None, None, None, None)
