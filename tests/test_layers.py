"""The layers import one way: connection -> supervision -> runtime -> protocol.

Read from the source (no import runs): ``gunpy.protocol`` imports no other
gunpy package, the runtime modules at the top of ``actors/`` know neither the
connection nor supervision, supervision uses the runtime only (the package
faces, ``__init__``, re-export across layers). And each package can be
imported first in a fresh interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("gunpy.")}


def test_protocol_imports_no_other_gunpy_package() -> None:
    for path in (ROOT / "protocol").glob("*.py"):
        assert all(name.startswith("gunpy.protocol") for name in _imports(path)), path


def test_the_runtime_knows_neither_the_connection_nor_supervision() -> None:
    for path in (ROOT / "actors").glob("_[!_]*.py"):
        for name in _imports(path):
            assert not name.startswith(("gunpy.actors.gun", "gunpy.supervision")), (path, name)
            assert name.startswith(("gunpy.protocol", "gunpy.actors._")), (path, name)


def test_supervision_uses_only_the_runtime_of_actors() -> None:
    for path in (ROOT / "supervision").glob("_[!_]*.py"):
        for name in _imports(path):
            if name.startswith("gunpy.actors"):
                assert name.startswith("gunpy.actors._"), (path, name)


@pytest.mark.parametrize(
    "module", ["gunpy.supervision", "gunpy.actors", "gunpy.actors.gun", "gunpy.protocol"]
)
def test_each_package_can_be_imported_first(module: str) -> None:
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True, timeout=60)
