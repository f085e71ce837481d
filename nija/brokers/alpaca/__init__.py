"""The Alpaca family: US-equities accounts through alpaca-py.

`errors` translates Alpaca's error answers into the broker taxonomy; `broker` is the adapter
(`AlpacaBroker`), with the hardening of alpaca-py's HTTP clients it needs.
"""

from nija.brokers.alpaca.broker import DEFAULT_ALPACA_SYMBOLS, AlpacaBroker

__all__ = ["DEFAULT_ALPACA_SYMBOLS", "AlpacaBroker"]
