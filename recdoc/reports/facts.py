"""The run's facts as every report states them: best iteration, evaluations, improvements, stop, checkpoints.

A report never re-diagnoses: it prefers what the engine put in `Diagnosis.metrics` and falls back to counting the
curve (with the original's improvement rule, shared with the rules) only when a key is absent, so that a report
of a partial diagnosis still states what the run shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from recdoc.diagnose.curve import best_row, evaluated, improvement_rows
from recdoc.diagnose.findings import Comparison, Diagnosis
from recdoc.diagnose.paper_comparison import paper_model_name
from recdoc.numbers import whole_number

METRIC_LABELS = {"recall": "Recall", "ndcg": "NDCG", "hitrate": "HitRate", "diversity": "Diversity"}


@dataclass(frozen=True)
class RunFacts:
    evaluations: int
    improvements: int
    first_iter: int | None
    last_iter: int | None
    best_iter: int | None
    best_recall: float | None
    best_ref: str | None
    stop_reason: str
    stop_ref: str | None
    cutoff: int | None


def run_facts(diagnosis: Diagnosis) -> RunFacts:
    """The engine's summary (`metrics`: evaluations, improvements, stop, best_valid), completed from the curve."""
    metrics = diagnosis.metrics
    curve = diagnosis.run.curve
    rows = evaluated(curve)
    best = best_row(curve)
    curve_best_ref = None
    if best is not None and isinstance(best["file"], str):
        line = whole_number(best["line"])
        curve_best_ref = best["file"] if line is None else f"{best['file']}:{line}"
    best_valid = metrics.get("best_valid") if isinstance(metrics.get("best_valid"), dict) else {}
    stop = metrics.get("stop") if isinstance(metrics.get("stop"), dict) else {}
    top_n = diagnosis.config.get("topN")
    return RunFacts(
        evaluations=_first(metrics.get("evaluations"), len(rows)),
        improvements=_first(metrics.get("improvements"), len(improvement_rows(curve))),
        first_iter=int(rows["iter"].iloc[0]) if not rows.empty else None,
        last_iter=_first(stop.get("iter"), int(curve["iter"].max()) if not curve.empty else None),
        best_iter=_first(best_valid.get("iter"), int(best["iter"]) if best is not None else None),
        best_recall=_float_first(best_valid.get("recall"), float(best["recall"]) if best is not None else None),
        best_ref=_first(best_valid.get("ref"), curve_best_ref),
        stop_reason=str(stop.get("reason") or diagnosis.run.stop_reason),
        stop_ref=_first(stop.get("ref"), str(diagnosis.run.stop_ref) if diagnosis.run.stop_ref else None),
        cutoff=whole_number(top_n.value) if top_n is not None else None,
    )


def checkpoint_meaning(diagnosis: Diagnosis, path: str) -> str | None:
    """The engine's statement of what a checkpoint's name means (e.g. ckpt-130 = 130 improvements), if any."""
    for entry in diagnosis.metrics.get("checkpoints") or []:
        if isinstance(entry, dict) and entry.get("path") == path and entry.get("meaning"):
            return str(entry["meaning"])
    return None


def headline_comparison(diagnosis: Diagnosis) -> Comparison | None:
    """The gap the verdict leads with: a comparable recall row against the paper, test split first."""
    usable = [c for c in diagnosis.comparisons
              if c.comparable and c.run_value is not None and c.paper_value is not None and not c.model_unknown]
    for metric in ("recall", "hitrate", "ndcg"):
        rows = [c for c in usable if c.metric == metric]
        if rows:
            return sorted(rows, key=lambda c: {"test": 0, "best-valid": 1, "valid": 2}.get(c.split, 3))[0]
    return None


def placement_groups(diagnosis: Diagnosis) -> list[list[Comparison]]:
    """Rows placing a run of unstated model among the paper's models, grouped by split, metric and cut-off (in
    order), each group ordered from the paper's lowest value to its highest."""
    groups: dict[tuple[str, str, int], list[Comparison]] = {}
    for c in diagnosis.comparisons:
        if c.model_unknown and c.paper_value is not None and c.run_value is not None:
            groups.setdefault((c.split, c.metric, c.cutoff), []).append(c)
    return [sorted(rows, key=lambda c: c.paper_value or 0.0) for rows in groups.values()]


