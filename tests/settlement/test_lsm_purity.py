"""The mechanisms are pure (DESIGN §3): no I/O, clock or randomness; SciPy only in optimise."""

from __future__ import annotations

import ast
from pathlib import Path

import samarkand.settlement.lsm as lsm
import samarkand.settlement.optimise as optimise

IMPURE = {
    "os", "sys", "io", "time", "datetime", "random", "secrets", "socket", "sqlite3", "psycopg",
    "pathlib", "subprocess", "threading", "asyncio", "shutil", "tempfile", "uuid", "logging",
}  # fmt: skip


def top_level_imports(module: object) -> set[str]:
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_lsm_needs_numpy_only() -> None:
    imported = top_level_imports(lsm)
    assert not imported & IMPURE
    assert "scipy" not in imported
    assert "numpy" in imported


def test_the_optimiser_adds_scipy_and_nothing_impure() -> None:
    imported = top_level_imports(optimise)
    assert not imported & IMPURE
    assert "scipy" in imported
