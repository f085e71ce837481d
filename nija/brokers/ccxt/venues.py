"""The ccxt venues NIJA trades, as data: what differs between Coinbase, Kraken, OKX and Binance.

The few per-venue differences sit in this one table (`VENUES`), not in branches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from nija.brokers.ccxt import binance, kraken, okx
from nija.models import BrokerName

__all__ = ["VENUES", "Venue"]


@dataclass(frozen=True, slots=True)
class Venue:
    """What differs between the ccxt venues NIJA trades."""

    ccxt_id: str
    cash: tuple[str, ...]  # quote currencies of the default universe, counted as cash 1:1
    client_id_param: str  # the create_order param ccxt sends as the venue's client order id
    lookup: str  # how an order is found by client id: "open_closed" | "fetch_order" | "history"
    options: Mapping[str, Any] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=lambda: {"api_key": "apiKey", "api_secret": "secret"})
    persistent_nonce: bool = False  # Kraken: monotonic per-key nonce across threads and processes
    key_budget: bool = False  # Kraken: private calls paced by the per-key counter (kraken_budget.py)
    # Kraken values an order's fee in quote even when it took it in the base asset: `fee` is "Total
    # fee (quote currency)" (REST Query Orders Info), and under oflags fcib ccxt 4.5's
    # kraken.parse_order labels that quote amount with the base currency, cost unchanged. Read as
    # base units, a $1.56 fee on a 0.01 BTC buy became 1.56 BTC withheld; the base part is fee / price.
    base_fee_valued_in_quote: bool = False
    # Coinbase: USD and USDC products of a coin can be one order book (`alias`/`alias_to`): the
    # universe keeps one symbol per book (coinbase.one_symbol_per_book).
    aliased_books: bool = False
    # Params every order carries (Kraken: `oflags=fciq`, fees in quote; kraken.py).
    order_params: Mapping[str, str] = field(default_factory=dict)
    # Quote-sized market buys are sent as a base volume from the ask, rounded down to the lot step
    # (Kraken refuses or misreports quote-sized `viqc` buys; kraken.buy_volume).
    buy_in_base: bool = False
    # Folds sub-balances (Kraken's `XBT.F` Auto Earn, `.S` staking) into their asset and leaves out
    # what is not money (fee credits, foreign fiat): (free, total, cash, currency_code) -> folded.
    fold_balances: Callable[
        [Mapping[str, Decimal], Mapping[str, Decimal], tuple[str, ...], Callable[[str], str]], kraken.FoldedBalances
    ] | None = None
    # OKX: deposits wait in a funding account orders cannot use; a watch reads it while the trading
    # account looks unfunded, to say so in the balance snapshot's note (okx.py): (client, read, cash).
    funding_watch: Callable[..., okx.FundingWatch] | None = None
    # Binance: the order lookup carries no fills or fees; the account's trades for the order do
    # (GET /api/v3/myTrades): (lookup answer, its trades or None if that call failed, taker rate)
    # -> the answer with trades and fees (binance.with_trades).
    lookup_trades: Callable[
        [Mapping[str, Any], list[Mapping[str, Any]] | None, Decimal], Mapping[str, Any]
    ] | None = None
    # Binance: fees paid in a third asset (BNB) restated as their quote value: (order answer,
    # markets, last price of a symbol) -> answer (binance.restate_fees).
    restate_fees: Callable[
        [Mapping[str, Any], Mapping[str, Any], Callable[[str], Decimal]], Mapping[str, Any]
    ] | None = None
    # Binance: how long the account's calls pause after an error text (rate limit, IP ban):
    # (text, now in Unix seconds) -> seconds, or None (binance.pause_seconds).
    pause_after: Callable[[str, float], float | None] | None = None
    # How a refused sell of coins held in Earn/staking tells the user to free them ({base}: the asset).
    earn_help: str = "({base}.F/.S), which the venue does not sell: turn off Auto Earn for {base} (or unstake)"
    # Symbols scanned per cycle: OHLCV calls must fit the public limit within one 150 s cycle
    # (Kraken ~1 public call/s; the others allow far more).
    scan_batch: int = 30


VENUES: Final[Mapping[BrokerName, Venue]] = {
    BrokerName.KRAKEN: Venue(
        "kraken", ("USD", "USDC"), "clientOrderId", "open_closed", persistent_nonce=True, key_budget=True,
        base_fee_valued_in_quote=True, order_params=kraken.ORDER_PARAMS, buy_in_base=True,
        fold_balances=kraken.fold_balances,
    ),
    # ccxt drops `clientOrderId` for Coinbase and invents its own; the raw param goes through.
    # v3 accounts carry the cash on hold; ccxt's default v2 call reports it as free.
    BrokerName.COINBASE: Venue(
        "coinbase", ("USD", "USDC"), "client_order_id", "history", {"fetchBalance": "v3PrivateGetBrokerageAccounts"},
        scan_batch=60, aliased_books=True,
    ),
    BrokerName.OKX: Venue(
        "okx", ("USDT",), "clientOrderId", "fetch_order", {"fetchMarkets": {"types": ["spot"]}},
        {"api_key": "apiKey", "api_secret": "secret", "passphrase": "password"}, scan_batch=60,
        funding_watch=okx.funding_watch,
    ),
    BrokerName.BINANCE: Venue(
        "binance", ("USDT",), "clientOrderId", "fetch_order", {"fetchMarkets": {"types": ["spot"]}, "defaultType": "spot"},
        scan_batch=100, fold_balances=binance.fold_balances, lookup_trades=binance.with_trades,
        restate_fees=binance.restate_fees, pause_after=binance.pause_seconds, earn_help=binance.EARN_HELP,
    ),
}
