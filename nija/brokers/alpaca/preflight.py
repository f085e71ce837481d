"""The doctor's probe of an Alpaca account (`nija.brokers.preflight.Probe`).

Alpaca exposes no API-key permissions (a key can always trade; withdrawals are not an API
feature of trading keys), signs with the key itself rather than a timestamp, and has no dry-run
order: the paper account (ALPACA_PAPER=true) is its test environment. The clock comes from
GET /v2/clock; a market's state from the asset's flags (status, tradable, fractionable), all read
through the adapter's public methods.
"""

from __future__ import annotations

import time
from decimal import Decimal

from nija.brokers.alpaca.broker import AlpacaBroker
from nija.brokers.preflight import (
    DryRun,
    MarketState,
    NonceState,
    Permissions,
    ServerClock,
)

__all__ = ["AlpacaProbe"]


class AlpacaProbe:
    """Preflight answers of one Alpaca account."""

    def __init__(self, broker: AlpacaBroker, *, paper: bool) -> None:
        self.broker = broker
        self._paper_keys = paper  # ALPACA_PAPER / ALPACA_USER_<ID>_PAPER: which account the keys open

    def _url(self) -> str:
        url = getattr(self.broker.trading, "_base_url", "")
        return str(getattr(url, "value", url))  # alpaca-py keeps its own URLs as an enum

    def _paper(self) -> bool:
        return self._paper_keys

    def environment(self) -> str:
        """Paper or live, with the trading URL."""
        url = self._url()
        host = url.split("://", 1)[-1].split("/", 1)[0]
        if "paper-api.alpaca.markets" in url:
            return f"paper ({host})"
        if "api.alpaca.markets" in url:
            return f"production: live money ({host})"
        return f"custom URL ({url}), {'paper' if self._paper_keys else 'live'} account"

    def cash_currencies(self) -> tuple[str, ...]:
        """Alpaca accounts hold USD."""
        return (self.broker.cash_currency,)

    def price_symbol(self, asset: str) -> str | None:
        """A share is priced on its own ticker."""
        return asset

    def server_clock(self) -> ServerClock:
        """Alpaca's clock (GET /v2/clock) against ours."""
        before = time.time() * 1000
        clock = self.broker.server_clock()
        after = time.time() * 1000
        skew = clock.timestamp.timestamp() * 1000 - (before + after) / 2
        return ServerClock(skew, 1000.0, False, "GET /v2/clock")

    def permissions(self) -> Permissions:
        """Not exposed: the account's trading block is the only flag."""
        account = self.broker.account_state()
        blocked = bool(account.trading_blocked or account.account_blocked)
        return Permissions(not blocked, None, "Alpaca exposes no key permissions (GET /v2/account trading_blocked)")

    def nonce_state(self) -> NonceState | None:
        """Alpaca signs with the key itself: no nonce."""
        return None

    def market_state(self, symbol: str) -> MarketState:
        """Whether the ticker is an asset NIJA can buy, and in what units (fractional or whole shares)."""
        rules = self.broker.listed_asset(symbol)
        if rules is None:
            return MarketState(symbol, False, False, "not listed")
        if rules.opening_refusal:
            return MarketState(symbol, True, False, rules.opening_refusal)
        units = "fractional shares" if rules.fractionable else "whole shares only (not fractionable)"
        return MarketState(symbol, True, True, f"active, {units}")

    def dry_run_buy(self, symbol: str, quote_amount: Decimal) -> DryRun:
        """Alpaca has no dry-run order; say which account orders would reach."""
        where = "the paper account: orders there are not real money" if self._paper() else "the LIVE account"
        return DryRun(False, False, f"Alpaca has no dry-run order; NIJA trades {where} (ALPACA_PAPER)")
