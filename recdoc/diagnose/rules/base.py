"""What every rule shares: the context it reads and the base class.

Reference numbers (paper values, the original's defaults, the README's advice) live in recdoc/reference; recdoc's
own judgement (thresholds and confidences) in recdoc/thresholds.py.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from recdoc import reference
from recdoc.diagnose.curve import CurveSummary
from recdoc.diagnose.evaluation_response import Unresponsive, unresponsive_evaluation
from recdoc.diagnose.findings import Comparison, Evidence, Finding, NotACause, Setting
from recdoc.diagnose.observed_run import Run, SourceRef
from recdoc.thresholds import Thresholds


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
    # Rows that place a run whose model is not stated among the paper's models (`Comparison.model_unknown`): kept
    # out of `comparisons`, so no rule reads another model's gap as this run's (lr-model-mismatch, above-paper,
    # the shortfall rules); only rules about definitions, not about the model, consult them.
    placements: list[Comparison] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.placements = self.placements + [c for c in self.comparisons if c.model_unknown]
        self.comparisons = [c for c in self.comparisons if not c.model_unknown]

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

    @property
    def prior_weight(self) -> float:
        """What a prior established on Book/Taobao is worth for this run: the data's proximity times how sure
        recdoc is of its identity when identified under another name (`book14` as Book at 0.80: the prior holds
        for it as far as it is Book)."""
        return self.proximity * self.identity_confidence

    @property
    def identity_confidence(self) -> float:
        """How sure the identification of the run's data as a paper dataset is (identity.py; 1.0 when the run
        names the paper dataset itself or nothing was identified)."""
        setting = self.config.get("paper_dataset")
        if setting is None or setting.value == self.value("dataset"):
            return 1.0
        match = _IDENTITY_CONFIDENCE.search(setting.source)
        return clamp(float(match.group(1))) if match else 1.0

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
        """A non-finite training loss the run printed or stated (`nonfinite_evidence`); never a value not read."""
        return bool(self._nonfinite)

    def nonfinite_evidence(self) -> list[Evidence]:
        return list(self._nonfinite)

    @functools.cached_property
    def _nonfinite(self) -> tuple[Evidence, ...]:
        """The printed tokens that prove a non-finite loss: a reader's `nan` event whose line shows nan/inf, an inf
        cell of the curve (only a printed inf makes one: a value never read is NaN, missing), or a run record that
        states the stop reason `nan` (recdoc's run.json).

        Absence is not evidence: a NaN cell, a `nan` stop or event on a line that prints no nan/inf token (a step
        line that carries no loss) is a value not read, not a fault.
        """
        out: list[Evidence] = []
        for event in self.run.events_of("nan"):
            if printed_nonfinite(event.text):
                out.append(Evidence(f"non-finite loss printed: {event.text.strip()[:120]}", event.ref,
                                    {"nan": True}))
        curve = self.run.curve
        if not curve.empty:
            losses = pd.to_numeric(curve["train_loss"], errors="coerce")
            bad = curve[np.isinf(losses.to_numpy(dtype=float))]
            for _, row in bad.head(1).iterrows():
                ref = (SourceRef(row["file"], None if row["line"] != row["line"] else int(row["line"]))
                       if isinstance(row["file"], str) else None)
                if all(e.ref != ref for e in out):
                    out.append(Evidence(f"train loss {row['train_loss']} at iter {int(row['iter'])}", ref,
                                        {"nan": True}))
        ref = self.run.stop_ref
        if (self.run.stop_reason == "nan" and not out and ref is not None
                and ref.path.lower().endswith(".json")):
            out.append(Evidence("the run's record states it stopped on a non-finite loss", ref, {"nan": True}))
        return tuple(out)

    @property
    def trains_as_original(self) -> bool:
        """Whether the run's code trains as the original does: sampled softmax over 10 x batch negatives (hard-coded),
        the mean loss logged (reference section 4)."""
        return self.run.format.split("+")[0] in ORIGINAL_TRAINING_FORMATS

    @property
    def prints_stop_line(self) -> bool:
        """Whether the run's code is known to print how it stops (the original and its ports, recdoc): only then
        does an end without its stop or final lines mean the run did not finish."""
        return any(part in STOP_LINE_FORMATS for part in self.run.format.split("+"))

    @property
    def stop_reason(self) -> str:
        """The stop reason the evidence supports. A reader's `nan` stop without a printed nan/inf is a loss not
        read: the run is judged as the reader would without it (unfinished). `unfinished` (no stop line at the end)
        means something only for a code known to print one; for any other code (`text`, a framework log, a sheet,
        pasted text, ...) how it stopped is unknown."""
        reason = self.run.stop_reason
        if reason == "nan" and not self.loss_nonfinite:
            reason = "unfinished"
        if reason == "unfinished" and not self.prints_stop_line:
            reason = "unknown"
        return reason

    @property
    def learned_nothing(self) -> bool:
        """The validation recall never moved: identical at every evaluation from the first (a broken split or
        evaluation), or frozen while the training loss moves (`unresponsive`); no training setting explains such a
        run."""
        return self.summary.constant_recall or self.unresponsive is not None

    def near_zero_line(self) -> tuple[float, str]:
        """The recall at or below which an evaluation (almost) never hits a target: a share of the paper's
        comparable recall, else an absolute line; with the words that name it."""
        paper = next((c.paper_value for c in self.comparisons if c.metric == "recall" and c.paper_value), None)
        if paper:
            return Thresholds.NEAR_ZERO_SHARE * paper, f"{Thresholds.NEAR_ZERO_SHARE:.0%} of the paper's {paper:.4f}"
        return Thresholds.NEAR_ZERO_RECALL, f"{Thresholds.NEAR_ZERO_RECALL}"

    @functools.cached_property
    def unresponsive(self) -> Unresponsive | None:
        """An evaluation whose metrics do not respond to training (evaluation_response.py), judged against the
        near-zero line."""
        return unresponsive_evaluation(self.run.curve, self.near_zero_line()[0])


# A printed non-finite number: nan, inf, infinity (any case, signed); `-nan` and `nan%` too.
_NONFINITE_TOKEN = re.compile(r"(?<![A-Za-z])[-+]?(?:nan|inf(?:inity)?)(?![A-Za-z])", re.IGNORECASE)


# Codes known to print a stop line or final lines when they end (`Run.format`'s parts): the original and its
# ports, recdoc. Any other format (plain text, framework logs, sheets, pasted text, MLflow) is unknown-stop.
STOP_LINE_FORMATS = frozenset({"original", "tf2-port", "pytorch-port", "recdoc"})
# Codes that train as the original (the first part of `Run.format`): the original, the TF2 port that kept its
# training, recdoc.
ORIGINAL_TRAINING_FORMATS = frozenset({"original", "tf2-port", "recdoc"})


# config_inference's source label for an identified paper dataset ends with "; confidence 0.80)".
_IDENTITY_CONFIDENCE = re.compile(r"confidence ([0-9.]+)\)\s*$")


def printed_nonfinite(text: str) -> bool:
    """Does the line print a nan/inf number (not merely lack one)?"""
    return bool(_NONFINITE_TOKEN.search(text or ""))


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


def proximity_phrase(ctx: RuleContext, with_identity: bool = False) -> str:
    """Where the prior was established against the run's data; `with_identity`: the rule's confidence is scaled by
    `prior_weight` (the identity's confidence too), else by `proximity` alone."""
    if with_identity and ctx.identity_confidence < 1.0:
        return (f"the run's data ({ctx.value('dataset')}) is identified as {ctx.dataset} with confidence "
                f"{ctx.identity_confidence:.2f}, where the prior was established; confidence scaled by "
                f"{ctx.prior_weight:.2f}")
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
