"""Binance spot's quirks, as data and pure functions the ccxt adapter reads through `VENUES`.

Pure: no I/O, no clock of its own, no ccxt calls. Four things differ on Binance (research note
real-venues.md #5, #9; Binance spot API docs "Error codes", "Account trade list", "Simple Earn"):

* **Fees in a third asset.** With "pay fees with BNB" on, a trade's `commission` is paid in BNB
  (`commissionAsset: "BNB"`), neither base nor quote: the coins bought arrive whole and no quote
  is withheld. `restate_fees` values such a fee in the quote currency at the asset's current price
  (its book against the quote, else both against USDT), keeping the asset's name as the fee
  currency; it is never subtracted from the base quantity. A commission in the base asset is
  withheld from the coins bought (the report's `fee_in_base`), one in quote is a quote fee.
* **The order lookup has no fees.** GET /api/v3/order (by `origClientOrderId`) carries totals
  only. The account's trades for that order (GET /api/v3/myTrades `orderId`) carry each trade's
  id, quantity, price and commission: `with_trades` puts them into the lookup's answer, so its
  fills carry Binance's trade ids and real fees.
* **Simple Earn.** Flexible Earn holds an asset under `LD<asset>` (`LDUSDT`, `LDBTC`) in
  /api/v3/account (rotki PR #7546). It is the account's money: `fold_balances` adds it to its
  asset's total (equity, holdings) but not to what is free to trade. `LDO` (Lido) is a real
  asset: a code is Earn only when the rest is a listed currency and the code itself is not one.
* **Errors.** `ERRORS` maps Binance's own messages where ccxt leaves them unmapped or maps them
  by a misleading class; rate-limit answers carry how long the account's calls pause.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

import ccxt

from nija.brokers.base import (
    AuthError,
    BrokerError,
    InsufficientFunds,
    MarketDataError,
    OrderRejected,
    TransientError,
    venue_decimal,
)
from nija.brokers.ccxt.kraken import FoldedBalances

__all__ = [
    "EARN_HELP",
    "EARN_PREFIX",
    "ERRORS",
    "BinanceError",
    "CurrencyCodes",
    "Pause",
    "earn_asset",
    "error_class",
    "error_for",
    "fold_balances",
    "pause_seconds",
    "restate_fees",
    "with_trades",
]

EARN_PREFIX: Final = "LD"  # Simple Earn flexible positions: LDUSDT, LDBTC, ...
# What a refused sell of coins held in Simple Earn tells the user (broker._explain_refused_sell).
EARN_HELP: Final = (
    "(LD{base}), which the venue does not sell: redeem {base} from Simple Earn (or turn off auto-subscribe)"
)
_VALUATION_QUOTE: Final = "USDT"  # the cross a third-asset fee is valued through when no direct book exists
_BANNED_UNTIL: Final = re.compile(r"IP banned until (\d{12,})")


class Pause(StrEnum):
    """How long a rate-limit answer stops the account's calls."""

    MINUTE = "minute"  # request weight is counted per minute: wait for the next one
    BAN = "ban"  # 418: the IP is banned until the time the message names


@dataclass(frozen=True, slots=True)
class BinanceError:
    """One Binance error message (matched as a substring of the exception text) and what it means."""

    text: str
    error: type[BrokerError]
    pause: Pause | None = None
    note: str = ""


# Messages from Binance's spot "Error codes" page (developers.binance.com/docs/binance-spot-api-docs/
# errors). Matched before ccxt's classes. The most specific text first.
ERRORS: Final[tuple[BinanceError, ...]] = (
    BinanceError("Account has insufficient balance for requested action.", InsufficientFunds, note="-2010"),
    # -2010 too, but the client id is held by an order still open: the order exists. Read as
    # definitive it would be recorded rejected while it trades; as transient its outcome is
    # unknown and the executor looks it up by client id (never re-sent).
    BinanceError("Duplicate order sent.", TransientError, note="-2010: look the order up"),
    BinanceError("Timeout waiting for response from backend server.", TransientError,
                 note="-1007: send and execution status unknown: look the order up"),
    BinanceError("An unexpected response was received from the message bus.", TransientError,
                 note="-1006: execution status unknown: look the order up"),
    # -2015 is a wrong key, a key without spot permission, or an IP not whitelisted. ccxt turns it
    # into DDoSProtection once the key has worked before (its theory: a temporary ban); Binance
    # documents bans as HTTP 418 with -1003, handled below, so -2015 stops the account.
    BinanceError("Invalid API-key, IP, or permissions for action.", AuthError, note="-2015"),
    BinanceError("Signature for this request is not valid.", AuthError, note="-1022: wrong API secret"),
    BinanceError("Way too much request weight used; IP banned until", TransientError, Pause.BAN, note="-1003, 418"),
    BinanceError("Too much request weight used;", TransientError, Pause.MINUTE, note="-1003, 429"),
    BinanceError("Too many requests queued.", TransientError, Pause.MINUTE, note="-1003"),
    # -1013: the order broke a symbol filter (NOTIONAL, LOT_SIZE, ...); ccxt's BadRequest would read
    # as transient and leave the order unknown for the lookup's grace period.
    BinanceError("Filter failure:", OrderRejected, note="-1013"),
)
# -2013 "Order does not exist." is ccxt's OrderNotFound: the lookup answers None (broker.fetch_order).


