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


# DESIGN.md's arrows, ground first: a module may import its own part and any part of a lower
# layer, never one of its own layer or above. trading/ and copytrade/ are siblings; a follower's
# health reuses the broker loops' tracker, the one sideways arrow allowed.
LAYERS: tuple[frozenset[str], ...] = (
    # notify_urls: apprise URL parsing; malloc_env: the allocator settings `__main__` re-executes with
    # holdings: an account's valued holdings and the transfers seen, values like models
    frozenset({"models", "holdings", "logs", "datadir", "faults", "notify_urls", "malloc_env"}),
    frozenset({"store", "strategy", "config"}),
    frozenset({"brokers", "users", "status"}),
    frozenset({"execution"}),
    frozenset({"trading", "copytrade"}),
    # notify: reads the store, follower files and the guard's file names; app starts it
    frozenset({"build", "follower_commands", "notify"}),  # follower_commands: `nija.trade follower ...`
    # commands that build accounts (backtest: its loop config), and report (reads the store and user files)
    frozenset({"trade", "doctor", "backtest", "report"}),
    frozenset({"web"}),  # the dashboard: report's figures and status's health, read-only
    frozenset({"app"}),  # the daemon starts the dashboard when NIJA_WEB=true
    frozenset({"__main__"}),
)
SIDEWAYS: frozenset[tuple[str, str]] = frozenset({("copytrade", "nija.trading.health")})


def _part(name: str) -> str:
    """The part of nija a module belongs to: its folder, or its own name at the top level."""
    first = name.split("/")[0]
    return first.removesuffix(".py")


def _layer(part: str) -> int:
    for rank, parts in enumerate(LAYERS):
        if part in parts:
            return rank
    raise AssertionError(f"nija/{part} is in no layer of tests/test_layering.py: place it in DESIGN.md's arrows")


def upward_imports(modules: dict[str, set[str]]) -> list[str]:
    """Every import that points sideways or up, as 'module -> import'."""
    found = []
    for name, imports in modules.items():
        part = _part(name)
        if part == "__init__":
            continue
        rank = _layer(part)
        for imported in sorted(i for i in imports if i.startswith("nija.")):
            target = imported.split(".")[1]
            if target == part or (part, imported) in SIDEWAYS:
                continue
            if _layer(target) >= rank:
                found.append(f"{name} -> {imported}")
    return found


def test_dependencies_point_down() -> None:
    assert upward_imports(_modules()) == []


def test_an_upward_import_is_caught() -> None:
    # The check itself: store importing execution, and execution importing trading, both fail.
    modules = {"store/orders.py": {"nija.execution.positions"}, "execution/executor.py": {"nija.trading.guard"}}
    assert upward_imports(modules) == [
        "store/orders.py -> nija.execution.positions", "execution/executor.py -> nija.trading.guard",
    ]
