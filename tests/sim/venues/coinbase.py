"""Coinbase Advanced Trade dialect (`/api/v3/brokerage/*` plus the `/v2/*` calls), as ccxt 4.5.90's
`coinbase` calls it with a CDP key.

Private calls carry `Authorization: Bearer <JWT>` signed ES256 with the key's P-256 private key
(the account secret is that key as PEM; `new_secret` makes one). JWT header `kid` = API key;
claims `sub` = API key, `iss` = "coinbase-cloud", `aud` ∋ "retail_rest_api_proxy", `nbf`/`exp`
(ccxt: 120 s apart) and `uri` = "METHOD host/path". ccxt strips only "https://" from the URL, so
against the simulator the claim reads "GET http://127.0.0.1:PORT/coinbase/v2/accounts": an optional
"http://" is accepted, host and path (prefix included, query excluded) must match the request.
The taker fee is 0.6 % (fee tier "Advanced 1"), charged in the quote currency. Only market orders
(`market_market_ioc`) are supported: a buy sized by `quote_size`, either side by `base_size`.

What ccxt does with the answers (pinned in tests/sim_tests/test_coinbase.py): a failed create
`{"success": false, "error_response": {...}}` is mapped through `preview_failure_reason` in
`handle_errors` (without it ccxt raises plain ExchangeError); a 401 with the plain-text body
Coinbase sends is AuthenticationError; an unknown order (404 `NOT_FOUND`) is plain ExchangeError.

Modelling choices not measured against Coinbase: a bad or unknown key, a bad signature or claim
answer 401 "Unauthorized"; a JWT outside nbf - 5 s .. exp answers 401 with the v2 payload
`{"errors": [{"id": "authentication_error", "message": "request timestamp expired"}]}` and counts
in `invalid_nonces` (ccxt matches the id exactly before its broad "request timestamp expired" →
InvalidNonce rule, so it raises AuthenticationError); the rate limit (the core's per-key counter,
1 per private call) answers 429 `rate_limit_exceeded`. A quote-sized buy is charged its fee on top
of `quote_size` like the other venues (the real venue takes it out of `quote_size`:
`size_inclusive_of_fees` true), so 120 USD at 60 000 buys 0.002 BTC. A reused `client_order_id`
returns the existing order instead of placing a new one (Coinbase's documented behaviour). A
partial fill leaves the rest open (the real IOC would cancel it). `historical/batch` lists orders
of every status, newest first, pages by `cursor` while `has_next`, filters by `product_ids` and
`start_date`/`end_date`, and ignores the legacy `product_id` ccxt's fetch_orders sends (the docs
list only `product_ids`; ignoring it is the stricter reading). BTC-USD and BTC-USDC are listed as
one book (`alias`/`alias_to`, as Coinbase's products answer shows USD/USDC pairs); their prices and
orders stay separate here.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, Final
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.sim.model import Account, Candle, Market, Order, OrderStatus, Reject, Side, VenueError
from tests.sim.venue import Call, Reply, Request, Venue, request_decimal, route

__all__ = ["VENUE", "CoinbaseVenue"]

_DEFAULT_MARKETS: Final = (
    (Market("BTC/USD", "BTC", "USD", 2, 8, Decimal("0.00000001"), Decimal("1"), 8), Decimal("60000")),
    (Market("ETH/USD", "ETH", "USD", 2, 8, Decimal("0.00000001"), Decimal("1"), 8), Decimal("3000")),
    (Market("SOL/USD", "SOL", "USD", 2, 8, Decimal("0.00000001"), Decimal("1"), 8), Decimal("150")),
    # one book with BTC-USD on the real venue: the products answer links them (`alias`/`alias_to`)
    (Market("BTC/USDC", "BTC", "USDC", 2, 8, Decimal("0.00000001"), Decimal("1"), 8), Decimal("60000")),
)
_FIAT: Final = frozenset({"USD", "EUR", "GBP"})
_NAMES: Final = {"BTC": "Bitcoin", "ETH": "Ethereum", "SOL": "Solana", "USDC": "USDC", "USD": "US Dollar"}

_UNAUTHORIZED: Final = Reply(status=401, body=b"Unauthorized\n", content_type="text/plain; charset=utf-8")
_NOT_FOUND_ROUTE: Final = Reply(status=404, body=b"404 page not found\n", content_type="text/plain; charset=utf-8")
# (HTTP status, payload) of the rejections that are not about one order
_ERRORS: Final[dict[Reject, tuple[int, dict[str, Any]]]] = {
    Reject.INVALID_NONCE: (401, {"errors": [{"id": "authentication_error", "message": "request timestamp expired"}]}),
    Reject.RATE_LIMIT: (429, {"errors": [{"id": "rate_limit_exceeded", "message": "Too many requests"}]}),
    Reject.UNKNOWN_SYMBOL: (404, {"error": "NOT_FOUND", "error_details": "ProductID is invalid",
                                  "message": "ProductID is invalid"}),
    Reject.UNKNOWN_ORDER: (404, {"error": "NOT_FOUND", "error_details": "order with this orderID was not found",
                                 "message": "order with this orderID was not found"}),
    Reject.BAD_REQUEST: (400, {"error": "INVALID_ARGUMENT", "error_details": "", "message": "invalid request"}),
}  # fmt: skip
# A refused create: (error, message, preview_failure_reason), answered 200 with success false
_ORDER_ERRORS: Final[dict[Reject, tuple[str, str, str]]] = {
    Reject.INSUFFICIENT_FUNDS: ("INSUFFICIENT_FUND", "Insufficient balance in source account",
                                "PREVIEW_INSUFFICIENT_FUND"),
    Reject.BELOW_MIN_AMOUNT: ("INVALID_SIZE_PRECISION", "Too small order size", "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"),
    Reject.BELOW_MIN_COST: ("INVALID_SIZE_PRECISION", "Too small order size", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"),
    Reject.UNKNOWN_SYMBOL: ("INVALID_PRODUCT_ID", "Invalid product_id", "PREVIEW_INVALID_PRODUCT_ID"),
    Reject.DUPLICATE_CLIENT_ORDER_ID: ("UNKNOWN_FAILURE_REASON", "Duplicate client order id", ""),
}  # fmt: skip
_UNSUPPORTED: Final = (
    "UNSUPPORTED_ORDER_CONFIGURATION", "this simulator supports market_market_ioc only", "UNSUPPORTED_ORDER_CONFIGURATION"
)

_GRANULARITY_S: Final[dict[str, int]] = {
    "ONE_MINUTE": 60, "FIVE_MINUTE": 300, "FIFTEEN_MINUTE": 900, "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600, "TWO_HOUR": 7200, "SIX_HOUR": 21600, "ONE_DAY": 86400,
}  # fmt: skip
_CANDLES_MAX: Final = 350
_ORDERS_PAGE_DEFAULT, _ORDERS_PAGE_MAX = 100, 1000
_JWT_LEEWAY_S: Final = 5
_STATUS: Final = {OrderStatus.OPEN: "OPEN", OrderStatus.CLOSED: "FILLED", OrderStatus.CANCELED: "CANCELLED"}
_STATUS_BY_NAME: Final = {name: status for status, name in _STATUS.items()}


def _fmt(value: Decimal, decimals: int = 8) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN):f}"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")




def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _jwt_parts(request: Request) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes] | None:
    """(header, claims, signed bytes, signature) of the request's bearer token, unverified."""
    auth = request.header("Authorization") or ""
    if not auth.startswith("Bearer "):
        return None
    token = auth[len("Bearer ") :]
    try:
        head, body, signature = token.split(".")
        header, claims = json.loads(_b64url(head)), json.loads(_b64url(body))
        raw_signature = _b64url(signature)
    except ValueError:
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims, f"{head}.{body}".encode(), raw_signature


