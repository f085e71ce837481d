"""Dependencies point down: strategy imports no daemon code, SQL lives in store/, each venue
library stays in its family's folder under brokers/, and brokers/ imports nothing above it."""

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


def test_venue_libraries_stay_in_their_family_folder() -> None:
    homes = {"ccxt": "brokers/ccxt/", "alpaca": "brokers/alpaca/"}
    for name, imports in _modules().items():
        for library, home in homes.items():
            if any(i.split(".")[0] == library for i in imports):
                assert name.startswith(home), f"{name} imports {library}"


def test_brokers_never_import_the_layers_above_them() -> None:
    # DESIGN: brokers/ never imports trading/, copytrade/, execution/ or store/ (nor the wiring).
    above = ("nija.store", "nija.trading", "nija.copytrade", "nija.execution", "nija.app", "nija.build")
    for name, imports in _modules().items():
        if not name.startswith("brokers/"):
            continue
        path = PACKAGE / name
        # `from nija import store` names the module only in its alias: count those too.
        imports = imports | {
            f"{node.module}.{alias.name}"
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and node.module
            for alias in node.names
        }
        found = {i for i in imports if any(i == layer or i.startswith(layer + ".") for layer in above)}
        assert not found, f"{name} imports {sorted(found)}"


def test_copy_sizing_is_pure() -> None:
    imports = _modules()["copytrade/sizing.py"]
    nija = {i for i in imports if i.startswith("nija")}
    assert nija <= {"nija.models"}, nija
    assert not imports & {"threading", "time", "sqlite3", "structlog", "logging", "ccxt", "os"}
