"""Soak: the live daemon for M minutes on accelerated cycles against the exchange simulator with
random faults and steady trading; measures whether it leaks (memory, threads, files, store).

    scripts/soak.py --minutes M [--brokers 5] [--followers 100] [--seed S] [--cycle-seconds 2] [--keep]

The simulator runs in this process (127.0.0.1) and serves every venue live: Kraken, Coinbase,
OKX, Binance (BTC/USD or BTC/USDT) and Alpaca (AAPL), the first `--brokers` of them. Each venue
has a master ($10,000) and `--followers` are spread evenly over them ($1,000 each, one key each).
The daemon (`python -m nija`, live mode, `NIJA_CYCLE_SECONDS=--cycle-seconds`) runs as a
subprocess. While it runs:

- a trader makes a manual master trade every `--trade-every` seconds through
  `python -m nija.trade` (round robin over the brokers: a $100 buy, then a sell of half of what
  the master holds), each copied to that broker's followers;
- prices walk randomly (±0.1 % per step);
- a fault injector arms one fault every `--fault-every` seconds on a random venue: a timeout
  past the client's, a 503, a dropped connection, an ambiguous order create (processed, answer
  dropped) or a partial fill of the next order — each for one request.

After a warm-up (daemon up, every master cycled, then min(60, max(15, M×6)) seconds of trading)
the daemon's RSS, threads, open files (from /proc/PID) and store size (nija.db + WAL + SHM) are
sampled, again every 5 minutes (`rss_series_mb`: growth that levels off is a cache filling, growth
that keeps on is a leak) and at the end of the M minutes; `open_files_added`/`_removed` say what
the descriptors that came or went point at. Prints ONE JSON line: `start` and `end` samples,
`rss_growth_pct`, the counts (master cycles, master fills = signals, copies by ledger status,
faults armed and hit, trades by `nija.trade`'s exit code: ok, refused, outcome_unknown or failed,
and the refusals by the error the command named, order-creating requests the simulator saw twice
for one client order id) and the daemon's exit code after SIGTERM. A refusal or an unknown outcome
is the right answer to an armed fault (a lost answer; funds held by the open rest of a partial
fill until the open-order timeout cancels it); `failed` is not. The target over 60 minutes: RSS growth
< 5 %, threads and open files flat. Subprocesses and the temp dir are removed on exit, Ctrl-C
included (`--keep` keeps the temp dir: logs and store).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any, Final

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nija.models import MASTER_ACCOUNT
from nija.store import Store
from tests.sim.simulator import Simulator

# venue -> master credential variables, cash, symbol, price, the order-creating path
VENUES: dict[str, tuple[tuple[str, ...], str, str, Decimal, str]] = {
    "kraken": (("KRAKEN_MASTER_API_KEY", "KRAKEN_MASTER_API_SECRET"), "USD", "BTC/USD", Decimal(60000), r"/AddOrder$"),
    "coinbase": (("COINBASE_API_KEY", "COINBASE_API_SECRET"), "USD", "BTC/USD", Decimal(60000), r"/brokerage/orders$"),
    "okx": (("OKX_API_KEY", "OKX_API_SECRET", "OKX_PASSPHRASE"), "USDT", "BTC/USDT", Decimal(60000), r"/trade/order$"),
    "binance": (("BINANCE_API_KEY", "BINANCE_API_SECRET"), "USDT", "BTC/USDT", Decimal(60000), r"/api/v3/order$"),
    "alpaca": (("ALPACA_API_KEY", "ALPACA_API_SECRET"), "USD", "AAPL", Decimal(200), r"/v2/orders$"),
}
MASTER_CASH = Decimal(10000)
USER_CASH = Decimal(1000)
BUY_QUOTE = "100"
START_TIMEOUT_S = 90.0
TRADE_TIMEOUT_S = 30.0
SERIES_EVERY_S = 300.0

_children: list[subprocess.Popen[bytes]] = []
_children_lock = threading.Lock()


# nija.trade's exit codes: 0 filled, 1 refused or not filled, 4 outcome unknown (a fault lost the
# venue's answer and the lookup had not settled it yet); anything else is a failure of the command.
_TRADE_OUTCOMES: Final = {0: "ok", 1: "refused", 4: "outcome_unknown"}


def _refusal(said: str) -> str:
    """The error class a refused trade's one line names ("nija trade: InsufficientFunds: …")."""
    for line in said.splitlines():
        if line.startswith("nija trade: "):
            head = line.removeprefix("nija trade: ").split(":", 1)[0]
            return head if head.isidentifier() else "other"
    return "other"


