"""The Kraken nonce source: monotonic per key across instances, threads, processes and restarts."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nija.brokers.ccxt import nonce as nonce_module
from nija.brokers.ccxt.nonce import NONCE_UNIT, NonceSource, key_fingerprint

REPO_ROOT = Path(__file__).resolve().parents[3]
KEY = "kraken-test-key-AAAA+/bbbb=="
OTHER_KEY = "kraken-test-key-ZZZZ+/yyyy=="
T0 = 1_700_000_000_000  # a fixed "now" in ms


def frozen(ms: int = T0) -> Callable[[], int]:
    return lambda: ms


def run_threads(n: int, target: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)


def test_unit_is_milliseconds_like_ccxt_kraken() -> None:
    assert NONCE_UNIT == "milliseconds"


def test_frozen_clock_still_strictly_increases(tmp_path: Path) -> None:
    src = NonceSource(tmp_path, KEY, clock_ms=frozen())
    values = [src.next() for _ in range(50)]
    assert values == list(range(T0, T0 + 50))


def test_clock_going_backwards_never_moves_nonce_back(tmp_path: Path) -> None:
    times: Iterator[int] = iter([T0, T0 + 5, T0 - 60_000, T0 - 1, T0 + 2, T0 + 100])
    src = NonceSource(tmp_path, KEY, clock_ms=lambda: next(times))
    values = [src.next() for _ in range(6)]
    assert values == [T0, T0 + 5, T0 + 6, T0 + 7, T0 + 8, T0 + 100]


def test_new_source_continues_above_high_water_mark(tmp_path: Path) -> None:
    first = NonceSource(tmp_path, KEY, clock_ms=frozen())
    last = [first.next() for _ in range(5)][-1]
    later = NonceSource(tmp_path, KEY, clock_ms=frozen(T0 - 3_600_000))  # clock an hour behind
    assert later.next() == last + 1


def test_file_holds_digits_under_fingerprint_and_never_the_key(tmp_path: Path) -> None:
    src = NonceSource(tmp_path, KEY, clock_ms=frozen())
    value = src.next()
    assert src.fingerprint == key_fingerprint(KEY) == hashlib.sha256(KEY.encode()).hexdigest()[:16]
    assert src.path == (tmp_path / "nonce" / src.fingerprint).resolve()
    content = src.path.read_bytes()
    assert content.isdigit() and int(content) == value
    assert stat.S_IMODE((tmp_path / "nonce").stat().st_mode) == 0o700
    for path in tmp_path.rglob("*"):
        assert KEY not in path.name
        if path.is_file():
            assert KEY.encode() not in path.read_bytes()
    assert KEY not in repr(src.__dict__)


def test_empty_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        NonceSource(tmp_path, "")


@pytest.mark.parametrize(
    ("stored", "unit", "as_ms"),
    [
        (1_700_000_000_123_456, "microseconds", 1_700_000_000_124),  # rounded up, never down
        (1_700_000_000_123_456_789, "nanoseconds", 1_700_000_000_124),
        (1_700_000_000_123_000_000, "nanoseconds", 1_700_000_000_123),  # exact: no extra ms
    ],
)
def test_value_in_larger_unit_is_converted_up_to_ms(tmp_path: Path, stored: int, unit: str, as_ms: int) -> None:
    (tmp_path / "nonce").mkdir(mode=0o700)
    (tmp_path / "nonce" / key_fingerprint(KEY)).write_text(str(stored))
    src = NonceSource(tmp_path, KEY, clock_ms=frozen())
    assert src.converted_from == unit  # known at construction, so the caller warns before trading
    assert src.next() == as_ms + 1
    assert int(src.path.read_text()) == as_ms + 1  # rewritten in ms
    assert NonceSource(tmp_path, KEY, clock_ms=frozen()).converted_from is None


def test_millisecond_value_is_not_flagged(tmp_path: Path) -> None:
    src = NonceSource(tmp_path, KEY, clock_ms=frozen())
    src.next()
    assert NonceSource(tmp_path, KEY, clock_ms=frozen()).converted_from is None


@pytest.mark.parametrize(
    "content",
    [b"", b"   \n", b"abc", b"12x", b"-5", b"1.5e12", "²³".encode(), b"\xff\xfe\x00", str(2**64).encode(), b"9" * 500],
)
def test_corrupt_file_reads_as_zero_without_crashing(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "nonce").mkdir(mode=0o700)
    (tmp_path / "nonce" / key_fingerprint(KEY)).write_bytes(content)
    src = NonceSource(tmp_path, KEY, clock_ms=frozen())
    assert src.next() == T0
    assert src.converted_from is None


def test_file_damaged_while_running_does_not_move_nonce_back(tmp_path: Path) -> None:
    src = NonceSource(tmp_path, KEY, clock_ms=frozen())
    src.jump(60_000)
    src.path.write_bytes(b"garbage")
    assert NonceSource(tmp_path, KEY, clock_ms=frozen()).next() == T0 + 60_001
    src.path.unlink()
    assert src.next() == T0 + 60_002


def test_jump_moves_from_clock_or_from_mark_whichever_is_higher(tmp_path: Path) -> None:
    src = NonceSource(tmp_path, KEY, clock_ms=frozen())
    src.next()  # mark = T0, clock = T0
    assert src.jump(120_000) == T0 + 120_000
    assert int(src.path.read_text()) == T0 + 120_000
    assert src.next() == T0 + 120_001
    assert src.jump(5_000) == T0 + 125_001  # mark ahead of the clock: mark + ms
    with pytest.raises(ValueError):
        src.jump(-1)


def test_threads_with_separate_instances_get_unique_increasing_values(tmp_path: Path) -> None:
    results: dict[int, list[int]] = {}

    def draw(i: int) -> None:
        src = NonceSource(tmp_path, KEY, clock_ms=frozen())
        results[i] = [src.next() for _ in range(100)]

    run_threads(8, draw)
    everything = [v for seq in results.values() for v in seq]
    assert len(set(everything)) == 800
    assert sorted(everything) == list(range(T0, T0 + 800))  # frozen clock: only the file counts
    assert all(seq == sorted(seq) and len(set(seq)) == len(seq) for seq in results.values())


def test_in_flight_admits_one_thread_per_key(tmp_path: Path) -> None:
    events: list[tuple[str, int]] = []
    inside = [0]
    overlap = [False]

    def request(i: int) -> None:
        src = NonceSource(tmp_path, KEY, clock_ms=frozen())
        for _ in range(25):
            with src.in_flight():
                events.append(("enter", i))
                inside[0] += 1
                overlap[0] |= inside[0] > 1
                src.next()  # re-entrant: must not deadlock inside its own section
                time.sleep(0.0002)  # give another thread the chance to barge in
                inside[0] -= 1
                events.append(("exit", i))

    run_threads(4, request)
    assert not overlap[0]
    assert len(events) == 200
    for enter, leave in zip(events[::2], events[1::2]):
        assert enter[0] == "enter" and leave == ("exit", enter[1])


def test_nested_in_flight_and_next_do_not_deadlock(tmp_path: Path) -> None:
    src = NonceSource(tmp_path, KEY, clock_ms=frozen())
    twin = NonceSource(tmp_path, KEY, clock_ms=frozen())
    with src.in_flight():
        with twin.in_flight():
            assert twin.next() == T0
        assert src.next() == T0 + 1
        assert src.jump(10) == T0 + 11


def test_different_keys_are_in_flight_together(tmp_path: Path) -> None:
    both_inside = threading.Barrier(2, timeout=5)  # breaks (raises) if one key blocks the other

    def request(i: int) -> None:
        src = NonceSource(tmp_path, (KEY, OTHER_KEY)[i], clock_ms=frozen())
        with src.in_flight():
            src.next()
            both_inside.wait()

    run_threads(2, request)
    assert not both_inside.broken


def test_other_thread_waits_for_the_request_in_flight(tmp_path: Path) -> None:
    src = NonceSource(tmp_path, KEY, clock_ms=frozen())
    drawn = threading.Event()

    def draw(_: int) -> None:
        NonceSource(tmp_path, KEY, clock_ms=frozen()).next()
        drawn.set()

    with src.in_flight():
        thread = threading.Thread(target=draw, args=(0,))
        thread.start()
        assert not drawn.wait(0.2)
    thread.join(timeout=5)
    assert drawn.is_set()


_CHILD = """
import json, sys, time
from pathlib import Path
from nija.brokers.ccxt.nonce import NonceSource
data_dir, key, count, clock = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
lease = int(sys.argv[6]) if len(sys.argv) > 6 else 0
src = NonceSource(data_dir, key, clock_ms=lambda: clock, lease_ms=lease)
(data_dir / f"ready-{sys.argv[5]}").touch()
while not (data_dir / "go").exists():
    time.sleep(0.001)
