"""The package layout's rules (README, "The library"), checked from the source.

* The core (``refimpl/*.py`` and ``refimpl/data``) imports no document package.
* A document package imports another only through that package's public names
  (``from ..interval import Interval``), never its modules, and says so in its ``__init__``.
* No import cycles between modules.
* No module over ~600 lines except the Interval type, which is one concept.
* Nothing cites material outside the repository.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "refimpl"
DOCUMENTS = ("interval", "surgery", "accountability", "thesis", "extremal")
#: packages that sit above the documents and may use all of them
TOOLS = ("cases", "cli", "__main__")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Fully qualified ``refimpl`` modules (or package attributes) imported by ``path``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("refimpl")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("refimpl"):
                continue
            for alias in node.names:
                candidate = f"{mod}.{alias.name}"
                is_module = (REPO / Path(*candidate.split("."))).with_suffix(".py").exists() or \
                    (REPO / Path(*candidate.split(".")) / "__init__.py").exists()
                found.add(candidate if is_module else mod)
    return found


MODULES = {_module_name(p): p for p in PKG.rglob("*.py")}


def _group(module: str) -> str:
    """``core``, a document name, or a tool name."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in DOCUMENTS + TOOLS:
        return parts[1]
    return "core"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_dependencies_point_one_way(module):
    group = _group(module)
    for imported in _imports(MODULES[module]):
        other = _group(imported)
        if other == group or other == "core":
            continue
        assert group not in ("core",), f"core module {module} imports document package {imported}"
        assert group in TOOLS or imported == f"refimpl.{other}", (
            f"{module} imports {imported}: a document package may use another only through its "
            f"public names (from refimpl.{other} import ...)")
        if group in DOCUMENTS:
            doc = ast.get_docstring(ast.parse((PKG / group / "__init__.py").read_text())) or ""
            assert f"``{other}``" in doc, f"refimpl/{group}/__init__.py must say that it uses {other} and why"


def test_no_import_cycles():
    graph = {m: {i for i in _imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}
    # a package's __init__ re-exports its modules; an edge into a package means "its public names"
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for n in graph[m]:
            if n.startswith(m + "."):
                continue                      # a package importing its own modules
            if state.get(n) == 1 and not m.startswith(n + "."):
                raise AssertionError("import cycle: " + " -> ".join(path + [n]))
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_modules_stay_small(path):
    if path == PKG / "interval" / "arithmetic.py":
        return                                # the Interval type and its functions: one concept
    n = len(path.read_text().splitlines())
    assert n <= 620, f"{path.relative_to(REPO)} has {n} lines; split it by concept"


def test_nothing_cites_material_outside_the_repository():
    pattern = re.compile(r"REFERENCE-NOTES|DESIGN\.md|\.\./shared")
    roots = [PKG, REPO / "chapters", REPO / "benchmarks", REPO / "tests", REPO / "docs"]
    offenders = [str(p.relative_to(REPO)) for root in roots for p in root.rglob("*")
                 if p.suffix in (".py", ".md") and p != Path(__file__) and pattern.search(p.read_text())]
    offenders += ["README.md"] * bool(pattern.search((REPO / "README.md").read_text()))
    assert not offenders, offenders
