"""Pure reading of Alpaca's order and asset answers: no I/O, no clock.

`parse_order` turns the raw JSON of an order answer into alpaca-py's `Order` model plus the
order's `commission`, which the model drops (it ignores fields it does not declare). Alpaca
shows the commission it will charge on every order answer, filled or not (alpaca-py's fixtures:
an `accepted` order with `"commission": 1.25`); it is charged when the order executes, so the
fee reported is the commission once anything has filled and 0 before.

`asset_rules` reads the asset flags: `fractionable` (notional and fractional-qty orders are
allowed, Alpaca's "fractional shares" docs), `tradable` with `status` (Alpaca's assets FAQ: an
active asset that is not tradable takes closing orders only; an inactive one takes none), and
`min_order_size` / `min_trade_increment` / `price_increment` where the asset carries them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any, Final

from alpaca.trading.enums import AssetStatus
from alpaca.trading.models import Asset
from alpaca.trading.models import Order as AlpacaOrder

from nija.brokers.base import MarketDataError, venue_decimal

__all__ = [
    "DEFAULT_PRICE_STEP",
    "FRACTIONAL_STEP",
    "MIN_NOTIONAL_USD",
    "NOTIONAL_STEP",
    "WHOLE_SHARE",
    "AssetRules",
    "OrderAnswer",
    "asset_rules",
    "parse_order",
    "whole_shares_for",
]

MIN_NOTIONAL_USD: Final = Decimal("1")  # Alpaca: "cost basis must be >= 1"
NOTIONAL_STEP: Final = Decimal("0.01")  # notional is accepted with at most 2 decimals
FRACTIONAL_STEP: Final = Decimal("1e-9")  # fractional qty: at most 9 decimals
WHOLE_SHARE: Final = Decimal("1")
DEFAULT_PRICE_STEP: Final = Decimal("0.01")
_ZERO: Final = Decimal(0)


@dataclass(frozen=True)
class OrderAnswer:
    """One order answer: alpaca-py's model and the commission it drops (USD, 0 when absent)."""

    order: AlpacaOrder
    commission: Decimal

    def fee(self, filled_qty: Decimal) -> Decimal:
        """The fee charged so far: the commission once anything filled (it is charged on execution)."""
        return self.commission if filled_qty > 0 else _ZERO


def parse_order(raw: Any) -> OrderAnswer:
    """Read an order answer's raw JSON; a malformed one raises (ValueError/TypeError or MarketDataError)."""
    if not isinstance(raw, dict):
        raise MarketDataError(f"order answer is not a JSON object, was {type(raw).__name__}")
    order = AlpacaOrder(**raw)
    commission = raw.get("commission")
    fee = _ZERO if commission is None else venue_decimal(commission, f"{order.client_order_id} commission")
    if fee < 0:
        raise MarketDataError(f"{order.client_order_id} commission must not be negative, was {fee}")
    return OrderAnswer(order, fee)


@dataclass(frozen=True)
class AssetRules:
    """What orders an asset takes, from its flags.

    `opening_refusal` / `closing_refusal` say why a buy / a sell is refused ("" when allowed).
    `amount_step` is the quantity grid (whole shares unless fractionable), `min_amount` the
    smallest quantity.
    """

    symbol: str
    fractionable: bool
    amount_step: Decimal
    min_amount: Decimal
    price_step: Decimal
    opening_refusal: str
    closing_refusal: str


def _optional(value: float | None, what: str) -> Decimal | None:
    # alpaca-py keeps these as floats; str() gives back the venue's short decimal text
    if value is None:
        return None
    number = venue_decimal(value, what)
    return number if number > 0 else None


def asset_rules(asset: Asset) -> AssetRules:
    """The order rules of one asset answer (GET /v2/assets/{symbol})."""
    symbol = asset.symbol
    step = FRACTIONAL_STEP if asset.fractionable else WHOLE_SHARE
    increment = _optional(asset.min_trade_increment, f"{symbol} min_trade_increment")
    if increment is not None:
        step = increment if asset.fractionable else max(increment, WHOLE_SHARE)
    minimum = _optional(asset.min_order_size, f"{symbol} min_order_size")
    min_amount = max(minimum, step) if minimum is not None else step
    price_step = _optional(asset.price_increment, f"{symbol} price_increment") or DEFAULT_PRICE_STEP
    status = str(getattr(asset.status, "value", asset.status))
    closing = "" if asset.status == AssetStatus.ACTIVE else f"{symbol} is {status} at Alpaca: no orders"
    opening = closing or ("" if asset.tradable else f"{symbol} is not tradable at Alpaca: closing orders only")
    return AssetRules(symbol, bool(asset.fractionable), step, min_amount, price_step, opening, closing)


def whole_shares_for(quote_amount: Decimal, ask: Decimal) -> Decimal:
    """The whole shares `quote_amount` pays for at `ask`, rounded down: their cost never exceeds it."""
    if ask <= 0:
        raise MarketDataError(f"ask must be positive, was {ask}")
    return (quote_amount / ask).to_integral_value(rounding=ROUND_DOWN)
