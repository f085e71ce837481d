"""Position accounting from fills, exact to the last digit: quantity, average entry (cost basis),
realised P&L and fees, with fees in the quote or in the base asset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from nija.execution.positions import DUST_SHARE, apply_fills, held_change
from nija.models import BrokerName, Fill, Position, Side

T0 = datetime(2026, 1, 1, tzinfo=UTC)
D = Decimal


def _fill(side: Side, qty: str, price: str, fee: str = "0", fee_in_base: str = "0", n: int = 1) -> Fill:
    return Fill(
        broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", side=side, trade_id=f"t{n}",
        client_order_id=f"nj{n}", qty=D(qty), price=D(price), fee=D(fee), fee_in_base=D(fee_in_base),
        ts_exchange=T0 + timedelta(minutes=n), ts_seen=T0 + timedelta(minutes=n, seconds=1),
    )


def _buy(qty: str, price: str, fee: str = "0", fee_in_base: str = "0", n: int = 1) -> Fill:
    return _fill(Side.BUY, qty, price, fee, fee_in_base, n)


def _sell(qty: str, price: str, fee: str = "0", fee_in_base: str = "0", n: int = 2) -> Fill:
    return _fill(Side.SELL, qty, price, fee, fee_in_base, n)


def _held(qty: str, entry: str, pnl: str = "0", fees: str = "0") -> Position:
    return Position(
        broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", qty=D(qty), entry_price=D(entry),
        opened_at=T0, realised_pnl=D(pnl), fees=D(fees),
    )


def test_a_buy_opens_a_position_at_its_price_with_its_quote_fee_paid() -> None:
    position = apply_fills(None, [_buy("0.5", "60000", fee="7.8")])
    assert position == Position(
        broker=BrokerName.KRAKEN, account="master", symbol="BTC/USD", qty=D("0.5"), entry_price=D("60000"),
        opened_at=T0 + timedelta(minutes=1), realised_pnl=D("-7.8"), fees=D("7.8"),
    )  # opened at the venue's time of the fill


def test_no_fills_change_nothing() -> None:
    assert apply_fills(None, []) is None
    assert apply_fills(_held("1", "100"), []) == _held("1", "100")


def test_adding_averages_the_entry() -> None:
    position = apply_fills(None, [_buy("1", "100", fee="0.1", n=1), _buy("3", "200", fee="0.6", n=2)])
    assert (position.qty, position.entry_price) == (D("4"), D("175"))  # (100 + 600) / 4
    assert (position.realised_pnl, position.fees) == (D("-0.7"), D("0.7"))
    assert position.opened_at == T0 + timedelta(minutes=1)  # the first fill opened it


def test_a_partial_sell_realises_pnl_against_the_average_entry() -> None:
    position = apply_fills(_held("4", "175", pnl="-0.7", fees="0.7"), [_sell("1", "200", fee="0.2")])
    assert position == _held("3", "175", pnl="24.1", fees="0.9")  # -0.7 + (200 - 175) - 0.2
    loss = apply_fills(position, [_sell("1", "150", fee="0.15", n=3)])
    assert loss == _held("2", "175", pnl="-1.05", fees="1.05")  # 24.1 + (150 - 175) - 0.15


def test_a_full_sell_closes_the_position() -> None:
    assert apply_fills(_held("3", "175"), [_sell("3", "200")]) is None
    assert apply_fills(_held("3", "175"), [_sell("1", "200", n=2), _sell("2", "210", n=3)]) is None


def test_a_base_fee_on_a_buy_is_not_held_and_raises_the_cost_basis() -> None:
    # Binance-style: 1 BTC bought at 50000, the 0.001 BTC commission withheld from it.
    fill = _buy("1", "50000", fee="50", fee_in_base="0.001")
    assert held_change(fill) == D("0.999")
    position = apply_fills(None, [fill])
    assert position.qty == D("0.999")
    assert position.entry_price == D("50000") / D("0.999")  # quote paid / base received
    assert position.entry_price * position.qty == D("50000")  # the whole quote paid is in the basis
    assert (position.realised_pnl, position.fees) == (D(0), D("50"))  # not charged twice: it is in the basis


def test_a_base_fee_on_a_sell_leaves_the_account_too() -> None:
    # Kraken `fcib`-style: 0.25 of 0.5 BTC sold at 50000, the fee of 0.00025 BTC taken in BTC as well.
    fill = _sell("0.25", "50000", fee="12.5", fee_in_base="0.00025")
    assert held_change(fill) == D("-0.25025")
    position = apply_fills(_held("0.5", "40000"), [fill])
    assert position.qty == D("0.24975")
    assert position.entry_price == D("40000")
    # proceeds of 0.25 minus the basis of the 0.25025 that left: 12500 - 10010
    assert (position.realised_pnl, position.fees) == (D("2490"), D("12.5"))


def test_a_fee_partly_in_base_charges_only_its_quote_part_to_pnl() -> None:
    position = apply_fills(None, [_buy("1", "100", fee="0.3", fee_in_base="0.001")])  # 0.1 of it in base
    assert position.qty == D("0.999")
    assert (position.realised_pnl, position.fees) == (D("-0.2"), D("0.3"))


def test_a_sell_larger_than_the_position_closes_it() -> None:
    assert apply_fills(_held("0.5", "40000"), [_sell("2", "50000")]) is None
    # its base fee pushes the removal past what is held: closed as well
    assert apply_fills(_held("0.5", "40000"), [_sell("0.5", "50000", fee="25", fee_in_base="0.0005")]) is None


def test_a_dust_share_left_closes_the_position() -> None:
    residue = D("1") * DUST_SHARE
    assert apply_fills(_held("1", "100"), [_sell(str(D("1") - residue), "110")]) is None
    kept = apply_fills(_held("1", "100"), [_sell(str(D("1") - residue * 2), "110")])
    assert kept is not None and kept.qty == residue * 2


def test_a_sell_with_no_position_moves_nothing() -> None:
    assert apply_fills(None, [_sell("1", "100")]) is None
    # then a buy opens from scratch
    assert apply_fills(None, [_sell("1", "100", n=1), _buy("2", "90", n=2)]).qty == D("2")


def test_a_buy_whose_base_fee_eats_it_whole_moves_nothing() -> None:
    assert apply_fills(None, [_buy("0.001", "100", fee="0.1", fee_in_base="0.001")]) is None
    assert apply_fills(_held("1", "100"), [_buy("0.001", "100", fee="0.1", fee_in_base="0.001")]) == _held("1", "100")
