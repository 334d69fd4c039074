"""The shape rules of issue 19, checked on the source of `recdoc/`: no function body over 80 lines, and no fact
written as a literal constant in two modules (one owner per fact: the second module imports it, or names it as an
alias of the first when the two are equal by definition).

Ruff's complexity check (C901) runs in `make lint`; these two rules have no ruff counterpart.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from support.paths import REPO

PACKAGE = REPO / "recdoc"
MAX_BODY_LINES = 80


def sources() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8"), str(path)) for path in sorted(PACKAGE.rglob("*.py"))}


def body_lines(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the function's last line."""
    body = function.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return function.end_lineno - body[0].lineno + 1


def long_functions(tree: ast.Module, limit: int = MAX_BODY_LINES) -> list[tuple[str, int, int]]:
    return [(node.name, node.lineno, body_lines(node)) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and body_lines(node) > limit]


def literal_collection(value: ast.expr | None) -> tuple | None:
    """A tuple, list, set or frozenset of two or more literals (strings, numbers), as a comparable key."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("frozenset", "set",
                                                                                              "tuple") \
            and len(value.args) == 1:
        value = value.args[0]
    if not isinstance(value, (ast.Tuple, ast.List, ast.Set)) or len(value.elts) < 2:
        return None
    if not all(isinstance(e, ast.Constant) and isinstance(e.value, (str, int, float)) for e in value.elts):
        return None
    items = tuple(e.value for e in value.elts)
    return tuple(sorted(items, key=repr)) if isinstance(value, ast.Set) else items


def module_constants(tree: ast.Module) -> list[tuple[str, int, tuple]]:
    """UPPER_CASE module-level names bound to a literal collection."""
    found = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
            if isinstance(node, ast.AnnAssign) else []
        key = literal_collection(getattr(node, "value", None))
        for target in targets:
            if key is not None and isinstance(target, ast.Name) and target.id.isupper():
                found.append((target.id, node.lineno, key))
    return found


def repeated_constants(trees: dict[Path, ast.Module]) -> dict[tuple, list[str]]:
    places: dict[tuple, list[str]] = defaultdict(list)
    for path, tree in trees.items():
        for name, line, key in module_constants(tree):
            places[key].append(f"{path.relative_to(REPO)}:{line} {name}")
    return {key: where for key, where in places.items() if len({w.split(":")[0] for w in where}) > 1}


def test_no_function_body_is_over_80_lines() -> None:
    offenders = [f"{path.relative_to(REPO)}:{line} {name} ({length} lines)"
                 for path, tree in sources().items() for name, line, length in long_functions(tree)]
    assert not offenders, "split these functions:\n" + "\n".join(offenders)


def test_no_literal_constant_is_written_in_two_modules() -> None:
    repeats = repeated_constants(sources())
    assert not repeats, "one owner per fact; import it:\n" + "\n".join(
        f"{key}: {', '.join(where)}" for key, where in repeats.items())


def test_the_checks_see_what_they_look_for() -> None:
    # The rules above pass vacuously if their readers see nothing: check them on made-up source.
    long_one = ast.parse("def f():\n    '''doc'''\n" + "    x = 1\n" * 81)
    short_one = ast.parse("def g():\n    '''doc'''\n" + "    x = 1\n" * 80)
    assert long_functions(long_one) == [("f", 1, 81)] and long_functions(short_one) == []
    first = ast.parse("SPLITS = ('train', 'valid', 'test')\nLIMIT = 3\n")
    second = ast.parse("from a import SPLITS\nPARTS = ('train', 'valid', 'test')\nALIAS = SPLITS\n")
    repeats = repeated_constants({PACKAGE / "a.py": first, PACKAGE / "b.py": second})
    assert list(repeats) == [("train", "valid", "test")]
    assert repeats[("train", "valid", "test")] == ["recdoc/a.py:1 SPLITS", "recdoc/b.py:2 PARTS"]
    assert literal_collection(ast.parse("X = frozenset({'b', 'a'})").body[0].value) == ("a", "b")
