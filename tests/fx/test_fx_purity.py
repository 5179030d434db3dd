"""The domain rules of samarkand.fx, checked on its source: no I/O, clock or randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import samarkand.fx

PACKAGE_DIR = Path(samarkand.fx.__file__).parent
SOURCES = sorted(PACKAGE_DIR.glob("*.py"))
IMPURE_MODULES = frozenset(
    {"os", "sys", "io", "time", "datetime", "random", "secrets", "socket", "pathlib", "sqlite3",
     "psycopg", "logging", "subprocess", "threading", "asyncio", "shutil", "tempfile", "uuid",
     "urllib", "http", "requests", "importlib", "numpy", "locale"}
)  # fmt: skip
ALLOWED_PROJECT = ("samarkand.money", "samarkand.ledger", "samarkand.fx")


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_sources_found() -> None:
    names = {path.name for path in SOURCES}
    assert {"__init__.py", "rates.py", "book.py", "routing.py", "quotes.py"} <= names


def test_fx_imports_nothing_impure() -> None:
    for path in SOURCES:
        for name in imported(path):
            assert name.split(".")[0] not in IMPURE_MODULES, f"{path.name} imports {name}"
            if name.startswith("samarkand"):
                assert name.startswith(ALLOWED_PROJECT), f"{path.name} imports {name}"


def test_fx_never_uses_float() -> None:
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Name):
                assert node.id != "float", f"{path.name} uses float"
            if isinstance(node, ast.Constant):
                assert not isinstance(node.value, float), f"{path.name} has a float literal"


def test_the_check_catches_an_impure_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom os import path\n")
    assert imported(bad) == {"time", "os"}
