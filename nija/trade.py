"""`python -m nija.trade buy|sell SYMBOL AMOUNT --broker NAME [--quote|--base] [--timeout S]`: a
manual master trade through the same order lifecycle as the daemon's own.
`python -m nija.trade halt|resume --broker NAME`: the operator's per-broker kill switch.
`python -m nija.trade follower disable|enable|resume NAME` and `follower list`: the operator's
controls of one follower, applied by the running daemon without a restart (`follower_commands`).

An account has one writer. While the daemon runs, the trade is written to the store's inbox and
the broker loop that owns the master account executes it between its cycles; this command waits
(at most `--timeout` seconds, then cancels an intent no loop took) and prints the outcome. With
no daemon running, it executes the trade itself while holding the data dir's lock (a paper master
at the prices the daemon last published). Either way the fill is recorded like any master fill and
copied to the followers. Exit codes: 0 filled, 1 refused or not filled, 2 bad arguments or
settings, or a store of the other mode (paper/live) or of another account, 3 no daemon store,
4 outcome unknown. A buy is refused while the broker is halted, under
ENTRY_BLOCKING=true or while EMERGENCY_STOP exists; sells always go.

Outcome unknown (exit 4): the order was sent but the venue's answer was lost (a timeout, a dropped
connection), or the daemon had not finished it by `--timeout`. It may have filled. NIJA looks it
up by its client order id at every cycle until the venue's answer settles it, and never sends it
again; this command waits for that within `--timeout`. Do not repeat such a trade: a new command
is a new order. Its outcome shows in `python -m nija.status`.

In live mode (NIJA_MODE=live) a trade goes to the broker's live master account or nowhere: without
that broker's master credentials it is refused (exit 2) before anything is written. With no
daemon running, a paper trade on prices the daemon published more than 3 cycles ago is refused.
SYMBOL is normalised (`btc-usd` is `BTC/USD`); an AMOUNT above 1e12 is refused as absurd.

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
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import TextIO

from nija.brokers.base import BrokerError
from nija.brokers.fees import configure_fees
from nija.build import (
    Shared,
    loop_config,
    manual_master_broker,
    master_key_fingerprints,
)
from nija.config import ConfigError, Settings, load_settings, normalise_symbol
from nija.datadir import DataDirLock
from nija.execution.executor import OrderExecutor
from nija.follower_commands import follower_main
from nija.logs import configure_logging, get_logger
from nija.models import (
    MASTER_ACCOUNT,
    OPEN_ORDER_STATUSES,
    BrokerName,
    IntentStatus,
    QuantityUnit,
    Side,
    client_order_id_for,
)
from nija.store import ManualIntent, Store, StoreMismatch, StoreUnavailable, db_path
from nija.trading.guard import entry_block_reason
from nija.trading.halt import halt_path, read_halt, write_halt
from nija.trading.manual import execute_manual_intent

__all__ = ["main"]

MAX_AMOUNT = Decimal("1e12")  # more than any account holds of any asset or currency
EXIT_OUTCOME_UNKNOWN = 4  # sent, may have filled: a script must not repeat the trade
_UNSETTLED = frozenset(str(status) for status in OPEN_ORDER_STATUSES)


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
        epilog="also: python -m nija.trade halt|resume --broker NAME (per-broker kill switch);"
        " python -m nija.trade follower disable|enable|resume NAME, follower list (one follower)",
    )
    parser.add_argument("side", choices=[side.value for side in Side])
    parser.add_argument("symbol", help="unified symbol, e.g. BTC/USD or BTC-USD (AAPL on Alpaca)")
    parser.add_argument("amount", type=_amount, help="how much: quote currency with --quote, base asset with --base")
    parser.add_argument("--broker", required=True, choices=[b.value for b in BrokerName])
    unit = parser.add_mutually_exclusive_group()
    unit.add_argument("--quote", action="store_true", help="AMOUNT in quote currency (buys only; the default for buys)")
    unit.add_argument("--base", action="store_true", help="AMOUNT in the base asset (the default, and the only unit, for sells)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the running daemon to execute the trade (default 60)")
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


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Make one manual master trade (or halt/resume a broker, or control a follower); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("halt", "resume"):
        return _switch(argv, out, err)
    if argv and argv[0] == "follower":
        return follower_main(argv[1:], out, err)
    args = _parser().parse_args(argv)
    side, name = Side(args.side), BrokerName(args.broker)
    if args.amount > MAX_AMOUNT:
        print(f"nija trade: AMOUNT {args.amount} is absurd: above {MAX_AMOUNT:,.0f}, more than any account"
              " holds; nothing was traded", file=err)
        return 2
    try:
        symbol = normalise_symbol(args.symbol, tickers=name is BrokerName.ALPACA)
    except ValueError as exc:
        print(f"nija trade: SYMBOL {args.symbol.strip()[:40]!r}: {exc}", file=err)
        return 2
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
    if settings.mode == "live" and name not in settings.configured_live_brokers():
        # Never a paper fill in live mode: a live daemon would copy it to real follower accounts.
        missing = " and ".join(settings.missing_master_credentials(name))
        print(f"nija trade: NIJA_MODE=live but {name} has no master credentials ({missing} not set):"
              " a live manual trade needs that broker's live account; nothing was traded", file=err)
        return 2
    configure_logging(settings.log_format, settings.log_level, settings.secret_values(), stream=err)
    if side is Side.BUY and symbol in settings.disabled_pairs:
        print(f"nija trade: {symbol} is in DISABLED_PAIRS: buys are refused, sells go", file=err)
        return 1
    if side is Side.BUY:  # refused before anything is written; the loop checks again with equity
        rules = loop_config(settings).entry_rules  # the loop's entry rule, switches included
        halted = rules.switches.halted(name)
        if halted is not None:
            print(f"nija trade: {name} is halted ({halted}): buys are refused;"
                  f" resume with python -m nija.trade resume --broker {name}", file=err)
            return 1
        blocked = entry_block_reason(rules, name, None)
        if blocked is not None:
            print(f"nija trade: {blocked}: buys are refused, sells go", file=err)
            return 1
    mode = "live" if settings.mode == "live" and settings.configured_live_brokers() else "paper"  # as the daemon
    try:
        probe = Store(db_path(settings.data_dir), readonly=True)
        try:  # a paper trade never lands in a live store, nor one account's trade in another's
            keys = master_key_fingerprints(settings, mode)
            probe.check_owner(mode, {k: v for k, v in keys.items() if k[0] == name})
        finally:
            probe.close()
    except StoreUnavailable as exc:
        print(f"nija trade: {exc} (start the daemon first: ./start.sh)", file=err)
        return 3
    except StoreMismatch as exc:
        print(f"nija trade: {exc}", file=err)
        return 2
    cid = client_order_id_for("manual", name, symbol, side, args.amount, time.time_ns())
    store = Store(db_path(settings.data_dir))
    lock = DataDirLock(settings.data_dir)
    try:
        intent_id = store.add_manual_intent(name, symbol, side, args.amount, unit, cid)
        lock_was_free = lock.acquire()
        if lock_was_free:  # no daemon: this process is the account's one writer now
            try:
                intent = _execute_here(settings, name, store, intent_id, err)
            finally:
                lock.release()
        else:  # the daemon's loop owns the account: it executes the intent
            intent = _wait_for_daemon(store, intent_id, args.timeout)
        if intent is None:
            return 1
    finally:
        store.close()
    return _report(intent, out, err, daemon=not lock_was_free)


def _execute_here(settings: Settings, name: BrokerName, store: Store, intent_id: int, err: TextIO) -> ManualIntent | None:
    """Execute the intent in this process (no daemon runs), as the broker loop would."""
    log = get_logger("nija.trade", broker=str(name), account=MASTER_ACCOUNT)
    intent = store.manual_intent(intent_id)
    assert intent is not None
    try:
        broker = manual_master_broker(settings, name, store, Shared(), log)
    except BrokerError as exc:
        store.move_manual_intent(intent_id, IntentStatus.CANCELED)
        print(f"nija trade: {exc}", file=err)
        return None
    try:
        execute_manual_intent(intent, broker, store, OrderExecutor(broker, store, log), loop_config(settings).entry_rules, log)
    finally:
        broker.close()
    return store.manual_intent(intent_id)


def _wait_for_daemon(store: Store, intent_id: int, timeout: float) -> ManualIntent | None:
    """Wait (bounded) for the daemon's loop to execute the intent, and for reconciliation to settle
    an order whose answer was lost; cancel the intent if no loop took it."""
    waiting = threading.Event()  # never set: its wait is the poll interval
    deadline = time.monotonic() + timeout
    while True:
        intent = store.manual_intent(intent_id)
        if intent is not None and intent.status is IntentStatus.REFUSED:
            return intent
        if intent is not None and intent.status is IntentStatus.DONE:
            intent = _with_settled_order(store, intent)
            if not _unsettled(intent) or time.monotonic() >= deadline:
                return intent
        elif time.monotonic() >= deadline:
            break
        waiting.wait(0.2)
    if store.move_manual_intent(intent_id, IntentStatus.CANCELED):
        return replace(intent, status=IntentStatus.CANCELED, error=f"no broker loop took it within {timeout:g}s"
                       " (is that broker running? see python -m nija.status); canceled, nothing was sent")
    intent = store.manual_intent(intent_id)  # a loop took it meanwhile (or has just answered it)
    if intent is not None and intent.status is IntentStatus.TAKEN:
        return replace(intent, error=f"still executing after {timeout:g}s")
    return intent if intent is None else _with_settled_order(store, intent)


def _with_settled_order(store: Store, intent: ManualIntent) -> ManualIntent:
    """The intent with its order's outcome as reconciliation has settled it since (the intent
    keeps the order as it was when executed)."""
    if not _unsettled(intent):
        return intent
    order = store.get_order(intent.client_order_id)
    if order is None or order.status in OPEN_ORDER_STATUSES:
        return intent
    return replace(
        intent, order_status=str(order.status), filled_qty=order.filled_qty, avg_price=order.avg_price,
        fee=order.fee, error=order.error,
    )


def _unsettled(intent: ManualIntent) -> bool:
    """Sent, but nothing filled yet and the venue's last word is not final (or was lost)."""
    return intent.status is IntentStatus.DONE and not intent.filled_qty and intent.order_status in _UNSETTLED


