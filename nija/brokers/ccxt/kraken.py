"""Kraken's quirks, as data and pure functions the ccxt adapter reads through `VENUES`.

Pure: no I/O, no clock, no ccxt calls. Four things differ on Kraken (docs.kraken.com, REST
"Add Order", "Get Extended Balance", "Spot Error Messages"; research note real-venues.md #1–#3,
#7, #12):

* **Buys are sized in the base asset.** A quote-sized market buy (`oflags=viqc`) is refused by the
  live API (`EGeneral:Invalid arguments:volume`, ccxt issue #22521), and where it is accepted its
  `vol`/`vol_exec` are in quote. NIJA turns a quote budget into a base volume from the current ask,
  rounded down to the lot step, so that volume × ask × (1 + taker) never exceeds the budget
  (`buy_volume`).
* **Fees in quote.** Every order carries `oflags=fciq` (`ORDER_PARAMS`): Kraken's default for sells
  is `fcib`, a fee in the coins sold. `fciq` is a *preference*; an answer that still says `fcib`
  is read by the adapter (`Venue.base_fee_valued_in_quote`) with the base fee's sign per side.
* **Balances.** Auto Earn, staking and opt-in rewards hold an asset under a suffixed code
  (`XBT.F`, `USD.F`, `DOT.S`, `ETH2.S`, `.B`, `.M`, `.P`, `.T`; ccxt passes them through as
  `XBT.F` or `BTC.F`). They are the account's money: `fold_balances` adds them to their asset's
  total (equity, holdings: a coin moved into Earn is still held) but never to what is free to
  trade, since Kraken may refuse to sell or spend them (the adapter then says so). Fee credits
  (`KFEE`) are not money, and fiat other than the venue's cash currencies (EUR, GBP, ...) is
  neither cash nor a position: NIJA trades USD/USDC books only, so it leaves them out of equity
  and holdings rather than value them at an FX rate it never trades (listed in `ignored`).
* **Errors.** `ERRORS` is the one table from Kraken's own texts to the broker taxonomy; ccxt
  leaves several of them unmapped or maps them as transient (cancel-only markets, the cost
  minimum, a wrong secret). Rows carry the backoff a transient answer asks for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Final

from nija.brokers.base import (
    AuthError,
    BrokerError,
    InsufficientFunds,
    OrderRejected,
    TransientError,
)

__all__ = [
    "ERRORS",
    "LOCKOUT_SECONDS",
    "NOT_MONEY",
    "ORDER_PARAMS",
    "SUB_BALANCE_SUFFIXES",
    "Backoff",
    "FoldedBalances",
    "KrakenError",
    "buy_volume",
    "error_for",
    "fold_balances",
]

ORDER_PARAMS: Final[Mapping[str, str]] = {"oflags": "fciq"}  # fee in quote, sells included

# Kraken's suffixes for balances held outside spot trading: .F Auto Earn (flexible), .B yield-
# bearing, .S staked, .M opt-in rewards, .P parachain, .T tokenized (Kraken support, "Why do I see
# .F/.S/.M/.P balances"; infinity-grid PR #46; freqtrade #11118).
SUB_BALANCE_SUFFIXES: Final = (".F", ".B", ".S", ".M", ".P", ".T")
# Staking tokens that are their asset 1:1 under another name.
_STAKED_ALIASES: Final[Mapping[str, str]] = {"ETH2": "ETH"}
# Neither equity nor positions: fee credits, and fiat other than the venue's cash currencies.
NOT_MONEY: Final = frozenset({"KFEE", "FEE"})
_FIAT: Final = frozenset({"USD", "EUR", "GBP", "CAD", "JPY", "AUD", "CHF", "AED"})

# Kraken locks a key out for 15 minutes after it passed its limits (support.kraken.com, "What are
# the API rate limits?"): calls sent meanwhile only extend the lockout.
LOCKOUT_SECONDS: Final = 900.0


class Backoff(StrEnum):
    """How a transient Kraken answer paces the key's next private calls."""

    DRAIN = "drain"  # rate limit: the key's counter is full; later calls wait for it to decay
    LOCKOUT = "lockout"  # no private call on this key for LOCKOUT_SECONDS; they fail at once


@dataclass(frozen=True, slots=True)
class KrakenError:
    """One Kraken error text (matched as a prefix: `EGeneral:Invalid arguments:volume`) and what it means."""

    text: str
    error: type[BrokerError]
    backoff: Backoff | None = None
    note: str = ""


