"""pytest fixtures: a fresh simulator per test, or one per session for read-only use.

Import them into a test module or conftest::

    from tests.sim.fixtures import simulator, simulator_session  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sim.simulator import Simulator

__all__ = ["simulator", "simulator_session"]


def _checked(sim: Simulator) -> None:
    errors = sim.internal_errors
    assert not errors, "simulator bug while serving:\n" + "\n".join(errors)


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A started simulator with default markets and no accounts; stopped after the test."""
    with Simulator() as sim:
        yield sim
        _checked(sim)


@pytest.fixture(scope="session")
def simulator_session() -> Iterator[Simulator]:
    """One simulator for the whole session: add accounts with unique keys, clear your faults."""
    with Simulator() as sim:
        yield sim
        _checked(sim)
