"""The rule registry and `recdoc explain`: one class per rule; its docstring is its documentation."""

from __future__ import annotations

from recdoc.diagnose.rules import (
    comparability, data_identity, evaluation, integrity, interests, loss, settings, training, values,
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


def explain_rule(rule_id: str) -> str:
    """The rule's id, statement and documented sections; 'all' lists every id with its statement."""
    if rule_id == "all":
        width = max(len(r) for r in RULES)
        return "\n".join(f"{r.id.ljust(width)}  {r.statement}" for r in RULE_CLASSES)
    rule = RULES.get(rule_id)
    if rule is None:
        raise UsageError(f"unknown rule {rule_id!r}; known: {', '.join(RULES)} (or 'all')")
    return f"{rule.id}: {rule.statement}\n\n{rule.documentation()}\n"