out = []
for _ in range(count):
    with src.in_flight():
        out.append(src.next())
print(json.dumps(out))
"""


def _draw_in_three_processes(data_dir: Path, round_name: str, clock: int, lease_ms: int = 0) -> list[list[int]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(data_dir), KEY, "200", str(clock), f"{round_name}-{i}", str(lease_ms)],
            stdout=subprocess.PIPE,
            env=env,
        )
        for i in range(2)
    ]
    try:
        deadline = time.monotonic() + 20
        while not all((data_dir / f"ready-{round_name}-{i}").exists() for i in range(2)):
            assert time.monotonic() < deadline and all(c.poll() is None for c in children)
            time.sleep(0.005)
        src = NonceSource(data_dir, KEY, clock_ms=frozen(clock), lease_ms=lease_ms)
        (data_dir / "go").touch()
        mine = []
        for _ in range(200):
            with src.in_flight():
                mine.append(src.next())
        outputs = [c.communicate(timeout=20)[0] for c in children]
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
                c.wait()
    (data_dir / "go").unlink()
    assert all(c.returncode == 0 for c in children)
    return [mine, *(json.loads(out) for out in outputs)]


def test_processes_share_one_sequence_across_a_restart(tmp_path: Path) -> None:
    # A clock in the past leaves the file as the only thing that can keep the values apart.
    past = 1_000
    first = _draw_in_three_processes(tmp_path, "a", past)
    flat = [v for seq in first for v in seq]
    assert sorted(flat) == list(range(past, past + 600))
    assert all(all(a < b for a, b in zip(seq, seq[1:])) for seq in first)

    restarted = _draw_in_three_processes(tmp_path, "b", past)
    flat_again = [v for seq in restarted for v in seq]
    assert len(set(flat_again)) == 600
    assert min(flat_again) > max(flat)
    assert all(all(a < b for a, b in zip(seq, seq[1:])) for seq in restarted)


def test_failed_replace_leaves_old_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = NonceSource(tmp_path, KEY, clock_ms=frozen())
    before = src.next()
    real_replace = os.replace
    calls = [0]

    def replace_fails_once(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> None:
        calls[0] += 1
        if calls[0] == 1:
            raise OSError("disk gone mid-write")
        real_replace(a, b)

    monkeypatch.setattr(nonce_module.os, "replace", replace_fails_once)
    with pytest.raises(OSError, match="disk gone"):
        src.next()
    assert src.path.read_text() == str(before)
    assert sorted(p.name for p in src.path.parent.iterdir()) == [src.fingerprint, src.fingerprint + ".lock"]
    assert src.next() == before + 1


def test_forked_child_does_not_keep_the_parents_key_lock(tmp_path: Path) -> None:
    src = NonceSource(tmp_path, KEY, clock_ms=frozen())
    read_end, write_end = os.pipe()
    with src.in_flight():
        pid = os.fork()
        if pid == 0:  # child: say whether the key can be used, then linger past the parent's exit
            ok = b"0"
            try:
                with NonceSource(tmp_path, KEY, clock_ms=frozen()).in_flight():
                    ok = b"1"
            finally:
                os.write(write_end, ok)
                time.sleep(3)
                os._exit(0)
    try:
        assert os.read(read_end, 1) == b"1"  # the child got the key once the parent let go
        probe = os.open(src.path.with_name(src.fingerprint + ".lock"), os.O_RDWR)
        try:
            # The child still runs; had it kept its inherited copy of the locked fd, this raises.
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(probe)
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(read_end)
        os.close(write_end)


def test_leased_processes_never_repeat_and_resume_above_the_lease(tmp_path: Path) -> None:
    # With a lease most values come from memory; processes interleaving on one key still never
    # repeat a value, each one's values rise, and a restart continues above everything handed out.
    past = 1_000
    first = _draw_in_three_processes(tmp_path, "a", past, lease_ms=50)
    flat = [v for seq in first for v in seq]
    assert len(set(flat)) == 600
    assert all(all(a < b for a, b in zip(seq, seq[1:])) for seq in first)
    restarted = _draw_in_three_processes(tmp_path, "b", past, lease_ms=50)
    flat_again = [v for seq in restarted for v in seq]
    assert len(set(flat_again)) == 600 and min(flat_again) > max(flat)


def test_lease_writes_once_per_lease_and_a_crash_resumes_above_the_persisted_mark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[int] = []
    real_write = NonceSource._write
    monkeypatch.setattr(NonceSource, "_write", lambda self, value: (writes.append(value), real_write(self, value))[1])
    src = NonceSource(tmp_path, KEY, clock_ms=frozen(), lease_ms=100)
    values = [src.next() for _ in range(250)]
    assert values == list(range(T0, T0 + 250))
    assert writes == [T0 + 100, T0 + 201, T0 + 302]  # a persisted mark covers every value handed out
    assert int(src.path.read_text()) >= max(values)
    nonce_module._gates.clear()  # what a restarted process sees: only the file
    assert NonceSource(tmp_path, KEY, clock_ms=frozen(), lease_ms=100).next() == T0 + 303


def test_lease_sees_another_process_move_the_mark(tmp_path: Path) -> None:
    src = NonceSource(tmp_path, KEY, clock_ms=frozen(), lease_ms=1_000)
    assert src.next() == T0
    ours = dict(nonce_module._gates)
    nonce_module._gates.clear()  # what another process has: its own gate, its own lock descriptor
    other = NonceSource(tmp_path, KEY, clock_ms=frozen(T0 + 5_000), lease_ms=1_000)
    assert other.next() == T0 + 5_000  # persists T0 + 6_000, and copies it into the lock file
    nonce_module._gates.clear()
    nonce_module._gates.update(ours)
    assert src.next() == T0 + 6_001  # above everything the other process may hand out


def test_lease_is_served_from_memory_without_reading_the_mark_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = NonceSource(tmp_path, KEY, clock_ms=frozen(), lease_ms=1_000)
    src.next()
    src._clock_ms = lambda: T0 + 999_999  # time passing doesn't end a lease either
    reads: list[int] = []
    real_read = NonceSource._read
    monkeypatch.setattr(NonceSource, "_read", lambda self: (reads.append(1), real_read(self))[1])
    assert [src.next() for _ in range(50)] == list(range(T0 + 1, T0 + 51))
    assert reads == []
    assert (src.path.parent / (src.fingerprint + ".lock")).read_bytes() == b"%020d" % (T0 + 1_000)


def test_negative_lease_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lease_ms"):
        NonceSource(tmp_path, KEY, lease_ms=-1)


def test_a_lease_counts_requests_not_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Master fills come minutes apart; a lease that ran out with the clock would make every copy
    # order of every fan-out wait on an fsync'd rename.
    now = [T0]
    writes: list[int] = []
    real_write = NonceSource._write
    monkeypatch.setattr(NonceSource, "_write", lambda self, value: (writes.append(value), real_write(self, value))[1])
    src = NonceSource(tmp_path, KEY, clock_ms=lambda: now[0], lease_ms=100)
    values = []
    for _ in range(150):
        values.append(src.next())
        now[0] += 60_000  # a minute between requests
    assert values[:101] == list(range(T0, T0 + 101))  # up to the mark: below the clock, still increasing
    assert values[101] == T0 + 101 * 60_000  # the lease used up: back to the clock, a new mark
    assert writes == [T0 + 100, values[101] + 100]
    assert values == sorted(set(values))
    nonce_module._gates.clear()  # a restart resumes above everything handed out
    assert NonceSource(tmp_path, KEY, clock_ms=lambda: T0, lease_ms=100).next() > max(values)