def _report(intent: ManualIntent, out: TextIO, err: TextIO, *, daemon: bool) -> int:
    """Print the outcome; 0 when it filled, 1 refused or not filled, 4 outcome unknown."""
    if intent.status is IntentStatus.TAKEN or _unsettled(intent):
        who = "the running daemon looks it up" if daemon else "the daemon looks it up when it runs"
        print(
            f"nija trade: outcome unknown ({intent.error or intent.order_status or 'still executing'}); it may have"
            f" filled: do not repeat this trade. {who} by client order id {intent.client_order_id} until the venue"
            " settles it, and never sends it again; see python -m nija.status",
            file=err,
        )
        return EXIT_OUTCOME_UNKNOWN
    if intent.status is IntentStatus.DONE and intent.filled_qty:
        print(
            f"{intent.order_status} {intent.side} {intent.filled_qty} {intent.symbol} @ {intent.avg_price} on"
            f" {intent.broker} (fee {intent.fee}) client_order_id={intent.client_order_id}",
            file=out,
        )
        return 0
    if intent.status is IntentStatus.REFUSED:
        print(f"nija trade: {intent.error}", file=err)
    else:
        print(f"nija trade: not filled: {intent.error or intent.order_status or intent.status}", file=err)
    return 1


if __name__ == "__main__":
    sys.exit(main())
