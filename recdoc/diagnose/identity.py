"""Which data a run trained on, by facts rather than by its name.

Forks rename the paper's data (`book14` is ComiRec's Book) and reuse the paper's names for other data. A name is a
hint; facts decide: the item count (`item_count = 367983` is Book's, 1708531 Taobao's), the user count, and the
magnitude of the run's hit rate against the paper's row for its model on each dataset (hit rate, because its
definition is the same in every code). Magnitude alone never names a dataset (RetailRocket's hit rate can sit near
Taobao's); it confirms or contradicts a name or a count.

Pure functions over a `Run` and plain values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from recdoc import reference
from recdoc.diagnose.observed_run import Run, SourceRef
from recdoc.numbers import whole_number
from recdoc.thresholds import IdentityThresholds

# Words in a dataset name that point at a paper dataset (`book14`, `amazon_books`, `taobao_small`, `UserBehavior`).
NAME_HINTS = {"book": ("book",), "taobao": ("taobao", "userbehavior", "user_behavior")}


@dataclass(frozen=True)
class DataIdentity:
    """The paper dataset a run's data is (or None), how sure, and the facts either way."""

    name: str | None
    paper_dataset: str | None
    confidence: float
    evidence: tuple[tuple[str, SourceRef | None], ...] = ()
    contradictions: tuple[tuple[str, SourceRef | None], ...] = ()

    def summary(self) -> str:
        facts = "; ".join(text for text, _ in self.evidence)
        return f"{self.name} is {self.paper_dataset} ({facts}; confidence {self.confidence:.2f})"


@dataclass
class _Facts:
    evidence: list[tuple[str, SourceRef | None]] = field(default_factory=list)
    contradictions: list[tuple[str, SourceRef | None]] = field(default_factory=list)


def name_hint(name: str | None) -> str | None:
    if not name:
        return None
    lowered = name.lower()
    for dataset, words in NAME_HINTS.items():
        if any(word in lowered for word in words):
            return dataset
    return None


def paper_datasets() -> tuple[str, ...]:
    return tuple(reference.load()["paper"]["table3"])


def count_match(value: Any, dataset: str, key: str) -> bool | None:
    """Does a stated count equal the paper dataset's (None: nothing to compare)?"""
    expected = reference.load()["original_defaults"]["datasets"].get(dataset, {}).get(key)
    if not isinstance(value, (int, float)) or not expected:
        return None
    if key == "item_count" and int(value) in (expected, expected - 1):
        return True  # with or without the padding row
    # A script's own count may differ by what its filter drops (items first seen in the valid or test split).
    return abs(value - expected) <= IdentityThresholds.COUNT_TOLERANCE * expected


def headline_hitrate(run: Run, cutoff: int | None) -> tuple[float, int | None, SourceRef | None] | None:
    """The run's hit rate to judge magnitude by: final test, final valid, else the best evaluation's."""
    for split in ("test", "valid"):
        final = run.finals.get(split)
        if final is not None and final.hitrate is not None and math.isfinite(final.hitrate):
            return final.hitrate, final.cutoff or cutoff, final.ref
    if run.has_curve:
        rows = run.curve[run.curve["hitrate"].notna()]
        if not rows.empty:
            best = rows.loc[rows["recall"].fillna(-1).idxmax()] if rows["recall"].notna().any() else rows.iloc[-1]
            line = None if best["line"] != best["line"] else int(best["line"])
            ref = SourceRef(str(best["file"]), line) if isinstance(best["file"], str) else None
            return float(best["hitrate"]), cutoff, ref
    return None


def magnitude_ratio(hitrate: float, dataset: str, model_type: str | None, cutoff: int | None) -> float | None:
    """The run's hit rate over the paper's for the model (or the middle of every model's) on `dataset`."""
    if cutoff not in (20, 50):
        return None
    model = reference.canonical_model_type(model_type)
    cell = reference.paper_value(dataset, model, "hitrate", cutoff) if model else None
    if cell is not None:
        return hitrate / cell.fraction
    rows = reference.load()["paper"]["table3"].get(dataset, {})
    values = [row[f"hitrate@{cutoff}"][0] / 100.0 for name, row in rows.items()
              if name != "MostPopular" and f"hitrate@{cutoff}" in row]
    if not values:
        return None
    return hitrate / math.sqrt(min(values) * max(values))


