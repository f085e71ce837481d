"""Benchmark: the dashboard's overview page on a store with F followers × N fills each.

    scripts/bench_web.py [--followers F] [--fills N] [--requests R] [--store DATA_DIR] [--keep]

Builds the store as `scripts/bench_report.py` does (not timed; `--store` reuses one built
before, e.g. by `bench_report.py --keep`), starts `python -m nija.web` on it as an operator
does (127.0.0.1, a free port), then requests the overview page R times over one kept-alive
connection, as a browser refreshing it would.

Prints ONE JSON line: {"followers", "fills_per_follower", "fills", "start_seconds": until the
dashboard listened (its first P&L pass included), "overview_ms_p50", "overview_ms_max",
"requests", "page_bytes", "load_average_1m", "build_seconds"}. Target: overview ≤ 300 ms at
1,000 followers × 1,000 fills.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_report import build  # noqa: E402

from nija.store import db_path  # noqa: E402

START_TIMEOUT_SECONDS = 600  # the first P&L pass over a million fills, on a loaded machine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the dashboard did not listen on {port} (exit {proc.poll()})")


def _time_overview(port: int, requests: int) -> tuple[list[float], int]:
    """Milliseconds of each GET / (the whole body read), and the page's size."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times, size = [], 0
    try:
        for _ in range(requests):
            started = time.perf_counter()
            conn.request("GET", "/")
            response = conn.getresponse()
            body = response.read()
            times.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise RuntimeError(f"GET / answered {response.status}")
            size = len(body)
    finally:
        conn.close()
    return times, size


def _serve_and_time(data_dir: Path, requests: int) -> dict[str, float]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIJA_")}
    # A refresh longer than the run: the requests measure serving, not a P&L pass beside it.
    env.update(NIJA_DATA_DIR=str(data_dir), NIJA_WEB_PORT=str(port), NIJA_WEB_REFRESH_SECONDS="3600",
               NIJA_LOG_LEVEL="warning")
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "nija.web"], cwd=data_dir, env=env, stdout=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc)
        start_seconds = time.perf_counter() - started
        times, size = _time_overview(port, requests)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    ordered = sorted(times)
    return {"start_seconds": round(start_seconds, 2), "overview_ms_p50": round(ordered[len(ordered) // 2], 1),
            "overview_ms_max": round(ordered[-1], 1), "page_bytes": size}


def main() -> int:
    """Build (or reuse) the store, serve it, time the overview, print one JSON line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--followers", type=int, default=1000)
    parser.add_argument("--fills", type=int, default=1000, help="fills per follower (and of the master)")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--store", type=Path, help="a data dir holding a store built before")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nija-bench-web-"))
    data_dir = args.store or work
    build_seconds = 0.0
    if args.store is None:
        started = time.perf_counter()
        build(db_path(data_dir), args.followers, args.fills)
        build_seconds = time.perf_counter() - started
    figures = _serve_and_time(data_dir, args.requests)
    print(json.dumps({
        "followers": args.followers, "fills_per_follower": args.fills, "fills": args.followers * args.fills + args.fills,
        **figures, "requests": args.requests, "load_average_1m": os.getloadavg()[0],
        "build_seconds": round(build_seconds, 1),
    }))
    if args.keep or args.store:
        print(f"store kept in {data_dir}", file=sys.stderr)
    else:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
