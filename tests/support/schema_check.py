"""Validate a diagnosis.json against the field table of docs/diagnosis-schema.md (the documented contract)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.paths import DOCS

SCHEMA_DOC = DOCS / "diagnosis-schema.md"
ROW = re.compile(r"^\|\s*`(?P<path>[^`]+)`\s*\|\s*(?P<type>[^|]+?)\s*\|\s*(?P<description>.*)\|\s*$")


@dataclass(frozen=True)
class FieldSpec:
    path: str
    types: frozenset[str]
    optional: bool


def load_schema(doc: Path = SCHEMA_DOC) -> dict[str, FieldSpec]:
    specs: dict[str, FieldSpec] = {}
    for line in doc.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            types = frozenset(t.strip() for t in match["type"].split(" or "))
            specs[match["path"]] = FieldSpec(match["path"], types, match["description"].strip().startswith("Optional"))
    return specs


def _type_ok(value: Any, types: frozenset[str]) -> bool:
    if "any" in types:
        return True
    checks = {
        "null": value is None,
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "object": isinstance(value, dict),
        "map": isinstance(value, dict),
        "array": isinstance(value, list),
    }
    return any(checks.get(t, False) for t in types)


def validate(document: Any, specs: dict[str, FieldSpec] | None = None) -> list[str]:
    """Every problem found: undocumented fields, missing required fields, wrong types. Empty when valid."""
    specs = specs or load_schema()
    problems: list[str] = []
    _walk_object(document, "", specs, problems, root=True)
    return problems


def _child(parent: str, key: str) -> str:
    return key if not parent else f"{parent}.{key}"


def _walk_object(value: dict[str, Any], path: str, specs: dict[str, FieldSpec], problems: list[str],
                 root: bool = False) -> None:
    for key, item in value.items():
        _walk(item, _child(path, key), specs, problems)
    prefix = "" if root else f"{path}."
    for spec_path, spec in specs.items():
        if not spec_path.startswith(prefix):
            continue
        rest = spec_path[len(prefix):]
        if rest and "." not in rest and "[" not in rest and rest != "*" and not spec.optional and rest not in value:
            problems.append(f"{spec_path}: missing")


def _walk(value: Any, path: str, specs: dict[str, FieldSpec], problems: list[str]) -> None:
    spec = specs.get(path)
    if spec is None:
        problems.append(f"{path}: not documented")
        return
    if not _type_ok(value, spec.types):
        problems.append(f"{path}: {type(value).__name__} is not {' or '.join(sorted(spec.types))}")
        return
    if "any" in spec.types or value is None:
        return
    if isinstance(value, list):
        for item in value:
            _walk(item, f"{path}[]", specs, problems)
    elif isinstance(value, dict):
        if "map" in spec.types:
            for item in value.values():
                _walk(item, f"{path}.*", specs, problems)
        else:
            _walk_object(value, path, specs, problems)