ERRORS: Final[tuple[KrakenError, ...]] = (
    KrakenError("EAPI:Invalid key", AuthError, note="unknown API key"),
    KrakenError("EAPI:Invalid signature", AuthError, note="wrong API secret"),
    KrakenError("EGeneral:Permission denied", AuthError, note="the key lacks a permission NIJA needs"),
    KrakenError("EOrder:Trading agreement required", AuthError,
                note="the account must accept Kraken's trading agreement: it stops until the user does"),
    KrakenError("EOrder:Cost minimum not met", OrderRejected),
    KrakenError("EOrder:Order minimum not met", OrderRejected),
    KrakenError("EOrder:Insufficient funds", InsufficientFunds),
    KrakenError("EGeneral:Invalid arguments", OrderRejected, note="any argument; its name follows"),
    KrakenError("EService:Market in cancel_only mode", OrderRejected,
                note="the market takes no new orders: no entries; an exit waits until it trades again"),
    KrakenError("EService:Market in post_only mode", OrderRejected,
                note="the market takes only resting limit orders: no market order until it trades again"),
    KrakenError("EService:Unavailable", TransientError),
    KrakenError("EService:Busy", TransientError),
    KrakenError("EGeneral:Temporary lockout", TransientError, Backoff.LOCKOUT),
    KrakenError("EAPI:Rate limit exceeded", TransientError, Backoff.DRAIN),
)


def error_for(text: str) -> KrakenError | None:
    """The row of `ERRORS` whose Kraken text appears in `text` (an exception's message), or None."""
    return next((row for row in ERRORS if row.text in text), None)


@dataclass(frozen=True, slots=True)
class FoldedBalances:
    """An account's balances with sub-balances folded into their asset (unified codes)."""

    free: dict[str, Decimal]  # tradable now: plain balances only
    total: dict[str, Decimal]  # everything the account holds, sub-balances included
    sub_balances: dict[str, Decimal] = field(default_factory=dict)  # asset -> part held in Earn/staking
    ignored: dict[str, Decimal] = field(default_factory=dict)  # KFEE, non-cash fiat: not money here


def _split(code: str) -> tuple[str, bool]:
    for suffix in SUB_BALANCE_SUFFIXES:
        if code.upper().endswith(suffix):
            return code[: -len(suffix)], True
    return code, False


def fold_balances(
    free: Mapping[str, Decimal], total: Mapping[str, Decimal], cash: tuple[str, ...],
    currency_code: Callable[[str], str],
) -> FoldedBalances:
    """Fold `XBT.F`-style sub-balances into their asset; leave out what is not money here.

    `currency_code` maps a Kraken id or altname to the unified code (ccxt's `safe_currency_code`:
    XBT → BTC, XDG → DOGE).
    """
    out_free: dict[str, Decimal] = {}
    out_total: dict[str, Decimal] = {}
    subs: dict[str, Decimal] = {}
    ignored: dict[str, Decimal] = {}
    for code, amount in total.items():
        stem, is_sub = _split(code)
        asset = currency_code(stem) if is_sub else code
        asset = _STAKED_ALIASES.get(asset, asset)
        if len(asset) == 4 and asset[0] == "Z" and asset[1:] in _FIAT:
            asset = asset[1:]  # Kraken's own fiat id (ZEUR) where ccxt had no name for it
        if asset in NOT_MONEY or (asset in _FIAT and asset not in cash):
            ignored[code] = ignored.get(code, Decimal(0)) + amount
            continue
        out_total[asset] = out_total.get(asset, Decimal(0)) + amount
        if is_sub or _STAKED_ALIASES.get(code) is not None:
            if amount:
                subs[asset] = subs.get(asset, Decimal(0)) + amount
        else:
            # Kraken can hold more for open orders than the plain row has (the rest sits in
            # Earn: infinity-grid PR #81), so ccxt's free = total - used can go negative.
            out_free[asset] = out_free.get(asset, Decimal(0)) + max(free.get(code, Decimal(0)), Decimal(0))
    return FoldedBalances(out_free, out_total, subs, ignored)


def buy_volume(budget: Decimal, ask: Decimal, taker: Decimal, quote_unit: Decimal, lot_step: Decimal) -> Decimal:
    """The base volume a quote `budget` buys at `ask`, fee included, rounded down to `lot_step`.

    One `quote_unit` (the quote currency's smallest booked amount) is kept back for Kraken's
    rounding of the fee. volume × ask × (1 + taker) ≤ budget − quote_unit; 0 when nothing fits.
    """
    if budget <= 0 or ask <= 0 or lot_step <= 0:
        return Decimal(0)
    affordable = (budget - quote_unit) / (ask * (1 + taker))
    if affordable <= 0:
        return Decimal(0)
    return (affordable / lot_step).to_integral_value(rounding=ROUND_DOWN) * lot_step
