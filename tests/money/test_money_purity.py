"""The domain rules of samarkand.money, checked on its source: imports, floats, public names."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import samarkand.money

PACKAGE_DIR = Path(samarkand.money.__file__).parent
SOURCES = sorted(PACKAGE_DIR.glob("*.py"))

# Standard library modules that reach the outside world: files, clock, environment, randomness.
IMPURE_MODULES = frozenset(
    {"os", "io", "pathlib", "shutil", "socket", "subprocess", "time", "datetime", "random",
     "secrets", "uuid", "locale", "logging", "tempfile", "urllib", "http", "sqlite3", "threading",
     "asyncio", "importlib", "sys"}
)  # fmt: skip


def _trees() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in SOURCES]


def _imported_modules(tree: ast.Module) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def test_sources_found() -> None:
    names = {path.name for path in SOURCES}
    assert {"__init__.py", "amount.py", "currency.py", "registry.py"} <= names


def test_imports_only_pure_stdlib_and_iso4217() -> None:
    for path, tree in _trees():
        for module in _imported_modules(tree):
            assert module == "iso4217" or module in sys.stdlib_module_names, (path.name, module)
            assert module not in IMPURE_MODULES, (path.name, module)


def test_no_float_anywhere() -> None:
    for path, tree in _trees():
        for node in ast.walk(tree):
            assert not (isinstance(node, ast.Constant) and isinstance(node.value, float)), path.name
            assert not (isinstance(node, ast.Name) and node.id == "float"), path.name


def test_public_api_is_exactly_the_agreed_names() -> None:
    assert sorted(samarkand.money.__all__) == [
        "AMOUNT_MAX", "Currency", "CurrencyRegistry", "MoneyError", "default_registry",
        "format_amount", "format_amounts", "iso_currency", "parse_amount", "to_minor",
    ]  # fmt: skip
    for name in samarkand.money.__all__:
        assert hasattr(samarkand.money, name), name
    assert samarkand.money.AMOUNT_MAX == 2**128 - 1


def test_registry_is_rebuilt_identically() -> None:
    # No hidden state: two builds agree, and building with a policy leaves the default alone.
    first = list(samarkand.money.default_registry())
    samarkand.money.default_registry(exponent_overrides={"IRR": 0}, settlement_allowed=["USD"])
    assert list(samarkand.money.default_registry()) == first
