"""Where a flat account's next entry signal is: the strategy's whole-series entry decisions,
scanned ahead in a second process while the loop replays.

The engine skips flat, signal-free candles (see `engine`); finding the next signal means asking
the strategy's `SeriesEvaluation.evaluate_entry` candle after candle, about a tenth of a
symbol-year's run. Those decisions depend on the candles alone, never on the account, so a
forked child can make them ahead of the loop, on the machine's other core, and stream the
candles that signal back in order. The answers are the same calls on the same object (the child
is a copy of this process); only where they run differs. Without fork (not Linux), for short
spans or if the child dies, the scan runs here, as it did before.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from multiprocessing.connection import Connection
from typing import Final

from nija.strategy.base import SeriesEvaluation

__all__ = ["EntrySignals"]

# Below this many candles a second process costs more (a fork, a pipe) than the scan it saves.
FORK_MIN_CANDLES: Final = 20_000
_FIRST_CHUNK: Final = 512  # the loop waits for the first chunk: small; later ones grow to `_CHUNK`
_CHUNK: Final = 8_192


def _scan(series: SeriesEvaluation, start: int, end: int) -> list[int]:
    return [at for at in range(start, end + 1) if series.evaluate_entry(at).enter]


def _stream(series: SeriesEvaluation, start: int, end: int, out: Connection) -> None:
    """The child: send (last candle covered, candles in the chunk that signal) chunk by chunk."""
    # Ctrl-C is the parent's to handle (it stops this child on its way out): no second traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    size, at = _FIRST_CHUNK, start
    while at <= end:
        last = min(end, at + size - 1)
        out.send((last, _scan(series, at, last)))
        at, size = last + 1, min(size * 4, _CHUNK)
    out.close()


class EntrySignals:
    """The candles in [start, end] whose entry decision is to enter, asked in increasing order."""

    def __init__(self, series: SeriesEvaluation, start: int, end: int, *, fork: bool | None = None) -> None:
        self._series, self._end = series, end
        self._found: deque[int] = deque()
        self._covered = start - 1  # every signal up to here is in `_found` (or was passed)
        self._child: multiprocessing.process.BaseProcess | None = None
        self._pipe: Connection | None = None
        if fork is None:
            fork = end - start + 1 >= FORK_MIN_CANDLES
        if fork and "fork" in multiprocessing.get_all_start_methods():
            self._start_child(series, start, end)

    def _start_child(self, series: SeriesEvaluation, start: int, end: int) -> None:
        context = multiprocessing.get_context("fork")
        self._pipe, sender = context.Pipe(duplex=False)
        child = context.Process(target=_stream, args=(series, start, end, sender), daemon=True)
        try:
            child.start()
        except OSError:  # no process to be had (limits, a sandbox): the scan runs here
            self._pipe.close()
            self._pipe = None
        else:
            self._child = child
        finally:
            sender.close()  # the child's end: EOF reaches us when the child is gone

    def next_at(self, index: int) -> int:
        """The first candle at or after `index` that signals an entry; end + 1 when none does."""
        found = self._found
        while True:
            while found and found[0] < index:
                found.popleft()
            if found:
                return found[0]  # every chunk before it has arrived: nothing earlier signals
            if self._covered >= self._end:
                return self._end + 1
            self._more(index)

    def _more(self, index: int) -> None:
        """Cover more candles: the child's next chunk, or (no child) a scan here from `index` (asked
        in increasing order: candles before it are never asked about again)."""
        if self._pipe is not None:
            try:
                covered, signals = self._pipe.recv()
            except (EOFError, OSError):  # the child died: what it did not send is scanned here
                self.close()
            else:
                self._covered = covered
                self._found.extend(signals)
                return
        # Here, only as far as the first signal: the candles after it are likely held ones,
        # which the loop decides itself.
        for at in range(max(index, self._covered + 1), self._end + 1):
            if self._series.evaluate_entry(at).enter:
                self._found.append(at)
                self._covered = at
                return
        self._covered = self._end

    def close(self) -> None:
        """Stop the child (a run that ended early leaves it scanning) and release the pipe."""
        if self._child is not None:
            if self._child.is_alive():
                self._child.kill()
            self._child.join()
            self._child = None
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None

    def __enter__(self) -> EntrySignals:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
