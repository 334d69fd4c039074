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


def test_no_import_cycle() -> None:
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_the_walker_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from recdoc.diagnose import engine\n    import recdoc.cli\n")
    known = {"recdoc.diagnose.engine": source, "recdoc.cli": source, "recdoc.diagnose": source}
    assert imports("recdoc.config", source, known) == {"recdoc.diagnose.engine", "recdoc.cli"}
    assert layer("recdoc.instruments.rescore") < layer("recdoc.diagnose.deep_checks") < layer("recdoc.cli")
