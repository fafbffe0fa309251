"""The package layout is its architecture: every import runs down the stack of wings, never up.

The stack (README, "Layout"): base modules (``errors``, ``settings``, ``provenance``) < ``data`` <
``models`` < ``plots`` < ``scoring`` < ``asr`` < ``representations`` < ``tts`` < ``reports`` <
``evaluation`` < ``recipe`` < ``panels`` < ``demo`` < ``commands`` < ``cli``.  Imports inside a
function count too: a lazy import that runs up is still a dependency that runs up, and so do
imports under ``if TYPE_CHECKING:`` (a type-only circle is still a circle in the design).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"
STACK = ["errors", "settings", "provenance", "data", "models", "plots", "scoring", "asr", "representations", "tts",
         "reports", "evaluation", "recipe", "panels", "demo", "commands", "cli", "__main__", "__init__"]
BASE = {"errors", "settings", "provenance"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the workbench modules (or packages) that ``path`` imports."""
    me = _module(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("workbench"):
                continue
            for alias in node.names:  # "from workbench.asr import engine" imports a module
                sub = PACKAGE.parent / (target.replace(".", "/") + "/" + alias.name)
                found.add(f"{target}.{alias.name}" if sub.with_suffix(".py").exists() or sub.is_dir() else target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("workbench"))
    return found


def _wing(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _rank(module: str) -> int:
    return STACK.index(_wing(module))


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py") if "checkpoints" not in p.parts}


def test_every_wing_has_a_place_in_the_stack():
    assert {_wing(m) for m in MODULES} <= set(STACK)


def test_at_most_eight_modules_at_the_top_level():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_runs_up_the_stack(module):
    if module == "workbench":  # the lazy export map names everything by design
        return
    up = sorted(t for t in _imports(MODULES[module])
                if t != "workbench" and _rank(t) > _rank(module) and _wing(t) not in BASE)
    assert not up, f"{module} imports {up}, which sit above it"


def test_no_import_circles():
    graph = {m: {t for t in _imports(p) if t in MODULES and t != m and t != "workbench"}
             for m, p in MODULES.items() if m != "workbench"}
    seen: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        seen[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if seen.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in seen:
                visit(nxt)
        stack.pop()
        seen[node] = 2

    for node in sorted(graph):
        if node not in seen:
            visit(node)
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_every_public_name_resolves():
    """``import workbench as wb; wb.NAME`` works for every name of the lazy export map."""
    import workbench as wb

    for name, module in wb._EXPORTS.items():
        value = getattr(wb, name)
        assert value.__module__.startswith("workbench"), (name, module)


def test_notebooks_and_readme_import_only_existing_modules():
    """Every ``from workbench.X import Y`` in the notebooks and the README resolves after a move."""
    import importlib
    import json
    import re

    root = PACKAGE.parent
    texts = [(p.name, "\n".join("".join(c["source"]) for c in json.loads(p.read_text())["cells"]
                                if c["cell_type"] == "code")) for p in sorted((root / "notebooks").glob("*.ipynb"))]
    texts.append(("README.md", (root / "README.md").read_text()))
    checked = 0
    for where, text in texts:
        for module, names in re.findall(r"^\s*from (workbench[\w.]*) import ([\w, ]+)", text, flags=re.M):
            mod = importlib.import_module(module)
            for name in (n.strip() for n in names.split(",") if n.strip()):
                assert hasattr(mod, name), f"{where}: {module} has no {name}"
                checked += 1
    assert checked >= 10
