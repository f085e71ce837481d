"""An account's holdings as a balance read valued them, and the transfers seen between two reads:
plain values the store keeps and the broker loops, the copy engine, the notifier and the report
read (`execution.transfers` computes them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

__all__ = ["TransferSeen", "ValuedAsset", "ValuedHoldings", "quantities_of"]


ValuedAsset = tuple[str, Decimal, Decimal]  # (asset, quantity, price), as in `BalanceSnapshot.assets`


def quantities_of(assets: Iterable[ValuedAsset]) -> dict[str, Decimal]:
    """Quantity held of each asset."""
    return {asset: qty for asset, qty, _ in assets}


@dataclass(frozen=True, slots=True)
class ValuedHoldings:
    """An account's assets as one balance read valued them, and the last of NIJA's fills on the
    account that read already showed (the fills table's rowid): what the next read is compared
    with to find deposits and withdrawals (`execution.transfers`)."""

    assets: tuple[ValuedAsset, ...]
    fills_seen: int

    def quantities(self) -> dict[str, Decimal]:
        """Quantity held of each asset."""
        return quantities_of(self.assets)


@dataclass(frozen=True, slots=True)
class TransferSeen:
    """Money moved into (+) or out of (-) an account, as a balance read showed it, and the equity
    that read left: what scaled the account's marks instead of reading as a gain or a loss."""

    value: Decimal
    equity: Decimal
    seen_at: datetime
