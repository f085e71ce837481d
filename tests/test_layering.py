"""Dependencies point down: strategy imports no daemon code, SQL lives in store/, venue
libraries stay in brokers/."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nija"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _modules() -> dict[str, set[str]]:
    return {str(p.relative_to(PACKAGE)): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_strategy_is_pure() -> None:
    allowed_nija = {"nija.models"}
    for name, imports in _modules().items():
        if not name.startswith("strategy/"):
            continue
        nija = {i for i in imports if i.startswith("nija") and not i.startswith("nija.strategy")}
        assert nija <= allowed_nija, f"{name} imports {nija - allowed_nija}"
        banned = {"threading", "time", "sqlite3", "structlog", "logging", "ccxt", "requests", "os", "socket"}
        assert not (imports & banned), f"{name} imports {imports & banned}"


def test_only_store_speaks_sql() -> None:
    for name, imports in _modules().items():
        if "sqlite3" in imports:
            assert name.startswith("store/"), f"{name} imports sqlite3"


def test_venue_libraries_stay_in_brokers() -> None:
    for name, imports in _modules().items():
        if any(i.split(".")[0] in {"ccxt", "alpaca"} for i in imports):
            assert name.startswith("brokers/"), name


def test_brokers_never_import_trading() -> None:
    for name, imports in _modules().items():
        if name.startswith("brokers/"):
            assert not any(i.startswith(("nija.trading", "nija.copytrade", "nija.app")) for i in imports), name


def test_copy_sizing_is_pure() -> None:
    imports = _modules()["copytrade/sizing.py"]
    nija = {i for i in imports if i.startswith("nija")}
    assert nija <= {"nija.models"}, nija
    assert not imports & {"threading", "time", "sqlite3", "structlog", "logging", "ccxt", "os"}
