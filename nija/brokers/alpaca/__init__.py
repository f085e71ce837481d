"""The Alpaca family: US-equities accounts through alpaca-py.

`errors` translates Alpaca's error answers into the broker taxonomy; `orders` reads order answers
(with their commission) and asset flags, purely; `broker` is the adapter (`AlpacaBroker`), with
the hardening of alpaca-py's HTTP clients it needs; `preflight` is the doctor's probe.
"""

from nija.brokers.alpaca.broker import DEFAULT_ALPACA_SYMBOLS, AlpacaBroker

__all__ = ["DEFAULT_ALPACA_SYMBOLS", "AlpacaBroker"]
