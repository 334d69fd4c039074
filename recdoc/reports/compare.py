"""`recdoc compare`: two or more runs side by side, from their diagnoses.

`compare.md` (then `compare-2.md`, ... : an existing comparison is never replaced) with two PNGs overlaying the
runs by iteration (validation recall, training loss); the settings that differ; the final metrics next to the
paper's with the deltas; and which findings cleared, appeared or remained between the first run and the last.
Reads only `Diagnosis` objects; drawn with matplotlib (chart.py; no pyplot, no TensorFlow).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from recdoc.diagnose.curve import evaluated
from recdoc.diagnose.findings import Comparison, Diagnosis
from recdoc.errors import UsageError
from recdoc.files import StagedSet, free_set_number, write_file
from recdoc.reports.chart import LineChart
from recdoc.reports.chart_process import save_chart
from recdoc.reports.facts import metric_label, percent, points

COMPARE_STEM = "compare"
PLOT_KINDS = ("recall", "loss")
MAX_COMPARISONS = 1000
SPLIT_PREFERENCE = ("test", "best-valid", "valid")
SETTING_KEYS = ("dataset", "model_type", "learning_rate", "batch_size", "neg_num", "patience", "max_iter",
                "test_iter", "topN", "num_interest", "embedding_dim", "maxlen", "ndcg", "item_count")
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
CHART_SIZE = (630, 306)  # output pixels (7 x 3.4 inches at 90 dpi, as before)


@dataclass(frozen=True)
class FindingChanges:
    """Finding ids between the first run (before) and the last (after)."""

    cleared: tuple[str, ...]
    appeared: tuple[str, ...]
    remained: tuple[str, ...]


def finding_changes(before: Diagnosis, after: Diagnosis) -> FindingChanges:
    """Cleared: in `before` only; appeared: in `after` only; remained: in both. Each in its own run's rank order."""
    before_ids = [f.id for f in before.findings]
    after_ids = [f.id for f in after.findings]
    return FindingChanges(
        cleared=tuple(i for i in before_ids if i not in after_ids),
        appeared=tuple(i for i in after_ids if i not in before_ids),
        remained=tuple(i for i in before_ids if i in after_ids),
    )


def run_labels(diagnoses: Sequence[Diagnosis]) -> list[str]:
    """A short, unique label per run: its experiment name, else its first path's name."""
    labels: list[str] = []
    for index, diagnosis in enumerate(diagnoses):
        if diagnosis.run.exp_name is not None:
            label = str(diagnosis.run.exp_name.value)
        elif diagnosis.run.paths:
            label = Path(diagnosis.run.paths[0]).name
        else:
            label = f"run {index + 1}"
        labels.append(label if label not in labels else f"{label} ({index + 1})")
    return labels


def compare_names(number: int) -> dict[str, str]:
    suffix = "" if number == 1 else f"-{number}"
    names = {"md": f"{COMPARE_STEM}{suffix}.md"}
    names.update({kind: f"{COMPARE_STEM}{suffix}_{kind}.png" for kind in PLOT_KINDS})
    return names


def free_compare_number(folder: Path) -> int:
    """The smallest n whose whole set (compare.md and its PNGs) is absent from `folder`."""
    return free_set_number(folder, compare_names, MAX_COMPARISONS, "comparisons")


