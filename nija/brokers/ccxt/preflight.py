"""The doctor's probe of a ccxt account (`nija.brokers.preflight.Probe`), venue by venue as data.

What each venue exposes, and how it is asked (`_PREFLIGHT`):

| venue    | clock                   | permissions                                   | dry-run order                   |
|----------|-------------------------|-----------------------------------------------|---------------------------------|
| kraken   | GET /0/public/Time (s)  | none; WithdrawStatus: "Permission denied" =   | AddOrder validate=true          |
|          |                         | no withdrawals, a real answer = may withdraw  |                                 |
| binance  | GET /api/v3/time        | GET /sapi/v1/account/apiRestrictions          | POST /api/v3/order/test         |
| okx      | GET /api/v5/public/time | GET /api/v5/account/config `perm`             | none (demo trading: sandbox)    |
| coinbase | GET /v2/time (s)        | GET /api/v3/brokerage/key_permissions         | POST /api/v3/brokerage/orders/  |
|          |                         |                                               | preview                         |

Calls go through the adapter's own plumbing (`CcxtBroker._call`/`_read`: the Kraken key's nonce
and in-flight lock, error translation), a family-internal use of the adapter. Nothing here places
an order: every order call is the venue's validate/test/preview form.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any, Final

import ccxt

from nija.brokers.base import AuthError, OrderRejected, venue_decimal
from nija.brokers.ccxt.broker import CcxtBroker
from nija.brokers.ccxt.nonce import (
    _parse as parse_nonce_file,  # family-internal: the file's own reader
)
from nija.brokers.preflight import (
    DryRun,
    MarketState,
    NonceState,
    Permissions,
    ServerClock,
)
from nija.models import BrokerName

__all__ = ["CcxtProbe", "market_state_of"]


def _kraken_permissions(broker: CcxtBroker) -> Permissions:
    # Kraken has no permissions endpoint. WithdrawStatus needs the "Withdraw Funds" permission (or
    # "Query Ledger Entries"): "EGeneral:Permission denied" proves the key cannot withdraw; a real
    # answer means it may, and is reported as such (a false alarm is better than a silent risk).
    try:
        broker._call(lambda: broker.client.private_post_withdrawstatus(), private=True)
    except AuthError as exc:
        if isinstance(exc.__cause__, ccxt.PermissionDenied):
            return Permissions(None, False, "Kraken WithdrawStatus answered Permission denied")
        raise
    return Permissions(None, True, "Kraken WithdrawStatus answered instead of Permission denied")


def _binance_permissions(broker: CcxtBroker) -> Permissions:
    if broker.sandbox:  # the spot testnet serves /api only, no /sapi
        return Permissions(None, None, "the spot testnet has no /sapi/v1/account/apiRestrictions")
    raw = broker._read(lambda: broker.client.sapi_get_account_apirestrictions(), private=True)
    return Permissions(
        bool(raw.get("enableSpotAndMarginTrading")), bool(raw.get("enableWithdrawals")),
        "GET /sapi/v1/account/apiRestrictions",
    )


def _okx_permissions(broker: CcxtBroker) -> Permissions:
    raw = broker._read(lambda: broker.client.private_get_account_config(), private=True)
    rows = raw.get("data") or [{}]
    perms = {p.strip() for p in str(rows[0].get("perm", "")).split(",") if p.strip()}
    return Permissions("trade" in perms, "withdraw" in perms, f"GET /api/v5/account/config perm={','.join(sorted(perms))}")


def _coinbase_permissions(broker: CcxtBroker) -> Permissions:
    raw = broker._read(lambda: broker.client.v3_private_get_brokerage_key_permissions(), private=True)
    # can_transfer: the key may move funds out of the portfolio (Coinbase's word for withdrawals)
    return Permissions(
        bool(raw.get("can_trade")), bool(raw.get("can_transfer")), "GET /api/v3/brokerage/key_permissions"
    )


def _kraken_dry_run(broker: CcxtBroker, symbol: str, quote_amount: Decimal) -> DryRun:
    # Sized in base from the ask, rounded down to the lot, as a Kraken market buy is sent.
    ask = broker.ticker(symbol).ask
    with localcontext():  # ccxt's precision helpers change the thread's Decimal context
        amount = Decimal(broker.client.amount_to_precision(symbol, float(quote_amount / ask)))
    params = {"validate": True, "oflags": "fciq"}
    raw = broker._call(
        lambda: broker.client.create_order(symbol, "market", "buy", float(amount), None, params), private=True
    )
    described = ((raw or {}).get("info") or {}).get("descr") or {}
    return DryRun(True, True, f"AddOrder validate=true accepted: {described.get('order') or f'buy {amount} {symbol}'}")


def _binance_dry_run(broker: CcxtBroker, symbol: str, quote_amount: Decimal) -> DryRun:
    with localcontext():
        cost = broker.client.cost_to_precision(symbol, float(quote_amount))
    broker._call(
        lambda: broker.client.create_market_buy_order_with_cost(symbol, float(cost), {"test": True}), private=True
    )
    return DryRun(True, True, f"POST /api/v3/order/test accepted: market buy of {cost} {symbol.split('/')[1]}")


def _coinbase_dry_run(broker: CcxtBroker, symbol: str, quote_amount: Decimal) -> DryRun:
    market = broker.client.market(symbol)
    with localcontext():
        cost = broker.client.cost_to_precision(symbol, float(quote_amount))
    body = {"product_id": market["id"], "side": "BUY", "order_configuration": {"market_market_ioc": {"quote_size": cost}}}
    raw = broker._call(lambda: broker.client.v3_private_post_brokerage_orders_preview(body), private=True)
    errors = [str(e) for e in raw.get("errs") or []]
    if errors:
        return DryRun(True, False, f"orders/preview refused: {', '.join(errors)}")
    fee = raw.get("commission_total")
    return DryRun(True, True, f"orders/preview accepted: buy {cost} {market['quote']} of {symbol}, fee {fee}")


def _okx_dry_run(broker: CcxtBroker, symbol: str, quote_amount: Decimal) -> DryRun:
    if broker.sandbox:
        return DryRun(False, False, "OKX has no dry-run order; this is OKX demo trading: orders here use demo funds")
    return DryRun(False, False, "OKX has no dry-run order endpoint; NIJA_OKX_SANDBOX=true trades OKX demo funds")


@dataclass(frozen=True, slots=True)
class _Preflight:
    """How one venue answers the doctor."""

    permissions: Callable[[CcxtBroker], Permissions]
    dry_run: Callable[[CcxtBroker, str, Decimal], DryRun]
    clock_resolution_ms: float  # Kraken's Time answer is whole seconds
    signed_with_time: bool  # the venue refuses requests whose timestamp is off (Kraken signs with a nonce)
    clock_source: str
    sandbox_note: str  # what NIJA_<BROKER>_SANDBOX=true reaches


_PREFLIGHT: Final[Mapping[BrokerName, _Preflight]] = {
    BrokerName.KRAKEN: _Preflight(
        _kraken_permissions, _kraken_dry_run, 1000.0, False, "GET /0/public/Time", "Kraken has no spot test environment",
    ),
    BrokerName.BINANCE: _Preflight(
        _binance_permissions, _binance_dry_run, 1.0, True, "GET /api/v3/time", "Binance spot testnet",
    ),
    BrokerName.OKX: _Preflight(
        _okx_permissions, _okx_dry_run, 1.0, True, "GET /api/v5/public/time", "OKX demo trading",
    ),
    BrokerName.COINBASE: _Preflight(
        _coinbase_permissions, _coinbase_dry_run, 1000.0, True, "GET /v2/time", "Coinbase Advanced sandbox",
    ),
}


def market_state_of(name: BrokerName, symbol: str, market: Mapping[str, Any] | None) -> MarketState:
    """Whether a loaded ccxt market takes new orders, from the venue's own status field."""
    if market is None:
        return MarketState(symbol, False, False, "not listed")
    info = market.get("info") or {}
    if name is BrokerName.KRAKEN:  # online | cancel_only | post_only | limit_only | reduce_only | delisted
        status = str(info.get("status") or "online")
        tradable = status == "online"
    elif name is BrokerName.BINANCE:  # TRADING | BREAK | HALT | ...
        status = str(info.get("status") or "TRADING")
        tradable = status == "TRADING" and info.get("isSpotTradingAllowed", True) is not False
    elif name is BrokerName.OKX:  # live | suspend | preopen | test
        status = str(info.get("state") or "live")
        tradable = status == "live"
    else:  # Coinbase: status online plus flags
        flags = [f for f in ("trading_disabled", "cancel_only", "limit_only", "post_only", "is_disabled") if info.get(f)]
        status = ",".join(flags) or str(info.get("status") or "online")
        tradable = not flags and status == "online"
    if market.get("active") is False and tradable:
        status, tradable = f"{status} (inactive)", False
    return MarketState(symbol, True, tradable, status)


