"""A ccxt order answer read as NIJA's `ExecutionReport` with its fills and fees.

Fills: when ccxt parsed the venue's trades into the order (`trades` with ids, amounts and prices:
Binance's full create answer) and nothing of the order is recorded yet, those trades are the
fills. Otherwise (Kraken, Coinbase, OKX order answers carry only running totals, as does Binance's
order lookup) the fill is the increment since what the caller recorded, with a trade id derived
from the client order id and the cumulative quantity (`brokers.fills`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

import ccxt

from nija.brokers.base import MarketDataError, venue_decimal
from nija.brokers.ccxt.venues import Venue
from nija.brokers.fills import increment_fill
from nija.models import (
    BrokerName,
    ExecutionReport,
    Fill,
    Order,
    OrderStatus,
    Side,
    utc_now,
)

__all__ = ["OrderAnswers"]

_STATUS: Final[Mapping[str, OrderStatus]] = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
    # "open" is decided by the filled quantity below
}


class OrderAnswers:
    """Reads one account's ccxt order answers (create, lookup) into execution reports."""

    def __init__(self, broker: BrokerName, account: str, venue: Venue, client: ccxt.Exchange) -> None:
        self.broker = broker
        self.account = account
        self.venue = venue
        self.client = client  # for the venue's currency and market precision

    def report(
        self, client_order_id: str, raw: Mapping[str, Any], recorded: Order | None, side: Side | None
    ) -> ExecutionReport:
        filled = venue_decimal(raw.get("filled") or 0, f"{client_order_id} filled")
        average = raw.get("average")
        if average is None and filled > 0 and raw.get("cost"):
            average = venue_decimal(raw["cost"], "cost") / filled
        base = str(raw.get("symbol") or "/").split("/")[0]
        fee, fee_in_base = Decimal(0), Decimal(0)
        for entry in raw.get("fees") or ([raw["fee"]] if raw.get("fee") else []):
            if not entry or entry.get("cost") is None:
                continue
            cost = venue_decimal(entry["cost"], f"{client_order_id} fee")
            if entry.get("currency") == base and self.venue.base_fee_valued_in_quote:
                # taken in base (Kraken fcib), reported as its quote value: the quote figure stays the fee
                fee_in_base += self._quote_fee_in_base(client_order_id, cost, average, base, str(raw.get("symbol")))
            elif entry.get("currency") == base:  # withheld from the asset bought (Binance), in base units
                fee_in_base += cost
                cost *= venue_decimal(average, "average") if average is not None else Decimal(0)
            fee += cost
        status = _STATUS.get(str(raw.get("status")), None)
        if status is None:  # open or unknown: decided by what filled
            status = OrderStatus.PARTIAL if filled > 0 else OrderStatus.SUBMITTED
        report = ExecutionReport(
            client_order_id=client_order_id, status=status, exchange_order_id=str(raw.get("id")) if raw.get("id") else None,
            filled_qty=filled, avg_price=venue_decimal(average, "average") if average is not None else None, fee=fee,
            fee_in_base=fee_in_base,
        )
        if filled <= (recorded.filled_qty if recorded is not None else 0):
            return report  # nothing new filled (an acknowledgment, a repeated read): no fill to report
        side = side or Side(str(raw.get("side") or "buy").lower())
        symbol = str(raw.get("symbol") or (recorded.request.symbol if recorded is not None else ""))
        fills = self._trades(report, raw, recorded, side, symbol, base)
        if fills is None:
            timestamp = raw.get("lastTradeTimestamp") or raw.get("timestamp")
            venue_time = datetime.fromtimestamp(int(timestamp) / 1000, UTC) if timestamp else None
            fills = increment_fill(report, recorded, broker=self.broker, account=self.account, symbol=symbol, side=side,
                                   venue_time=venue_time)
        return report.model_copy(update={"fills": fills}) if fills else report

    def _quote_fee_in_base(
        self, client_order_id: str, quote_fee: Decimal, average: Any, base: str, symbol: str
    ) -> Decimal:
        """A fee the venue took in the base asset but reports in quote, back in base units: quote
        fee / average price, to the precision the venue books the base asset in (its currency
        precision, else the market's amount step). Exact only as far as the reported quote fee is:
        Kraken rounds it, so the base amount really taken (its ledger) can differ in the last places."""
        if quote_fee == 0:
            return Decimal(0)
        price = venue_decimal(average, f"{client_order_id} average") if average is not None else Decimal(0)
        if price <= 0:
            raise MarketDataError(f"{self.broker}: order {client_order_id} has a fee in {base} but no average price")
        step = (self.client.currencies or {}).get(base, {}).get("precision")
        if step is None:
            step = ((self.client.markets or {}).get(symbol, {}).get("precision") or {}).get("amount")
        in_base = quote_fee / price
        if step is None:
            return in_base
        return in_base.quantize(venue_decimal(step, f"{base} precision"), rounding=ROUND_HALF_EVEN)

    def _trades(
        self, report: ExecutionReport, raw: Mapping[str, Any], recorded: Order | None, side: Side, symbol: str, base: str
    ) -> tuple[Fill, ...] | None:
        """The venue's own trades as fills, when the answer carries all of them (oldest first);
        else None. Trades already recorded are the oldest ones whose amounts add up to what is
        recorded, and are left out; when no such prefix exists, the recorded fills were derived
        from totals and the trades could overlap them: None (the fill comes from totals)."""
        trades = raw.get("trades") or []
        if not trades or any(t.get("id") is None or t.get("amount") is None or t.get("price") is None for t in trades):
            return None
        amounts = [venue_decimal(t["amount"], f"{report.client_order_id} trade amount") for t in trades]
        if sum(amounts, Decimal(0)) != report.filled_qty:
            return None
        known, running = 0, Decimal(0)
        recorded_qty = recorded.filled_qty if recorded is not None else Decimal(0)
        while running < recorded_qty and known < len(amounts):
            running, known = running + amounts[known], known + 1
        if running != recorded_qty:
            return None
        seen = utc_now()
        fills = []
        for trade, qty in zip(trades[known:], amounts[known:]):
            price = venue_decimal(trade["price"], f"{report.client_order_id} trade price")
            fee_entry = trade.get("fee") or {}
            fee = venue_decimal(fee_entry["cost"], "trade fee") if fee_entry.get("cost") is not None else Decimal(0)
            fee_in_base = Decimal(0)
            if fee_entry.get("currency") == base:
                fee_in_base, fee = fee, fee * price
            timestamp = trade.get("timestamp")
            fills.append(Fill(
                broker=self.broker, account=self.account, symbol=symbol, side=side, trade_id=str(trade["id"]),
                client_order_id=report.client_order_id, qty=qty, price=price, fee=fee, fee_in_base=fee_in_base,
                fee_currency=fee_entry.get("currency"),
                ts_exchange=datetime.fromtimestamp(int(timestamp) / 1000, UTC) if timestamp else seen, ts_seen=seen,
            ))
        return tuple(fills)
