"""Kraken nonce source: one monotonic millisecond counter per API key, shared by threads and processes.

Kraken rejects a private request whose nonce is not above the last one it accepted for that key,
and requests signed in order can still arrive out of order. So every client, thread and process
that uses a key draws from one high-water mark kept in `<data_dir>/nonce/<fingerprint>`, and
`NonceSource.in_flight()` lets only one private request per key be signed, sent and answered at a
time. Different keys never wait for each other. The original NIJA used one process-wide lock for
every Kraken account, a nanosecond counter that was never saved, and a millisecond fallback file
written without fsync. Mixing the two units poisoned keys.

Decisions:

- **One unit: milliseconds** (`NONCE_UNIT`), the unit of ccxt's `kraken.nonce()`. A nonce is
  `max(now_ms, last + 1)` (under a lease, `last + 1`). It is written to disk (temp file, fsync,
  `os.replace`, fsync of the directory) before `next()` returns, so a crash can't make the
  source hand out a value it already gave.
- **A saved value in a larger unit is converted, not refused.** A value above 10^14 can't be
  milliseconds, since 10^14 ms is roughly the year 5138. Values up to 10^17 are taken as microseconds
  and larger ones as nanoseconds. They are divided down and rounded up, so the next nonce is still
  above anything saved, and `converted_from` names the old unit so that the caller can log one
  warning. The conversion is correct when the larger value was only saved. If the key really
  *sent* such nonces, Kraken's mark for the key is in that unit and will reject every millisecond
  nonce. No software fix exists for that: if `InvalidNonce` keeps coming after the jump and
  retry, the operator must create a new key.
- **A missing, empty or corrupt file counts as 0.** Corrupt means anything other than ASCII
  digits, or a value of 2^64 or more, which is beyond Kraken's unsigned 64-bit nonce. Reading
  such a file never raises. The clock still sets a floor. Each key's last value in this process
  is also kept in memory, so a file damaged while the process runs can't make the counter go back.
- **The lock file is `<fingerprint>.lock`.** `next()`, `jump()` and `in_flight()` take an
  exclusive `flock` on it, and a per-key `threading.RLock` guards it inside the process.
  The file lock is taken once, by the outermost entry. So `next()` inside `in_flight()` doesn't
  deadlock, and a `next()` on another thread waits until the request in flight is answered.
  Each process opens a key's lock file once and keeps it open (one descriptor per key: a
  thousand copy users need a thousand, see `nija.app`'s file limit), because an open and a
  close per request were a third of the system calls of a copy order.
- **Optional lease (`lease_ms`)**: the file may hold a mark *ahead* of the values handed out,
  so most `next()` calls write nothing. With a lease, a write persists `value + lease_ms`, and
  the next values come from memory, each one above the last, until they reach that mark, as
  long as no other process wrote a mark since. To know that without opening the mark file,
  every write also copies its mark into the lock file, in place, after the durable write; a
  call under the lease reads that copy (one `pread` through the open descriptor) and compares
  it with the mark this process wrote. A crash restarts above the persisted mark, so nothing
  handed out is ever repeated; another process that moved the mark is seen on the next call and
  continued above.
  Under a lease the clock is not consulted: a lease counts requests, not time. Had it followed
  the clock, it would run out between two master fills minutes apart, and every copy order of
  the next fan-out would pay the fsync'd rename again. Kraken only asks each nonce to be above
  the last one, not near the clock. The cost is a nonce up to `lease_ms` ahead of the clock
  after a restart, which Kraken accepts for the same reason. Values are unique and increasing
  per key, but no longer contiguous across processes. The copy fan-out uses it: a thousand
  keys, one fsync'd rename each per order, was a sizeable share of the per-order CPU and disk
  work. Every process sharing a key must run this protocol: a mark file edited by hand while
  leased processes run is only seen when their lease runs out, and deleting the nonce
  directory under a running daemon leaves it locking a file no new process sees.
- The API key itself is never stored, written or logged. Only its fingerprint (the first 16 hex
  characters of its sha256) names the files. This module doesn't log at all.

POSIX only (`fcntl`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

__all__ = ["NONCE_UNIT", "NonceSource", "key_fingerprint"]

NONCE_UNIT: Final = "milliseconds"

_FINGERPRINT_HEX_CHARS: Final = 16
_DIR_MODE: Final = 0o700  # the files reveal when a key trades; only the daemon's user may read them
_FILE_MODE: Final = 0o600
_MAX_MS: Final = 10**14  # about the year 5138 in ms; anything larger comes from a finer unit
_MAX_US: Final = 10**17  # the same instant in µs; anything larger is ns
_MAX_NONCE: Final = 2**64  # Kraken nonces are unsigned 64-bit; a larger value is damage, not a time
_READ_LIMIT_BYTES: Final = 64  # a valid file holds at most 20 digits; don't slurp a huge corrupt file
_SHADOW_BYTES: Final = 20  # digits of 2**64 - 1: every valid mark fits, zero-padded to a fixed width


def key_fingerprint(api_key: str) -> str:
    """Return the first 16 hex characters of the key's sha256: a file name that hides the key."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:_FINGERPRINT_HEX_CHARS]


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class _KeyGate:
    """Per-key lock state shared by every `NonceSource` of one key file in this process."""

    def __init__(self, lock_path: Path) -> None:
        self.lock_path = lock_path
        self.rlock = threading.RLock()
        self.depth = 0  # nesting of hold() in the owning thread; guarded by rlock
        self.fd: int | None = None  # the lock file, opened once and kept for the process's life
        self.last_ms = 0  # highest value this process handed out (or persisted) for the key
        self.reserved = -1  # the mark this process last wrote to the file (-1: none yet)

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self.rlock:
            if self.depth == 0:
                if self.fd is None:
                    self.fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
                fcntl.flock(self.fd, fcntl.LOCK_EX)
            self.depth += 1
            try:
                yield
            finally:
                self.depth -= 1
                if self.depth == 0:
                    fcntl.flock(self.fd, fcntl.LOCK_UN)

    def shadow(self) -> int | None:
        """The mark the last writer put in the lock file, or None if it holds none. Caller holds."""
        raw = os.pread(self.fd, _SHADOW_BYTES, 0)  # type: ignore[arg-type]
        return int(raw) if len(raw) == _SHADOW_BYTES and raw.isdigit() else None

    def set_shadow(self, mark: int) -> None:
        """Copy a mark just persisted into the lock file, in place. Caller holds."""
        os.pwrite(self.fd, b"%0*d" % (_SHADOW_BYTES, mark), 0)  # type: ignore[arg-type]

    def reset_after_fork(self) -> None:
        # The child got a copy of a lock that a parent thread may hold, and a duplicate of the lock
        # file's fd. That duplicate shares the parent's open file description: a flock through it
        # would not exclude the parent, and would keep the parent's flock alive. The child opens
        # its own.
        if self.fd is not None:
            os.close(self.fd)
        self.fd = None
        self.depth = 0
        self.rlock = threading.RLock()
        self.reserved = -1  # the child re-reads the file before handing out anything


