"""Copy quality: how late and at what price a follower's copy landed against the master's fill,
and how far a follower's copied position has drifted from the master's, scaled to the follower.

Pure: Decimal and datetimes in, figures out; no I/O, no clock, no logging. A few Decimal
operations per copy, so the fan-out computes them inline for every ledger row it writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final, TypeVar

from nija.models import Side

__all__ = ["Drift", "drift", "latency_ms", "percentile", "slippage_bps"]

_BPS: Final = Decimal(10_000)  # basis points in a whole
_HUNDRED: Final = Decimal(100)
_ZERO: Final = Decimal(0)
_MICROSECOND: Final = timedelta(microseconds=1)
N = TypeVar("N", float, Decimal)


def slippage_bps(side: Side, master_price: Decimal, fill_price: Decimal) -> Decimal:
    """The follower's fill price against the master's, in basis points of the master's price,
    signed so that ADVERSE is positive: a buy paying more than the master, or a sell receiving
    less, is a positive figure; a better price than the master's is negative.

    Multiplies before it divides, so a figure with a finite decimal expansion is exact (buy at
    100.5 against 100 is 50 bps); any other is rounded to the Decimal context's 28 digits.
    """
    if master_price <= 0:
        raise ValueError(f"master price must be > 0, was {master_price}")
    worse = fill_price - master_price if side is Side.BUY else master_price - fill_price
    return worse * _BPS / master_price


def latency_ms(start: datetime, end: datetime) -> float:
    """Milliseconds from `start` to `end` (both UTC-aware), to a tenth of a millisecond, as the
    ledger's latency columns keep them. Signed: a clock that ran backwards shows as negative."""
    return round((end - start) / _MICROSECOND / 1000, 1)


def percentile(values: Sequence[N], pct: int) -> N | None:
    """The nearest-rank percentile of `values`: the smallest value with at least `pct` percent of
    the values at or below it, that is the value of rank ceil(pct × n / 100) in ascending order
    (rank 1 for pct 0). Always one of the values, never interpolated; None for no values.

    p50 of [10, 20, 30, 40] is 20; p95 of 100 values is the 95th smallest.
    """
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile must be within 0..100, was {pct}")
    if not values:
        return None
    rank = max(1, -(-pct * len(values) // 100))  # ceil in integers: no float on the way
    return sorted(values)[rank - 1]


@dataclass(frozen=True, slots=True)
class Drift:
    """A follower's copied position in one symbol against the master's position scaled to the
    follower.

    `drift_pct` is (copied - expected) / expected × 100: negative when the follower holds less
    than the scaled master; when nothing is expected (the master is flat, or the follower's scale
    is zero) it is 0 for no copy and None for a copy. `beyond` is set when |drift_pct| exceeds the tolerance, or when the follower
    holds a copy although nothing is expected. `master_flat` (the master holds none of the
    symbol) with a copied quantity is the case convergence closes; other drift is only reported.
    """

    copied_qty: Decimal
    expected_qty: Decimal
    drift_pct: Decimal | None
    beyond: bool
    master_flat: bool


def drift(
    copied_qty: Decimal, master_qty: Decimal, user_equity: Decimal, master_equity: Decimal,
    risk_multiplier: Decimal, tolerance_pct: Decimal,
) -> Drift:
    """Compare a follower's copied quantity with the master's, scaled as entries are sized:
    expected = master_qty × user_equity / master_equity × risk_multiplier (base units).
    Quantities, the tolerance and the multiplier must not be negative; the master's equity must
    be positive (an entry is never copied otherwise); a follower's equity at or below zero
    expects nothing."""
    if master_equity <= 0:
        raise ValueError(f"master equity must be > 0, was {master_equity}")
    for name, value in (("copied_qty", copied_qty), ("master_qty", master_qty),
                        ("risk_multiplier", risk_multiplier), ("tolerance_pct", tolerance_pct)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, was {value}")
    expected = master_qty * max(user_equity, _ZERO) * risk_multiplier / master_equity
    if expected == 0:
        # nothing to compare against: any copied holding is beyond every tolerance
        return Drift(copied_qty, expected, _ZERO if copied_qty == 0 else None, copied_qty > 0, master_qty == 0)
    pct = (copied_qty - expected) * _HUNDRED / expected
    return Drift(copied_qty, expected, pct, abs(pct) > tolerance_pct, False)
