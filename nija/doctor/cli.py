"""`python -m nija.doctor [--account NAME] [--json]`: the preflight, from the command line.

Loads the settings as the daemon does (a bad setting is one line and exit 2), registers every
secret with the redactor before any client exists, checks each account in turn and prints a table
per account (or one JSON document). Exit codes: 0 every check passed, 1 a warning (withdrawals
allowed, clock skew, a market not taking orders, an unfunded account), 2 a failure (a refused key,
a missing market, a dry-run order refused, no account to check, bad settings or arguments).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, TextIO

from nija.brokers.base import BrokerError
from nija.brokers.fees import configure_fees
from nija.brokers.preflight import probe_for
from nija.build import Shared
from nija.config import ConfigError, Settings, load_settings
from nija.doctor.accounts import Target, find_targets
from nija.doctor.checks import check_account
from nija.doctor.report import AccountReport, Level, exit_code, render_json, render_text
from nija.logs import configure_logging, redact_text
from nija.users import environment_with_dotenv

__all__ = ["main"]

MAX_PARALLEL_ACCOUNTS: Final = 16

_EPILOG = (
    "Checks, per account: keys, permissions (withdrawals allowed is a loud warning), clock skew against the"
    " venue, the Kraken key's nonce, the markets NIJA would trade, equity as NIJA computes it by asset, and a"
    " dry-run order sized as NIJA would size it (Kraken validate, Binance order/test, Coinbase preview)."
    " Touches no money. Exit 0 ok, 1 warnings, 2 a failure."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nija.doctor", description="Preflight every configured account with its real keys.",
        epilog=_EPILOG,
    )
    parser.add_argument("--account", metavar="NAME", action="append",
                        help="check only this account: a broker (its master), a follower's user id, or BROKER:ACCOUNT;"
                             " repeatable")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    return parser


def _check(settings: Settings, target: Target, shared: Shared) -> AccountReport:
    """Build one account's adapter and run its checks; a build error is its one failure."""
    report = AccountReport(str(target.broker), target.account)
    if target.problem is not None:
        report.add("keys", Level.FAIL, target.problem)
        return report
    try:
        broker = target.build(settings, shared)
    except (BrokerError, ValueError) as exc:
        report.add("keys", Level.FAIL, f"adapter could not be built: {type(exc).__name__}: {exc}")
        return report
    try:
        check_account(report, broker, probe_for(broker, paper=target.alpaca_paper), target.plan)
    except Exception as exc:  # noqa: BLE001 - a bug or an answer no adapter expected: one account's failure, never a traceback
        report.add("doctor", Level.FAIL, f"unexpected error: {type(exc).__name__}: {exc}")
    finally:
        broker.close()
    return report


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Check the configured accounts; return the exit code."""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        settings = load_settings()
        configure_fees(settings.fee_overrides())
        env = environment_with_dotenv()
        # Secrets are registered before anything can print: library warnings go through the redactor too.
        configure_logging("console", "error", settings.secret_values(), stream=err)
        targets, problems = find_targets(settings, env)
    except ConfigError as exc:
        print(f"nija doctor: {exc}", file=err)
        return 2
    for problem in problems:
        print(redact_text(f"nija doctor: user file problem: {problem}"), file=err)
    if args.account:
        targets = [t for t in targets if any(t.matches(name) for name in args.account)]
    if not targets:
        wanted = f" matching {', '.join(args.account)}" if args.account else ""
        print(f"nija doctor: no account with API keys{wanted}: set a broker's master keys (e.g."
              " KRAKEN_MASTER_API_KEY and KRAKEN_MASTER_API_SECRET) or a follower's in .env", file=err)
        return 2
    shared = Shared()
    # One thread per account, as the daemon runs them: one slow venue never holds up the others
    # (Kraken paces its calls per key); the reports keep the accounts' order.
    with ThreadPoolExecutor(max_workers=min(len(targets), MAX_PARALLEL_ACCOUNTS)) as pool:
        reports = list(pool.map(lambda target: _check(settings, target, shared), targets))
    out.write(render_json(reports) if args.json else render_text(reports))
    return exit_code(reports)
