"""Deposits and withdrawals told apart from trading, so that the kill switch measures trading only:
money moved out is not a loss, and money moved in does not hide one.

Between two balance reads an account's equity moves by three things: prices, trades and
transfers. A price move leaves every quantity as it was. A trade swaps one asset for another at
about its price, so it hardly moves equity (by its fee and slippage). A transfer changes a
quantity with nothing in return. So the value of every quantity change, at the second read's
prices, minus the changes NIJA's own fills made (their fee and slippage are trading), is what was
moved in (+) or out (-): `transfer_value`. The user's own trades on the account come out near 0,
as they should: they are neither NIJA's trading nor a transfer.

`TransferWatch` keeps, per account, the holdings the last read valued and the last fill that
read showed, and answers each new read with the value transferred since, and the holdings to save
with what the transfer changed (a master's kill-switch marks, a follower's high-water mark) in one
transaction. A save that fails is followed by `forget`: the next read is measured against the
holdings the store still has, as the marks it still has were.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Final

from nija.brokers.base import Broker
from nija.execution.positions import held_change, quote_fee
from nija.holdings import ValuedAsset, ValuedHoldings, quantities_of
from nija.models import BalanceSnapshot, Fill, Side
from nija.store import Store

__all__ = ["TRANSFER_NOISE", "TransferWatch", "traded_quantities", "transfer_value"]

# Below this share of equity a "transfer" is taken as rounding between what the fills say and
# what the venue's balances show, not as money moved (0.01 %: $0.10 of $1,000).
TRANSFER_NOISE: Final = Decimal("0.0001")
_ZERO: Final = Decimal(0)
_STOCK_QUOTE: Final = "USD"  # a symbol without a quote (an Alpaca stock) trades against dollars


def traded_quantities(fills: Iterable[Fill], settled_in: str | None = None) -> dict[str, Decimal]:
    """How much of each asset `fills` added (+) or removed (-): the base moves as positions count
    it (`held_change`, fees taken in base included); the quote by the notional and the rest of the
    fee (valued in quote; one paid in a third asset then shows as that asset's move and is offset).
    `settled_in`: the one asset every quote is paid in (a broker that `settles_in_cash`), else
    each symbol's own quote."""
    moved: dict[str, Decimal] = {}
    for fill in fills:
        base, _, quote = fill.symbol.partition("/")
        paid_in = settled_in or quote or _STOCK_QUOTE
        notional = fill.qty * fill.price
        cash = (notional if fill.side is Side.SELL else -notional) - quote_fee(fill)
        moved[base] = moved.get(base, _ZERO) + held_change(fill)
        moved[paid_in] = moved.get(paid_in, _ZERO) + cash
    return moved


def transfer_value(
    before: Iterable[ValuedAsset], after: Iterable[ValuedAsset],
    traded: Mapping[str, Decimal],
) -> Decimal:
    """The value moved into (+) or out of (-) an account between two reads of its valued assets
    (asset, quantity, price), other than by prices and by the `traded` quantities: each quantity
    change not traded, at its price in `after` (an asset gone since, at its price in `before`)."""
    held = {asset: (qty, price) for asset, qty, price in before}
    now = {asset: (qty, price) for asset, qty, price in after}
    value = _ZERO
    for asset in held.keys() | now.keys():
        qty_before, price_before = held.get(asset, (_ZERO, _ZERO))
        qty_after, price_after = now.get(asset, (_ZERO, price_before))
        moved = qty_after - qty_before - traded.get(asset, _ZERO)
        if moved:
            value += moved * price_after
    return value


class TransferWatch:
    """One account's transfers, read by read (`observe`). Used by the account's one writer (a
    master's loop, a follower's lock holder)."""

    def __init__(self, store: Store, broker: Broker, account: str) -> None:
        """`account` on `broker` (a master's or a follower's client); its fills settle in the
        broker's cash when it `settles_in_cash` (see `traded_quantities`)."""
        self._store, self._broker, self._account = store, broker.name, account
        self._settled_in = broker.cash_currency if broker.settles_in_cash else None
        self._last: ValuedHoldings | None = None
        self._last_quantities: dict[str, Decimal] = {}  # `_last.quantities()`, kept: asked every read
        self._loaded = False

    def observe(self, snapshot: BalanceSnapshot) -> tuple[Decimal, ValuedHoldings | None]:
        """The value transferred since the last read (0 on the first, or below the noise), and the
        holdings to save with what it changes (None: the last ones still hold)."""
        if not snapshot.assets:
            return _ZERO, None  # the venue does not break its equity down
        if not self._loaded:
            self._last = self._store.valued_holdings(self._broker, self._account)
            self._last_quantities = self._last.quantities() if self._last is not None else {}
            self._loaded = True
        last = self._last
        quantities = quantities_of(snapshot.assets)
        if last is None:
            value = _ZERO
            # Every fill recorded so far is in this read's balances: the next read counts the later ones.
            holdings = ValuedHoldings(snapshot.assets, self._store.last_fill_rowid())
        elif quantities == self._last_quantities:
            # Nothing moved but prices: no fill of ours, no transfer (a fill and a transfer that
            # cancel out to the unit are both nothing to the equity).
            return _ZERO, None
        else:
            fills, fills_seen = self._store.fills_after(self._broker, self._account, last.fills_seen)
            value = transfer_value(last.assets, snapshot.assets, traded_quantities(fills, self._settled_in))
            if abs(value) <= snapshot.total_equity * TRANSFER_NOISE:
                value = _ZERO
            holdings = ValuedHoldings(snapshot.assets, fills_seen)
        self._last, self._last_quantities = holdings, quantities
        return value, holdings

    def forget(self) -> None:
        """What `observe` returned was not saved: measure the next read against the store's."""
        self._loaded = False
