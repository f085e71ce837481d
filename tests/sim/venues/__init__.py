"""Venue dialects, one module each; every module exports `VENUE`, its `Venue` subclass.

Modules are found by scanning this package, so adding a venue is adding one file.
"""

from __future__ import annotations

import importlib
import pkgutil

from tests.sim.venue import Venue

__all__ = ["discover"]


def discover() -> dict[str, type[Venue]]:
    """Map each venue's name (its URL prefix) to its class."""
    found: dict[str, type[Venue]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        venue = getattr(module, "VENUE", None)
        if venue is None:
            raise ImportError(f"{module.__name__} defines no VENUE")
        found[venue.name] = venue
    return found
