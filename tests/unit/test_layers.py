"""tripod's shape, checked from the source: layers, import circles, file and function sizes.

An AST walk of every file under ``tripod/`` collects each ``import`` and ``from ... import``,
at module level and inside functions alike (relative imports resolved; imports under
``if TYPE_CHECKING:`` are left out, they never run). Each import is an edge to the file it
names: ``from tripod.core.rl_module.rl_module import RLModule`` points at ``rl_module.py``,
``from tripod.core import RLModule`` at ``tripod/core/__init__.py``.

Layers, bottom to top (a package may import its own layer's files and every layer below)::

    tripod.io                          foundations: checkpoint files, spaces, seeding
    tripod.utils                       RLlib's public helper paths (may use io)
    tripod.core                        RL modules, networks, distributions
    tripod.models                      RLlib's legacy ``ray.rllib.models`` helpers (SlimConv2d, ...)
    tripod.data | tripod.callbacks     batches, replay buffers, postprocessing | RLlibCallback (hooks only)
      | tripod.connectors              | batched env-to-module / module-to-env pieces
    tripod.env | tripod.learner        siblings: neither imports the other
    tripod.algorithms | tripod.envs    siblings (tripod.envs: tiny example envs, built on tripod.env)
    tripod.run | tripod.distributed    siblings: neither imports the other
    tripod.export | tripod.benchmark   ONNX / torch.export of modules | the races of `tripod benchmark`
    tripod.cli

``tripod/__init__.py`` imports nothing of tripod (``import tripod`` does no work).

Every test reports all its violations at once, each as ``file:line``. ``ALLOWED_*`` list the
known violations another change of issue 10 is removing right now; each entry names its
owner, and the lists become empty when that work is merged.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "tripod"

LAYERS: list[set[str]] = [
    {"tripod.io"},
    {"tripod.utils"},
    {"tripod.core"},
    {"tripod.models"},  # RLlib's legacy helper path ray.rllib.models (SlimConv2d, ...), built on tripod.core
    {"tripod.data", "tripod.callbacks", "tripod.connectors"},
    {"tripod.env", "tripod.learner"},
    {"tripod.algorithms", "tripod.envs"},
    {"tripod.run", "tripod.distributed"},
    {"tripod.export", "tripod.benchmark"},  # ONNX / torch.export; the races of `tripod benchmark`
    {"tripod.cli"},
]
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 60

# Known violations that another change is removing right now, each with a comment naming its
# owner and "remove when fixed". All three lists are empty: keep them so (a stale entry fails
# test_allow_lists_hold_only_live_violations).
# Known upward imports, as "importing.module -> imported.module".
ALLOWED_UPWARD: set[str] = set()
# Known circles, each as the set of modules of one strongly connected component.
ALLOWED_CIRCLES: set[frozenset[str]] = set()
# Known functions over the limit, as "path/in/repo.py::name".
ALLOWED_LONG_FUNCTIONS: set[str] = set()


@dataclass(frozen=True)
class Edge:
    """One import: ``source`` imports ``target`` at ``path:line``."""

    source: str
    target: str
    path: str
    line: int

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files() -> dict[str, Path]:
    """``{module name: file}`` for every file of the package."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                skip.update(id(n) for n in ast.walk(sub))
    return skip


def _named_modules(node: ast.AST, package: str) -> list[str]:
    """The dotted names an import statement names (tripod's and others')."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    base = node.module or ""
    if node.level:
        parts = package.split(".")
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join(parts + ([node.module] if node.module else []))
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def _resolve(name: str, files: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a file of the package (``None``: not tripod)."""
    while name and name not in files:
        name = name.rpartition(".")[0]
    return name or None


