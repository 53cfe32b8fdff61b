"""The layers of ARCHITECTURE.md, enforced on the import graph built from the source.

The graph has one node per module of ``agui_state`` and one edge per import
statement naming another module of the package, wherever the statement is:
module level, inside a function (lazy imports of optional parts) or under
``TYPE_CHECKING`` (two modules that need each other even for type hints
cannot be read apart). Three rules:

* no circle: no module reaches itself through imports;
* no upward edge: a module imports only its own layer or lower ones;
* no reaching into private names: a private module ``p._m`` is imported
  only from inside package ``p``; a private name ``_x`` of a module only by
  that module (of a package's ``__init__``: from inside the package).

The checker is run on the real package and on synthetic packages with an
injected circle, upward edge and private import, so a checker that sees
nothing fails too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The layers, lowest first; the first part of a module's name below the
# package picks its layer. ``errors`` is the floor (everything raises them,
# the patch engine too); the root-level private helper ``_context`` sits
# with the data modules; __init__ (the public facade), cli and __main__ on top.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("patch",),
    ("models", "config", "ids", "_context", "cards"),
    ("store",),
    ("backends",),
    ("migration",),
    ("persistent",),
    ("agui",),
    ("jupyter",),
    ("cli", "__main__", "testing", ""),
)


@dataclass(frozen=True)
class Edge:
    """One import: ``source`` names ``target`` (a module) and maybe ``name`` in it."""

    source: str
    target: str
    names: tuple[str, ...]
    line: int


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Map each module of ``package`` (a folder under ``root``) to its file."""
    found: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(source: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = source.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def import_edges(root: Path, package: str) -> Iterator[Edge]:
    """Yield every import between two modules of ``package``."""
    modules = module_names(root, package)
    for source, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules:
                        yield Edge(source, alias.name, (), node.lineno)
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(source, is_package, node)
                if target not in modules:
                    continue
                plain: list[str] = []
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in modules:  # ``from pkg import module``
                        yield Edge(source, sub, (), node.lineno)
                    else:
                        plain.append(alias.name)
                if plain:
                    yield Edge(source, target, tuple(plain), node.lineno)


def layer_of(module: str, package: str, layers: tuple[tuple[str, ...], ...]) -> int:
    """The layer index of ``module`` (its first name part below ``package``)."""
    head = module[len(package) + 1 :].split(".")[0] if module != package else ""
    for index, members in enumerate(layers):
        if head in members:
            return index
    raise AssertionError(f"{module} is in no layer: add {head!r} to ARCHITECTURE.md and LAYERS")


def find_circles(edges: list[Edge]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), and self-imports."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1 or node in graph[node]:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def upward_edges(edges: list[Edge], package: str, layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """Imports from a module to a module of a higher layer, as readable lines."""
    return [
        f"{e.source}:{e.line} imports {e.target} (layer {layer_of(e.target, package, layers)}"
        f" > {layer_of(e.source, package, layers)})"
        for e in edges
        if layer_of(e.target, package, layers) > layer_of(e.source, package, layers)
    ]


def _home_of_private(target: str, name: str | None) -> str | None:
    """The package a private module or name belongs to, or None when nothing is private."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])  # a private module: its package's own
    if name is not None and name.startswith("_") and not name.startswith("__"):
        return target  # the module's own (a package's: its modules')
    return None


def private_reaches(edges: list[Edge]) -> list[str]:
    """Imports of a ``_``-private module or name from outside where it belongs."""
    found: list[str] = []
    for edge in edges:
        for name in edge.names or (None,):
            home = _home_of_private(edge.target, name)
            if home is None or edge.source == home or edge.source.startswith(home + "."):
                continue
            what = edge.target + (f".{name}" if name else "")
            found.append(f"{edge.source}:{edge.line} imports private {what}")
    return found


def check(root: Path, package: str, layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """Every architecture violation of ``package`` under ``root``, as readable lines."""
    edges = list(import_edges(root, package))
    problems = [f"circle: {' <-> '.join(group)}" for group in find_circles(edges)]
    problems += upward_edges(edges, package, layers)
    problems += private_reaches(edges)
    return problems


# ------------------------------------------------------------------ the package


def test_agui_state_follows_its_layers() -> None:
    assert check(ROOT, "agui_state", LAYERS) == []


def test_the_graph_sees_the_package() -> None:
    # A checker that parsed nothing would pass the test above: make sure the
    # known downward edges are there.
    edges = {(e.source, e.target) for e in import_edges(ROOT, "agui_state")}
    assert ("agui_state.persistent.state_store", "agui_state.store.state_store") in edges
    assert ("agui_state.backends.sql.backend", "agui_state.backends.sql.writes") in edges
    assert len(edges) > 150


def test_architecture_md_names_every_layer() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for members in LAYERS:
        for member in members:
            if member and not member.startswith("_"):
                assert f"`{member}" in text, member


# ------------------------------------------------------- the checker can fail


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {"pkg/__init__.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


SYNTHETIC = (("low",), ("high",), ("",))


# Each case: the files of a synthetic package (besides pkg/__init__.py) and
# the violations the checker must report, exactly.
INJECTED: dict[str, tuple[dict[str, str], list[str]]] = {
    "circle": (
        {
            "pkg/low/__init__.py": "",
            "pkg/low/a.py": "from pkg.low.b import B\n",
            # the return edge only under TYPE_CHECKING still counts
            "pkg/low/b.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from pkg.low import a\nB = 1\n",
        },
        ["circle: pkg.low.a <-> pkg.low.b"],
    ),
    "relative circle": (
        {
            "pkg/low/__init__.py": "",
            "pkg/low/a.py": "from .b import B\n",
            "pkg/low/b.py": "def f():\n    from . import a\n    return a\nB = 1\n",
        },
        ["circle: pkg.low.a <-> pkg.low.b"],
    ),
    "upward edge": (
        {
            "pkg/low/__init__.py": "",
            "pkg/low/a.py": "def f():\n    import pkg.high.b\n",
            "pkg/high/__init__.py": "",
            "pkg/high/b.py": "X = 1\n",
        },
        ["pkg.low.a:2 imports pkg.high.b (layer 1 > 0)"],
    ),
    "private reach": (
        {
            "pkg/low/__init__.py": "",
            "pkg/low/_impl.py": "X = 1\n",
            "pkg/low/engine.py": "from pkg.low._impl import X\n_Applier = X\n",
            "pkg/high/__init__.py": "",
            # private module and private name of another subpackage: both found
            "pkg/high/b.py": "from pkg.low._impl import X\nfrom pkg.low.engine import _Applier\n",
            # inside its own package a private module is fine, a module's
            # private name is not (even next door)
            "pkg/low/c.py": "from pkg.low import _impl\nfrom pkg.low.engine import _Applier\n",
        },
        [
            "pkg.high.b:1 imports private pkg.low._impl.X",
            "pkg.high.b:2 imports private pkg.low.engine._Applier",
            "pkg.low.c:2 imports private pkg.low.engine._Applier",
        ],
    ),
}


@pytest.mark.parametrize("case", list(INJECTED))
def test_an_injected_violation_is_found(tmp_path: Path, case: str) -> None:
    files, expected = INJECTED[case]
    assert check(_package(tmp_path, files), "pkg", SYNTHETIC) == expected