class CcxtProbe:
    """Preflight answers of one ccxt account (see the module table)."""

    def __init__(self, broker: CcxtBroker) -> None:
        self.broker = broker
        self._sandbox = broker.sandbox
        self._spec = _PREFLIGHT[broker.name]
        # The nonce file as found, before this run's first private call rewrites it.
        self._nonce_file = self._read_nonce_file()

    def environment(self) -> str:
        """Production, the venue's sandbox/testnet, or a custom URL (the simulator, a proxy)."""
        api = self.broker.client.urls.get("api")
        url = (api.get("public") or api.get("rest") or next(iter(api.values()))) if isinstance(api, dict) else str(api)
        if self.broker.name is BrokerName.OKX:
            url = url.replace("{hostname}", str(getattr(self.broker.client, "hostname", "")))
        host = url.split("://", 1)[-1].split("/", 1)[0]
        if self._sandbox:
            return f"sandbox: {self._spec.sandbox_note} ({host})"
        if self.broker._api_url:
            return f"custom URL ({self.broker._api_url})"
        return f"production ({host})"

    def cash_currencies(self) -> tuple[str, ...]:
        """The venue's cash currencies (counted 1:1 in equity)."""
        return self.broker.venue.cash

    def price_symbol(self, asset: str) -> str | None:
        """The ASSET/<cash> market equity values the asset on, if listed."""
        self.broker.begin_cycle()
        return self.broker._symbol_for(asset)

    def server_clock(self) -> ServerClock:
        """The venue's time minus the midpoint of our request."""
        before = time.time() * 1000
        server_ms = self.broker._read(lambda: self.broker.client.fetch_time())
        after = time.time() * 1000
        skew = float(venue_decimal(server_ms, "server time")) - (before + after) / 2
        return ServerClock(skew, self._spec.clock_resolution_ms, self._spec.signed_with_time, self._spec.clock_source)

    def permissions(self) -> Permissions:
        """Trade and withdraw permissions, where the venue tells."""
        return self._spec.permissions(self.broker)

    def _read_nonce_file(self) -> tuple[int, str | None] | None:
        source = self.broker._nonce
        if source is None:
            return None
        try:
            raw = source.path.read_bytes()[:64]
        except FileNotFoundError:
            raw = b""
        return parse_nonce_file(raw)

    def nonce_state(self) -> NonceState | None:
        """The Kraken key's nonce file as found before this run; None for time-signed venues."""
        source = self.broker._nonce
        if source is None or self._nonce_file is None:
            return None
        saved_ms, unit = self._nonce_file
        return NonceState(
            fingerprint=source.fingerprint, path=os.fspath(source.path), saved_ms=saved_ms,
            ahead_ms=saved_ms - int(time.time() * 1000) if saved_ms else 0,
            converted_from=unit or source.converted_from,
        )

    def market_state(self, symbol: str) -> MarketState:
        """Whether `symbol` is listed and takes new orders."""
        self.broker.begin_cycle()
        return market_state_of(self.broker.name, symbol, self.broker.client.markets.get(symbol))

    def dry_run_buy(self, symbol: str, quote_amount: Decimal) -> DryRun:
        """The venue's validate/test/preview form of the market buy NIJA would send."""
        rules = self.broker.market_rules(symbol)
        if quote_amount < rules.min_cost:
            raise OrderRejected(f"{symbol}: {quote_amount} {rules.quote} is below the market minimum {rules.min_cost}")
        return self._spec.dry_run(self.broker, symbol, quote_amount)
