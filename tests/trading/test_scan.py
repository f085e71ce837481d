"""Rotating scan batches: every symbol visited every ceil(n / size) cycles."""

from __future__ import annotations

from nija.trading.scan import rotating_batch

UNIVERSE = [f"S{i}/USD" for i in range(7)]


def test_everything_when_no_size_or_small_universe() -> None:
    assert rotating_batch(UNIVERSE, 5, None) == (UNIVERSE, 0)
    assert rotating_batch(UNIVERSE, 5, 10) == (UNIVERSE, 0)
    assert rotating_batch([], 3, 2) == ([], 0)


def test_batches_rotate_and_cover_the_universe() -> None:
    offset, seen = 0, []
    for _ in range(3):
        batch, offset = rotating_batch(UNIVERSE, offset, 3)
        assert len(batch) == 3
        seen.extend(batch)
    assert set(seen) == set(UNIVERSE)  # 3 cycles of 3 cover 7 symbols
    assert seen[:4] == ["S0/USD", "S1/USD", "S2/USD", "S3/USD"]
    assert seen[6:9] == ["S6/USD", "S0/USD", "S1/USD"]  # wraps


def test_offset_survives_a_shrinking_universe() -> None:
    batch, offset = rotating_batch(UNIVERSE[:3], 5, 2)
    assert batch == ["S2/USD", "S0/USD"] and offset == 1