_gates: dict[Path, _KeyGate] = {}
_gates_lock = threading.Lock()  # held only to look up or create a gate, never during I/O


def _gate_for(path: Path) -> _KeyGate:
    with _gates_lock:
        gate = _gates.get(path)
        if gate is None:
            gate = _gates[path] = _KeyGate(path.with_name(path.name + ".lock"))
        return gate


def _reset_gates_in_child() -> None:
    global _gates_lock
    _gates_lock = threading.Lock()
    for gate in _gates.values():
        gate.reset_after_fork()


# multiprocessing's fork start method would otherwise leave a child holding a parent's key lock.
os.register_at_fork(after_in_child=_reset_gates_in_child)


def _parse(raw: bytes) -> tuple[int, str | None]:
    """Return (value in ms, unit converted from) for the file's bytes; corrupt reads as (0, None)."""
    text = raw.strip()
    if not text or not text.isdigit():  # bytes.isdigit is ASCII-only, so "²" or "-5" is corrupt
        return 0, None
    value = int(text)
    if value >= _MAX_NONCE:
        return 0, None
    if value <= _MAX_MS:
        return value, None
    if value <= _MAX_US:
        return -(-value // 1_000), "microseconds"  # ceiling division keeps the mark above it
    return -(-value // 1_000_000), "nanoseconds"


class NonceSource:
    """Millisecond nonces for one API key, monotonic across instances, threads and processes."""

    def __init__(
        self, data_dir: Path, api_key: str, clock_ms: Callable[[], int] = _wall_clock_ms, *, lease_ms: int = 0
    ) -> None:
        """Open (creating if needed) the key's files under `data_dir/nonce`; the key isn't kept.
        `lease_ms` > 0 persists a mark that far ahead so most calls write nothing (see above)."""
        if lease_ms < 0:
            raise ValueError(f"lease_ms must be >= 0, was {lease_ms}")
        self._lease_ms = lease_ms
        if not api_key:
            raise ValueError("api_key is empty, was ''")  # every missing key would share one counter
        self.fingerprint: str = key_fingerprint(api_key)
        directory = Path(data_dir) / "nonce"
        directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(directory, _DIR_MODE)  # mkdir's mode is masked by umask and ignored if it existed
        self.path: Path = directory.resolve() / self.fingerprint
        self.converted_from: str | None = None
        self._clock_ms = clock_ms
        self._gate = _gate_for(self.path)
        with self._gate.hold():
            self._read()  # detect a foreign unit now, so the caller can warn before trading

    def next(self) -> int:
        """Return a new nonce in ms, above every earlier one for this key; persisted before return."""
        with self._gate.hold():
            gate = self._gate
            # The lease holds while the lock file still carries the mark this process wrote:
            # every writer copies its mark there, so a changed copy means another process moved on.
            if self._lease_ms and gate.last_ms < gate.reserved and gate.shadow() == gate.reserved:
                gate.last_ms += 1  # not the clock: see "lease" above
                return gate.last_ms
            on_disk = self._read()
            value = max(self._clock_ms(), on_disk + 1)
            self._write(value + self._lease_ms)
            gate.last_ms = value
            return value

    def jump(self, ms: int) -> int:
        """Move the mark to max(now + ms, last + ms) after an InvalidNonce; return the new mark."""
        if ms < 0:
            raise ValueError(f"jump must go forward, was {ms} ms")
        with self._gate.hold():
            value = max(self._clock_ms() + ms, self._read() + ms)
            self._write(value)
            return value

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Hold the key's exclusive section (threads and processes) for sign + send + receive."""
        with self._gate.hold():
            yield

    def _read(self) -> int:
        # Caller holds the gate. The in-memory mark covers a file removed or damaged meanwhile.
        try:  # os-level calls: this runs once per private request, a Python file object costs more
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raw = b""
        else:
            try:
                raw = os.read(fd, _READ_LIMIT_BYTES + 1)
            finally:
                os.close(fd)
        value, unit = (0, None) if len(raw) > _READ_LIMIT_BYTES else _parse(raw)
        if unit is not None:
            self.converted_from = unit
        return max(value, self._gate.last_ms)

    def _write(self, value: int) -> None:
        # Caller holds the gate, so one temp name is enough; a crash leaves the old file whole.
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, _FILE_MODE)
        try:
            try:
                data = str(value).encode()
                if os.write(fd, data) != len(data):  # 20 bytes never split on a regular file, but check
                    raise OSError(f"short write to {tmp}")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)  # makes the rename itself durable
        finally:
            os.close(dir_fd)
        # Only after the durable write: a crash in between leaves a mark nobody handed out a value
        # under, and the old copy lets its owner go on below it, which is still safe.
        self._gate.set_shadow(value)
        self._gate.last_ms = value
        self._gate.reserved = value
