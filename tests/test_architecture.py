"""The layer contract of docs/ARCHITECTURE.md: import-linter's contracts from pyproject.toml hold,
a deliberately wrong import breaks them (naming the import), every top-level package is placed in
a layer, there is no import cycle in bot/, and the pure packages never read the wall clock."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parent.parent
PURE = ("core", "market", "strategy", "risk", "hedge", "paper", "dex")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run the real ``lint-imports`` CLI on the package tree under ``root``."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_layer_contracts_hold() -> None:
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert result.stdout.count("KEPT") == 3


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        (
            "bot/market/book.py",
            "from bot.engine import loop",
            "bot.market is not allowed to import bot.engine",
        ),
        ("bot/core/orders.py", "from bot.strategy import types", "Layers"),
        ("bot/risk/manager.py", "import asyncio", "bot.risk is not allowed to import asyncio"),
        ("bot/paper/ledger.py", "import sqlite3", "bot.paper is not allowed to import sqlite3"),
    ],
)
def test_a_wrong_import_fails_the_contract_and_is_named(
    tmp_path: Path, module: str, bad_import: str, contract: str
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copytree(REPO / "bot", root / "bot", ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    target = root / module
    text = target.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    assert sep, module
    target.write_text(f"{head}{sep}{bad_import}  # noqa\n{rest}")
    result = _lint_imports(root)
    assert result.returncode != 0
    out = result.stdout
    assert "BROKEN" in out and contract in out
    # the offending line is named: module -> imported module (l.N)
    imported = bad_import.split()[1]
    assert f"{module[:-3].replace('/', '.')} -> {imported}" in out


def _layers() -> list[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    return [name.strip() for layer in layers for name in layer.split("|")]


def test_every_top_level_package_is_placed_in_a_layer() -> None:
    placed = set(_layers())
    tops = {
        f"bot.{p.stem}" if p.is_file() else f"bot.{p.name}"
        for p in (REPO / "bot").iterdir()
        if (p.suffix == ".py" and p.stem not in {"__init__", "__main__"}) or (p / "__init__.py").is_file()
    }
    assert tops - placed == set(), "place these in [tool.importlinter] layers (docs/ARCHITECTURE.md)"
    assert placed - tops == set(), "layers name packages that do not exist"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycles_in_bot() -> None:
    graph = grimp.build_graph("bot", cache_dir=None)
    assert len(graph.modules) > 100
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert _cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


WALL_CLOCK = {
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "monotonic_ns"),
    ("time", "perf_counter"),
    ("time", "perf_counter_ns"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
}


def _wall_clock_reads(source: str) -> list[int]:
    lines = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = (
                owner.id
                if isinstance(owner, ast.Name)
                else owner.attr
                if isinstance(owner, ast.Attribute)
                else ""
            )
            if (name, node.func.attr) in WALL_CLOCK:
                lines.append(node.lineno)
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "time"
            and any(alias.name in {n for _, n in WALL_CLOCK} for alias in node.names)
        ):
            lines.append(node.lineno)
    return lines


def test_pure_packages_never_read_the_wall_clock() -> None:
    offenders = {}
    for package in PURE:
        for path in sorted((REPO / "bot" / package).rglob("*.py")):
            found = _wall_clock_reads(path.read_text())
            if found:
                offenders[str(path.relative_to(REPO))] = found
    assert offenders == {}


def test_the_wall_clock_check_catches_each_form() -> None:
    assert _wall_clock_reads("import time\nx = time.time()\n") == [2]
    assert _wall_clock_reads("import datetime\nx = datetime.datetime.now()\n") == [2]
    assert _wall_clock_reads("from datetime import date\nx = date.today()\n") == [2]
    assert _wall_clock_reads("from time import monotonic\n") == [1]
    assert _wall_clock_reads("import time\nx = time.strftime('%Y')\n") == []


def test_core_imports_nothing_above_it() -> None:
    for path in (REPO / "bot" / "core").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot."):
                assert node.module.startswith(("bot.core", "bot.errors")), (path, node.module)
