"""Seed noise: is the tuned configuration better than the start beyond what a change of seed alone does?

After the search, the best configuration and the starting one are each trained on the same fresh seeds (never the
search's own seed, whose best score is the maximum of many noisy draws and so biased upward). The verdict is the
difference of their means with a 95% Welch interval (unequal variances; Student's t with Welch-Satterthwaite
degrees of freedom): a winner is declared only when the interval excludes zero.

Pure arithmetic (math only, no scipy): the t quantile comes from the regularised incomplete beta function.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

LEVEL = 0.95


@dataclass(frozen=True)
class Arm:
    """One configuration's repeats: a value per seed."""

    name: str
    values: tuple[float, ...]
    seeds: tuple[int, ...] = ()

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan

    @property
    def sd(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else math.nan


@dataclass(frozen=True)
class Verdict:
    metric: str
    best: Arm
    start: Arm
    difference: float
    low: float
    high: float
    df: float
    winner: str | None  # 'best', 'start' or None (inside the seed noise)
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        def arm(a: Arm) -> dict[str, Any]:
            return {"name": a.name, "values": list(a.values), "seeds": list(a.seeds), "mean": _f(a.mean),
                    "sd": _f(a.sd)}

        return {"metric": self.metric, "best": arm(self.best), "start": arm(self.start),
                "difference": _f(self.difference), "interval": [_f(self.low), _f(self.high)],
                "level": LEVEL, "df": _f(self.df), "method": "Welch t", "winner": self.winner,
                "sentence": self.sentence}


def welch_interval(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> tuple[float, float, float, float]:
    """(mean(a) - mean(b), low, high, df): the Welch interval of the difference of means."""
    if len(a) < 2 or len(b) < 2:
        diff = (statistics.fmean(a) - statistics.fmean(b)) if a and b else math.nan
        return diff, -math.inf, math.inf, math.nan
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff = statistics.fmean(a) - statistics.fmean(b)
    se2 = va + vb
    if se2 == 0:
        return diff, diff, diff, math.inf
    df = se2 ** 2 / ((va ** 2) / (len(a) - 1) + (vb ** 2) / (len(b) - 1))
    half = t_quantile(0.5 + level / 2, df) * math.sqrt(se2)
    return diff, diff - half, diff + half, df


def judge(best: Arm, start: Arm, metric: str) -> Verdict:
    diff, low, high, df = welch_interval(best.values, start.values)
    noise = _noise_text(best, start)
    if len(best.values) < 2 or len(start.values) < 2:
        winner = None
        sentence = (f"Cannot separate the tuned configuration from the start: {metric} needs at least 2 seeds per "
                    f"configuration to measure the seed noise (got {len(best.values)} and {len(start.values)}).")
    elif low > 0:
        winner = "best"
        sentence = (f"The tuned configuration beats the start beyond seed noise: {metric} "
                    f"{best.mean:.4f} ± {best.sd:.4f} vs {start.mean:.4f} ± {start.sd:.4f} (mean ± sd over "
                    f"{len(best.values)} and {len(start.values)} seeds), difference {diff:+.4f}, 95% interval "
                    f"[{low:+.4f}, {high:+.4f}] excludes zero.")
    elif high < 0:
        winner = "start"
        sentence = (f"The start beats the tuned configuration beyond seed noise: {metric} {start.mean:.4f} ± "
                    f"{start.sd:.4f} vs {best.mean:.4f} ± {best.sd:.4f}; difference (tuned - start) {diff:+.4f}, "
                    f"95% interval [{low:+.4f}, {high:+.4f}]. The search's best was seed luck.")
    else:
        winner = None
        sentence = (f"No setting beat the start beyond seed noise: {metric} {best.mean:.4f} ± {best.sd:.4f} (tuned) "
                    f"vs {start.mean:.4f} ± {start.sd:.4f} (start), difference {diff:+.4f}, 95% interval "
                    f"[{low:+.4f}, {high:+.4f}] contains zero ({noise}).")
    return Verdict(metric, best, start, diff, low, high, df, winner, sentence)


def _noise_text(best: Arm, start: Arm) -> str:
    sds = [s for s in (best.sd, start.sd) if math.isfinite(s)]
    return f"seed sd up to {max(sds):.4f}" if sds else "seed noise not measured"


def pooled_sd(arms: Sequence[Arm]) -> float:
    """The seed noise of one run: the pooled standard deviation of several configurations' repeats."""
    num = sum((len(a.values) - 1) * a.sd ** 2 for a in arms if len(a.values) > 1)
    den = sum(len(a.values) - 1 for a in arms if len(a.values) > 1)
    return math.sqrt(num / den) if den else math.nan


# ---------------------------------------------------------------- Student's t
def t_cdf(t: float, df: float) -> float:
    x = df / (df + t * t)
    tail = 0.5 * betainc(df / 2, 0.5, x)
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t (bisection on the CDF; p in (0.5, 1))."""
    if math.isinf(df):
        df = 1e9
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta I_x(a, b) (continued fraction, Lentz's method)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-14:
            break
    return h


def _f(value: float) -> float | None:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None
