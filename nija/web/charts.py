"""The equity chart as inline SVG, drawn on the server: no script, no network, no image file.

Pure: a function of the points it is given. Coordinates are floats (a drawing, not money).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Final

from markupsafe import Markup, escape

__all__ = ["equity_svg"]

_WIDTH: Final = 720
_HEIGHT: Final = 220
_PAD_LEFT: Final = 70  # room for the equity labels
_PAD: Final = 12
_PAD_BOTTOM: Final = 24  # room for the dates


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _scale(value: float, low: float, high: float, out_low: float, out_high: float) -> float:
    # A flat series (high == low) draws a level line in the middle.
    if high == low:
        return (out_low + out_high) / 2
    return out_low + (value - low) / (high - low) * (out_high - out_low)


def equity_svg(points: Sequence[tuple[datetime, Decimal]], title: str) -> Markup:
    """An SVG line chart of equity over time (oldest first), labelled with its range and dates;
    a short note instead when there are no points."""
    if not points:
        return Markup('<p class="muted">No equity recorded yet.</p>')
    times = [p[0].timestamp() for p in points]
    values = [float(p[1]) for p in points]
    low, high = min(values), max(values)
    right, bottom = _WIDTH - _PAD, _HEIGHT - _PAD_BOTTOM
    xy = [
        (_scale(t, times[0], times[-1], _PAD_LEFT, right), _scale(v, low, high, bottom, _PAD))
        for t, v in zip(times, values, strict=True)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    lowest, highest = min(p[1] for p in points), max(p[1] for p in points)
    first, last = points[0][0].strftime("%Y-%m-%d %H:%M"), points[-1][0].strftime("%Y-%m-%d %H:%M")
    parts = [
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{_PAD_LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" class="axis"/>',
        f'<line x1="{_PAD_LEFT}" y1="{_PAD}" x2="{_PAD_LEFT}" y2="{bottom}" class="axis"/>',
        f'<text x="{_PAD_LEFT - 6}" y="{_PAD + 4}" text-anchor="end">{_money(highest)}</text>',
        f'<text x="{_PAD_LEFT - 6}" y="{bottom}" text-anchor="end">{_money(lowest)}</text>',
        f'<text x="{_PAD_LEFT}" y="{_HEIGHT - 6}">{first}</text>',
        f'<text x="{right}" y="{_HEIGHT - 6}" text-anchor="end">{last}</text>',
    ]
    if len(xy) == 1:
        parts.append(f'<circle cx="{xy[0][0]:.1f}" cy="{xy[0][1]:.1f}" r="3" class="line"/>')
    else:
        parts.append(f'<polyline points="{line}" class="line" fill="none"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
