"""The import graph of brats_desktop/, models/ and training/: no loops, nothing imports upwards.

Layers, lowest first: the numpy core; the models (and the click model's inference,
``brats_desktop.interactive``); preprocessing, training and the headless cohort pipeline; the
app and the CLI. Inside the app: the base (state, dialogs, loader, views)
below the feature interface (``app/feature.py``), the feature packages above it and apart from
each other, then the feature list, the window and ``main``. Imports inside functions count too
(a lazy import is still a dependency). Read from the source with ``ast``: nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("brats_desktop", "models", "training")
# The app's base, below the feature interface; every other package under app/ is a feature.
APP_BASE = ("state", "dialogs", "loader", "callback_thread", "layer_display", "views", "patient_opening", "layer_export")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _imports(name: str, path: Path, modules: dict[str, Path], top_level: bool = False) -> list[str]:
    """What ``name`` imports, as dotted names (a module, or ``module.attribute``); ``top_level``:
    only the module's own statements (and ``if`` blocks such as ``TYPE_CHECKING``), not functions."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: list[str] = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = ast.walk(tree)
    if top_level:
        nodes = [n for stmt in tree.body for n in ([stmt] + (stmt.body + stmt.orelse if isinstance(stmt, ast.If) else []))]
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            # "from pkg import module" names a module; "from module import name" its module.
            found += [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (anywhere in the file)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = {resolve(target) for target in _imports(name, path, modules)}
        graph[name] = {d for d in deps if d is not None and d != name}
    return graph


def layer(module: str) -> int:
    if module.startswith("brats_desktop.core") or module == "brats_desktop":
        return 0
    if module.startswith(("models", "brats_desktop.interactive")):  # networks and their inference
        return 1
    if module.startswith(("brats_desktop.preprocess", "training", "brats_desktop.cohort_predict")):
        return 2
    return 3  # brats_desktop.app, brats_desktop.cli


def app_rank(module: str) -> int | None:
    """Order inside the app: base 0, interface 1, feature packages 2, list 3, window 4, main 5."""
    if not module.startswith("brats_desktop.app"):
        return None
    part = module.split(".")[2] if module.count(".") >= 2 else ""
    return {"feature": 1, "features": 3, "main_window": 4, "main": 5}.get(part, 0 if part in APP_BASE or not part else 2)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_the_known_edges() -> None:
    graph = import_graph()
    assert "brats_desktop.core.patient" in graph["brats_desktop.app.loader"]
    assert "brats_desktop.app.features" in graph["brats_desktop.app.main_window"]
    assert "brats_desktop.app.measure.texts" in graph["brats_desktop.app.measure.panel"]
    assert len(graph) > 100


def test_every_project_import_names_an_existing_module() -> None:
    """A module moved or renamed leaves no import behind (not even one read only by type checkers).

    Module-level imports only: a feature may import, when first used, a package that is still
    being written beside it."""
    modules = _modules()
    missing = sorted(
        f"{name}: {target}" for name, path in modules.items() for target in _imports(name, path, modules, True)
        if target.split(".")[0] in PACKAGES and target not in modules
    )
    assert missing == []


def test_no_import_loops() -> None:
    assert cycles(import_graph()) == []


def test_nothing_imports_a_higher_layer() -> None:
    upward = sorted(f"{m} -> {d}" for m, deps in import_graph().items() for d in deps if layer(d) > layer(m))
    assert upward == []


def test_app_base_interface_features_window_in_order_and_features_apart() -> None:
    """A feature reaches another through ``app.feature(name)``, not its modules."""
    bad = []
    for module, deps in import_graph().items():
        rank = app_rank(module)
        for dep in deps:
            dep_rank = app_rank(dep)
            if rank is None or dep_rank is None:
                continue
            if dep_rank > rank:
                bad.append(f"{module} -> {dep} (upward)")
            elif rank == dep_rank == 2 and module.split(".")[2] != dep.split(".")[2]:
                bad.append(f"{module} -> {dep} (another feature's internals: use app.feature(name))")
    assert sorted(bad) == []


def test_cycle_finder_finds_a_loop() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
