"""What every rule shares: the context it reads, the base class, and recdoc's own thresholds.

Reference numbers (paper values, the original's defaults, the README's advice) live in recdoc/reference; the
numbers below are recdoc's judgement, gathered here so they can be reviewed in one place.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from recdoc import reference
from recdoc.config import recommended_learning_rate
from recdoc.diagnose.findings import Comparison, Evidence, Finding, NotACause, Setting
from recdoc.diagnose.curve import CurveSummary
from recdoc.diagnose.run import Run, SourceRef


class Thresholds:
    """recdoc's own decision thresholds (not reference numbers), each with the reason for its value."""

    # Trailing evaluations used for trend and jitter: the run's own patience window (patience + 1, the original's
    # 50 + 1 at most), so "still rising" means rising over the span the run itself uses to decide that training
    # has stopped helping; on a short run a fixed 51 would reach back into the initial climb (`trend_window`).
    TREND_WINDOW = 51
    # A fitted rise of >= 2% of the best recall across the trend window counts as "still rising"; a plateau on
    # Book moves well under 1% across 50 evaluations, one evaluation's noise is ~1%.
    STILL_RISING = 0.02
    # |trend| below this across the evaluations after the best = "flat": more patience would not have helped.
    FLAT = 0.02
    # Last recall this far (fraction) below the peak, with training loss still falling: overfitting.
    OVERFIT_DECAY = 0.10
    # Last recall this far below the peak together with the loss rising or turning non-finite: divergence.
    DIVERGENCE_DECAY = 0.30
    # Training loss this far (fraction) above its minimum at the end: the optimisation went the wrong way.
    LOSS_RISE = 0.10
    # Median step between evaluations >= 8% of the level, reversing direction on most steps: oscillation.
    # A healthy Book curve moves ~1-2% per evaluation.
    OSCILLATION_JITTER = 0.08
    OSCILLATION_REVERSALS = 0.5
    # Fewer evaluations than this cannot show a trend or a plateau.
    MIN_EVALS_FOR_SHAPE = 5
    # A run's recall within this fraction of a comparable paper value "matches the paper": published numbers
    # are single runs and reproductions scatter by a few percent (issue #28: 0.0607-0.0637 over five seeds).
    PAPER_TOLERANCE = 0.05
    # A multi-interest run this far (fraction) below a single-interest run on the same data is suspicious.
    BELOW_SINGLE_INTEREST = 0.02
    # Data proximity to Book/Taobao by item count: <= SMALL_ITEMS is "small dense" (MovieLens-100K has 1,349),
    # >= LARGE_ITEMS is like the paper's data (hundreds of thousands); log-interpolated between.
    SMALL_ITEMS = 5_000
    LARGE_ITEMS = 100_000
    PROXIMITY_SMALL = 0.25
    PROXIMITY_UNKNOWN = 0.5
    # A constant recall at or below this share of the paper's (or, without a paper number, this absolute recall) is
    # not a weak model but an evaluation that cannot hit (issue #16: 0.000007 with a leave-last-out split).
    NEAR_ZERO_SHARE = 0.01
    NEAR_ZERO_RECALL = 0.001
    # Item ids count as "ordered by frequency" when Spearman(id, training count) is at most this. The original's
    # preparation gives ids 1..N by descending count over all splits, so its training split scores about -0.95 to
    # -1.0; a random renumbering scores about 0. Halfway leaves room for data prepared by similar rules.
    ID_FREQUENCY_MAX_SPEARMAN = -0.5
    # The original splits users: a share of valid/test users also in training above this is a leaking split
    # (one user in a hundred can be a stray duplicate id; a leak puts many more there).
    SPLIT_LEAK_SHARE = 0.01
    # A training loss this many times above the loss of a uniform guess (ln of the candidates it chooses among)
    # is not a model learning badly but weights blown up: a healthy run starts at about 1x and falls.
    LOSS_ABOVE_GUESS = 2.0
    # Severity weights for ranking (severity x confidence).
    SEVERITY_WEIGHT: ClassVar[dict[str, float]] = {"high": 3.0, "medium": 2.0, "low": 1.0, "info": 0.0}


