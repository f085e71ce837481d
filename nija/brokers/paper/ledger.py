"""PaperLedger: the books of the simulated venue, kept for the paper broker by its owner.

A paper account's balances, its order records and its master's published prices outlive the
process (a restart finds the account funded; `nija.trade` fills the same account from another
process), so they are kept outside the adapter. `PaperBroker` needs only these methods, and
`brokers/` never imports the daemon's store: the store satisfies this protocol structurally.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Protocol, runtime_checkable

from nija.models import BrokerName, ExecutionReport

__all__ = ["PaperLedger"]


@runtime_checkable
class PaperLedger(Protocol):
    """What `PaperBroker` reads and writes of a simulated account (exactly the calls it makes)."""

    def seed_paper_account(self, broker: BrokerName, account: str, balances: Mapping[str, Decimal]) -> bool:
        """Fund a simulated account once; return False when it already exists (a restart)."""
        ...

    def paper_balances(self, broker: BrokerName, account: str) -> dict[str, Decimal]:
        """Return the simulated account's balances by asset."""
        ...

    def paper_fill(
        self, broker: BrokerName, account: str, changes: Mapping[str, Decimal], report: ExecutionReport
    ) -> dict[str, Decimal] | None:
        """Apply a fill's balance changes and record its order atomically; None (nothing written)
        if a balance would go negative."""
        ...

    def paper_order(self, broker: BrokerName, account: str, client_order_id: str) -> ExecutionReport | None:
        """Return the simulated venue's record of an order, by client order id."""
        ...

    def publish_paper_prices(self, broker: BrokerName, prices: Mapping[str, Decimal], market_ms: int) -> None:
        """Keep a paper market's current prices for other processes (`nija.trade`)."""
        ...