def placement_sentence(rows: list[Comparison], dataset: str | None) -> str:
    """`the model is not stated; on Book the paper's models reach recall@50 from 2.40% (MostPopular) to 8.47%
    (ComiRec-SA); this run's test 6.99% is closest to YouTube DNN's 7.31%`."""
    low, high, first = rows[0], rows[-1], rows[0]
    label = metric_label(first.metric, first.cutoff)
    where = f"on {dataset.capitalize()} " if dataset else ""
    text = (f"the model is not stated; {where}the paper's models reach {label} from {percent(low.paper_value)} "
            f"({paper_model_name(low.model or '?')}) to {percent(high.paper_value)} "
            f"({paper_model_name(high.model or '?')}); this run's {first.split} {percent(first.run_value)}")
    if not first.comparable:
        reason = (f"its NDCG is the {first.ndcg_definition or 'unknown'} definition, not the paper's"
                  if first.metric == "ndcg" else first.note.rsplit("; ", 1)[-1])
        return text + f" is not comparable ({reason})"
    closest = min(rows, key=lambda c: abs((c.run_value or 0.0) - (c.paper_value or 0.0)))
    return text + (f" is closest to {paper_model_name(closest.model or '?')}'s {percent(closest.paper_value)} "
                   "(a placement, not a gap: the run's own model is not known)")


def metric_label(metric: str, cutoff: int | None) -> str:
    name = METRIC_LABELS.get(metric, metric)
    return name if cutoff is None else f"{name}@{cutoff}"


def percent(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value * 100:.{digits}f}%"


def signed_percent(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value * 100:+.{digits}f}%"


def points(value: float | None) -> str:
    """An absolute gap of two fractions, in percentage points."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value * 100:+.2f} pts"


def gap_phrase(comparison: Comparison) -> str:
    """e.g. 'test Recall@50 6.18% vs the paper's 8.11% (-23.7%)'."""
    paper = percent(comparison.paper_value)
    if not comparison.paper_confirmed:
        paper += " (unconfirmed)"
    return (f"{comparison.split} {metric_label(comparison.metric, comparison.cutoff)} "
            f"{percent(comparison.run_value)} vs the paper's {paper} ({signed_percent(comparison.rel_gap)})")


def verdict_sentence(diagnosis: Diagnosis) -> str:
    """The one sentence a report opens with (plain text; Markdown adds emphasis around it)."""
    headline = headline_comparison(diagnosis)
    gap = f": {gap_phrase(headline)}" if headline else ""
    top = diagnosis.findings[0] if diagnosis.findings else None
    lead = f"; top finding: {top.id} ({top.title})" if top else ""
    if diagnosis.verdict == "unusable":
        return f"Unusable: this run cannot be judged against the paper: {unusable_reason(diagnosis)}{lead}"
    if diagnosis.verdict == "healthy":
        return f"Healthy: no cause of a shortfall found{gap or ' (no comparable paper value)'}"
    count = len(diagnosis.findings)
    noun = "finding" if count == 1 else "findings"
    return f"{count} {noun}{gap}{lead}"


def unusable_reason(diagnosis: Diagnosis) -> str:
    """What made the run unusable: what could not be read, else the absence of any metric."""
    if diagnosis.run.unreadable:
        return diagnosis.run.unreadable[0]
    has_finals = any(f.recall is not None for f in diagnosis.run.finals.values())
    if run_facts(diagnosis).evaluations == 0 and not has_finals:
        return "no evaluation metrics could be read"
    return diagnosis.notes[-1] if diagnosis.notes else "the engine marked it unusable"


def _first(*values: Any) -> Any:
    for value in values:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        return int(value) if isinstance(value, float) and value.is_integer() else value
    return None


def _float_first(*values: Any) -> float | None:
    value = _first(*values)
    return None if value is None else float(value)
