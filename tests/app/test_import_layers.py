"""Imports in ``app/`` point down only: each folder is one role, and a role imports only
the roles beneath it. The library ``zero_cost`` never imports the service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lower number = lower layer. A module may import its own layer and the layers below.
LAYERS = {
    "app.errors": 0,
    "app.fields": 0,
    "app.renames": 0,
    "app.config": 0,
    "app.profiles": 0,
    "app.plots": 0,
    "app.schemas": 1,
    "app.db": 2,
    "app.services": 3,
    "app.worker": 4,
    "app.api": 4,
    "app.main": 5,
    "app.demo": 6,
    "app.cli": 6,
}
# Same layer, different roles: neither may import the other.
APART = {("app.api", "app.worker"), ("app.worker", "app.api"), ("app.cli", "app.demo")}


def _role(module: str) -> str | None:
    """The entry of ``LAYERS`` that ``module`` belongs to (the longest prefix)."""
    matches = [r for r in LAYERS if module == r or module.startswith(r + ".")]
    return max(matches, key=len) if matches else None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file of ``module``, lazy ones
    included."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # ``from . import services`` imports the submodule app.services
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def _file_violations(path: Path, module: str) -> list[str]:
    bad = []
    source_role = _role(module)
    for line, target in _imports(path, module):
        if module.startswith("zero_cost"):
            if target == "app" or target.startswith("app."):
                bad.append(f"{module}:{line} imports {target}")
            continue
        target_role = _role(target)
        if source_role is None or target_role is None or source_role == target_role:
            continue
        if LAYERS[target_role] > LAYERS[source_role] or (source_role, target_role) in APART:
            bad.append(f"{module}:{line} ({source_role}) imports {target} ({target_role})")
    return bad


def _violations(folder: str) -> list[str]:
    return [
        violation
        for path in sorted((ROOT / folder).rglob("*.py"))
        for violation in _file_violations(path, _module_name(path))
    ]


def test_every_app_module_has_a_layer() -> None:
    unplaced = [
        _module_name(p)
        for p in sorted((ROOT / "app").rglob("*.py"))
        if _role(_module_name(p)) is None and _module_name(p) != "app"
    ]
    assert unplaced == [], "give these modules a layer in LAYERS"


@pytest.mark.parametrize("folder", ["app", "zero_cost"])
def test_imports_point_down(folder: str) -> None:
    assert _violations(folder) == []


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("app.services.probe", "from ..api import errors\n"),
        ("app.db.probe", "def f():\n    from app.services import rank\n"),
        ("app.worker.probe", "from .. import api\n"),
        ("zero_cost.probe", "import app.main\n"),
    ],
)
def test_the_check_sees_an_upward_import(tmp_path: Path, module: str, source: str) -> None:
    """Relative, absolute and lazy imports are resolved: each upward arrow is caught."""
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert _file_violations(path, module) != []
