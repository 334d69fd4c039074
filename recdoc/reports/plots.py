"""The report's two PNG plots: training loss, and validation recall with its best point, stop and paper value.

Drawn with matplotlib through `chart.py` (lazy import, the `Figure` API, no pyplot), in the helper process
`chart_process.py` when `recdoc analyze` started one.
"""

from __future__ import annotations

import math
from pathlib import Path

from recdoc.diagnose.curve import evaluated
from recdoc.diagnose.findings import Comparison, Diagnosis
from recdoc.diagnose.rules.loss import loss_format_problem
from recdoc.reports.chart import LineChart
from recdoc.reports.chart_process import save_chart
from recdoc.reports.facts import metric_label, percent, run_facts

FIGSIZE = (7.0, 3.2)
DPI = 90


def paper_line(diagnosis: Diagnosis) -> Comparison | None:
    """The comparable recall row the recall plot draws as a horizontal line (test first: the paper reports test)."""
    rows = [c for c in diagnosis.comparisons
            if c.metric == "recall" and c.comparable and c.paper_value is not None and not c.model_unknown]
    rows.sort(key=lambda c: 0 if c.split == "test" else 1)
    return rows[0] if rows else None


def write_plots(diagnosis: Diagnosis, folder: Path, stem: str) -> dict[str, Path]:
    """Write `<stem>_loss.png` and `<stem>_recall.png` where the curve has data; caption -> path written."""
    curve = diagnosis.run.curve
    written: dict[str, Path] = {}
    if curve.empty:
        return written
    losses = curve[curve["train_loss"].notna()]
    finite = [(int(i), float(v)) for i, v in zip(losses["iter"], losses["train_loss"]) if math.isfinite(float(v))]
    if finite:
        written["Training loss by iteration"] = save_chart(_loss_figure(finite, chance_level(diagnosis)),
                                                           folder / f"{stem}_loss.png")
    rows = evaluated(curve)
    if not rows.empty:
        chart = _recall_figure(diagnosis, [int(i) for i in rows["iter"]], [float(v) for v in rows["recall"]])
        written["Validation recall by iteration"] = save_chart(chart, folder / f"{stem}_recall.png")
    return written


def chance_level(diagnosis: Diagnosis) -> tuple[float, int] | None:
    """(ln(S + 1), S) when the logged loss is the original's sampled softmax over S = neg_num x batch_size sampled
    candidates: the loss of a uniform guess, the level `wiring-suspect` and `loss-level` compare with
    (rules/loss.py `assess_loss`); None when the loss is another code's or the candidates are unknown."""
    if loss_format_problem(diagnosis.run.format) is not None:
        return None
    values = {key: diagnosis.config[key].value if key in diagnosis.config else None
              for key in ("neg_num", "batch_size", "item_count")}
    try:
        candidates = int(values["neg_num"]) * int(values["batch_size"])
    except (TypeError, ValueError):
        return None
    items = values["item_count"]
    if candidates < 1 or (isinstance(items, int) and items <= candidates):
        return None
    return math.log(candidates + 1), candidates


def _loss_figure(points: list[tuple[int, float]], chance: tuple[float, int] | None = None) -> LineChart:
    chart = _chart("Training loss (mean over each evaluation interval)", "train loss")
    chart.legend_corner = "upper right"
    chart.line([p[0] for p in points], [p[1] for p in points], color="#1f77b4", width=1.2,
               label="training loss (training batches)")
    if chance is not None:
        level, candidates = chance
        chart.hline(level, color="#7f7f7f", style="dashed", width=1.2,
                    label=f"chance level: ln({candidates:,} + 1) = {level:.2f}")
    return chart


def _recall_figure(diagnosis: Diagnosis, iters: list[int], recalls: list[float]) -> LineChart:
    facts = run_facts(diagnosis)
    label = metric_label("recall", facts.cutoff)
    chart = _chart(f"Validation {label}", "recall")
    chart.line(iters, recalls, color="#1f77b4", width=1.2, label=f"valid {label} (validation split)")
    if facts.best_iter is not None and facts.best_recall is not None:
        chart.point(facts.best_iter, facts.best_recall, color="#d62728",
                    label=f"best: {facts.best_recall:.4f} at {facts.best_iter}")
    if facts.stop_reason == "early_stop" and facts.last_iter is not None:
        chart.vline(facts.last_iter, color="#7f7f7f", style="dashed", width=1.0,
                    label=f"early stop at {facts.last_iter}")
    paper = paper_line(diagnosis)
    if paper is not None and paper.paper_value is not None:
        star = "" if paper.paper_confirmed else " (unconfirmed)"
        # The curve is the validation split; a paper value of another split drawn over it must say so.
        over = "" if paper.split in ("valid", "best-valid") else ", drawn over the validation curve"
        chart.hline(paper.paper_value, color="#2ca02c", style="dotted", width=1.6,
                    label=f"paper {paper.split} {metric_label(paper.metric, paper.cutoff)}: "
                          f"{percent(paper.paper_value)}{star}{over}")
    return chart


def _chart(title: str, ylabel: str) -> LineChart:
    return LineChart(size=(round(FIGSIZE[0] * DPI), round(FIGSIZE[1] * DPI)), title=title, xlabel="iteration",
                     ylabel=ylabel)