def import_edges() -> list[Edge]:
    """Every import of one tripod module by another, module level and function level alike."""
    files = source_files()
    edges = []
    for name, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        skip = _type_checking_only(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in skip:
                continue
            named = _named_modules(node, package)
            if isinstance(node, ast.ImportFrom):
                # `from pkg import sub` names the file sub.py; `from pkg import Name` names pkg itself.
                subs = [n for n in named[:-1] if n in files]
                named = subs if len(subs) == len(named) - 1 else [*subs, named[-1]]
            for target in {_resolve(n, files) for n in named} - {None, name}:
                edges.append(Edge(name, target, rel, node.lineno))
    return edges


@cache
def _edges() -> tuple[Edge, ...]:
    """The package's import edges, walked once per test session."""
    return tuple(import_edges())


def layer_of(module: str) -> tuple[int, str] | None:
    """``(layer index, top package)`` of a module; ``None`` for ``tripod`` itself."""
    top = ".".join(module.split(".")[:2])
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index, top
    return None


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components (iterative, so deep graphs do not recurse)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def circle_report(edges: list[Edge], allowed: set[frozenset[str]]) -> list[str]:
    """One entry per circle not in ``allowed``, listing the imports that close it (file:line)."""
    report = []
    for component in strongly_connected(_graph(edges)):
        if len(component) < 2 or frozenset(component) in allowed:
            continue
        inside = sorted(
            (e for e in edges if e.source in component and e.target in component), key=lambda e: e.where()
        )
        lines = "\n".join(f"    {e.where()}: {e.source} imports {e.target}" for e in inside)
        report.append(f"circle of {len(component)} modules {sorted(component)}:\n{lines}")
    return report


def upward_report(edges: list[Edge], allowed: set[str]) -> list[str]:
    """Imports of a higher layer or of a sibling package of the same layer (file:line)."""
    report = []
    for edge in sorted(edges, key=lambda e: e.where()):
        source, target = layer_of(edge.source), layer_of(edge.target)
        if source is None or target is None or source[1] == target[1]:
            continue
        if target[0] >= source[0]:
            if f"{edge.source} -> {edge.target}" in allowed:
                continue
            kind = "upward" if target[0] > source[0] else "sibling"
            report.append(f"{edge.where()}: {kind} import: {edge.source} ({source[1]}) imports {edge.target}")
    return report


def test_every_top_level_package_has_a_layer():
    tops = {".".join(m.split(".")[:2]) for m in source_files() if m != "tripod"}
    assert sorted(t for t in tops if layer_of(t) is None) == []


def test_the_package_root_imports_nothing_of_tripod():
    from_root = [
        f"{e.where()}: tripod/__init__.py imports {e.target}" for e in _edges() if e.source == "tripod"
    ]
    assert from_root == [], "\n".join(from_root)


def test_no_import_circles():
    report = circle_report(list(_edges()), ALLOWED_CIRCLES)
    assert report == [], "import circles (function-level imports count):\n" + "\n".join(report)


def test_no_upward_or_sibling_imports():
    report = upward_report(list(_edges()), ALLOWED_UPWARD)
    assert report == [], "imports against the layers:\n" + "\n".join(report)


def test_allow_lists_hold_only_live_violations():
    """An allow-list entry whose violation is gone must be removed (so the lists can only shrink)."""
    edges = list(_edges())
    live_upward = {f"{e.source} -> {e.target}" for e in edges}
    stale = sorted(ALLOWED_UPWARD - live_upward)
    live_circles = {frozenset(c) for c in strongly_connected(_graph(edges)) if len(c) > 1}
    stale += sorted(str(sorted(c)) for c in ALLOWED_CIRCLES - live_circles)
    live_long = {name for name, _ in _long_functions()}
    stale += sorted(ALLOWED_LONG_FUNCTIONS - live_long)
    assert stale == [], "allow-list entries that no longer occur (remove them):\n" + "\n".join(stale)


def _graph(edges: list[Edge]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    return graph


def _long_functions() -> list[tuple[str, str]]:
    """``("path::name", "path:line name (N lines)")`` for every function over the limit."""
    found = []
    for path in source_files().values():
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append((f"{rel}::{node.name}", f"{rel}:{node.lineno} {node.name} ({length} lines)"))
    return found


def test_no_file_over_the_line_limit():
    big = []
    for path in source_files().values():
        lines = path.read_text().count("\n")
        if lines > MAX_FILE_LINES:
            big.append(f"{path.relative_to(ROOT)}:1 has {lines} lines (limit {MAX_FILE_LINES})")
    assert big == [], "\n".join(big)


def test_no_function_over_the_line_limit():
    long = [where for name, where in _long_functions() if name not in ALLOWED_LONG_FUNCTIONS]
    assert long == [], f"functions over {MAX_FUNCTION_LINES} lines (def line to last line):\n" + "\n".join(
        long
    )


def test_the_checker_sees_function_level_imports_and_relative_imports(tmp_path, monkeypatch):
    """The walk itself: a circle closed only by a function-level relative import is found."""
    pkg = tmp_path / "tripod"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "a.py").write_text("from tripod.core.b import B\n")
    (pkg / "core" / "b.py").write_text("class B:\n    def f(self):\n        from .a import A\n")
    (pkg / "core" / "c.py").write_text("def g():\n    from tripod.run import loop\n")
    (pkg / "run").mkdir()
    (pkg / "run" / "__init__.py").write_text("")
    (pkg / "run" / "loop.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import tripod.io\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    edges = import_edges()
    circles = circle_report(edges, set())
    assert len(circles) == 1 and "tripod/core/b.py:3: tripod.core.b imports tripod.core.a" in circles[0]
    upward = upward_report(edges, set())
    assert upward == [
        "tripod/core/c.py:2: upward import: tripod.core.c (tripod.core) imports tripod.run.loop"
    ]
    assert not any(e.source == "tripod.run.loop" for e in edges)  # TYPE_CHECKING imports never run


RLLIB_SCRIPT = PACKAGE / "benchmark" / "rllib_side.py"


def test_the_rllib_benchmark_script_is_imported_by_nothing():
    importers = [e.where() for e in _edges() if e.target == "tripod.benchmark.rllib_side"]
    assert importers == []
    tree = ast.parse(RLLIB_SCRIPT.read_text())
    tripod_imports = [
        n.lineno for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom | ast.Import)
        and any((a.name if isinstance(n, ast.Import) else n.module or "").startswith("tripod") for a in n.names)
    ]  # fmt: skip
    assert tripod_imports == []  # it runs where tripod is not installed


def test_only_tripod_distributed_imports_ray():
    """Ray is optional: every ``import ray`` / ``from ray ...`` lives in tripod/distributed/, which
    the algorithms reach by name (tripod.algorithms.scale_out), never by an import statement. The
    one other file is RLlib's side of ``tripod benchmark``, a script that another interpreter runs
    and that no tripod module imports (checked below)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if (PACKAGE / "distributed") in path.parents or path == RLLIB_SCRIPT:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
                for name in names
                if name == "ray" or name.startswith("ray.")
            ]
    assert not offenders, "\n".join(offenders)
