"""The rule registry and `recdoc explain`: one class per rule; its docstring is its documentation."""

from __future__ import annotations

import textwrap

from recdoc.diagnose.rules import (
    comparability,
    data_identity,
    evaluation,
    integrity,
    interests,
    loss,
    settings,
    training,
    values,
)
from recdoc.diagnose.rules.base import Rule
from recdoc.errors import UsageError

# Order = evaluation order; the engine ranks the findings afterwards.
RULE_CLASSES: tuple[type[Rule], ...] = (
    *integrity.RULES, *values.RULES, *training.RULES, *settings.RULES, *comparability.RULES, *data_identity.RULES,
    *interests.RULES, *loss.RULES, *evaluation.RULES,
)
RULES: dict[str, type[Rule]] = {rule.id: rule for rule in RULE_CLASSES}


def all_rules() -> list[Rule]:
    return [rule() for rule in RULE_CLASSES]


def explain_rule(rule_id: str, width: int = 100) -> str:
    """The rule's id, statement and documented sections, wrapped to `width` columns; 'all' lists every id with its
    statement."""
    if rule_id == "all":
        column = max(len(r) for r in RULES) + 2
        return "\n".join(textwrap.fill(r.statement, max(width, column + 20), initial_indent=r.id.ljust(column),
                                        break_on_hyphens=False,
                                        subsequent_indent=" " * column) for r in RULE_CLASSES)
    rule = RULES.get(rule_id)
    if rule is None:
        raise UsageError(f"unknown rule {rule_id!r}; known: {', '.join(RULES)} (or 'all')")
    text = f"{rule.id}: {rule.statement}\n\n{rule.documentation()}"
    return "\n\n".join(_fill(paragraph, width) for paragraph in text.split("\n\n")) + "\n"


def _fill(paragraph: str, width: int) -> str:
    """One paragraph reflowed to `width`, keeping its indentation and a heading line ending in ':' on its own."""
    lines = paragraph.splitlines()
    head = [lines.pop(0)] if lines and lines[0].rstrip().endswith(":") and len(lines) > 1 else []
    if not lines:
        return "\n".join(head)
    indent = lines[0][:len(lines[0]) - len(lines[0].lstrip())]
    body = textwrap.fill(" ".join(line.strip() for line in lines), max(width, len(indent) + 20),
                         initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False,
                         break_long_words=False)
    return "\n".join([*head, body])