def _spawn(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    with _children_lock:
        _children.append(proc)
    return proc


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait: float = 20.0) -> int | None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return proc.returncode


def _key(venue: str, who: str) -> str:
    return f"soak-{venue}-{who}-key"


def environment(sim: Simulator, home: Path, venues: list[str], followers: int) -> dict[str, str]:
    """Live mode on the simulator: a funded master per venue and `followers` funded users spread over them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NIJA_", "KRAKEN_", "COINBASE_", "OKX_", "BINANCE_", "ALPACA_"))}
    env.update(NIJA_MODE="live", NIJA_DATA_DIR=str(home / "data"), NIJA_USERS_DIR=str(home / "users"),
               NIJA_LOG_FORMAT="json", NIJA_STATUS_SUMMARY_SECONDS="30", PYTHONUNBUFFERED="1",
               NIJA_HTTP_TIMEOUT_SECONDS="1", KRAKEN_TIER="pro", COPY_SIGNAL_MAX_AGE_SECONDS="120")
    (home / "users").mkdir()
    for venue in venues:
        variables, cash, symbol, price, _ = VENUES[venue]
        sim.set_price(venue, symbol, price)
        master = sim.add_account(venue, _key(venue, "master"), balances={cash: MASTER_CASH}, passphrase="soak-pass")
        env.update(zip(variables, (master.api_key, master.secret, "soak-pass")[: len(variables)], strict=True))
        env[f"NIJA_{venue.upper()}_API_URL"] = sim.url(venue)
        env[f"NIJA_SYMBOLS_{venue.upper()}"] = symbol
    for i in range(followers):
        venue = venues[i % len(venues)]
        user = f"u{i:03d}"
        cash = VENUES[venue][1]
        account = sim.add_account(venue, _key(venue, user), balances={cash: USER_CASH}, passphrase="soak-pass")
        (home / "users" / f"{user}.json").write_text(json.dumps({"user_id": user, "name": user, "broker": venue}))
        prefix = f"{venue.upper()}_USER_{user.upper()}"
        env[f"{prefix}_API_KEY"], env[f"{prefix}_API_SECRET"] = account.api_key, account.secret
        if venue == "okx":
            env[f"{prefix}_PASSPHRASE"] = "soak-pass"
    return env


def _read(data: Path, fn: Any) -> Any:
    try:
        store = Store(data / "nija.db", readonly=True)
    except Exception:  # noqa: BLE001 - not created yet
        return None
    try:
        return fn(store)
    except Exception:  # noqa: BLE001 - a write in progress: the caller polls again
        return None
    finally:
        store.close()


def master_cycles(data: Path, pid: int) -> dict[str, int] | None:
    """Cycles completed per master, once the daemon `pid` runs on this store."""
    def get(store: Store) -> dict[str, int] | None:
        record = store.daemon()
        if record is None or record.pid != pid:
            return None
        return {str(h.broker): h.cycles_ok for h in store.health() if h.account == MASTER_ACCOUNT}
    return _read(data, get)


def open_file_targets(pid: int) -> list[str]:
    """What the daemon's file descriptors point at (files, sockets, pipes), for the growth report."""
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue  # closed between the listing and the read
    return targets


def sample(pid: int, data: Path) -> dict[str, Any]:
    """The daemon process's RSS, threads and open files, and the store's size on disk."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    store_bytes = sum(p.stat().st_size for p in data.glob("nija.db*") if p.is_file())
    return {
        "rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024, 1),
        "threads": int(fields["Threads"]),
        "open_files": len(os.listdir(f"/proc/{pid}/fd")),
        "store_mb": round(store_bytes / 1e6, 2),
        "t_s": round(time.monotonic(), 1),
    }


def _kind(target: str) -> str:
    """A file descriptor's target without what differs between runs: socket/pipe inode numbers."""
    return target.split(":[")[0] if target.startswith(("socket:", "pipe:", "anon_inode:")) else target


