"""OKX specifics, plugged in through the Venue table (`venues.VENUES[OKX].funding_watch`).

**The funding account.** An OKX user has two accounts: deposits land in **Funding** (GET
/api/v5/asset/balances) and only **Trading** (GET /api/v5/account/balance, what ccxt's default
`fetch_balance` reads) can place orders. A user who deposited and did not transfer shows trading
equity 0, which NIJA reads as unfunded. The funding balance is never equity and never sized on
(no order can use it); it only explains, in `BalanceSnapshot.note`: "N USD in funding, not tradable
— transfer to Trading", which health (`python -m nija.status`) and the doctor's equity check show.

Cost: the funding account is read only while the trading account looks unfunded (its equity below
`FUNDING_CHECK_BELOW`), at most once per `FUNDING_READ_SECONDS` per account (the supervisor's
funding re-check, 600 s by default, therefore always sees a fresh read); between reads the last
note is repeated. Coins in funding are valued with one batched ticker call, only when there are any.

**Order states** (OKX "Order details" `state`, read by ccxt 4.5 `okx.parse_order_status`, then
`reports._STATUS`): `live` and `partially_filled` → open (NIJA: SUBMITTED / PARTIAL by the filled
quantity); `filled` → FILLED; `canceled` and `mmp_canceled` (Market Maker Protection) → CANCELED,
with any partial fill booked (`accFillSz`); `order_failed` (algo orders) → CANCELED.

**Fees.** `fee` is negative for a fee paid ("always negative" for spot takers) and `feeCcy` is the
currency received: the base asset on buys (withheld from the coins bought: `fee_in_base`), the quote
on sells. ccxt negates the sign; `reports.OrderAnswers` books base fees in base units.

**Errors** (ccxt's okx `exceptions`, `errors.ccxt_errors`): the order-level envelope
`{"code":"1","data":[{"sCode":"51008",...}],"msg":"All operations failed"}` (HTTP 200) is matched by
`sCode`: 51008/51131 → InsufficientFunds, 51016/51020/51121 → OrderRejected, 51603 → not found
(`fetch_order` returns None); 50111/50113/50105 (HTTP 401) → AuthError; 50004 (timeout, "does not
indicate success or failure"), 50011 (rate limit) → TransientError (an order is looked up, never
re-sent); 50102 (timestamp expired: the clock is off) → InvalidNonce, a TransientError. ccxt
leaves 50119 "API key doesn't exist" (a wrong key, or an EEA key sent to www.okx.com) unmapped, a
plain ExchangeError that would read as transient forever: `ERRORS` maps it to AuthError.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import ccxt

from nija.brokers.base import AuthError, BrokerError, venue_decimal

__all__ = [
    "ERRORS", "FUNDING_CHECK_BELOW", "FUNDING_READ_SECONDS", "FundingBalance", "FundingWatch", "error_for",
    "funding_watch",
]

# Trading equity (in the venue's cash) under which the account "looks unfunded": ten times the
# default MINIMUM_FUNDED_BALANCE, so an operator who raised that minimum still learns why.
FUNDING_CHECK_BELOW: Final = Decimal(100)
FUNDING_READ_SECONDS: Final = 300.0

Read = Callable[[Callable[[], Any]], Any]  # the adapter's retrying, error-translating read

# OKX codes ccxt 4.5 maps by a class that misleads (or not at all), matched before ccxt's class.
ERRORS: Final[Mapping[str, type[BrokerError]]] = {
    "50119": AuthError,  # "API key doesn't exist": wrong key, or a key of another OKX domain (EEA, US)
}
_CODE: Final = re.compile(r'"s?[Cc]ode"\s*:\s*"(\d+)"')


def error_for(text: str) -> type[BrokerError] | None:
    """The taxonomy class of an OKX error (ccxt's message carries the body), from `ERRORS`, or None."""
    return next((ERRORS[code] for code in _CODE.findall(text) if code in ERRORS), None)


@dataclass(frozen=True, slots=True)
class FundingBalance:
    """What the OKX funding account holds, valued in the venue's cash where a market prices it."""

    amounts: Mapping[str, Decimal]  # asset -> total (`bal`), non-zero only
    value: Decimal  # cash 1:1 plus coins at their last price
    unpriced: tuple[str, ...] = ()  # assets with no <asset>/<cash> market: listed, not valued

    def note(self, cash: str) -> str | None:
        """The line health and the doctor show, or None when the funding account is empty."""
        if not self.amounts:
            return None
        held = ", ".join(f"{amount.normalize():f} {asset}" for asset, amount in sorted(self.amounts.items()))
        unvalued = f"; not valued: {', '.join(self.unpriced)}" if self.unpriced else ""
        return (
            f"{self.value.quantize(Decimal('0.01')):,} USD in funding, not tradable — transfer to Trading"
            f" (OKX funding account: {held}{unvalued}; priced in {cash})"
        )


def read_funding(client: ccxt.Exchange, read: Read, cash: tuple[str, ...]) -> FundingBalance:
    """GET /api/v5/asset/balances (ccxt `fetch_balance({"type": "funding"})`), valued like equity:
    cash currencies 1:1, other coins at the last price of <coin>/<cash> (one batched ticker call)."""
    raw = read(lambda: client.fetch_balance({"type": "funding"}))
    amounts = {
        asset: amount
        for asset, value in (raw.get("total") or {}).items()
        if value is not None and (amount := venue_decimal(value, f"okx funding {asset}")) > 0
    }
    value = sum((q for a, q in amounts.items() if a in cash), Decimal(0))
    markets = client.markets or {}
    symbols = {a: s for a in amounts if a not in cash for s in [_cash_symbol(a, cash, markets)] if s is not None}
    tickers = read(lambda: client.fetch_tickers(sorted(symbols.values()))) if symbols else {}
    unpriced = sorted(a for a in amounts if a not in cash and a not in symbols)
    for asset, symbol in symbols.items():
        last = (tickers.get(symbol) or {}).get("last")
        if last is None:
            unpriced.append(asset)
            continue
        value += amounts[asset] * venue_decimal(last, f"okx {symbol} last")
    return FundingBalance(amounts, value, tuple(sorted(unpriced)))


def _cash_symbol(asset: str, cash: tuple[str, ...], markets: Mapping[str, Any]) -> str | None:
    return next((f"{asset}/{quote}" for quote in cash if f"{asset}/{quote}" in markets), None)


class FundingWatch:
    """One account's view of its OKX funding account: read when the trading account looks
    unfunded, at most every `every` seconds, the last note repeated in between."""

    def __init__(
        self, reader: Callable[[], FundingBalance], cash: str, *, below: Decimal = FUNDING_CHECK_BELOW,
        every: float = FUNDING_READ_SECONDS, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = reader
        self._cash = cash
        self._below = below
        self._every = every
        self._clock = clock
        self._read_at: float | None = None
        self._note: str | None = None

    def note(self, trading_equity: Decimal) -> str | None:
        """Why an account that looks unfunded is not empty, or None (funded, or nothing waits in funding)."""
        if trading_equity >= self._below:
            self._read_at = None  # funded: the next shortfall reads afresh
            return None
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._every:
            self._read_at = now
            try:
                self._note = self._reader().note(self._cash)
            except BrokerError:
                # Only an explanation: a failed read never fails the trading account's snapshot;
                # the last note stands until the next read is due.
                pass
        return self._note


def funding_watch(client: ccxt.Exchange, read: Read, cash: tuple[str, ...]) -> FundingWatch:
    """The Venue table's factory: a watch over this client's funding account."""
    return FundingWatch(lambda: read_funding(client, read, cash), cash[0])