class CoinbaseVenue(Venue):
    name = "coinbase"
    taker_fee = Decimal("0.006")
    maker_fee = Decimal("0.004")
    client_order_id_param = "client_order_id"

    def __init__(self, seed: int = 0) -> None:
        self._public_keys: dict[str, ec.EllipticCurvePublicKey] = {}
        super().__init__(seed)

    def default_markets(self) -> list[tuple[Market, Decimal]]:
        return list(_DEFAULT_MARKETS)

    def new_secret(self) -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        return pem.decode()  # "-----BEGIN EC PRIVATE KEY-----...", as a CDP key download

    def new_order_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def new_fill_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    @staticmethod
    def _multi(request: Request, name: str) -> list[str]:
        """A query parameter that may repeat (`product_ids=A&product_ids=B`), also comma-separated."""
        values = parse_qs(request.query_string).get(name, [])
        return [v for value in values for v in value.split(",") if v]

    # -- auth -------------------------------------------------------------------------------

    def api_key_of(self, request: Request) -> str | None:
        parts = _jwt_parts(request)
        kid = parts[0].get("kid") if parts is not None else None
        return str(kid) if kid is not None else None

    def _public_key(self, account: Account) -> ec.EllipticCurvePublicKey:
        found = self._public_keys.get(account.secret)
        if found is None:
            try:
                private = serialization.load_pem_private_key(account.secret.encode(), None)
            except ValueError:
                raise VenueError(Reject.INVALID_SIGNATURE, "account secret is not a PEM key") from None
            if not isinstance(private, ec.EllipticCurvePrivateKey):
                raise VenueError(Reject.INVALID_SIGNATURE, "account secret is not an EC key")
            found = self._public_keys[account.secret] = private.public_key()
        return found

    def authenticate(self, request: Request) -> Account:
        parts = _jwt_parts(request)
        if parts is None:
            raise VenueError(Reject.INVALID_KEY, "no bearer token")
        header, claims, signed, signature = parts
        account = self.book.account(str(header.get("kid")))
        if account is None:
            raise VenueError(Reject.INVALID_KEY)
        if header.get("alg") != "ES256" or len(signature) != 64:
            raise VenueError(Reject.INVALID_SIGNATURE, "alg")
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        try:
            self._public_key(account).verify(der, signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise VenueError(Reject.INVALID_SIGNATURE) from None
        audience = claims.get("aud") or []
        if claims.get("sub") != account.api_key or claims.get("iss") != "coinbase-cloud":
            raise VenueError(Reject.INVALID_SIGNATURE, "claims")
        if "retail_rest_api_proxy" not in (audience if isinstance(audience, list) else [audience]):
            raise VenueError(Reject.INVALID_SIGNATURE, "aud")
        if claims.get("uri") not in self._accepted_uris(request):
            raise VenueError(Reject.INVALID_SIGNATURE, f"uri {claims.get('uri')!r}")
        self._check_times(account, claims)
        if account.rate is not None and not account.rate.try_spend(Decimal(1), time.monotonic()):
            raise VenueError(Reject.RATE_LIMIT)
        return account

    @staticmethod
    def _accepted_uris(request: Request) -> set[str]:
        host = request.header("Host") or ""
        path = request.full_path.split("?", 1)[0]
        return {f"{request.method} {host}{path}", f"{request.method} http://{host}{path}"}

    def _check_times(self, account: Account, claims: dict[str, Any]) -> None:
        now = self.now_s()
        try:
            not_before, expires = float(claims["nbf"]), float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            raise VenueError(Reject.INVALID_SIGNATURE, "nbf/exp") from None
        if now < not_before - _JWT_LEEWAY_S or now >= expires:
            account.invalid_nonces += 1
            raise VenueError(Reject.INVALID_NONCE, f"nbf {not_before}, exp {expires}, now {now:.0f}")

    def error_reply(self, error: VenueError) -> Reply:
        if error.kind in (Reject.INVALID_KEY, Reject.INVALID_SIGNATURE):
            return _UNAUTHORIZED
        if error.kind is Reject.UNKNOWN_ROUTE:
            return _NOT_FOUND_ROUTE
        if error.kind in _ORDER_ERRORS and error.kind is not Reject.UNKNOWN_SYMBOL:
            return Reply.json(self._create_failure(_ORDER_ERRORS[error.kind], {}))
        status, payload = _ERRORS[error.kind]
        return Reply.json(payload, status=status)

    @staticmethod
    def _create_failure(reason: tuple[str, str, str], configuration: dict[str, Any]) -> dict[str, Any]:
        code, message, preview = reason
        return {
            "success": False,
            "failure_reason": "UNKNOWN_FAILURE_REASON",
            "order_id": "",
            "error_response": {
                "error": code,
                "message": message,
                "error_details": message,
                "preview_failure_reason": preview,
                "new_order_failure_reason": code,
            },
            "order_configuration": configuration,
        }

    # -- public: v2 reference data ----------------------------------------------------------

    def _codes(self) -> list[str]:
        return sorted({m.base for m in self.book.markets.values()} | {m.quote for m in self.book.markets.values()})

    @route("GET", "/v2/currencies")
    def fiat_currencies(self, call: Call) -> Reply:
        fiat = [c for c in self._codes() if c in _FIAT]
        return Reply.json({"data": [{"id": c, "name": _NAMES.get(c, c), "min_size": "0.01"} for c in fiat]})

    @route("GET", "/v2/currencies/crypto")
    def crypto_currencies(self, call: Call) -> Reply:
        crypto = [c for c in self._codes() if c not in _FIAT]
        data = [
            {
                "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"coinbase-asset:{c}")),
                "code": c,
                "name": _NAMES.get(c, c),
                "color": "#000000",
                "sort_index": i,
                "exponent": 8,
                "type": "crypto",
                "address_regex": "^.+$",
            }
            for i, c in enumerate(crypto)
        ]
        return Reply.json({"data": data})

    @route("GET", "/v2/exchange-rates")
    def exchange_rates(self, call: Call) -> Reply:
        currency = str(call.params.get("currency", "USD"))
        rates = {currency: "1"}
        for market in self.book.markets.values():
            if market.quote == currency:
                rates[market.base] = str(Decimal(1) / self.book.prices[market.symbol])
        return Reply.json({"data": {"currency": currency, "rates": rates}})

    @route("GET", "/v2/time")
    def v2_time(self, call: Call) -> Reply:
        now = self.now_s()
        return Reply.json({"data": {"iso": _iso(now), "epoch": int(now)}})

    @route("GET", "/api/v3/brokerage/time")
    def v3_time(self, call: Call) -> Reply:
        now = self.now_s()
        return Reply.json({"iso": _iso(now), "epochSeconds": str(int(now)), "epochMillis": str(int(now * 1000))})

    # -- public and private: products, tickers, candles -------------------------------------

    @route("GET", "/api/v3/brokerage/market/products")
    def public_products(self, call: Call) -> Reply:
        return self._products(call)

    @route("GET", "/api/v3/brokerage/products", private=True)
    def products(self, call: Call) -> Reply:
        return self._products(call)

    def _products(self, call: Call) -> Reply:
        if call.params.get("product_type") not in (None, "", "SPOT"):
            return Reply.json({"products": [], "num_products": 0})  # FUTURE: spot-only simulator
        wanted = self._multi(call.request, "product_ids")
        markets = [self._market_of(p) for p in wanted] if wanted else list(self.book.markets.values())
        products = [self._product_json(m) for m in markets]
        return Reply.json({"products": products, "num_products": len(products)})

    @route("GET", "/api/v3/brokerage/market/products/{product_id}")
    def public_product(self, call: Call) -> Reply:
        return Reply.json(self._product_json(self._market_of(call.path_params["product_id"])))

    @route("GET", "/api/v3/brokerage/products/{product_id}", private=True)
    def product(self, call: Call) -> Reply:
        return self.public_product(call)

    def _product_json(self, market: Market) -> dict[str, Any]:
        price = self.book.prices[market.symbol]
        increment = str(Decimal(1).scaleb(-market.price_decimals))
        return {
            "product_id": self.market_id(market),
            "price": _fmt(price, market.price_decimals),
            "price_percentage_change_24h": "0",
            "volume_24h": "100",
            "volume_percentage_change_24h": "0",
            "base_increment": str(Decimal(1).scaleb(-market.amount_decimals)),
            "quote_increment": increment,
            "quote_min_size": str(market.min_cost),
            "quote_max_size": "150000000",
            "base_min_size": str(market.min_amount),
            "base_max_size": "3400",
            "base_name": _NAMES.get(market.base, market.base),
            "quote_name": _NAMES.get(market.quote, market.quote),
            "watched": False,
            "is_disabled": False,
            "new": False,
            "status": "online",
            "cancel_only": False,
            "limit_only": False,
            "post_only": False,
            "trading_disabled": False,
            "auction_mode": False,
            "product_type": "SPOT",
            "quote_currency_id": market.quote,
            "base_currency_id": market.base,
            "fcm_trading_session_details": None,
            "mid_market_price": "",
            **self._aliases(market),
            "base_display_symbol": market.base,
            "quote_display_symbol": market.quote,
            "view_only": False,
            "price_increment": increment,
            "display_name": self.market_id(market),
            "product_venue": "CBE",
            "approximate_quote_24h_volume": _fmt(price * 100, 2),
        }

    def _aliases(self, market: Market) -> dict[str, Any]:
        """Coinbase's unified USD/USDC books, as its products answer shows them: BTC-USDC carries
        `alias` "BTC-USD", BTC-USD carries `alias_to` ["BTC-USDC"]; an unpaired product neither."""
        if market.quote == "USDC" and f"{market.base}/USD" in self.book.markets:
            return {"alias": f"{market.base}-USD", "alias_to": []}
        if market.quote == "USD" and f"{market.base}/USDC" in self.book.markets:
            return {"alias": "", "alias_to": [f"{market.base}-USDC"]}
        return {"alias": "", "alias_to": []}

    @route("GET", "/api/v3/brokerage/market/products/{product_id}/ticker")
    def public_ticker(self, call: Call) -> Reply:
        market = self._market_of(call.path_params["product_id"])
        price = _fmt(self.book.prices[market.symbol], market.price_decimals)
        trade = {
            "trade_id": "1",
            "product_id": self.market_id(market),
            "price": price,
            "size": "0.001",
            "time": _iso(self.now_s()),
            "side": "BUY",
            "bid": "",
            "ask": "",
        }
        return Reply.json({"trades": [trade], "best_bid": price, "best_ask": price})

    @route("GET", "/api/v3/brokerage/products/{product_id}/ticker", private=True)
    def ticker(self, call: Call) -> Reply:
        return self.public_ticker(call)

    @route("GET", "/api/v3/brokerage/best_bid_ask", private=True)
    def best_bid_ask(self, call: Call) -> Reply:
        wanted = self._multi(call.request, "product_ids")
        markets = [self._market_of(p) for p in wanted] if wanted else list(self.book.markets.values())
        books = []
        for market in markets:
            level = [{"price": _fmt(self.book.prices[market.symbol], market.price_decimals), "size": "1"}]
            product_id = self.market_id(market)
            books.append({"product_id": product_id, "bids": level, "asks": level, "time": _iso(self.now_s())})
        return Reply.json({"pricebooks": books})

    @route("GET", "/api/v3/brokerage/market/products/{product_id}/candles")
    def public_candles(self, call: Call) -> Reply:
        params = call.params
        market = self._market_of(call.path_params["product_id"])
        interval_s = _GRANULARITY_S.get(str(params.get("granularity")))
        if interval_s is None:
            raise VenueError(Reject.BAD_REQUEST, "granularity")
        start = int(request_decimal(params.get("start"), "start"))
        end = int(request_decimal(params.get("end"), "end"))
        if end < start or (end - start) // interval_s > _CANDLES_MAX:
            raise VenueError(Reject.BAD_REQUEST, "number of candles requested should be less than 350")
        bars = [c for c in self.book.candles(market.symbol, interval_s) if start <= c.ts_s <= end]
        if params.get("limit") not in (None, ""):
            bars = bars[-int(request_decimal(params["limit"], "limit")) :]
        return Reply.json({"candles": [self._candle_json(c, market) for c in reversed(bars)]})  # newest first

    @route("GET", "/api/v3/brokerage/products/{product_id}/candles", private=True)
    def candles(self, call: Call) -> Reply:
        return self.public_candles(call)

    @staticmethod
    def _candle_json(candle: Candle, market: Market) -> dict[str, str]:
        p = market.price_decimals
        return {
            "start": str(candle.ts_s),
            "low": _fmt(candle.low, p),
            "high": _fmt(candle.high, p),
            "open": _fmt(candle.open, p),
            "close": _fmt(candle.close, p),
            "volume": _fmt(candle.volume),
        }

    # -- private: fees and balances ---------------------------------------------------------

    @route("GET", "/api/v3/brokerage/transaction_summary", private=True)
    def transaction_summary(self, call: Call) -> Reply:
        account = call.require_account()
        fills = call.book.fills_of(account)
        fee_tier = {
            "pricing_tier": "Advanced 1",
            "usd_from": "0",
            "usd_to": "1000",
            "taker_fee_rate": str(self.taker_fee),
            "maker_fee_rate": str(self.maker_fee),
            "aop_from": "",
            "aop_to": "",
        }
        return Reply.json(
            {
                "total_volume": float(sum((f.cost for f in fills), Decimal(0))),
                "total_fees": float(sum((f.fee for f in fills), Decimal(0))),
                "fee_tier": fee_tier,
                "margin_rate": None,
                "goods_and_services_tax": None,
                "advanced_trade_only_volume": 0,
                "advanced_trade_only_fees": 0,
                "coinbase_pro_volume": 0,
                "coinbase_pro_fees": 0,
                "total_balance": "",
                "has_promo_fee": False,
            }
        )

    def _wallet_id(self, account: Account, code: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"coinbase-wallet:{account.api_key}:{code}"))

    def _wallet_codes(self, account: Account) -> list[str]:
        return sorted(set(account.balances) | set(account.holds))

    @route("GET", "/v2/accounts", private=True)
    def v2_accounts(self, call: Call) -> Reply:
        account = call.require_account()
        now = _iso(self.now_s())
        data = []
        for code in self._wallet_codes(account):
            wallet_id = self._wallet_id(account, code)
            data.append(
                {
                    "id": wallet_id,
                    "name": f"{code} Wallet",
                    "primary": False,
                    "type": "fiat" if code in _FIAT else "wallet",
                    "currency": {"code": code, "name": _NAMES.get(code, code), "exponent": 2 if code in _FIAT else 8,
                                 "type": "fiat" if code in _FIAT else "crypto"},
                    "balance": {"amount": _fmt(account.total(code)), "currency": code},
                    "created_at": now,
                    "updated_at": now,
                    "resource": "account",
                    "resource_path": f"/v2/accounts/{wallet_id}",
                    "allow_deposits": True,
                    "allow_withdrawals": True,
                }
            )  # fmt: skip
        pagination = {
            "ending_before": None,
            "starting_after": None,
            "previous_ending_before": None,
            "next_starting_after": None,
            "limit": int(request_decimal(call.params.get("limit", 25), "limit")),
            "order": "desc",
            "previous_uri": None,
            "next_uri": None,
        }
        return Reply.json({"pagination": pagination, "data": data})

    @route("GET", "/api/v3/brokerage/accounts", private=True)
    def v3_accounts(self, call: Call) -> Reply:
        account = call.require_account()
        now = _iso(self.now_s())
        accounts = [
            {
                "uuid": self._wallet_id(account, code),
                "name": f"{code} Wallet",
                "currency": code,
                "available_balance": {"value": _fmt(account.free(code)), "currency": code},
                "default": True,
                "active": True,
                "created_at": now,
                "updated_at": now,
                "deleted_at": None,
                "type": "ACCOUNT_TYPE_FIAT" if code in _FIAT else "ACCOUNT_TYPE_CRYPTO",
                "ready": True,
                "hold": {"value": _fmt(account.held(code)), "currency": code},
                "retail_portfolio_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"coinbase-portfolio:{account.api_key}")),
            }
            for code in self._wallet_codes(account)
        ]
        return Reply.json({"accounts": accounts, "has_next": False, "cursor": "", "size": len(accounts)})

    # -- private: orders --------------------------------------------------------------------

    @route("GET", "/api/v3/brokerage/key_permissions", private=True)
    def key_permissions(self, call: Call) -> Reply:
        account = call.require_account()
        return Reply.json({
            "can_view": True, "can_trade": account.can_trade, "can_transfer": account.can_withdraw,
            "portfolio_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"coinbase-portfolio:{account.api_key}")),
            "portfolio_type": "DEFAULT",
        })  # fmt: skip

    @route("POST", "/api/v3/brokerage/orders/preview", private=True)
    def preview_order(self, call: Call) -> Reply:
        # Validates a market order and prices it; places nothing. Refusals come back in `errs`.
        account = call.require_account()
        params = call.params
        market = self._market_of(str(params.get("product_id")))
        market_ioc = (params.get("order_configuration") or {}).get("market_market_ioc") or {}
        quote = request_decimal(market_ioc.get("quote_size", "0"), "quote_size")
        price = self.book.prices[market.symbol]
        fee = (quote * self.taker_fee).quantize(Decimal("0.00000001"))
        errs = []
        if quote < market.min_cost:
            errs.append("PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL")
        elif quote + fee > account.free(market.quote):
            errs.append("PREVIEW_INSUFFICIENT_FUND")
        return Reply.json({
            "order_total": str(quote + fee), "commission_total": str(fee), "errs": errs, "warning": [],
            "quote_size": str(quote), "base_size": str((quote / price).quantize(Decimal(1).scaleb(-market.amount_decimals))),
            "best_bid": str(price), "best_ask": str(price), "is_max": False, "preview_id": str(uuid.uuid4()),
        })  # fmt: skip

    @route("POST", "/api/v3/brokerage/orders", private=True, creates_order=True)
    def create_order(self, call: Call) -> Reply:
        account = call.require_account()
        params = call.params
        configuration = params.get("order_configuration")
        client_order_id = str(params.get("client_order_id") or "")
        if not client_order_id or not isinstance(configuration, dict):
            raise VenueError(Reject.BAD_REQUEST, "client_order_id" if not client_order_id else "order_configuration")
        market_ioc = configuration.get("market_market_ioc")
        if set(configuration) != {"market_market_ioc"} or not isinstance(market_ioc, dict):
            return Reply.json(self._create_failure(_UNSUPPORTED, configuration))
        try:
            side = Side(str(params.get("side", "")).lower())
        except ValueError:
            raise VenueError(Reject.BAD_REQUEST, "side") from None
        existing = call.book.orders_of(account, client_order_id=client_order_id)
        if existing:  # Coinbase answers a reused client_order_id with the order it already has
            return Reply.json(self._create_success(existing[-1], configuration))
        try:
            order = self._place(call, account, str(params.get("product_id")), side, market_ioc, client_order_id)
        except VenueError as error:
            if error.kind not in _ORDER_ERRORS:
                raise
            return Reply.json(self._create_failure(_ORDER_ERRORS[error.kind], configuration))
        return Reply.json(self._create_success(order, configuration))

    def _place(
        self, call: Call, account: Account, product_id: str, side: Side, market_ioc: dict[str, Any], client_id: str
    ) -> Order:
        market = self._market_of(product_id)
        quote_size, base_size = market_ioc.get("quote_size"), market_ioc.get("base_size")
        if (quote_size is None) == (base_size is None):
            raise VenueError(Reject.BAD_REQUEST, "base_size")
        if quote_size is not None and side is Side.SELL:
            raise VenueError(Reject.BAD_REQUEST, "quote_size")  # sells are sized in base here
        quote = request_decimal(quote_size, "quote_size") if quote_size is not None else None
        volume = request_decimal(base_size, "base_size") if base_size is not None else None
        if volume is not None and -volume.as_tuple().exponent > market.amount_decimals:
            raise VenueError(Reject.BELOW_MIN_AMOUNT, "base_increment")
        if quote is not None and quote < market.min_cost:
            raise VenueError(Reject.BELOW_MIN_COST, f"{quote} < {market.min_cost}")
        return call.book.place_market_order(
            account,
            market.symbol,
            side,
            volume=volume,
            quote_cost=quote,
            client_order_id=client_id,
            fill_fraction=call.fill_fraction,
            extra={"configuration": json.dumps({"market_market_ioc": market_ioc})},
        )

    def _create_success(self, order: Order, configuration: dict[str, Any]) -> dict[str, Any]:
        market = self.book.markets[order.symbol]
        return {
            "success": True,
            "failure_reason": "UNKNOWN_FAILURE_REASON",
            "order_id": order.order_id,
            "success_response": {
                "order_id": order.order_id,
                "product_id": self.market_id(market),
                "side": str(order.side).upper(),
                "client_order_id": order.client_order_id,
                "attached_order_id": "",
            },
            "order_configuration": configuration,
        }

    def _order_json(self, order: Order) -> dict[str, Any]:
        market = self.book.markets[order.symbol]
        fills = [f for f in self.book.fills if f.order_id == order.order_id]
        average = order.average
        after_fees = order.cost + order.fee if order.side is Side.BUY else order.cost - order.fee
        configuration = json.loads(order.extra.get("configuration", "{}")) or {
            "market_market_ioc": {"base_size": _fmt(order.volume)}
        }
        return {
            "order_id": order.order_id,
            "product_id": self.market_id(market),
            "user_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"coinbase-user:{order.api_key}")),
            "order_configuration": configuration,
            "side": str(order.side).upper(),
            "client_order_id": order.client_order_id or "",
            "status": _STATUS[order.status],
            "time_in_force": "IMMEDIATE_OR_CANCEL",
            "created_time": _iso(order.created_at_s),
            "completion_percentage": _fmt(order.filled / order.volume * 100, 2) if order.volume else "0",
            "filled_size": _fmt(order.filled),
            "average_filled_price": _fmt(average, 10) if average is not None else "0",
            "fee": "",
            "number_of_fills": str(len(fills)),
            "filled_value": _fmt(order.cost),
            "pending_cancel": False,
            "size_in_quote": order.quote_volume is not None,
            "total_fees": _fmt(order.fee),
            "size_inclusive_of_fees": False,
            "total_value_after_fees": _fmt(after_fees),
            "trigger_status": "INVALID_ORDER_TYPE",
            "order_type": "MARKET",
            "reject_reason": "REJECT_REASON_UNSPECIFIED",
            "settled": order.status is not OrderStatus.OPEN,
            "product_type": "SPOT",
            "reject_message": "",
            "cancel_message": "User requested cancel" if order.status is OrderStatus.CANCELED else "",
            "order_placement_source": "RETAIL_ADVANCED",
            "outstanding_hold_amount": _fmt(order.hold_amount),
            "is_liquidation": False,
            "last_fill_time": _iso(fills[-1].ts_s) if fills else None,
            "edit_history": [],
            "leverage": "",
            "margin_type": "UNKNOWN_MARGIN_TYPE",
            "retail_portfolio_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"coinbase-portfolio:{order.api_key}")),
        }

    # Declared before `historical/{order_id}`: routes match in declaration order and "batch"
    # would otherwise be taken for an order id.
    @route("GET", "/api/v3/brokerage/orders/historical/batch", private=True)
    def list_orders(self, call: Call) -> Reply:
        account = call.require_account()
        request = call.request
        # Only `product_ids` filters: the docs list no other name, so the legacy `product_id` ccxt's
        # fetch_orders sends is ignored (the stricter reading: the list spans every product).
        products = self._multi(request, "product_ids")
        symbols = {self._market_of(p).symbol for p in products}
        statuses = set()
        for name in self._multi(request, "order_status"):
            if name not in _STATUS_BY_NAME:
                raise VenueError(Reject.BAD_REQUEST, "order_status")
            statuses.add(_STATUS_BY_NAME[name])
        orders = [
            o for o in call.book.orders_of(account, statuses or None) if not symbols or o.symbol in symbols
        ]
        params = call.params
        if params.get("start_date"):
            start = datetime.fromisoformat(str(params["start_date"]).replace("Z", "+00:00")).timestamp()
            orders = [o for o in orders if o.created_at_s >= start]
        if params.get("end_date"):
            end = datetime.fromisoformat(str(params["end_date"]).replace("Z", "+00:00")).timestamp()
            orders = [o for o in orders if o.created_at_s <= end]
        newest_first = sorted(orders, key=lambda o: o.created_at_s, reverse=True)
        offset = int(request_decimal(params.get("cursor") or 0, "cursor"))
        limit = min(int(request_decimal(params.get("limit") or _ORDERS_PAGE_DEFAULT, "limit")), _ORDERS_PAGE_MAX)
        page = newest_first[offset : offset + limit]
        has_next = offset + limit < len(newest_first)
        return Reply.json(
            {
                "orders": [self._order_json(o) for o in page],
                "sequence": "0",
                "has_next": has_next,
                "cursor": str(offset + limit) if has_next else "",
            }
        )

    @route("GET", "/api/v3/brokerage/orders/historical/{order_id}", private=True)
    def get_order(self, call: Call) -> Reply:
        account = call.require_account()
        order = call.book.order(account, call.path_params["order_id"])
        if order is None:
            raise VenueError(Reject.UNKNOWN_ORDER, call.path_params["order_id"])
        return Reply.json({"order": self._order_json(order)})

    @route("POST", "/api/v3/brokerage/orders/batch_cancel", private=True)
    def batch_cancel(self, call: Call) -> Reply:
        account = call.require_account()
        order_ids = call.params.get("order_ids")
        if not isinstance(order_ids, list) or not order_ids:
            raise VenueError(Reject.BAD_REQUEST, "order_ids")
        results = []
        for order_id in order_ids:
            order = call.book.order(account, str(order_id))
            if order is None or order.status is not OrderStatus.OPEN:
                results.append({"success": False, "failure_reason": "UNKNOWN_CANCEL_ORDER", "order_id": str(order_id)})
                continue
            call.book.cancel_order(order)
            results.append(
                {"success": True, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON", "order_id": order.order_id}
            )
        return Reply.json({"results": results})


VENUE = CoinbaseVenue