class Activity:
    """The trader, the price walk and the fault injector: one thread, bounded by `stop`."""

    def __init__(self, sim: Simulator, home: Path, env: dict[str, str], venues: list[str], rng: random.Random,
                 trade_every: float, fault_every: float) -> None:
        self.sim, self.home, self.env, self.venues, self.rng = sim, home, env, venues, rng
        self.trade_every, self.fault_every = trade_every, fault_every
        self.stop = threading.Event()
        self.trades: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()  # refused trades (exit 1) by what the command said
        self.faults: list[Any] = []
        self.fault_kinds: Counter[str] = Counter()
        self._thread = threading.Thread(target=self._run, name="soak-activity", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self.stop.set()
        self._thread.join(timeout=TRADE_TIMEOUT_S + 10)

    def _run(self) -> None:
        now = time.monotonic()
        next_trade, next_fault, next_price, turn = now + 1, now + self.fault_every, now + 2, 0
        while not self.stop.wait(0.2):
            now = time.monotonic()
            if now >= next_price:
                self._walk()
                next_price = now + 2
            if now >= next_fault:
                self._fault()
                next_fault = now + self.fault_every
            if now >= next_trade:
                self._trade(self.venues[turn % len(self.venues)], buy=(turn // len(self.venues)) % 2 == 0)
                turn += 1
                next_trade = time.monotonic() + self.trade_every

    def _walk(self) -> None:
        for venue in self.venues:
            symbol = VENUES[venue][2]
            price = self.sim.price(venue, symbol)
            step = Decimal(str(round(self.rng.uniform(-0.001, 0.001), 6)))
            self.sim.set_price(venue, symbol, (price * (1 + step)).quantize(Decimal("0.01")))

    def _fault(self) -> None:
        venue = self.rng.choice(self.venues)
        order_path = VENUES[venue][4]
        kind = self.rng.choice(["timeout", "http_5xx", "drop", "ambiguous_create", "partial_fill"])
        if kind == "timeout":
            fault = self.sim.inject(venue, r".", "timeout", delay_ms=1500, drop=True)
        elif kind == "http_5xx":
            fault = self.sim.inject(venue, r".", "http_5xx", status=503)
        elif kind == "drop":
            fault = self.sim.inject(venue, r".", "drop")
        elif kind == "ambiguous_create":
            fault = self.sim.inject(venue, order_path, "drop", method="POST", apply_after=True)
        else:
            fault = self.sim.inject(venue, order_path, "partial_fill", method="POST", fraction="0.5")
        self.faults.append(fault)
        self.fault_kinds[kind] += 1

    def _trade(self, venue: str, *, buy: bool) -> None:
        symbol = VENUES[venue][2]
        if buy:
            args = ["buy", symbol, BUY_QUOTE, "--quote"]
        else:
            held = self.sim.balances(venue, _key(venue, "master")).get(symbol.split("/")[0], Decimal(0))
            qty = (held / 2).quantize(Decimal("0.000001") if "/" in symbol else Decimal("0.01"), rounding=ROUND_DOWN)
            if qty <= 0:
                self.trades["sell_skipped"] += 1
                return
            args = ["sell", symbol, str(qty), "--base"]
        log = self.home / "trades.log"
        start = log.stat().st_size if log.exists() else 0
        proc = _spawn(["-m", "nija.trade", *args, "--broker", venue, "--timeout", str(TRADE_TIMEOUT_S - 5)],
                      self.home, self.env, log)
        try:
            code = proc.wait(timeout=TRADE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _stop(proc, signal.SIGKILL)
            code = -1
        self.trades[_TRADE_OUTCOMES.get(code, "failed")] += 1
        if code == 1:  # what refused it: the error class the command names (its output is this log's tail)
            with open(log, "rb") as handle:
                handle.seek(start)
                said = handle.read().decode(errors="replace")
            self.refusals[_refusal(said)] += 1


def counts(sim: Simulator, data: Path, venues: list[str]) -> dict[str, Any]:
    """What the store and the simulator show at the end."""
    def read(store: Store) -> dict[str, Any]:
        masters = [h for h in store.health() if h.account == MASTER_ACCOUNT]
        copies = Counter(row["status"] for row in store.copy_rows())
        return {
            "cycles": sum(h.cycles_total for h in masters), "cycles_ok": sum(h.cycles_ok for h in masters),
            "master_fills": len(store.signals()), "copies": dict(copies),
            "master_health": {str(h.broker): str(h.status) for h in masters},
        }
    found = _read(data, read) or {}
    creates = Counter(c for v in venues for r in sim.requests(v) if r.creates_order for c in r.client_order_ids)
    found["venue_fills"] = sum(len(sim.fills(v)) for v in venues)
    found["duplicates"] = sum(1 for n in creates.values() if n > 1)
    found["sim_internal_errors"] = len(sim.internal_errors)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="measured minutes after the warm-up")
    parser.add_argument("--brokers", type=int, default=5, choices=range(1, len(VENUES) + 1), metavar="1-5")
    parser.add_argument("--followers", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cycle-seconds", type=float, default=2.0)
    parser.add_argument("--trade-every", type=float, default=4.0, help="seconds between manual trades")
    parser.add_argument("--fault-every", type=float, default=3.0, help="seconds between armed faults")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.followers < 0:
        parser.error("--minutes > 0 and --followers >= 0")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    venues = list(VENUES)[: args.brokers]
    rng = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix="nija-soak-"))
    data = home / "data"
    result: dict[str, Any] = {"minutes": args.minutes, "brokers": venues, "followers": args.followers,
                              "cycle_seconds": args.cycle_seconds, "seed": args.seed}
    code = 1
    activity: Activity | None = None
    try:
        with Simulator(venues=venues, seed=args.seed) as sim:
            env = environment(sim, home, venues, args.followers)
            env["NIJA_CYCLE_SECONDS"] = str(args.cycle_seconds)
            # Cycles run 75 times faster than the daemon's default; so does the open-order timeout
            # (the rest of a partial fill stays open at the simulated venue until canceled).
            env["NIJA_OPEN_ORDER_TIMEOUT_SECONDS"] = str(max(10.0, 300 * args.cycle_seconds / 150))
            daemon = _spawn(["-m", "nija"], home, env, home / "daemon.log")
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline and daemon.poll() is None:
                cycles = master_cycles(data, daemon.pid)
                if cycles and len(cycles) == len(venues) and all(n >= 1 for n in cycles.values()):
                    break
                time.sleep(0.5)
            else:
                raise RuntimeError(f"the daemon did not come up (exit {daemon.poll()}); see {home}/daemon.log")
            activity = Activity(sim, home, env, venues, rng, args.trade_every, args.fault_every)
            activity.start()
            warm_up = min(60.0, max(15.0, args.minutes * 6))
            time.sleep(warm_up)
            start = sample(daemon.pid, data)
            files_at_start = Counter(_kind(t) for t in open_file_targets(daemon.pid))
            end_at = time.monotonic() + args.minutes * 60
            peak_threads, series = start["threads"], [start]
            while time.monotonic() < end_at and daemon.poll() is None:
                time.sleep(min(5.0, max(0.0, end_at - time.monotonic())))
                if daemon.poll() is None:
                    now = sample(daemon.pid, data)
                    peak_threads = max(peak_threads, now["threads"])
                    if now["t_s"] - series[-1]["t_s"] >= SERIES_EVERY_S:
                        series.append(now)
            alive = daemon.poll() is None
            end = sample(daemon.pid, data) if alive else {}
            files_at_end = Counter(_kind(t) for t in open_file_targets(daemon.pid)) if alive else Counter()
            activity.join()
            activity_counts = {"trades": dict(activity.trades), "refusals": dict(activity.refusals),
                               "faults_armed": len(activity.faults),
                               "faults_hit": sum(f.hits for f in activity.faults), "fault_kinds": dict(activity.fault_kinds)}
            sim.clear_faults()
            exit_code = _stop(daemon, signal.SIGTERM, 30)
            result.update(
                warm_up_s=warm_up, start=start, end=end, peak_threads=peak_threads,
                rss_series_mb=[s["rss_mb"] for s in [*series, end] if s],
                open_files_added=dict(files_at_end - files_at_start),
                open_files_removed=dict(files_at_start - files_at_end),
                rss_growth_pct=round(100 * (end["rss_mb"] - start["rss_mb"]) / start["rss_mb"], 2) if end else None,
                **activity_counts, **counts(sim, data, venues), daemon_alive_at_end=alive, daemon_exit=exit_code,
            )
            code = 0 if alive and exit_code == 0 and result.get("duplicates") == 0 else 1
    except KeyboardInterrupt:
        result["interrupted"] = True
    except RuntimeError as exc:
        result["error"] = str(exc)
    finally:
        if activity is not None:
            activity.stop.set()
        with _children_lock:
            for proc in _children:
                _stop(proc, signal.SIGKILL, 5)
        if args.keep:
            print(f"kept {home}", file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