def write_comparison(diagnoses: Sequence[Diagnosis], out_dir: str | Path) -> list[Path]:
    """Write compare.md and its plots in `out_dir`; return the paths written, compare.md first."""
    if len(diagnoses) < 2:
        raise UsageError("compare needs at least two runs")
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out must be a folder, got the file {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        names = compare_names(free_compare_number(folder))
        labels = run_labels(diagnoses)
        images: dict[str, Path] = {}
        with StagedSet(folder) as stage:  # written aside, then moved into place whole
            recall = _recall_figure(diagnoses, labels)
            if recall is not None:
                images["Validation recall by iteration"] = save_chart(recall, stage.path(names["recall"]))
            loss = _loss_figure(diagnoses, labels)
            if loss is not None:
                images["Training loss by iteration"] = save_chart(loss, stage.path(names["loss"]))
            write_file(stage.path(names["md"]), render_comparison(diagnoses, {c: p.name for c, p in images.items()}))
            stage.publish()
        report = folder / names["md"]
        images = {caption: folder / path.name for caption, path in images.items()}
    except FileExistsError:
        raise UsageError(f"another comparison was written in {folder} at the same time; run again") from None
    except PermissionError as error:
        raise UsageError(f"cannot write the comparison in {folder} ({error.strerror}); pass --out DIR") from None
    return [report, *images.values()]


# ---------------------------------------------------------------- Markdown
def render_comparison(diagnoses: Sequence[Diagnosis], images: dict[str, str] | None = None) -> str:
    labels = run_labels(diagnoses)
    parts = [f"# recdoc comparison of {len(diagnoses)} runs", _runs(diagnoses, labels), _settings(diagnoses, labels),
             _metrics(diagnoses, labels), _findings(diagnoses, labels), _images(images or {})]
    return "\n\n".join(p.rstrip() for p in parts if p) + "\n"


def _letter(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else f"R{index + 1}"


def _runs(diagnoses: Sequence[Diagnosis], labels: list[str]) -> str:
    lines = ["| | Run | Format | Verdict | Stop | Where |", "|---|---|---|---|---|---|"]
    for index, (diagnosis, label) in enumerate(zip(diagnoses, labels)):
        stop = diagnosis.metrics.get("stop") if isinstance(diagnosis.metrics.get("stop"), dict) else {}
        stop_text = f"{stop.get('reason') or diagnosis.run.stop_reason} at {stop.get('iter')}" \
            if stop.get("iter") is not None else str(diagnosis.run.stop_reason)
        paths = ", ".join(f"`{p}`" for p in _locations(diagnosis.run.paths))
        lines.append(f"| {_letter(index)} | `{label}` | {diagnosis.run.format} | {diagnosis.verdict} | {stop_text} | "
                     f"{paths} |")
    return "\n".join(lines)


def _locations(paths: list[str]) -> list[str]:
    """The run's folder when every file read lies in it, else the files themselves."""
    if not paths:
        return []
    import os

    folders = [str(Path(p)) if Path(p).is_dir() else str(Path(p).parent) for p in paths]
    try:
        common = os.path.commonpath(folders)
    except ValueError:  # relative and absolute paths mixed, or different drives
        return list(paths[:2])
    return [common] if common not in ("", os.sep) else list(paths[:2])


def _settings(diagnoses: Sequence[Diagnosis], labels: list[str]) -> str:
    rows = []
    for key in SETTING_KEYS:
        values = [d.config[key].value if key in d.config else None for d in diagnoses]
        if len({repr(v) for v in values}) > 1:
            shown = f"{key} (x1000 iterations)" if key == "max_iter" else key  # the original's unit: thousands
            rows.append(f"| {shown} | " + " | ".join("n/a" if v is None else f"{v}" for v in values) + " |")
    header = "| Setting | " + " | ".join(_letter(i) for i in range(len(labels))) + " |"
    if not rows:
        return "## Settings that differ\n\nNone of the compared settings differ."
    return "\n".join(["## Settings that differ", "", header, "|---" * (len(labels) + 1) + "|", *rows])


MetricKey = tuple[str, str, int]  # split, metric, cutoff


def _metric_table(diagnosis: Diagnosis) -> dict[MetricKey, Comparison]:
    # Rows placing a run of unstated model among the paper's models hold the run's value once per paper model:
    # one row per metric, without a paper value (no model's row is this run's).
    return {(c.split, c.metric, c.cutoff): replace(c, paper_value=None, comparable=False,
                                                   note="the run's model is not stated") if c.model_unknown else c
            for c in diagnosis.comparisons if c.run_value is not None}


def _shared_split(tables: list[dict[MetricKey, Comparison]]) -> str | None:
    for split in SPLIT_PREFERENCE:
        if all(any(key[0] == split for key in table) for table in tables):
            return split
    return None


def _metrics(diagnoses: Sequence[Diagnosis], labels: list[str]) -> str:
    tables = [_metric_table(d) for d in diagnoses]
    split = _shared_split(tables)
    title = "## Final metrics"
    if split is None:
        return f"{title}\n\nThe runs share no split with final metrics; nothing to set side by side."
    keys = [key for key in tables[0] if key[0] == split]
    keys += [key for table in tables[1:] for key in table if key[0] == split and key not in keys]
    keys.sort(key=lambda k: (k[2], ("recall", "ndcg", "hitrate").index(k[1]) if k[1] in ("recall", "ndcg",
                                                                                         "hitrate") else 9))
    letters = [_letter(i) for i in range(len(diagnoses))]
    header = ["Metric", "Paper", *letters, *[f"{x} − A" for x in letters[1:]], *[f"{x} vs paper" for x in letters]]
    lines = [f"{title} ({split} split; percentages; * = paper value unconfirmed)", "",
             "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    ndcg_notes: list[str] = []
    for key in keys:
        rows = [table.get(key) for table in tables]
        paper_row = next((r for r in rows if r is not None and r.paper_value is not None), None)
        paper = "n/a" if paper_row is None else percent(paper_row.paper_value) + (
            "" if paper_row.paper_confirmed else "*")
        values = [percent(r.run_value) if r is not None else "n/a" for r in rows]
        first = rows[0]
        deltas = [points(_delta(r, first)) for r in rows[1:]]
        if key[1] == "ndcg":
            kinds = {r.ndcg_definition for r in rows if r is not None and r.ndcg_definition}
            if len(kinds) > 1:
                ndcg_notes.append(f"{metric_label('ndcg', key[2])}: the runs use different NDCG definitions "
                                  f"({', '.join(sorted(kinds))}); the deltas are not like for like.")
        gaps = [("n/a" if r is None or r.abs_gap is None else points(r.abs_gap) + ("" if r.comparable else
                                                                                 " (not comparable)"))
                for r in rows]
        lines.append("| " + " | ".join([metric_label(key[1], key[2]), paper, *values, *deltas, *gaps]) + " |")
    datasets = {str(d.config["dataset"].value) for d in diagnoses if "dataset" in d.config}
    if len(datasets) > 1:
        ndcg_notes.append(f"The runs use different datasets ({', '.join(sorted(datasets))}): the Paper column is the "
                          "first run's with a paper value; each run's own gap is in its 'vs paper' column.")
    if ndcg_notes:
        lines += ["", *ndcg_notes]
    return "\n".join(lines)


def _delta(row: Comparison | None, first: Comparison | None) -> float | None:
    if row is None or first is None or row.run_value is None or first.run_value is None:
        return None
    return row.run_value - first.run_value


def _findings(diagnoses: Sequence[Diagnosis], labels: list[str]) -> str:
    changes = finding_changes(diagnoses[0], diagnoses[-1])
    last = _letter(len(diagnoses) - 1)
    lines = [f"## Findings (A -> {last})", "",
             f"- Cleared: {_ids(changes.cleared)}", f"- Appeared: {_ids(changes.appeared)}",
             f"- Remained: {_ids(changes.remained)}", ""]
    ids: list[str] = []
    for diagnosis in diagnoses:
        ids += [f.id for f in diagnosis.findings if f.id not in ids]
    if not ids:
        lines.append("No run has a finding.")
        return "\n".join(lines)
    letters = [_letter(i) for i in range(len(diagnoses))]
    lines += ["| Finding | " + " | ".join(letters) + " |", "|---" * (len(letters) + 1) + "|"]
    for finding_id in ids:
        cells = []
        for diagnosis in diagnoses:
            finding = diagnosis.finding(finding_id)
            cells.append("—" if finding is None else f"{finding.severity} ({finding.confidence:.2f})")
        lines.append(f"| `{finding_id}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ids(ids: tuple[str, ...]) -> str:
    return ", ".join(f"`{i}`" for i in ids) if ids else "none"


def _images(images: dict[str, str]) -> str:
    if not images:
        return ""
    return "\n\n".join(["## Curves", *[f"![{caption}]({path})" for caption, path in images.items()]])


# ---------------------------------------------------------------- plots
def _series(diagnosis: Diagnosis, column: str) -> tuple[list[int], list[float]]:
    curve = evaluated(diagnosis.run.curve) if column == "recall" else diagnosis.run.curve
    if curve.empty:
        return [], []
    rows = [(int(i), float(v)) for i, v in zip(curve["iter"], curve[column])
            if v == v and math.isfinite(float(v))]
    return [r[0] for r in rows], [r[1] for r in rows]


def _overlay(diagnoses: Sequence[Diagnosis], labels: list[str], column: str, title: str,
             ylabel: str) -> LineChart | None:
    """One line per run (A, B, ...) of `column` by iteration, or None when no run has that curve."""
    series = [_series(d, column) for d in diagnoses]
    if not any(xs for xs, _ in series):
        return None
    chart = LineChart(size=CHART_SIZE, title=title, xlabel="iteration", ylabel=ylabel)
    for index, ((xs, ys), label) in enumerate(zip(series, labels)):
        if xs:
            chart.line(xs, ys, color=COLORS[index % len(COLORS)], width=1.2, label=f"{_letter(index)}: {label}")
    return chart


def _recall_figure(diagnoses: Sequence[Diagnosis], labels: list[str]) -> LineChart | None:
    chart = _overlay(diagnoses, labels, "recall", "Validation recall", "recall")
    papers = {c.paper_value for d in diagnoses for c in d.comparisons
              if c.metric == "recall" and c.split == "test" and c.comparable and c.paper_value is not None
              and not c.model_unknown}
    if chart is not None and len(papers) == 1:
        chart.hline(papers.pop(), color="#555555", style="dotted", width=1.0, label="paper (test)")
    return chart


def _loss_figure(diagnoses: Sequence[Diagnosis], labels: list[str]) -> LineChart | None:
    return _overlay(diagnoses, labels, "train_loss", "Training loss (mean over each evaluation interval)",
                    "train loss")

