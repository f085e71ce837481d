"""Store rows as the daemon writes them, for the notification tests."""

from __future__ import annotations

from decimal import Decimal

from nija.models import (
    BrokerName,
    ExecutionReport,
    Fill,
    OrderRequest,
    OrderStatus,
    QuantityUnit,
    Side,
    TradeSignal,
    utc_now,
)
from nija.store import Recording, Store

KRAKEN = BrokerName.KRAKEN


def master_fill(store: Store, n: int) -> TradeSignal:
    """A filled master buy of 0.01 BTC at 65000 with its copy signal, as execution records it."""
    cid = f"nj{n:016d}"
    store.insert_orders([OrderRequest(
        broker=KRAKEN, account="master", symbol="BTC/USD", side=Side.BUY, quantity=Decimal("650"),
        unit=QuantityUnit.QUOTE, client_order_id=cid,
    )])
    now = utc_now()
    fill = Fill(
        broker=KRAKEN, account="master", symbol="BTC/USD", side=Side.BUY, trade_id=f"t{n}", client_order_id=cid,
        qty=Decimal("0.0100"), price=Decimal("65000"), fee=Decimal("1.69"), fee_currency="USD", ts_exchange=now,
        ts_seen=now,
    )
    signal = TradeSignal.from_fill(fill, Decimal("10000"), Decimal("0"))
    store.record(Recording(
        reports=[ExecutionReport(client_order_id=cid, status=OrderStatus.FILLED, filled_qty=fill.qty,
                                 avg_price=fill.price, fee=fill.fee)],
        fills=[fill], signals=[signal],
    ))
    return signal
