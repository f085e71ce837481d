"""Fixtures of the notification tests: a local receiver (127.0.0.1 only), closed after the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from tests.notify.receiver import Receiver, start_receiver


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    """structlog as a fresh process has it: an earlier test's `configure_logging` (a level filter
    above warning) would otherwise hide the warnings these tests capture."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = start_receiver()
    yield r
    r.close()
