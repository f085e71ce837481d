"""Which symbols a cycle scans for entries: a rotating batch, so a large universe stays inside
the venue's public rate limit while every symbol is still visited every few cycles. Pure."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["rotating_batch"]


def rotating_batch(universe: Sequence[str], offset: int, size: int | None) -> tuple[list[str], int]:
    """Return (this cycle's symbols, next offset): `size` symbols from `offset`, wrapping around.

    `size` None (or ≥ the universe) scans everything. The universe may change between cycles
    (markets listed or delisted); the offset is taken modulo its current length.
    """
    count = len(universe)
    if count == 0:
        return [], 0
    if size is None or size >= count:
        return list(universe), 0
    start = offset % count
    batch = [universe[(start + i) % count] for i in range(size)]
    return batch, (start + size) % count
