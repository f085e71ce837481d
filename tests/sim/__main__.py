"""Run the simulator in its own process: `python -m tests.sim --port 0 --latency-ms 50`.

Prints `{"port": N, ...}` as one JSON line on stdout, then serves until SIGTERM or SIGINT.
`/_sim/<operation>` drives it from outside (see tests/sim/control.py).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from tests.sim.simulator import Simulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sim", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every answer")
    parser.add_argument("--venues", default=None, help="comma-separated subset, default all")
    args = parser.parse_args(argv)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    venues = args.venues.split(",") if args.venues else None
    with Simulator(port=args.port, latency_ms=args.latency_ms, venues=venues, control=True) as sim:
        print(json.dumps(sim.describe()), flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
