"""The layers (STYLE.md, issue 7 line 5): data flows one way, and the library never reaches into
another module's private parts or into the index's raw connection."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "laptime"
# The faces that start the CLI: ``python -m laptime`` and the console script (laptime.console,
# which prints a kept `laptime usage` answer before it loads the CLI).
FACES = {SRC / "__main__.py", SRC / "console.py"}
LIBRARY = sorted(p for p in SRC.rglob("*.py") if "cli" not in p.parts and p not in FACES)


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
    return names


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(SRC)))
def test_the_library_never_imports_the_cli(path: Path) -> None:
    assert not [n for n in _imports(path) if n == "laptime.cli" or n.startswith("laptime.cli.")]


@pytest.mark.parametrize("path", sorted((SRC / "analysis").glob("*.py")), ids=lambda p: p.name)
def test_analysis_never_imports_a_view(path: Path) -> None:
    assert not [n for n in _imports(path) if n.startswith("laptime.report")]


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_imports_another_modules_private_names(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    private = [
        f"{node.module}.{a.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("laptime")
        for a in node.names
        if a.name.startswith("_") and not a.name.startswith("__")
    ]
    assert private == []


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(SRC.rglob("*.py")) if p.name != "index.py"],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_other_modules_query_through_index_methods(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "index.db" not in text
