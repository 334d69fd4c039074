"""Does the evaluation respond to training? Pure functions over a run's curve frame (`observed_run.CURVE_COLUMNS`).

Training changes the model, and an evaluation of that model moves with it: by a little on a plateau, by a lot
in the climb. Metrics identical to the printed digit at every evaluation while the training loss moves are not a
measurement of the model that trains: the evaluation scores something else (targets no ranking can hit, a fixed
or restored model, an output that never reaches the ranking).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

import numpy as np
import pandas as pd

from recdoc.diagnose.curve import evaluated, noise_level, relative_trend, trend_uncertainty
from recdoc.diagnose.observed_run import SourceRef
from recdoc.metrics import LOGGED_METRICS
from recdoc.thresholds import Thresholds


@dataclass(frozen=True)
class FrozenMetrics:
    """Metrics identical at every evaluation of the curve: their values, how many evaluations, where they start
    and end."""

    values: dict[str, float]
    evaluations: int
    first_iter: int
    last_iter: int
    first: SourceRef | None
    last: SourceRef | None

    @property
    def level(self) -> float:
        """The headline value: recall (`frozen_metrics` requires it)."""
        return self.values["recall"]

    @property
    def all_equal(self) -> bool:
        """Recall, NDCG and hit rate all printed and all the same non-zero number."""
        return set(LOGGED_METRICS) <= set(self.values) and len({self.values[m] for m in LOGGED_METRICS}) == 1 and self.level > 0


@dataclass(frozen=True)
class LossMovement:
    """How the training loss moved over the evaluations: first and last value, and, from enough evaluations, the
    fitted change and one evaluation's noise (fractions of the loss's mean level)."""

    first: float
    last: float
    spread: float  # largest minus smallest value
    count: int
    trend: float
    noise: float
    # None: too few evaluations to estimate the loss's own noise (`curve.noise_level` needs five).
    beyond_noise: bool | None

    @property
    def moved(self) -> bool:
        return self.spread > 0.0

    @property
    def change(self) -> float:
        """last / first - 1."""
        return self.last / self.first - 1.0 if self.first else math.inf


# What shows that the frozen metrics do not respond to training, strongest first: a loss moving beyond its own
# noise; a moving loss over too few evaluations to measure its noise (an excerpt); a loss that moves only within its
# noise (training may have stalled; the level alone speaks); at an ordinary level, digits fine enough that a
# plateau would move them, with the loss moving beyond its noise.
Strength = Literal["loss beyond noise", "loss noise unknown", "loss within noise", "fine digits"]


@dataclass(frozen=True)
class Unresponsive:
    """An evaluation whose metrics do not respond to training: the frozen metrics, the loss that moved, whether the
    level is near zero, and what shows it."""

    frozen: FrozenMetrics
    loss: LossMovement
    near_zero: bool
    strength: Strength


def unresponsive_evaluation(curve: pd.DataFrame, near_zero_line: float) -> Unresponsive | None:
    """Metrics frozen at every evaluation shown while the training loss moves, or None.

    Near zero (recall at or below `near_zero_line`: the targets are (almost) never hit), two evaluations suffice;
    at an ordinary level a frozen curve counts only over `Thresholds.MIN_EVALS_FOR_SHAPE` evaluations printed to
    digits a plateau would move (`Thresholds.FROZEN_PRINT_STEP`) with the loss moving beyond its noise. That
    training moved the model is shown by the loss alone: without one read, or with one frozen too (a model that
    does not train), nothing is claimed.
    """
    frozen = frozen_metrics(curve, Thresholds.MIN_FROZEN_EVALS)
    if frozen is None:
        return None
    loss = loss_movement(curve, Thresholds.NOISE_Z)
    if loss is None or not loss.moved:
        return None
    near_zero = frozen.level <= near_zero_line
    strength: Strength | None
    if near_zero:
        strength = ("loss noise unknown" if loss.beyond_noise is None else
                    "loss beyond noise" if loss.beyond_noise else "loss within noise")
    else:
        fine = all(0 < value and printed_step(value) <= Thresholds.FROZEN_PRINT_STEP * value
                   for value in frozen.values.values())
        strength = ("fine digits" if fine and frozen.evaluations >= Thresholds.MIN_EVALS_FOR_SHAPE
                    and loss.beyond_noise else None)
    return None if strength is None else Unresponsive(frozen, loss, near_zero, strength)


def frozen_metrics(curve: pd.DataFrame, min_evaluations: int) -> FrozenMetrics | None:
    """The metrics printed at every evaluation, when each is identical at all of them (at least `min_evaluations`),
    else None. Only metrics present at every evaluation count; recall must be one of them."""
    rows = evaluated(curve)
    if len(rows) < max(2, min_evaluations):
        return None
    values: dict[str, float] = {}
    for metric in LOGGED_METRICS:
        column = pd.to_numeric(rows[metric], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(column).all():
            continue
        if float(np.ptp(column)) != 0.0:
            return None
        values[metric] = float(column[0])
    if "recall" not in values:
        return None
    return FrozenMetrics(values=values, evaluations=len(rows), first_iter=int(rows["iter"].iloc[0]),
                         last_iter=int(rows["iter"].iloc[-1]), first=_row_ref(rows.iloc[0]),
                         last=_row_ref(rows.iloc[-1]))


def loss_movement(curve: pd.DataFrame, z: float) -> LossMovement | None:
    """The training loss at the evaluations (finite values only), or None with fewer than two. From five on, its
    fitted change is judged against its own noise (`z` standard errors, as `CurveSummary.beyond_noise` does)."""
    rows = evaluated(curve)
    losses = pd.to_numeric(rows["train_loss"], errors="coerce").to_numpy(dtype=float) if not rows.empty else \
        np.array([], dtype=float)
    losses = losses[np.isfinite(losses)]
    if len(losses) < 2:
        return None
    reference = float(np.mean(np.abs(losses)))
    trend = relative_trend(losses, reference)
    noise = noise_level(losses, reference)
    beyond: bool | None = None
    if len(losses) >= 5:
        beyond = float(np.ptp(losses)) > 0 and abs(trend) >= z * trend_uncertainty(noise, len(losses))
    return LossMovement(first=float(losses[0]), last=float(losses[-1]), spread=float(np.ptp(losses)),
                        count=len(losses), trend=trend,
                        noise=noise, beyond_noise=beyond)


def printed_step(value: float) -> float:
    """One unit of the last digit the value shows (0.000007 -> 1e-06, 0.0812 -> 1e-04). Read from the shortest
    form of the float, which drops trailing zeros: 0.0800 printed gives 0.01, coarser than printed, so a test
    that needs a fine step errs towards "too coarse to tell"."""
    try:
        exponent = Decimal(repr(float(value))).normalize().as_tuple().exponent
    except (InvalidOperation, ValueError):
        return math.inf
    return math.inf if not isinstance(exponent, int) else 10.0 ** exponent


def _row_ref(row: pd.Series) -> SourceRef | None:
    file, line = row["file"], row["line"]
    if not isinstance(file, str):
        return None
    return SourceRef(file, None if line != line else int(line))
