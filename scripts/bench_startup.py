"""Benchmark: `python -m nija` start to the first broker cycle begun, paper mode, fresh data dir.

Prints one JSON line: {"seconds_to_first_cycle": …, "runs": …, "all_runs": […]}; the headline
figure is the median of the runs.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5


def one_run() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("NIJA_")},
            "NIJA_DATA_DIR": str(Path(tmp) / "data"),
            "NIJA_LOG_FORMAT": "json",
            "NIJA_CYCLE_SECONDS": "150",
        }
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "nija"], cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if '"broker_loop_started"' in line:
                    return time.perf_counter() - started
            raise RuntimeError(f"daemon exited with {proc.wait()} before its first cycle")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)


def main() -> None:
    runs = [one_run() for _ in range(RUNS)]
    print(json.dumps({"seconds_to_first_cycle": round(statistics.median(runs), 3), "runs": RUNS,
                      "all_runs": [round(r, 3) for r in runs]}))


if __name__ == "__main__":
    main()
