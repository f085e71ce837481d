"""Every status enum (orders, copy ledger, signals, manual intents) moves only along its transition table: each edge outside it raises, naming
the move as "FROM -> TO", and each edge inside it is allowed."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from itertools import product

import pytest

from nija.models import (
    CopyStatus,
    IntentStatus,
    InvalidTransition,
    OrderStatus,
    SignalStatus,
    advance_copy_status,
    advance_intent_status,
    advance_order_status,
    advance_signal_status,
)

FINAL_ORDER = {OrderStatus.FILLED, OrderStatus.REJECTED}
# The edges each table allows, written out here by hand so the test does not read the table it checks.
ALLOWED: dict[type[StrEnum], set[tuple[str, str]]] = {
    OrderStatus: {
        *(("pending", to) for to in ("submitted", "partial", "filled", "rejected", "unknown", "canceled")),
        *(("unknown", to) for to in ("submitted", "partial", "filled", "rejected", "canceled")),
        ("submitted", "partial"), ("submitted", "filled"), ("submitted", "canceled"),
        ("partial", "partial"), ("partial", "filled"), ("partial", "canceled"),
        ("canceled", "filled"), ("canceled", "partial"),
        ("filled", "filled"), ("rejected", "rejected"),  # re-reading a final answer is not a move
    },
    CopyStatus: {
        *(("pending", to) for to in ("sent", "unknown", "filled", "partial", "failed", "expired", "skipped", "waiting")),
        *(("sent", to) for to in ("unknown", "filled", "partial", "failed", "waiting")),
        *(("unknown", to) for to in ("sent", "filled", "partial", "failed", "expired", "waiting")),
        *(("waiting", to) for to in ("pending", "filled", "partial", "skipped")),
        *((s, s) for s in CopyStatus),
    },
    SignalStatus: {
        *(("pending", to) for to in ("done", "skipped", "rejected")),
        *((s, s) for s in SignalStatus),
    },
    IntentStatus: {("pending", "taken"), ("pending", "canceled"), ("taken", "done"), ("taken", "refused")},
}
ADVANCE: dict[type[StrEnum], Callable[[object, object], object]] = {
    OrderStatus: advance_order_status,  # type: ignore[dict-item]
    CopyStatus: advance_copy_status,  # type: ignore[dict-item]
    SignalStatus: advance_signal_status,  # type: ignore[dict-item]
    IntentStatus: advance_intent_status,  # type: ignore[dict-item]
}
EDGES = [(enum, a, b) for enum in ALLOWED for a, b in product(list(enum), list(enum))]


@pytest.mark.parametrize(("enum", "current", "new"), EDGES, ids=lambda v: str(v) if not isinstance(v, type) else v.__name__)
def test_every_edge_is_allowed_or_raises_naming_the_move(enum: type[StrEnum], current: StrEnum, new: StrEnum) -> None:
    advance = ADVANCE[enum]
    if (str(current), str(new)) in ALLOWED[enum]:
        assert advance(current, new) == new
    else:
        with pytest.raises(InvalidTransition, match=f"{current} -> {new}"):
            advance(current, new)


def test_final_statuses_have_no_way_out() -> None:
    for status in (CopyStatus.FILLED, CopyStatus.PARTIAL, CopyStatus.FAILED, CopyStatus.EXPIRED, CopyStatus.SKIPPED):
        assert not status.is_open
        for other in set(CopyStatus) - {status}:
            with pytest.raises(InvalidTransition):
                advance_copy_status(status, other)
    assert {s for s in CopyStatus if s.is_open} == {CopyStatus.PENDING, CopyStatus.SENT, CopyStatus.UNKNOWN, CopyStatus.WAITING}