class Confidence:
    """How much recdoc trusts each kind of evidence (0..1): recdoc's judgement, reviewed here in one place."""

    # A prior alone (the README's lr advice) on the data it was established on: more likely than not, no more.
    PRIOR = 0.55
    # The run's curve agrees with the prior (slow climb, best late) / contradicts it (early peak, decay).
    CURVE_SUPPORTS = 0.2
    CURVE_CONTRADICTS = 0.3
    # The run is clearly below a comparable paper number: there is a shortfall to explain.
    BELOW_PAPER = 0.1
    # A setting only assumed from a default (nothing in the run states it) is itself uncertain.
    ASSUMED_SETTING = 0.6
    # The NDCG definition stated by the run (run.json): only a mislabelled file would make it wrong.
    STATED_DEFINITION = 0.95
    # Direct observations: a NaN loss, a missing evaluation, an interruption line.
    OBSERVED_FAULT = 0.9
    OBSERVED_STOP = 0.95
    # Not one `iter:` line carries metrics: the evaluation never ran, the root of everything after it.
    NO_EVALUATION_AT_ALL = 0.98
    # Loss rising while recall collapses: divergence, though a bad data shard could look alike.
    LOSS_AND_RECALL = 0.75
    # Loss far above a uniform guess: measured, only a mis-logged loss would make it wrong.
    LOSS_ABOVE_GUESS = 0.85
    # item_count from a checkpoint/run differs from the dataset's constant: data almost surely differ.
    ITEM_COUNT_DIFFERS = 0.85
    # Identical recall at every evaluation: a broken split or a broken evaluation (cannot tell which).
    CONSTANT_RECALL = 0.6
    # ...and near zero against the paper from the first evaluation: the split or the evaluation is broken.
    CONSTANT_NEAR_ZERO = 0.85
    # A multi-interest run below a single-interest one on Book/Taobao (scaled by data proximity).
    BELOW_SINGLE_INTEREST = 0.7
    # The checkpoint's variables belong to another model family than the run's name says.
    OTHER_FAMILY = 0.6
    # The checkpoint shows dead/collapsed interests.
    DEAD_INTERESTS = 0.9
    # A curve still rising at the stop; more when the stop is also below the Book budget (a prior that agrees).
    RISING_AT_STOP = 0.6
    RISING_IN_PATIENCE_WINDOW = 0.55
    BELOW_BUDGET = 0.15
    # Measured on the run's own split files: the ids' order / the users shared between splits.
    DATA_MEASURED = 0.9
    # A curve still climbing with a patience window too short (< MIN_EVALS_FOR_SHAPE evaluations) to show a plateau.
    SHORT_PATIENCE_WINDOW = 0.5
    # Oscillation / overfitting: base plus the measured size (jitter, decay), so bigger effects are surer.
    CURVE_SHAPE = 0.4
    # A setting that differs from the original's (neg_num, batch): certain it differs, unsure it matters.
    SETTING_DIFFERS = 0.5
    SMALLER_BATCH_BELOW_PAPER = 0.6
    LARGER_BATCH = 0.4
    # A cut-off the paper lacks (certain from the setting) / cut-off sources that disagree.
    CUTOFF_ABSENT = 0.9
    CUTOFF_CONFLICT = 0.6
    CUTOFF_STATED = 0.8
    CUTOFF_ASSUMED = 0.5
    # NDCG inferred from the ratio: 0.5 at the decision boundary, rising with the distance from it.
    RATIO_AT_BOUNDARY = 0.5
    RATIO_SLOPE = 1.5
    # The ratio ranges were measured on Book; on other data they are a weaker guide.
    RATIO_OTHER_DATA = 0.6


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
    def stop_iter(self) -> int | None:
        return self.summary.last_iter

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