def error_for(text: str) -> BinanceError | None:
    """The row of `ERRORS` whose Binance message appears in `text` (an exception's message), or None."""
    return next((row for row in ERRORS if row.text in text), None)


def error_class(text: str) -> type[BrokerError] | None:
    """The taxonomy class for a Binance error text, or None to leave it to ccxt's class."""
    row = error_for(text)
    return row.error if row is not None else None


def pause_seconds(text: str, now_s: float) -> float | None:
    """How long the account's calls wait after this answer (None: no pause). A ban lasts until
    the time Binance names (at least a second); weight resets at the next minute."""
    row = error_for(text)
    if row is None or row.pause is None:
        return None
    if row.pause is Pause.BAN and (found := _BANNED_UNTIL.search(text)) is not None:
        return max(int(found.group(1)) / 1000 - now_s, 1.0)
    return 60.0 - now_s % 60.0 + 1.0  # one second past the minute, so the counter has reset


# -- balances ---------------------------------------------------------------------------------


class CurrencyCodes:
    """ccxt's currency-code mapping of one client, and the codes that venue lists (market bases
    and quotes, and its currencies): what tells `LDO` (listed) from `LDUSDT` (Earn)."""

    def __init__(self, client: ccxt.Exchange) -> None:
        self._client = client
        self._listed: frozenset[str] | None = None

    def __call__(self, code: str) -> str:
        return str(self._client.safe_currency_code(code))

    @property
    def listed(self) -> frozenset[str]:
        if self._listed is None:
            markets = (self._client.markets or {}).values()
            codes = {m.get("base") for m in markets} | {m.get("quote") for m in markets}
            self._listed = frozenset(c for c in codes | set(self._client.currencies or {}) if c)
        return self._listed


def earn_asset(code: str, listed: Iterable[str]) -> str | None:
    """The asset a Simple Earn code holds (`LDUSDT` → `USDT`), or None for any other code."""
    known = listed if isinstance(listed, (set, frozenset)) else frozenset(listed)
    rest = code[len(EARN_PREFIX):]
    if code.startswith(EARN_PREFIX) and rest and rest in known and code not in known:
        return rest
    return None


def fold_balances(
    free: Mapping[str, Decimal], total: Mapping[str, Decimal], cash: tuple[str, ...],
    currency_code: Callable[[str], str],
) -> FoldedBalances:
    """Fold Simple Earn `LD<asset>` balances into their asset's total (never into what is free).

    `currency_code` is a `CurrencyCodes` (its `listed` codes decide what is Earn); a plain
    mapping without `listed` folds nothing.
    """
    listed: frozenset[str] = getattr(currency_code, "listed", frozenset())
    out_free: dict[str, Decimal] = {}
    out_total: dict[str, Decimal] = {}
    subs: dict[str, Decimal] = {}
    for code, amount in total.items():
        asset = earn_asset(code, listed)
        if asset is None:
            out_total[code] = out_total.get(code, Decimal(0)) + amount
            out_free[code] = out_free.get(code, Decimal(0)) + max(free.get(code, Decimal(0)), Decimal(0))
            continue
        out_total[asset] = out_total.get(asset, Decimal(0)) + amount
        if amount:
            subs[asset] = subs.get(asset, Decimal(0)) + amount
    return FoldedBalances(out_free, out_total, subs)


# -- fees -------------------------------------------------------------------------------------


def _symbol_parts(raw: Mapping[str, Any]) -> tuple[str, str]:
    base, _, quote = str(raw.get("symbol") or "/").partition("/")
    return base, quote.split(":")[0]


