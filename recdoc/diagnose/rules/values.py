"""Rules about the numbers themselves: metrics no evaluation can produce."""

from __future__ import annotations

from recdoc.diagnose.findings import Evidence, Finding, Fix, NotACause
from recdoc.diagnose.observed_run import SourceRef
from recdoc.diagnose.rules.base import Rule, RuleContext
from recdoc.metrics import LOGGED_METRICS, is_possible
from recdoc.thresholds import Confidence

# Evidence lines listed per finding; the rest are counted.
MAX_LISTED = 5


class ImpossibleMetrics(Rule):
    """The run printed metric values no evaluation can produce: recall, NDCG or hit rate outside [0, 1], NaN or inf.

    What it checks:
        Every final metric line and every evaluation of the curve: recall, NDCG and hit rate must be finite
        fractions in [0, 1].

    Why it matters:
        Such a number comes from a broken evaluation (a division by the wrong count, a percent printed as a
        fraction, an empty denominator), not from the model; it cannot be compared with the paper, so recdoc leaves
        it out of the comparisons and says so here.

    Evidence it cites:
        Each impossible value with its line.

    Fix:
        Not a setting: fix the evaluation code (the metric's denominator, its scale), then evaluate again.
    """

    id = "impossible-metrics"
    statement = "The run printed metric values no evaluation can produce (outside [0, 1], NaN or inf)."
    family = "integrity"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        found: list[Evidence] = []
        for split, final in ctx.run.finals.items():
            for metric in LOGGED_METRICS:
                value = getattr(final, metric)
                if value is not None and not is_possible(value):
                    found.append(Evidence(f"final {split} {metric} {value}", final.ref, {metric: value}))
        count = len(found)
        if ctx.run.has_curve:
            curve = ctx.run.curve
            for metric in LOGGED_METRICS:
                column = curve[metric]
                bad = curve[column.notna() & ~column.between(0.0, 1.0)]
                count += len(bad)
                for _, row in bad.head(MAX_LISTED).iterrows():
                    ref = SourceRef(row["file"], None if row["line"] != row["line"] else int(row["line"])) \
                        if isinstance(row["file"], str) else None
                    found.append(Evidence(f"valid {metric} {row[metric]} at iter {int(row['iter'])}", ref,
                                          {metric: float(row[metric])}))
        if not found:
            return None
        listed = found[:MAX_LISTED * 2]
        if count > len(listed):
            listed.append(Evidence(f"{count} impossible values in all"))
        return Finding(
            id=self.id, title=f"{count} metric value(s) outside [0, 1] or not finite: the evaluation is broken",
            severity="high", confidence=Confidence.OBSERVED_FAULT, basis="evidence", evidence=tuple(listed),
            fix=Fix({}, "metrics that are fractions in [0, 1]", applicable=False,
                    how="fix the evaluation code (each metric's denominator and scale), then evaluate again"),
            explanation="These values are left out of the comparison with the paper.")


RULES = (ImpossibleMetrics,)