def identify_dataset(run: Run, name: str | None, model_type: str | None, cutoff: int | None,
                     item_count: Any = None) -> DataIdentity:
    """The paper dataset `run` trained on, from its name, stated counts and metric magnitude."""
    facts = _Facts()
    by_count = _dataset_by_count(run, item_count, facts)
    hint = name if name in paper_datasets() else name_hint(name)
    candidate = by_count or hint
    if candidate is None:
        return DataIdentity(name, None, 0.0)
    _weigh_magnitude(run, candidate, model_type, cutoff, facts)
    confidence = _confidence(candidate, name, by_count is not None, facts)
    if name != candidate and hint == candidate:
        facts.evidence.insert(0, (f"the name {name!r} names {candidate}", None))
    if confidence == 0.0:
        return DataIdentity(name, None, 0.0, tuple(facts.evidence), tuple(facts.contradictions))
    return DataIdentity(name, candidate, confidence, tuple(facts.evidence), tuple(facts.contradictions))


def _dataset_by_count(run: Run, item_count: Any, facts: _Facts) -> str | None:
    """The paper dataset whose item or user count the run states (the last one matched), noted in `facts`."""
    declared_users = run.declared.get("user_count")
    users = whole_number(declared_users.value) if declared_users is not None else None
    users_ref = declared_users.ref if declared_users else None
    by_count: str | None = None
    for dataset in paper_datasets():
        for key, value, ref in (("item_count", item_count, None), ("users", users, users_ref)):
            if count_match(value, dataset, key):
                by_count = dataset
                facts.evidence.append((f"{key.replace('_', ' ')} {value:,} is {dataset}'s", ref))
    return by_count


def _weigh_magnitude(run: Run, candidate: str, model_type: str | None, cutoff: int | None, facts: _Facts) -> None:
    """The run's hit rate against the paper's on `candidate`: evidence where it fits, a contradiction where it
    fits another paper dataset instead (magnitude alone never names a dataset)."""
    observed = headline_hitrate(run, cutoff)
    if observed is None or observed[0] < IdentityThresholds.MIN_HITRATE:
        return
    hitrate, observed_cutoff, ref = observed
    ratios = {dataset: ratio for dataset in paper_datasets()
              if (ratio := magnitude_ratio(hitrate, dataset, model_type, observed_cutoff)) is not None}
    if candidate not in ratios:
        return
    label = f"hit rate@{observed_cutoff} {hitrate:.4f} is {ratios[candidate]:.2f}x the paper's " \
            f"{reference.canonical_model_type(model_type) or 'models'} on {candidate}"
    if _fits(ratios, candidate, IdentityThresholds.CONSISTENT):
        facts.evidence.append((label, ref))
        return
    if _fits(ratios, candidate, IdentityThresholds.CONTRADICTS):
        return
    other = next((o for o in ratios if o != candidate and _fits(ratios, o, IdentityThresholds.CONSISTENT)), None)
    if other is not None:
        facts.contradictions.append((f"{label}, while it is {ratios[other]:.2f}x the paper's on {other}", ref))


def _fits(ratios: dict[str, float], dataset: str, band: tuple[float, float]) -> bool:
    return dataset in ratios and band[0] <= ratios[dataset] <= band[1]


def _confidence(candidate: str, name: str | None, named_by_count: bool, facts: _Facts) -> float:
    """A stated count is near-certain; a name is certain of itself unless the magnitude contradicts it."""
    if named_by_count:
        return IdentityThresholds.CONFIDENCE_COUNT
    if facts.contradictions:
        return 0.0 if candidate != name else 0.5
    if any(text.startswith("hit rate") for text, _ in facts.evidence):
        return 1.0 if candidate == name else IdentityThresholds.CONFIDENCE_NAME_AND_MAGNITUDE
    return 1.0 if candidate == name else IdentityThresholds.CONFIDENCE_NAME_ONLY