def _asset_price(asset: str, quote: str, markets: Mapping[str, Any], last: Callable[[str], Decimal]) -> Decimal:
    """One `asset` in `quote`: its own book, the inverse book, else both against USDT."""
    if f"{asset}/{quote}" in markets:
        return last(f"{asset}/{quote}")
    if f"{quote}/{asset}" in markets:
        return 1 / last(f"{quote}/{asset}")
    via = _VALUATION_QUOTE
    if f"{asset}/{via}" in markets and (quote == via or f"{quote}/{via}" in markets):
        return last(f"{asset}/{via}") / (last(f"{quote}/{via}") if quote != via else Decimal(1))
    raise MarketDataError(f"binance: a fee paid in {asset} has no price in {quote} (no {asset}/{quote} book)")


def restate_fees(
    raw: Mapping[str, Any], markets: Mapping[str, Any], last: Callable[[str], Decimal]
) -> Mapping[str, Any]:
    """The ccxt order with every fee paid in a third asset (BNB) restated as its quote value.

    The entry keeps the asset's name as its currency (`Fill.fee_currency`: what the venue charged
    in) and its amount under `paid`; its `cost` becomes the quote value at the asset's current
    price (`last`: a symbol's current price; the adapter gives the ask), since the fee's price at
    trade time is not reported.
    Fees in base or quote are left as they are; an answer without third-asset fees is returned as is.
    """
    base, quote = _symbol_parts(raw)
    prices: dict[str, Decimal] = {}

    def restated(entry: Any) -> Any:
        if not isinstance(entry, Mapping) or entry.get("cost") is None:
            return entry
        asset = entry.get("currency")
        if asset in (None, base, quote):
            return entry
        if asset not in prices:
            prices[asset] = _asset_price(str(asset), quote, markets, last)
        paid = venue_decimal(entry["cost"], f"fee in {asset}")
        return {**entry, "cost": paid * prices[asset], "paid": paid}

    fees = raw.get("fees") or ([raw["fee"]] if raw.get("fee") else [])
    trades = raw.get("trades") or []
    third = {e.get("currency") for e in fees if isinstance(e, Mapping)} | {
        (t.get("fee") or {}).get("currency") for t in trades
    }
    if not third - {None, base, quote}:
        return raw
    return {
        **raw,
        "fees": [restated(e) for e in fees],
        "fee": None,  # `fees` is the one list read (reports.OrderAnswers)
        "trades": [{**t, "fee": restated(t.get("fee"))} for t in trades],
    }


def with_trades(raw: Mapping[str, Any], trades: list[Mapping[str, Any]] | None, taker: Decimal) -> Mapping[str, Any]:
    """The order lookup's answer completed with the account's trades for that order.

    `trades` is ccxt's `fetch_my_trades(symbol, params={"orderId": ...})`; each becomes a fill
    with Binance's trade id, and the order's fees are their commissions summed per asset. None
    (the trades call failed), or trades that do not add up to what the order filled, fall back
    to the taker rate: a buy's fee withheld in base, a sell's in quote. The fallback exists
    because the order must still be booked (an unbooked fill is a holding with no stop), and
    counting the buy's fee as withheld never books more coins than the account received, so an
    exit never tries to sell coins it does not hold; BNB payers keep 0.1 % dust instead.
    """
    filled = venue_decimal(raw.get("filled") or 0, "filled")
    if filled <= 0:
        return raw
    mine = [t for t in trades or [] if str(t.get("order")) == str(raw.get("id"))]
    amounts = sum((venue_decimal(t.get("amount"), "trade amount") for t in mine), Decimal(0))
    if trades is None or not mine or amounts != filled:
        return {**raw, "trades": [], "fee": None, "fees": [_assumed_fee(raw, filled, taker)]}
    fees: dict[str, Decimal] = {}
    for trade in mine:
        fee = trade.get("fee") or {}
        if fee.get("cost") is not None and fee.get("currency"):
            fees[fee["currency"]] = fees.get(fee["currency"], Decimal(0)) + venue_decimal(fee["cost"], "trade fee")
    return {
        **raw, "trades": mine, "fee": None, "fees": [{"currency": c, "cost": cost} for c, cost in fees.items()],
    }


def _assumed_fee(raw: Mapping[str, Any], filled: Decimal, taker: Decimal) -> dict[str, Any]:
    base, quote = _symbol_parts(raw)
    if raw.get("side") == "buy":
        return {"currency": base, "cost": filled * taker}
    cost = venue_decimal(raw.get("cost") or 0, "cost")
    return {"currency": quote, "cost": cost * taker}
