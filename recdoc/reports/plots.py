"""The report's two PNG plots: training loss, and validation recall with its best point, stop and paper value.

matplotlib is imported here only, and lazily, through `Figure` and the Agg canvas (no pyplot: no global state, no
GUI backend probing). Import plus two small figures costs about 0.3 s, inside `recdoc analyze`'s budget.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from recdoc.diagnose.findings import Comparison, Diagnosis
from recdoc.diagnose.rules.curve import evaluated
from recdoc.reports.facts import metric_label, percent, run_facts
from recdoc.reports.files import write_new_file

FIGSIZE = (7.0, 3.2)
DPI = 90


def paper_line(diagnosis: Diagnosis) -> Comparison | None:
    """The comparable recall row the recall plot draws as a horizontal line (test first: the paper reports test)."""
    rows = [c for c in diagnosis.comparisons
            if c.metric == "recall" and c.comparable and c.paper_value is not None]
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
        path = folder / f"{stem}_loss.png"
        _save(_loss_figure(finite), path)
        written["Training loss by iteration"] = path
    rows = evaluated(curve)
    if not rows.empty:
        path = folder / f"{stem}_recall.png"
        _save(_recall_figure(diagnosis, [int(i) for i in rows["iter"]], [float(v) for v in rows["recall"]]), path)
        written["Validation recall by iteration"] = path
    return written


def _loss_figure(points: list[tuple[int, float]]) -> Any:
    figure, axes = _figure()
    axes.plot([p[0] for p in points], [p[1] for p in points], color="#1f77b4", linewidth=1.2)
    axes.set_title("Training loss (mean over each evaluation interval)")
    axes.set_xlabel("iteration")
    axes.set_ylabel("train loss")
    return figure


def _recall_figure(diagnosis: Diagnosis, iters: list[int], recalls: list[float]) -> Any:
    figure, axes = _figure()
    facts = run_facts(diagnosis)
    label = metric_label("recall", facts.cutoff)
    axes.plot(iters, recalls, color="#1f77b4", linewidth=1.2, label=f"valid {label}")
    if facts.best_iter is not None and facts.best_recall is not None:
        axes.plot([facts.best_iter], [facts.best_recall], marker="o", color="#d62728", linestyle="none",
                  label=f"best: {facts.best_recall:.4f} at {facts.best_iter}")
    if facts.stop_reason == "early_stop" and facts.last_iter is not None:
        axes.axvline(facts.last_iter, color="#7f7f7f", linestyle="--", linewidth=1.0,
                     label=f"early stop at {facts.last_iter}")
    paper = paper_line(diagnosis)
    if paper is not None and paper.paper_value is not None:
        star = "" if paper.paper_confirmed else " (unconfirmed)"
        axes.axhline(paper.paper_value, color="#2ca02c", linestyle=":", linewidth=1.2,
                     label=f"paper {paper.split} {metric_label(paper.metric, paper.cutoff)}: "
                           f"{percent(paper.paper_value)}{star}")
    axes.set_title(f"Validation {label}")
    axes.set_xlabel("iteration")
    axes.set_ylabel("recall")
    axes.legend(loc="lower right", fontsize=8, frameon=False)
    return figure


def _figure() -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGSIZE, dpi=DPI)
    # Fixed margins: constrained layout costs ~40 ms a figure, and these two figures have a fixed shape.
    figure.subplots_adjust(left=0.09, right=0.98, top=0.9, bottom=0.15)
    axes = figure.add_subplot()
    axes.grid(True, linewidth=0.3, alpha=0.5)
    return figure, axes


def _save(figure: Any, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    write_new_file(path, lambda stream: figure.savefig(stream, format="png", pil_kwargs={"compress_level": 1}))
    # compress_level 1: line plots compress well anyway, and level 6 (the default) costs ~20 ms a figure.
