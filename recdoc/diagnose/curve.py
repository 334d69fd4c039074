"""Pure functions over a run's curve frame (`recdoc.diagnose.observed_run.CURVE_COLUMNS`), shared by every rule.

"Evaluation" means a row with a valid recall. Improvements follow the original's rule exactly: a new best is a
recall strictly above the running best, which starts at 0 (reference section 4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recdoc.thresholds import Thresholds


def evaluated(curve: pd.DataFrame) -> pd.DataFrame:
    """The rows that carry a validation recall, in iteration order."""
    if curve.empty:
        return curve
    return curve[curve["recall"].notna()].sort_values("iter", kind="stable").reset_index(drop=True)


def improvement_rows(curve: pd.DataFrame) -> list[int]:
    """Row positions (in `evaluated(curve)`) where the original would have saved a new best model."""
    rows = evaluated(curve)
    best = 0.0
    out: list[int] = []
    for position, recall in enumerate(rows["recall"].to_numpy(dtype=float)):
        if recall > best:
            best = recall
            out.append(position)
    return out


def best_row(curve: pd.DataFrame) -> pd.Series | None:
    """The row of the last strict improvement (the model the original restores), or None without evaluations."""
    rows = evaluated(curve)
    improved = improvement_rows(curve)
    if rows.empty or not improved:
        return None
    return rows.iloc[improved[-1]]


def evaluations_since_best(curve: pd.DataFrame) -> int:
    """How many evaluations came after the best one (the original's `trials` counter at the end)."""
    rows = evaluated(curve)
    improved = improvement_rows(curve)
    if rows.empty:
        return 0
    if not improved:
        return len(rows)
    return len(rows) - 1 - improved[-1]


def relative_trend(values: np.ndarray, reference: float) -> float:
    """Least-squares change across the window (fitted last minus fitted first), as a fraction of `reference`.

    Positive: still rising. A fit rather than last-minus-first, so one noisy evaluation does not decide.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 3 or not reference:
        return 0.0
    index = np.arange(len(values), dtype=float)
    slope = np.polyfit(index, values, 1)[0]
    return float(slope * (len(values) - 1) / reference)


def last_window(curve: pd.DataFrame, size: int) -> np.ndarray:
    rows = evaluated(curve)
    return rows["recall"].to_numpy(dtype=float)[-size:] if not rows.empty else np.array([], dtype=float)


def decay_from_peak(curve: pd.DataFrame) -> float:
    """(peak - last) / peak of the validation recall; 0 when the last evaluation is the peak."""
    rows = evaluated(curve)
    if rows.empty:
        return 0.0
    recall = rows["recall"].to_numpy(dtype=float)
    peak = float(recall.max())
    return 0.0 if peak <= 0 else float((peak - recall[-1]) / peak)


def jitter(values: np.ndarray, reference: float) -> float:
    """Median absolute step between consecutive evaluations, as a fraction of `reference`.

    The median ignores a single outlier step; a healthy plateau moves ~1% of its level per evaluation.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 3 or not reference:
        return 0.0
    return float(np.median(np.abs(np.diff(values))) / reference)


def direction_changes(values: np.ndarray) -> float:
    """Share of consecutive steps that reverse direction (0: monotone, ~1: zig-zag every evaluation)."""
    steps = np.diff(np.asarray(values, dtype=float))
    steps = steps[np.isfinite(steps) & (steps != 0)]
    if len(steps) < 2:
        return 0.0
    return float(np.mean(np.sign(steps[1:]) != np.sign(steps[:-1])))


def noise_level(values: np.ndarray, reference: float) -> float:
    """One evaluation's own noise, as a fraction of `reference`: a robust scale of the second differences.

    Second differences cancel a locally linear trend (a climb or a plateau), leaving the evaluation-to-evaluation
    noise: for independent noise of standard deviation s they have standard deviation s * sqrt(6). The median
    absolute deviation (x 1.4826) ignores a single outlier or a change of slope.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 5 or not reference:
        return 0.0
    second = np.diff(values, 2)
    mad = float(np.median(np.abs(second - np.median(second))))
    return 1.4826 * mad / math.sqrt(6.0) / reference


def trend_uncertainty(noise: float, count: int) -> float:
    """Standard error of `relative_trend` over `count` evaluations whose noise is `noise` (fractions of the same
    reference): the least-squares slope's error times the span, noise x (n - 1) x sqrt(12 / (n (n^2 - 1)))."""
    if count < 3:
        return math.inf
    return noise * (count - 1) * math.sqrt(12.0 / (count * (count * count - 1)))


def loss_values(curve: pd.DataFrame) -> np.ndarray:
    if curve.empty:
        return np.array([], dtype=float)
    return curve.sort_values("iter", kind="stable")["train_loss"].to_numpy(dtype=float)


@dataclass(frozen=True)
class CurveSummary:
    """The numbers rules reason with, computed once per run."""

    evaluations: int
    improvements: int
    best_iter: int | None
    best_recall: float | None
    best_file: str | None
    best_line: int | None
    first_iter: int | None
    last_iter: int | None
    last_recall: float | None
    evals_since_best: int
    window: int  # evaluations in the trend window
    trend_last_window: float  # relative change across the last `window` evaluations (fraction of best)
    trend_after_best: float  # relative change across the evaluations after the best (incl. the best)
    trend_since_best: float  # the same without the best itself: a single lucky peak followed by a plateau is ~0
    decay_from_peak: float
    jitter_last_window: float
    direction_changes_last_window: float
    loss_first: float | None
    loss_min: float | None
    loss_last: float | None
    loss_nonfinite: bool
    constant_recall: bool  # every evaluation gave the same recall (a broken split or evaluation)
    # The trend over the last LONG_WINDOW evaluations whatever the window: judges a patience window too short
    # to show a plateau itself.
    trend_long_window: float = 0.0
    loss_max: float | None = None
    # One evaluation's own noise as a fraction of the best (`noise_level`, over the last LONG_WINDOW evaluations),
    # and the trend over the later half of the trend window (is the curve still rising at its end, not only
    # somewhere in the window).
    noise: float = 0.0
    trend_recent: float = 0.0
    recent_window: int = 0
    # The run's late part (its last LATE_SHARE of evaluations, when longer than the trend window) and the later
    # half of it: a long run climbing slowly at its cap rises little within a patience window of 51 evaluations.
    trend_late: float = 0.0
    late_window: int = 0
    trend_late_recent: float = 0.0

    @property
    def has_evaluations(self) -> bool:
        return self.evaluations > 0

    def beyond_noise(self, trend: float, count: int) -> bool:
        """Is a fitted change of `trend` (fraction of the best) over `count` evaluations more than this curve's own
        noise can make (`Thresholds.NOISE_Z` standard errors)?"""
        return abs(trend) >= Thresholds.NOISE_Z * trend_uncertainty(self.noise, count)

    def rising(self, trend: float, count: int) -> bool:
        """Still rising: at least `Thresholds.STILL_RISING` of the best, and beyond the curve's own noise."""
        return trend >= Thresholds.STILL_RISING and self.beyond_noise(trend, count)

    @property
    def rising_window(self) -> tuple[float, int] | None:
        """The (trend, evaluations) of the window that shows the curve still climbing at its end, else None: the
        trend window or the run's late part, rising by `Thresholds.STILL_RISING` of the best across it beyond
        the curve's own noise, and its later half still going up beyond noise (a window that holds the early climb
        of a curve flat since is not rising at its end); not when the best came in the window's first half with
        nothing rising beyond noise since."""
        since_rose = self.trend_since_best > 0 and self.beyond_noise(self.trend_since_best, self.evals_since_best)
        windows = [(self.trend_last_window, self.window, self.trend_recent, self.recent_window)]
        if self.late_window > self.window:
            windows.append((self.trend_late, self.late_window, self.trend_late_recent, self.late_window // 2))
        for trend, count, half_trend, half in windows:
            if not self.rising(trend, count):
                continue
            if self.evals_since_best >= max(MIN_HALF_WINDOW, count // 2) and not since_rose:
                continue  # no new best over the later half of the window, nothing rising since: it had stopped
            if half >= MIN_HALF_WINDOW and not (half_trend > 0 and self.beyond_noise(half_trend, half)):
                continue
            return trend, count
        return None

    @property
    def rising_at_end(self) -> bool:
        return self.rising_window is not None


# The original's default patience window (50 + 1 evaluations).
LONG_WINDOW = 51
# The run's late part: its last tenth of evaluations (the original's 1M-iteration cap at one evaluation per 500
# iterations: the last 100k iterations).
LATE_SHARE = 0.1
# A half window is judged on its own only from this many evaluations (Thresholds.MIN_EVALS_FOR_SHAPE).
MIN_HALF_WINDOW = 5


def sampling_noise(recall: float | None, users: int | None) -> float:
    """The smallest move an evaluation over `users` users can show, as a fraction of `recall`: one user's hit
    changing moves a mean over users by up to 1 / users (MovieLens-100K's 95 users at recall 0.2: 0.0105, 5% of
    the level). The evaluations average over the same users each time, so their differences come from the model,
    not from sampling users; but a change of one or two users' hits is indistinguishable from chance."""
    if not recall or recall <= 0 or not users or users <= 0:
        return 0.0
    return 1.0 / (users * recall)


def summarize(curve: pd.DataFrame, window: int, eval_users: int | None = None) -> CurveSummary:
    """Summarize a curve; `window` is the number of trailing evaluations used for trend and jitter; `eval_users`,
    where known, the number of users each evaluation averages over (its sampling noise bounds the curve's own
    noise from below)."""
    rows = evaluated(curve)
    recall = rows["recall"].to_numpy(dtype=float) if not rows.empty else np.array([], dtype=float)
    best = best_row(curve)
    best_recall = float(best["recall"]) if best is not None else (float(recall.max()) if len(recall) else None)
    reference = best_recall or 0.0
    since = evaluations_since_best(curve)
    after_best = recall[len(recall) - since - 1:] if len(recall) else recall
    tail = recall[-window:]
    # The later half of a window long enough for each half to show a shape (a short window is judged whole).
    recent = tail[len(tail) // 2:] if len(tail) >= 2 * MIN_HALF_WINDOW else tail[:0]
    late = recall[-max(len(tail), int(len(recall) * LATE_SHARE)):] if len(recall) else recall
    losses = loss_values(curve)
    finite_losses = losses[np.isfinite(losses)]
    present_losses = losses[~np.isnan(losses)]
    return CurveSummary(
        evaluations=len(rows),
        improvements=len(improvement_rows(curve)),
        best_iter=int(best["iter"]) if best is not None else None,
        best_recall=best_recall,
        best_file=_text_or_none(best["file"]) if best is not None else None,
        best_line=_int_or_none(best["line"]) if best is not None else None,
        first_iter=int(rows["iter"].iloc[0]) if not rows.empty else None,
        last_iter=int(curve["iter"].max()) if not curve.empty else None,
        last_recall=float(recall[-1]) if len(recall) else None,
        evals_since_best=since,
        window=len(tail),
        trend_last_window=relative_trend(tail, reference),
        trend_after_best=relative_trend(after_best, reference),
        trend_since_best=relative_trend(after_best[1:], reference),
        decay_from_peak=decay_from_peak(curve),
        jitter_last_window=jitter(tail, reference),
        direction_changes_last_window=direction_changes(tail),
        loss_first=float(finite_losses[0]) if len(finite_losses) else None,
        loss_min=float(finite_losses.min()) if len(finite_losses) else None,
        loss_last=float(finite_losses[-1]) if len(finite_losses) else None,
        loss_nonfinite=bool(len(present_losses) and not np.all(np.isfinite(present_losses))),
        constant_recall=bool(len(recall) >= 3 and float(np.ptp(recall)) == 0.0),
        trend_long_window=relative_trend(recall[-LONG_WINDOW:], reference),
        loss_max=float(finite_losses.max()) if len(finite_losses) else None,
        noise=max(noise_level(recall[-LONG_WINDOW:], reference), sampling_noise(best_recall, eval_users)),
        trend_recent=relative_trend(recent, reference),
        recent_window=len(recent),
        trend_late=relative_trend(late, reference),
        late_window=len(late),
        trend_late_recent=relative_trend(late[len(late) // 2:], reference),
    )


def _text_or_none(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _int_or_none(value: object) -> int | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else int(number)
