"""The import rules of DESIGN §3: domain folders do no I/O and read no clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "samarkand"

# Modules that touch disks, sockets, processes, the clock, the environment or randomness.
FORBIDDEN = {
    "os",
    "sys",
    "io",
    "time",
    "datetime",
    "random",
    "secrets",
    "socket",
    "sqlite3",
    "psycopg",
    "pathlib",
    "subprocess",
    "threading",
    "asyncio",
    "shutil",
    "tempfile",
    "uuid",
    "logging",
    "urllib",
    "http",
    "requests",
    "importlib",
}
ALLOWED_PROJECT = {
    "money": {"samarkand.money"},
    "ledger": {"samarkand.money", "samarkand.ledger"},
    "settlement": {"samarkand.money", "samarkand.ledger", "samarkand.settlement"},
    "fx": {"samarkand.money", "samarkand.ledger", "samarkand.fx"},
}


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


@pytest.mark.parametrize("folder", sorted(ALLOWED_PROJECT))
def test_domain_folders_do_no_io(folder: str) -> None:
    files = sorted((PACKAGE / folder).glob("*.py"))
    assert files, f"no modules in samarkand/{folder}"
    for path in files:
        for name in imports(path):
            top = name.split(".")[0]
            assert top not in FORBIDDEN, f"{path.name} imports {name}"
            if top == "samarkand":
                assert any(name.startswith(p) for p in ALLOWED_PROJECT[folder]), (
                    f"{path.name} imports {name}, outside what samarkand/{folder} may use"
                )


def test_the_rule_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom samarkand.store import x\n")
    assert imports(bad) == ["time", "samarkand.store"]
