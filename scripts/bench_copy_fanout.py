"""Benchmark: copy-trade fan-out latency, CPU and exactly-once over N Kraken user accounts.

    scripts/bench_copy_fanout.py --users N --latency-ms L [--signals S] [--gap-s G] [--workers W]
                                 [--profile [wall|cpu]] [--keep]

Starts the exchange simulator in its own process (`python -m tests.sim --port 0 --latency-ms L`,
127.0.0.1 only), creates one master and N user accounts there (each user its own API key and
base64 secret, USD equity spread 1,000–50,000 so every copy has its own size), builds one
`CcxtBroker` per account on one `SharedMarkets` (markets loaded once, limiter off), and a
`CopyEngine` with `max_workers = min(N, 128)` (or `--workers`). None of that is timed.

Each of the S signals is one master market buy on BTC/USD through the master's
`OrderExecutor.submit(master_equity=...)`, which records the fill and the signal in one transaction.
The timed interval runs from that record (the master `submit` returning) through reading the
signal from the outbox to `engine.dispatch(signal)` returning — after every user's order was
acknowledged by the simulator (the issue's "last user order acknowledged") and every answer was
recorded in the store. The fills are then read by `engine.settle()` (the daemon does that right
after dispatching); it is not timed, its CPU is reported on its own (`settle_cpu_ms_per_order`),
and the ledger statuses counted are the settled ones. `engine.start()` (every user registered in
the store and its balance read, as the daemon does at start) is setup. `--gap-s G` idles G
seconds before each signal after the first, untimed: real master fills come minutes apart, and
what a back-to-back run keeps warm (connections, nonce leases) must still be warm after a pause. Prints ONE JSON line:

    users, latency_ms, signals, gap_s, workers, p50_s, p99_s, samples_s, cpu_ms_per_order, settle_cpu_ms_per_order, settle_s,
    sim_cpu_ms_per_order (the simulator process's CPU in the timed intervals: it shares the 2 cores),
    orders_ok, orders_failed, duplicates, missing, rss_mb, sim_requests_per_order,
    user_calls_per_order (the users' venue calls by endpoint), statuses (ledger statuses), failure_reasons (top 5)

`cpu_ms_per_order` is this process's CPU time (`time.process_time()`) inside the timed
intervals divided by the user orders; `duplicates` counts orders the simulator created beyond
one per client order id (from its request log), `missing` client ids it never saw.
`--profile [wall|cpu]` also profiles one fan-out (the last signal) with cProfile in every worker
thread (wall clock, or each thread's CPU time) and prints the top functions by cumulative and by
own time to stderr. Logs (the daemon's JSON format) go to a
file in the temporary directory, which is removed at the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import signal as signals_module
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
for _var in ("NO_PROXY", "no_proxy"):  # everything stays on this machine, never through a proxy
    os.environ[_var] = ",".join(filter(None, ("127.0.0.1,localhost", os.environ.get(_var))))

from nija.brokers.ccxt import CcxtBroker, SharedMarkets  # noqa: E402
from nija.copytrade.engine import CopyEngine  # noqa: E402
from nija.copytrade.followers import Follower  # noqa: E402
from nija.logs import configure_logging, get_logger  # noqa: E402
from nija.models import BrokerName, OrderRequest, QuantityUnit, Side, client_order_id_for  # noqa: E402
from nija.store import Store  # noqa: E402
from nija.execution.executor import OrderExecutor  # noqa: E402

VENUE = "kraken"
SYMBOL = "BTC/USD"
PRICE = Decimal("50000")
MASTER_EQUITY = Decimal("10000")
MASTER_QUOTE = Decimal("200")  # 2 % of the master's equity: users buy 20–1,000 USD, all above minimums
EXIT_SETUP_BUYS = 4  # --side sell: the setup buy is this many MASTER_QUOTEs, so small users' partial exits clear minimums
MIN_EQUITY, MAX_EQUITY = Decimal("1000"), Decimal("50000")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


class SimProcess:
    """The simulator in its own process, driven over `/_sim/<op>`."""

    def __init__(self, latency_ms: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.sim", "--port", "0", "--latency-ms", str(latency_ms), "--venues", VENUE],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.stop()
            raise RuntimeError(f"simulator did not start: {err.strip()[-2000:]}")
        self.port = int(json.loads(line)["port"])
        self.base = f"http://127.0.0.1:{self.port}"
        # Drain stderr so a chatty simulator can never block on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        if self.proc.stderr:
            for _ in self.proc.stderr:
                pass

    def cpu_seconds(self) -> float:
        """The simulator process's CPU time so far (user + system), from /proc."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def url(self, venue: str) -> str:
        return f"{self.base}/{venue}"

    def post(self, op: str, **kwargs: Any) -> Any:
        body = json.dumps(kwargs, default=str).encode()
        request = urllib.request.Request(f"{self.base}/_sim/{op}", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with _OPENER.open(request, timeout=60) as answer:
            return json.loads(answer.read())["result"]

    def get(self, op: str, **params: Any) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        with _OPENER.open(f"{self.base}/_sim/{op}?{query}", timeout=120) as answer:
            return json.loads(answer.read())["result"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signals_module.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _secret(name: str) -> str:
    return base64.b64encode(f"{name}-bench-secret-{os.urandom(8).hex()}".encode()).decode()


def _equity(i: int, n: int) -> Decimal:
    """Spread linearly over 1,000–50,000 USD, whole cents."""
    if n == 1:
        return MIN_EQUITY
    return (MIN_EQUITY + (MAX_EQUITY - MIN_EQUITY) * i / (n - 1)).quantize(Decimal("0.01"))


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); with few samples p99 is the maximum."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


class ThreadProfiles:
    """cProfile in every worker thread of one fan-out: wraps the fan-out's per-follower tasks (the
    holdings read an exit makes first, and the send)."""

    TASKS = ("_read_holdings", "_send_one")

    def __init__(self, engine: CopyEngine, clock: str) -> None:
        self.engine = engine
        self.timer = time.thread_time if clock == "cpu" else time.perf_counter  # cpu: this thread's CPU only
        self.profiles: list[cProfile.Profile] = []
        self.lock = threading.Lock()

    def _profiled(self, original: Any) -> Any:
        def profiled(*args: Any, **kwargs: Any) -> Any:
            profile = cProfile.Profile(self.timer)
            profile.enable()
            try:
                return original(*args, **kwargs)
            finally:
                profile.disable()
                with self.lock:
                    self.profiles.append(profile)

        return profiled

    def __enter__(self) -> ThreadProfiles:
        for name in self.TASKS:
            setattr(self.engine.fanout, name, self._profiled(getattr(self.engine.fanout, name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.TASKS:
            delattr(self.engine.fanout, name)  # the class's method shows through again

    def report(self, main: cProfile.Profile, top: int = 15, dump: Path | None = None) -> str:
        out = io.StringIO()
        stats = pstats.Stats(main, stream=out)
        for profile in self.profiles:
            stats.add(profile)
        if dump is not None:
            stats.dump_stats(dump)
        clock = "thread CPU" if self.timer is time.thread_time else "wall"
        out.write(f"# one fan-out, {len(self.profiles)} worker tasks + main thread; {clock} time summed over threads\n")
        stats.sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(top)
        return out.getvalue()


def _master_trade(
    executor: OrderExecutor, side: Side, quantity: Decimal, unit: QuantityUnit, tag: str, tmp: Path
) -> None:
    """One master market order, recorded with its signal as the daemon records it."""
    request = OrderRequest(
        broker=BrokerName.KRAKEN, account="master", symbol=SYMBOL, side=side, quantity=quantity, unit=unit,
        client_order_id=client_order_id_for("bench-master", f"{side}-{tag}", tmp.name),
    )
    outcome = executor.submit(request, master_equity=MASTER_EQUITY)
    if outcome is None or outcome.order.filled_qty <= 0:
        raise RuntimeError(f"master {side} {tag} did not fill")


def run(args: argparse.Namespace) -> dict[str, Any]:
    n, latency = args.users, args.latency_ms
    workers = args.workers or min(n, 128)
    tmp = Path(tempfile.mkdtemp(prefix="nija-bench-fanout-"))
    sim: SimProcess | None = None
    store: Store | None = None
    brokers: list[CcxtBroker] = []
    log_file = (tmp / "bench.log").open("w")
    try:
        sim = SimProcess(latency)
        sim.post("set_price", venue=VENUE, symbol=SYMBOL, price=str(PRICE))

        # -- setup (not timed) ------------------------------------------------------------------
        master_key, master_secret = "master-key", _secret("master")
        configure_logging("json", "info", [master_secret], stream=log_file)  # as the daemon, into a file
        log = get_logger("bench")
        master_cash = MASTER_QUOTE * (args.signals + EXIT_SETUP_BUYS) * 2
        sim.post("add_account", venue=VENUE, api_key=master_key, secret=master_secret,
                 balances={"USD": str(master_cash)})
        users_spec = [(f"user{i:04d}", _secret(f"user{i}"), _equity(i, n)) for i in range(n)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda u: sim.post("add_account", venue=VENUE, api_key=f"{u[0]}-key", secret=u[1],
                                             balances={"USD": str(u[2])}), users_spec))

        markets = SharedMarkets()
        store = Store(tmp / "nija.db")
        master = CcxtBroker(BrokerName.KRAKEN, "master", {"api_key": master_key, "api_secret": master_secret}, markets,
                            api_url=sim.url(VENUE), data_dir=tmp, enable_rate_limit=False)
        master.begin_cycle()  # loads the venue's markets once for everyone
        brokers.append(master)
        executor = OrderExecutor(master, store, log.bind(account="master"))
        users = []
        for user_id, secret, _ in users_spec:
            broker = CcxtBroker(BrokerName.KRAKEN, user_id, {"api_key": f"{user_id}-key", "api_secret": secret},
                                markets, api_url=sim.url(VENUE), data_dir=tmp, enable_rate_limit=False)
            broker.begin_cycle()  # attaches the shared markets, no request
            brokers.append(broker)
            users.append(Follower(user_id, broker))
        engine = CopyEngine(store, users, log, max_workers=workers)
        engine.start()
        if args.side == "sell":  # untimed: one larger buy, copied and settled, gives everyone a holding
            _master_trade(executor, Side.BUY, MASTER_QUOTE * EXIT_SETUP_BUYS, QuantityUnit.QUOTE, "setup", tmp)
            engine.dispatch(store.signals("pending")[-1][0])
            engine.settle()
        setup_requests = len(sim.get("requests", venue=VENUE))

        # -- signals (timed: master fill recorded -> fan_out returned) --------------------------
        samples: list[float] = []
        cpu = 0.0
        settle_cpu, settle_wall, sim_cpu, sys_cpu = 0.0, [], 0.0, 0.0
        statuses: Counter[str] = Counter()
        client_ids: list[str] = []
        profile_text = ""
        idle = threading.Event()
        for k in range(args.signals):
            if k and args.gap_s:
                idle.wait(args.gap_s)
            if args.side == "buy":
                _master_trade(executor, Side.BUY, MASTER_QUOTE, QuantityUnit.QUOTE, str(k), tmp)
            else:  # 1/(S+1), 1/S, ... 1/2 of what is left: every exit partial, every copy above the minimum
                held = store.positions(BrokerName.KRAKEN, "master")[0].qty
                _master_trade(executor, Side.SELL, held / (args.signals - k + 1), QuantityUnit.BASE, str(k), tmp)
            profiling = args.profile and k == args.signals - 1
            thread_profiles = ThreadProfiles(engine, args.profile) if profiling else None
            main_profile = cProfile.Profile(thread_profiles.timer) if thread_profiles is not None else None
            if thread_profiles is not None:
                thread_profiles.__enter__()
            sim_cpu_started = sim.cpu_seconds()
            sys_started = resource.getrusage(resource.RUSAGE_SELF).ru_stime
            cpu_started, started = time.process_time(), time.perf_counter()  # the fill was just recorded
            if main_profile is not None:
                main_profile.enable()
            pending = store.signals("pending")
            signal = pending[-1][0]
            engine.dispatch(signal)
            if main_profile is not None:
                main_profile.disable()
            elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu_started
            if thread_profiles is not None and main_profile is not None:
                thread_profiles.__exit__()
                profile_text = thread_profiles.report(main_profile, dump=tmp / "fanout.pstats" if args.keep else None)
            samples.append(elapsed)
            cpu += cpu_used
            sim_cpu += sim.cpu_seconds() - sim_cpu_started
            sys_cpu += resource.getrusage(resource.RUSAGE_SELF).ru_stime - sys_started
            settle_started, settle_cpu_started = time.perf_counter(), time.process_time()
            engine.settle()
            settle_cpu += time.process_time() - settle_cpu_started
            settle_wall.append(time.perf_counter() - settle_started)
            result = {row["user_id"]: row["status"] for row in store.copy_rows(signal.signal_id)}
            statuses.update(result.values())
            if len(result) != n:
                statuses["no_row"] += n - len(result)
            client_ids.extend(client_order_id_for("copy", signal.signal_id, u.user_id) for u in users)
            print(f"signal {k + 1}/{args.signals}: {elapsed:.3f}s, cpu {cpu_used:.3f}s, {dict(Counter(result.values()))}",
                  file=sys.stderr, flush=True)

        # -- exactly once, from the simulator's own log -----------------------------------------
        records = sim.get("requests", venue=VENUE, path_contains="AddOrder")
        seen: Counter[str] = Counter()
        for record in records:
            if record.get("status") is not None and 200 <= int(record["status"]) < 300:
                seen.update(record.get("client_order_ids") or ())
        wanted = set(client_ids)
        duplicates = sum(max(0, seen[c] - 1) for c in wanted)
        missing = sum(1 for c in wanted if seen[c] == 0)
        sample_check = client_ids[: min(5, len(client_ids))]  # cross-check the log against count_orders
        for cid in sample_check:
            counted = int(sim.get("count_orders", venue=VENUE, client_order_id=cid))
            if counted != seen[cid]:
                print(f"warning: count_orders({cid})={counted} but the AddOrder log shows {seen[cid]}", file=sys.stderr)
        all_records = sim.get("requests", venue=VENUE)
        total_requests = len(all_records) - setup_requests
        user_calls = Counter(
            r["path"].rsplit("/", 1)[-1] for r in all_records[setup_requests:] if r.get("api_key") != master_key
        )
        orders = n * args.signals
        ok = statuses.get("filled", 0) + statuses.get("partial", 0)
        reasons = Counter(
            (str(row.get("status")), str(row.get("reason") or "")[:160]) for row in store.copy_rows()
            if row.get("status") not in ("filled", "partial")
        )
        if profile_text:
            print(profile_text, file=sys.stderr)
        return {
            "users": n, "latency_ms": latency, "side": args.side, "signals": args.signals, "gap_s": args.gap_s,
            "workers": workers,
            "p50_s": round(statistics.median(samples), 4), "p99_s": round(_percentile(samples, 99), 4),
            "samples_s": [round(s, 4) for s in samples],
            "cpu_ms_per_order": round(cpu * 1000 / orders, 3),
            "sys_cpu_ms_per_order": round(sys_cpu * 1000 / orders, 3),  # the kernel's part of cpu_ms_per_order
            "settle_cpu_ms_per_order": round(settle_cpu * 1000 / orders, 3),
            "sim_cpu_ms_per_order": round(sim_cpu * 1000 / orders, 3),  # the simulator's side of the timed intervals
            "settle_s": round(statistics.median(settle_wall), 4),
            "orders_ok": ok, "orders_failed": orders - ok,
            "duplicates": duplicates, "missing": missing,
            "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            # master calls included: (master buy + user copies) requests per user order
            "sim_requests_per_order": round(total_requests / orders, 2),
            "user_calls_per_order": {path: round(count / orders, 2) for path, count in sorted(user_calls.items())},
            "statuses": dict(statuses),
            "failure_reasons": [{"status": st, "reason": r, "count": c} for (st, r), c in reasons.most_common(5)],
        }
    finally:
        for broker in brokers:
            broker.close()
        if store is not None:
            store.close()
        if sim is not None:
            sim.stop()
        log_file.close()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, required=True, help="user accounts copying the master")
    parser.add_argument("--latency-ms", type=int, required=True, help="the simulator adds this to every answer")
    parser.add_argument("--signals", type=int, default=5, help="master buys fanned out (default 5)")
    parser.add_argument("--side", choices=("buy", "sell"), default="buy",
                        help="buy: entries (default); sell: partial exits, each user's holding read fresh")
    parser.add_argument("--gap-s", type=float, default=0.0, help="idle seconds between signals (default 0)")
    parser.add_argument("--workers", type=int, default=None, help="engine max_workers (default min(N, 128))")
    parser.add_argument("--profile", nargs="?", const="wall", choices=("wall", "cpu"), default=None,
                        help="cProfile the last fan-out in every thread (stderr): wall clock, or each thread's CPU")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (store, nonces, log, fanout.pstats)")
    args = parser.parse_args(argv)
    if args.users < 1 or args.signals < 1:
        parser.error("--users and --signals must be >= 1")
    if args.gap_s < 0:
        parser.error("--gap-s must be >= 0")
    print(json.dumps(run(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
