"""The ccxt family: Coinbase Advanced, Kraken, OKX and Binance spot accounts through ccxt.

One module per concern: `venues` (what differs between venues, as data), `errors` (ccxt
exceptions → broker taxonomy), `client` (client construction, URL redirect, the non-JSON guard,
`SharedMarkets`), `broker` (`CcxtBroker`, the adapter), `kraken` (Kraken's quirks: base-sized
buys, fees in quote, Earn balances, its error table), and the Kraken key's `nonce` and
`kraken_budget`, plus `lean_http` (the HTTP session the clients use).
"""

from nija.brokers.ccxt.broker import CcxtBroker
from nija.brokers.ccxt.client import SharedMarkets
from nija.brokers.ccxt.venues import VENUES

__all__ = ["VENUES", "CcxtBroker", "SharedMarkets"]
