"""Kraken nonce under contention: 8 threads on one key plus a second process on the same key,
across 3 restarts, against a simulator that rejects any nonce not above the last one it accepted.
Zero InvalidNonce."""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

from nija.brokers.ccxt import CcxtBroker, SharedMarkets
from nija.models import BrokerName
from tests.sim.simulator import Simulator

KEY = "nonce-e2e-key"
SECRET = base64.b64encode(b"nonce-e2e-secret-0123456789abcdef").decode()
THREADS = 8
CALLS_PER_THREAD = 15
PROCESS_CALLS = 40

# The "second process": a status-like script making private calls through NIJA's Kraken client.
_SCRIPT = """
import sys
from pathlib import Path
from nija.brokers.ccxt import CcxtBroker, SharedMarkets
from nija.models import BrokerName
url, data_dir, key, secret, calls = sys.argv[1:6]
broker = CcxtBroker(BrokerName.KRAKEN, "status", {"api_key": key, "api_secret": secret}, SharedMarkets(),
                    api_url=url, data_dir=Path(data_dir), enable_rate_limit=False, read_attempts=1)
for _ in range(int(calls)):
    broker.holdings()
print("ok")
"""


def _broker(sim: Simulator, data_dir: Path) -> CcxtBroker:
    return CcxtBroker(
        BrokerName.KRAKEN, "master", {"api_key": KEY, "api_secret": SECRET}, SharedMarkets(),
        api_url=sim.url("kraken"), data_dir=data_dir, enable_rate_limit=False,
        read_attempts=1,  # a retry would hide an InvalidNonce
    )


def test_no_invalid_nonce_with_threads_a_second_process_and_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with Simulator(venues=["kraken"]) as sim:
        sim.add_account("kraken", KEY, SECRET, {"USD": Decimal("1000"), "BTC": Decimal("0.1")})
        for restart in range(3):
            errors: list[BaseException] = []
            brokers = [_broker(sim, data_dir) for _ in range(THREADS)]  # one client per thread

            def work(broker: CcxtBroker) -> None:
                try:
                    for _ in range(CALLS_PER_THREAD):
                        broker.balance_snapshot()
                except BaseException as exc:  # collected: a thread's failure must fail the test
                    errors.append(exc)

            other = subprocess.Popen(
                [sys.executable, "-c", _SCRIPT, sim.url("kraken"), str(data_dir), KEY, SECRET, str(PROCESS_CALLS)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            threads = [threading.Thread(target=work, args=(b,)) for b in brokers]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            out, err = other.communicate(timeout=60)
            assert other.returncode == 0 and out.strip() == "ok", f"round {restart}: {err[-2000:]}"
            assert not errors, f"round {restart}: {errors[0]!r}"
            for broker in brokers:
                broker.close()
        assert sim.invalid_nonces("kraken", KEY) == 0
        private = sim.requests("kraken", path_contains="/private/", api_key=KEY)
        assert len(private) >= 3 * (THREADS * CALLS_PER_THREAD + PROCESS_CALLS)
        assert all(r.status == 200 for r in private)
