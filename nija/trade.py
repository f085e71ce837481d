"""`python -m nija.trade buy|sell SYMBOL AMOUNT --broker NAME [--quote|--base]`: a manual master
trade through the same adapter and order path as the daemon's own.
`python -m nija.trade halt|resume --broker NAME`: the operator's per-broker kill switch.

The order is stored before it is sent and recorded like any master order; its fill writes a copy
signal into the store's outbox, which the running daemon's copy engine picks up. In paper mode
the paper master trades at the prices the daemon last published. Exit codes: 0 filled,
1 refused or not filled, 2 bad arguments or settings, 3 no daemon store. A buy is refused while
the broker is halted, under ENTRY_BLOCKING=true or while EMERGENCY_STOP exists; sells always go.

`halt` writes the broker's halt file (the running daemon turns that broker reduce-only at its
next cycle: no entries, its positions sold); `resume` removes it, the only way out of a halt,
whether the kill switch or an operator set it. The daemon then measures drawdown afresh.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import TextIO

from nija.app import live_broker, loop_config
from nija.brokers.base import Broker, BrokerError
from nija.brokers.ccxt import SharedMarkets
from nija.brokers.fees import configure_fees, fee_schedule
from nija.brokers.paper import BoardMarket, PaperBroker, PriceBoard
from nija.config import ConfigError, Settings, load_settings
from nija.logs import configure_logging, get_logger
from nija.models import BrokerName, OrderRequest, QuantityUnit, Side, client_order_id_for
from nija.store import Store, StoreUnavailable, db_path
from nija.trading.broker_loop import entry_block_reason
from nija.trading.halt import halt_path, read_halt, write_halt
from nija.trading.orders import OrderExecutor

__all__ = ["main"]

MASTER = "master"


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"AMOUNT must be a number, was {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"AMOUNT must be > 0, was {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nija.trade", description=__doc__.splitlines()[0],
        epilog="also: python -m nija.trade halt|resume --broker NAME (per-broker kill switch)",
    )
    parser.add_argument("side", choices=[side.value for side in Side])
    parser.add_argument("symbol", help="unified symbol, e.g. BTC/USD (AAPL on Alpaca)")
    parser.add_argument("amount", type=_amount, help="how much: quote currency with --quote, base asset with --base")
    parser.add_argument("--broker", required=True, choices=[b.value for b in BrokerName])
    unit = parser.add_mutually_exclusive_group()
    unit.add_argument("--quote", action="store_true", help="AMOUNT in quote currency (buys only; the default for buys)")
    unit.add_argument("--base", action="store_true", help="AMOUNT in the base asset (the default, and the only unit, for sells)")
    return parser


def _switch(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    """`halt|resume --broker NAME [--reason TEXT]`."""
    parser = argparse.ArgumentParser(prog="python -m nija.trade", description="halt or resume one broker")
    parser.add_argument("action", choices=["halt", "resume"])
    parser.add_argument("--broker", required=True, choices=[b.value for b in BrokerName])
    parser.add_argument("--reason", default="halted by operator (python -m nija.trade halt)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"nija trade: {exc}", file=err)
        return 2
    path = halt_path(settings.data_dir, BrokerName(args.broker))
    if args.action == "halt":
        write_halt(path, args.reason)
        print(f"{args.broker}: halted ({path}); the daemon stops its entries and closes its positions", file=out)
        return 0
    reason = read_halt(path)
    try:
        path.unlink()
    except FileNotFoundError:
        print(f"{args.broker}: not halted", file=out)
        return 0
    print(
        f"{args.broker}: resumed (was halted: {reason}); the daemon measures drawdown and"
        " daily loss afresh from the current equity at its next cycle",
        file=out,
    )
    return 0


def _master_broker(settings: Settings, name: BrokerName, store: Store) -> Broker:
    """The master account of `name`, as the daemon runs it."""
    if settings.mode == "live" and name in settings.configured_live_brokers():
        return live_broker(settings, name, SharedMarkets(), threading.Event(), get_logger("nija.trade"))
    prices, market_ms = store.paper_prices(name)
    if not prices:
        raise BrokerError(f"no paper prices for {name} yet: is the daemon running with {name} in NIJA_PAPER_BROKERS?")
    board = PriceBoard()
    board.publish(prices, market_ms)
    return PaperBroker(
        name, MASTER, store, BoardMarket(board, str(name)), fee_schedule(name),
        starting_cash=settings.paper_equity, slippage_bps=settings.paper_slippage_bps, check_feed=False,
    )


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Send one manual master order (or halt/resume a broker); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("halt", "resume"):
        return _switch(argv, out, err)
    args = _parser().parse_args(argv)
    side, name = Side(args.side), BrokerName(args.broker)
    if side is Side.SELL and args.quote:
        print("nija trade: a sell is sized in the base asset held (--base)", file=err)
        return 2
    unit = QuantityUnit.QUOTE if side is Side.BUY and not args.base else QuantityUnit.BASE
    try:
        settings = load_settings()
        configure_fees(settings.fee_overrides())
    except ConfigError as exc:
        print(f"nija trade: {exc}", file=err)
        return 2
    configure_logging(settings.log_format, settings.log_level, settings.secret_values(), stream=err)
    if side is Side.BUY:
        halted = read_halt(halt_path(settings.data_dir, name))
        if halted is not None:
            print(f"nija trade: {name} is halted ({halted}): buys are refused;"
                  f" resume with python -m nija.trade resume --broker {name}", file=err)
            return 1
        blocked = entry_block_reason(loop_config(settings), name, None)
        if blocked is not None:
            print(f"nija trade: {blocked}: buys are refused, sells go", file=err)
            return 1
    try:
        store = Store(db_path(settings.data_dir), readonly=True)
        store.close()
    except StoreUnavailable as exc:
        print(f"nija trade: {exc} (start the daemon first: ./start.sh)", file=err)
        return 3
    store = Store(db_path(settings.data_dir))
    try:
        broker = _master_broker(settings, name, store)
        if args.symbol not in broker.symbols():
            print(f"nija trade: {name} has no market {args.symbol}", file=err)
            return 2
        position = next((p for p in store.positions(name, MASTER) if p.symbol == args.symbol), None)
        equity = broker.balance_snapshot().total_equity
        blocked = entry_block_reason(loop_config(settings), name, equity) if side is Side.BUY else None
        if blocked is not None:  # now with the equity the Coinbase minimum needs
            print(f"nija trade: {blocked}: buys are refused, sells go", file=err)
            return 1
        request = OrderRequest(
            broker=name, account=MASTER, symbol=args.symbol, side=side, quantity=args.amount, unit=unit,
            client_order_id=client_order_id_for("manual", name, args.symbol, side, args.amount, time.time_ns()),
            reason="manual trade (python -m nija.trade)",
        )
        executor = OrderExecutor(broker, store, get_logger("nija.trade", broker=str(name), account=MASTER),
                                 master_equity=lambda: equity)
        report = executor.submit(request, position)
        if report is None or report.filled_qty <= 0:
            order = store.get_order(request.client_order_id)
            print(f"nija trade: not filled: {order.error if order else 'unknown'}", file=err)
            return 1
    except BrokerError as exc:
        print(f"nija trade: {exc}", file=err)
        return 1
    finally:
        store.close()
    print(
        f"{report.status} {side} {report.filled_qty} {args.symbol} @ {report.avg_price} on {name}"
        f" (fee {report.fee}) client_order_id={request.client_order_id}",
        file=out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
