"""The paper family: a simulated venue with real bookkeeping, on replayed, synthetic or live prices.

`broker` is the adapter (`PaperBroker`), keeping its books in a `ledger` (`PaperLedger`) its
owner passes in. `market` defines what a paper market serves (`MarketSource`); `replay`,
`synthetic` and `live` are the markets, and `board` lets copy users trade on their master's
prices. `live` wraps a ccxt client, so it is imported from its module, not from here.
"""

from nija.brokers.paper.board import BoardMarket, PriceBoard
from nija.brokers.paper.broker import PaperBroker
from nija.brokers.paper.ledger import PaperLedger
from nija.brokers.paper.market import MarketSource
from nija.brokers.paper.replay import ReplayMarket
from nija.brokers.paper.synthetic import SyntheticMarket

__all__ = [
    "BoardMarket",
    "MarketSource",
    "PaperBroker",
    "PaperLedger",
    "PriceBoard",
    "ReplayMarket",
    "SyntheticMarket",
]
