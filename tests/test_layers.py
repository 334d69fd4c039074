"""The import rule, checked on the source: every `import` of a recdoc module, function-local ones included.

Layers, lowest first: the base modules (config, metrics, reference, thresholds, files, errors, tfimport) < trainer <
instruments < diagnose < reports < the commands (apply_fixes, cli). A module imports its own layer and the ones
below it, never one above; and no two modules import each other, directly or round a longer loop (a lazy import
hides an arrow but does not remove it).
"""

from __future__ import annotations

import ast
from pathlib import Path

from support.paths import REPO

PACKAGE = REPO / "recdoc"
LAYERS = ("base", "trainer", "instruments", "diagnose", "reports", "commands")
COMMANDS = {"recdoc.apply_fixes", "recdoc.cli", "recdoc.__main__"}
# Subpackages that are commands themselves (`recdoc tune` drives the trainer from the doctor's findings).
COMMAND_PACKAGES = {"tune"}
# Arrows allowed against the layers, each with its reason. Empty: keep it so.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    if module in COMMANDS:
        return LAYERS.index("commands")
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in COMMAND_PACKAGES:
        return LAYERS.index("commands")
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    # A new subpackage must be given its layer here, never fall into `base` unnoticed.
    assert len(parts) < 3, f"{module}: its subpackage {parts[1]!r} has no layer in tests/test_layers.py"
    return LAYERS.index("base")


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The recdoc modules `module` imports anywhere in its file (a `from a import b` of a submodule b: a.b)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    resolved = set()
    for name in found:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            resolved.add(name)
    return resolved


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_no_import_reaches_a_higher_layer() -> None:
    upward = [f"{src} ({LAYERS[layer(src)]}) imports {dst} ({LAYERS[layer(dst)]})"
              for src, targets in graph().items() for dst in sorted(targets)
              if layer(dst) > layer(src) and (src, dst) not in ALLOWED_UPWARD]
    assert not upward, "\n".join(upward)


class _StronglyConnected:
    """Tarjan's strongly connected components of a directed graph: each component of more than one node is a loop."""

    def __init__(self, edges: dict[str, set[str]]) -> None:
        self.edges = edges
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.stack: list[str] = []
        self.on_stack: set[str] = set()
        self.cycles: list[list[str]] = []
        for node in sorted(edges):
            if node not in self.index:
                self.visit(node)

    def visit(self, node: str) -> None:
        self.index[node] = self.low[node] = len(self.index)
        self.stack.append(node)
        self.on_stack.add(node)
        for nxt in sorted(self.edges.get(node, ())):
            if nxt not in self.index:
                self.visit(nxt)
                self.low[node] = min(self.low[node], self.low[nxt])
            elif nxt in self.on_stack:
                self.low[node] = min(self.low[node], self.index[nxt])
        if self.low[node] == self.index[node]:
            component = self.pop_component(node)
            if len(component) > 1:
                self.cycles.append(sorted(component))

    def pop_component(self, root: str) -> list[str]:
        component = []
        while True:
            top = self.stack.pop()
            self.on_stack.discard(top)
            component.append(top)
            if top == root:
                return component


def import_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or round a longer loop, each sorted."""
    return _StronglyConnected(edges).cycles


def test_no_import_cycle() -> None:
    cycles = import_cycles(graph())
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_cycles_are_found_directly_and_round_a_loop() -> None:
    edges = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c", "a"}, "f": {"a"}}
    assert import_cycles(edges) == [["a", "b"], ["c", "d", "e"]]


def test_the_walker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from recdoc.diagnose import engine\n    import recdoc.cli\n")
    known = {"recdoc.diagnose.engine": source, "recdoc.cli": source, "recdoc.diagnose": source}
    assert imports("recdoc.config", source, known) == {"recdoc.diagnose.engine", "recdoc.cli"}
    assert layer("recdoc.instruments.rescore") < layer("recdoc.diagnose.deep_checks") < layer("recdoc.cli")


# Imports every module first, in a fresh set of recdoc modules each time (third-party libraries stay loaded, so this
# is quick): a loop the walk above cannot see, through a package's `__init__` that imports its submodules, fails
# here as the ImportError a user would get.
_IMPORT_EACH_FIRST = """
import importlib, sys
failures = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "recdoc" or m.startswith("recdoc.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as error:  # noqa: BLE001 - every failure is reported, whatever its kind
        failures.append(f"{name}: {type(error).__name__}: {error}")
print("\\n".join(failures))
"""


def test_every_module_imports_on_its_own() -> None:
    import subprocess
    import sys

    names = sorted(name for name in modules() if not name.endswith("__main__"))  # __main__ runs the command line
    result = subprocess.run([sys.executable, "-c", _IMPORT_EACH_FIRST, *names], capture_output=True, text=True,
                            cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not result.stdout.strip(), "modules that fail when imported first:\n" + result.stdout
