"""What every rule shares: the context it reads and the base class.

Reference numbers (paper values, the original's defaults, the README's advice) live in recdoc/reference; recdoc's
own judgement (thresholds and confidences) in recdoc/thresholds.py.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from recdoc import reference
from recdoc.config import recommended_learning_rate
from recdoc.thresholds import Thresholds
from recdoc.diagnose.findings import Comparison, Evidence, Finding, NotACause, Setting
from recdoc.diagnose.curve import CurveSummary
from recdoc.diagnose.observed_run import Run, SourceRef


@dataclass(frozen=True)
class BaselineRun:
    """Another run on the same data given with --baseline (e.g. a YouTube DNN run), with its inferred config."""

    run: Run
    config: dict[str, Setting]
    summary: CurveSummary


@dataclass
class RuleContext:
    run: Run
    config: dict[str, Setting]
    comparisons: list[Comparison]
    summary: CurveSummary
    baselines: list[BaselineRun] = field(default_factory=list)

    def value(self, key: str) -> Any:
        setting = self.config.get(key)
        return None if setting is None else setting.value

    def setting_evidence(self, key: str, label: str | None = None) -> Evidence:
        setting = self.config[key]
        where = f" ({setting.source})"
        text = f"{label or key} = {setting.value}{where}"
        if setting.conflicts:
            text += "; also seen: " + ", ".join(f"{v} ({s})" for v, s in setting.conflicts)
        return Evidence(text=text, ref=setting.ref, values={key: setting.value})

    @property
    def dataset(self) -> str | None:
        """The paper dataset the data is when identified under another name (`book14` -> book), else the name."""
        return self.value("paper_dataset") or self.value("dataset")

    @property
    def model_type(self) -> str | None:
        return reference.canonical_model_type(self.value("model_type")) or self.value("model_type")

    @property
    def proximity(self) -> float:
        """How close the run's data is to Book/Taobao, where the priors were established (1.0 = same data)."""
        return data_proximity(self.dataset, self.value("item_count"))

    def best_evidence(self) -> Evidence | None:
        s = self.summary
        if s.best_iter is None:
            return None
        ref = SourceRef(s.best_file, s.best_line) if s.best_file else None
        return Evidence(text=f"best valid recall {s.best_recall:.6f} at iter {s.best_iter}", ref=ref,
                        values={"best_iter": s.best_iter, "best_recall": s.best_recall})

    def shortfall_comparison(self) -> Comparison | None:
        """The row that says whether the run falls short: comparable recall, else comparable hit rate.

        Hit rate stands in where recall is not like for like (Taobao: the paper's recall counts duplicate targets,
        issue #26) because both definitions of hit rate agree.
        """
        return self._comparable("recall") or self._comparable("hitrate")

    def _comparable(self, metric: str) -> Comparison | None:
        return next((c for c in self.comparisons if c.metric == metric and c.comparable
                     and c.paper_value is not None and c.run_value is not None), None)

    def below_paper(self) -> bool | None:
        """Is the run clearly below the paper (recall, else hit rate; None: no comparable number)?"""
        row = self.shortfall_comparison()
        if row is None or row.rel_gap is None:
            return None
        return row.rel_gap < -Thresholds.PAPER_TOLERANCE

    @property
    def loss_nonfinite(self) -> bool:
        """A NaN/inf training loss anywhere: in the curve, as the stop reason, or as a reader's `nan` event.

        The curve alone cannot tell a NaN loss from a missing one (both are NaN cells), so the readers' events count.
        """
        return (self.summary.loss_nonfinite or self.run.stop_reason == "nan"
                or bool(self.run.events_of("nan")))

    @property
    def learned_nothing(self) -> bool:
        """The validation recall never moved: identical at every evaluation from the first (a broken split or
        evaluation); no training setting explains such a run."""
        return self.summary.constant_recall


def trend_window(config: dict[str, Setting]) -> int:
    """Evaluations in the trend window: patience + 1 (at most TREND_WINDOW, at least MIN_EVALS_FOR_SHAPE)."""
    setting = config.get("patience")
    try:
        patience = int(setting.value) if setting is not None else None
    except (TypeError, ValueError):
        patience = None
    if patience is None or patience < 0:
        return Thresholds.TREND_WINDOW
    return max(Thresholds.MIN_EVALS_FOR_SHAPE, min(Thresholds.TREND_WINDOW, patience + 1))


def reference_learning_rate(model_type: str | None) -> float:
    """The rate the original's README recommends for the model, else the original's flag default (0.001)."""
    recommended = recommended_learning_rate(model_type)
    return recommended if recommended is not None else float(
        reference.load()["original_defaults"]["common"]["learning_rate"])


def data_proximity(dataset: str | None, item_count: int | None) -> float:
    if dataset in reference.load()["paper"]["table3"]:
        return 1.0
    if item_count is None or item_count <= 0:
        return Thresholds.PROXIMITY_UNKNOWN
    if item_count >= Thresholds.LARGE_ITEMS:
        return 1.0
    if item_count <= Thresholds.SMALL_ITEMS:
        return Thresholds.PROXIMITY_SMALL
    span = math.log(Thresholds.LARGE_ITEMS) - math.log(Thresholds.SMALL_ITEMS)
    share = (math.log(item_count) - math.log(Thresholds.SMALL_ITEMS)) / span
    return Thresholds.PROXIMITY_SMALL + share * (1.0 - Thresholds.PROXIMITY_SMALL)


def proximity_phrase(ctx: RuleContext) -> str:
    if ctx.proximity >= 1.0:
        return f"the run's data ({ctx.dataset}) is the data the prior was established on"
    items = ctx.value("item_count")
    size = f"{items:,} items" if isinstance(items, int) else "unknown size"
    return (f"the run's data ({ctx.dataset or 'unnamed'}, {size}) differs from Book/Taobao, where the prior was "
            f"established; confidence scaled by {ctx.proximity:.2f}")


def clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


class Rule:
    """Base class. Subclasses set `id`, `statement`, a docstring with the four sections, and `check`."""

    id: ClassVar[str]
    statement: ClassVar[str]
    family: ClassVar[str]
    # Findings this one explains when both are found: they rank below it (engine.rank_findings).
    explains: ClassVar[frozenset[str]] = frozenset()

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        raise NotImplementedError

    @classmethod
    def documentation(cls) -> str:
        return inspect.getdoc(cls) or ""
