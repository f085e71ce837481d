"""`python -m nija.backtest`: replay candle files through the daemon's own loop and report.

Bad input (a malformed or missing candle file, an unknown strategy or parameter, an empty date
range) is one line on stderr and exit 2, never a traceback. `--help` exits 0 and creates nothing.
Ctrl-C is one line too ("interrupted"), exit 130, and leaves nothing behind (a run's store is in memory).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from nija.backtest.candles import CandleFile
    from nija.backtest.engine import RunSpec

__all__ = ["main"]

_DEFAULT_OUT = Path("data/backtest")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the usage is in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"must be a number, was {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, was {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m nija.backtest",
        description="Replay candle files (timestamp,open,high,low,close,volume; ms; BASE-QUOTE-5m.csv) through the"
        " daemon's own broker loop, strategy, risk rules, execution and paper broker, and report against buy-and-hold.",
    )
    parser.add_argument("--data", nargs="+", type=Path, required=True, metavar="DIR|FILE", help="candle files or folders of them")
    parser.add_argument("--broker", default="kraken", help="fee table row and paper venue (default kraken)")
    parser.add_argument("--equity", type=_decimal, default=Decimal(1000), help="starting cash of each symbol's account (default 1000)")
    parser.add_argument("--strategy", default="apex", help="strategy to run (default apex)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="override a strategy parameter (repeatable)")
    parser.add_argument("--from", dest="first", metavar="DATE", help="first day to trade (YYYY-MM-DD, UTC); earlier candles warm up")
    parser.add_argument("--to", dest="last", metavar="DATE", help="last day to trade (YYYY-MM-DD, UTC, inclusive)")
    parser.add_argument("--out", type=Path, default=_DEFAULT_OUT, help=f"folder for trades.csv, equity.csv, equity.png (default {_DEFAULT_OUT})")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.add_argument("--spread-bps", type=_decimal, help="paper bid/ask spread in bps (default: the broker's typical spread)")
    parser.add_argument("--slippage-bps", type=_decimal, default=Decimal(5), help="paper slippage in bps per fill (default 5)")
    parser.add_argument("--fee", type=_decimal, metavar="PCT", help="taker fee in percent (default: the broker's fee table)")
    parser.add_argument("--sweep", action="append", default=[], metavar="NAME=V1,V2,...", help="sweep a parameter (at most 2) with a walk-forward split")
    parser.add_argument("--train", type=float, default=0.7, help="train share of the walk-forward split (default 0.7)")
    parser.add_argument("--max-gap", type=int, default=None, metavar="CANDLES", help="longest hole of missing candles accepted (default 36)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit code."""
    args = _parser().parse_args(argv)
    try:
        return _main(args)
    except KeyboardInterrupt:
        # Every run's store was in memory and went with it (see runner.run_jobs): nothing to clean up.
        print("python -m nija.backtest: interrupted", file=sys.stderr)
        return 130


def _main(args: argparse.Namespace) -> int:
    # Imported after parsing: --help and usage errors stay instant and touch nothing.
    from nija.backtest.candles import (
        DEFAULT_MAX_GAP_CANDLES,
        CandleError,
        candle_paths,
        load_candle_file,
        parse_day,
    )
    from nija.backtest.engine import BacktestError, RunSpec
    from nija.backtest.fills import FillModel
    from nija.backtest.params import ParamError, parse_assignment, strategy_for
    from nija.config import Settings
    from nija.models import BrokerName

    try:
        try:
            broker = BrokerName(args.broker)
        except ValueError:
            raise ParamError(f"unknown broker {args.broker!r}; known: {', '.join(b.value for b in BrokerName)}") from None
        overrides = tuple(parse_assignment(text) for text in args.set)
        strategy_for(args.strategy, dict(overrides))
        spec = RunSpec(FillModel(broker, args.spread_bps, args.slippage_bps, args.fee), args.equity, args.strategy, overrides)
        if args.equity <= 0:
            raise ParamError(f"--equity must be > 0, was {args.equity}")
        funded = Settings.model_construct().minimum_funded_balance  # the run's loop keeps the default
        if args.equity < funded:
            raise ParamError(
                f"--equity must be at least MINIMUM_FUNDED_BALANCE = {funded} (below it the daemon makes no entries),"
                f" was {args.equity}"
            )
        first = parse_day(args.first) if args.first else None
        last = parse_day(args.last, end=True) if args.last else None
        if first is not None and last is not None and first > last:
            raise CandleError(f"empty date range: --from {args.first} is after --to {args.last}")
        max_gap = DEFAULT_MAX_GAP_CANDLES if args.max_gap is None else args.max_gap
        files = [load_candle_file(path, max_gap) for path in candle_paths(args.data)]
        if args.sweep:
            from nija.backtest.sweep import parse_sweep

            return _run_sweep(args, files, spec, parse_sweep(args.sweep, args.strategy), first, last)
        return _run_backtest(args, files, spec, first, last)
    except (CandleError, ParamError) as error:
        print(f"python -m nija.backtest: error: {error}", file=sys.stderr)
        return 2
    except BacktestError as error:
        print(f"python -m nija.backtest: failed: {error}", file=sys.stderr)
        return 1


def _run_backtest(
    args: argparse.Namespace, files: list[CandleFile], spec: RunSpec, first: int | None, last: int | None
) -> int:
    """Run once, write the files, print the report."""
    from nija.backtest.outputs import (
        format_table,
        to_json,
        write_equity_csv,
        write_equity_png,
        write_trades_csv,
    )
    from nija.backtest.runner import backtest

    result = backtest(files, spec, first, last, args.workers)
    args.out.mkdir(parents=True, exist_ok=True)
    write_trades_csv(args.out / "trades.csv", result)
    write_equity_csv(args.out / "equity.csv", result)
    write_equity_png(args.out / "equity.png", result.curve, result.buy_hold)
    if args.json:
        print(json.dumps({**to_json(result), "out": str(args.out)}, indent=2))
    else:
        print(format_table(result))
        print(f"wrote {args.out / 'trades.csv'}, {args.out / 'equity.csv'}, {args.out / 'equity.png'}")
    return 0


def _run_sweep(
    args: argparse.Namespace, files: list[CandleFile], spec: RunSpec, grid: dict[str, list[str]],
    first: int | None, last: int | None,
) -> int:
    """Run the grid on the walk-forward split and print the ranking."""
    from nija.backtest.outputs import format_sweep, sweep_json
    from nija.backtest.sweep import sweep

    rows = sweep(files, spec, grid, args.train, first, last, args.workers)
    print(json.dumps(sweep_json(rows, args.train), indent=2) if args.json else format_sweep(rows, args.train))
    return 0


def _run_as_command() -> NoReturn:
    """`main`, then exit with its code. A Ctrl-C after the run is reported changes nothing, so it
    is ignored from then on: the interpreter's shutdown hands SIGINT back to the system's default
    action, which would end the process by the signal and lose the exit code."""
    try:
        code = main()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except KeyboardInterrupt:  # in the instant between the two lines above
        print("python -m nija.backtest: interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    _run_as_command()
