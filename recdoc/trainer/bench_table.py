"""`recdoc bench table`: the layout of the paper's Table 3 on a prepared dataset, trained by recdoc's own loop.

Every model (MostPopular, YouTube DNN, GRU4Rec, MIND, ComiRec-SA, ComiRec-DR) is trained once per seed through
`loop.train`, each run in its own run folder; the final **test** metrics of each run (`run.json`) are averaged
over seeds. The table gives Recall, NDCG (paper, master and standard kinds) and HitRate at 20 and 50, as
`mean ± standard deviation` in percent (sample standard deviation; blank with one seed). Outputs go to a new
folder `<out>/table3_<dataset>_<n>/` (`table3.md`, `table3.csv`, `runs.csv`), so nothing is ever overwritten.

Learning rate: the original's flag default (0.001) for every model except ComiRec-DR, which gets the original
README's advice (0.005); `learning_rate` set explicitly applies to every model. The table names each row's rate.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from recdoc import model_specs, reference
from recdoc.config import DATA_DIR, RUNS_DIR, RunConfig, advised_learning_rate
from recdoc.errors import RecdocError, UsageError
from recdoc.files import rewrite_file
from recdoc.trainer.log.records import RunRecord
from recdoc.trainer.loop import train

PAPER_ORDER = reference.paper_order()  # the models' specs in the paper's row order
CUTOFFS = reference.paper_cutoffs()
# (metrics key stem in run.json's final metrics, column title)
METRIC_COLUMNS = (("recall", "Recall"), ("ndcg_paper", "NDCG paper"), ("ndcg_master", "NDCG master"),
                  ("ndcg_standard", "NDCG std"), ("hitrate", "HitRate"))
FIRST_SEED = RunConfig().random_seed  # the original's --random_seed default; further seeds count up from it

Trainer = Callable[[RunConfig], Path]


@dataclass(frozen=True)
class BenchSpec:
    """What `recdoc bench table` runs. `overrides` are further `RunConfig` fields applied to every run."""

    dataset: str
    data_dir: str = DATA_DIR
    seeds: int = 3
    max_iter: int | None = None
    test_iter: int | None = None
    patience: int | None = None
    runs_dir: str = RUNS_DIR
    out_dir: str = "bench"
    models: tuple[str, ...] = PAPER_ORDER
    learning_rate: float | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def model_types(self) -> tuple[str, ...]:
        """The requested models in their canonical spelling and the paper's row order."""
        chosen = []
        for name in self.models:
            canonical = reference.canonical_model_type(name)
            if canonical is None:
                raise UsageError(f"unknown model {name!r}; choose from {', '.join(PAPER_ORDER)}")
            chosen.append(canonical)
        if not chosen:
            raise UsageError("no model to benchmark")
        return tuple(m for m in PAPER_ORDER if m in chosen)

    def seed_values(self) -> tuple[int, ...]:
        if self.seeds < 1:
            raise UsageError(f"--seeds must be at least 1, got {self.seeds}")
        return tuple(range(FIRST_SEED, FIRST_SEED + self.seeds))

    def learning_rate_for(self, model_type: str) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return advised_learning_rate(model_type)

    def run_config(self, model_type: str, seed: int, exp: str) -> RunConfig:
        values: dict[str, Any] = dict(self.overrides)
        values.update(model_type=model_type, random_seed=seed, learning_rate=self.learning_rate_for(model_type),
                      max_iter=self.max_iter, test_iter=self.test_iter, patience=self.patience,
                      data_dir=self.data_dir, runs_dir=self.runs_dir, exp=exp,
                      metrics_at=tuple(sorted({*CUTOFFS, *values.get("metrics_at", ())})))
        return RunConfig.for_dataset(self.dataset, **values)


@dataclass
class RunOutcome:
    """One training run of the bench: where it went and its final test metrics (empty when it failed)."""

    model_type: str
    seed: int
    learning_rate: float
    run_dir: Path | None
    metrics: dict[str, float]
    iterations: int | None = None
    best_iter: int | None = None
    stop_reason: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Cell:
    """Mean and sample standard deviation over seeds of one metric (fractions, not percent)."""

    mean: float
    std: float | None
    count: int


def metric_key(stem: str, cutoff: int) -> str:
    return f"{stem}@{cutoff}"


def summarise(outcomes: Iterable[RunOutcome]) -> dict[str, dict[str, Cell]]:
    """Per model, per metric key (`recall@20`, ...): mean and standard deviation over the runs that have it."""
    values: dict[str, dict[str, list[float]]] = {}
    for outcome in outcomes:
        per_model = values.setdefault(outcome.model_type, {})
        for stem, _ in METRIC_COLUMNS:
            for cutoff in CUTOFFS:
                value = outcome.metrics.get(metric_key(stem, cutoff))
                if value is not None and math.isfinite(value):
                    per_model.setdefault(metric_key(stem, cutoff), []).append(float(value))
    return {model: {key: Cell(statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None, len(vals))
                    for key, vals in per_model.items()}
            for model, per_model in values.items()}


def format_cell(cell: Cell | None) -> str:
    """`4.567 ± 0.123` in percent, `4.567` with one run, blank without any."""
    if cell is None:
        return ""
    if cell.std is None:
        return f"{100 * cell.mean:.3f}"
    return f"{100 * cell.mean:.3f} ± {100 * cell.std:.3f}"


def trains(model_type: str) -> bool:
    """Whether the model has a learning rate: it is trained (MostPopular counts items)."""
    return model_type in model_specs.trained_names()


def display_name(model_type: str) -> str:
    return reference.load()["paper_model_names"].get(model_type, model_type)


def render_markdown(spec: BenchSpec, outcomes: Sequence[RunOutcome], command: str | None = None) -> str:
    """The Markdown report: the Table 3 layout for this dataset, the paper's own row where it has one, the runs."""
    summary = summarise(outcomes)
    models = [m for m in spec.model_types() if any(o.model_type == m for o in outcomes)]
    seeds = spec.seed_values()
    lines = [f"# Table 3 layout on `{spec.dataset}`", ""]
    if command:
        lines += ["Command:", "", "```", command, "```", ""]
    lines += [f"Test-split metrics in percent, mean ± sample standard deviation over {len(seeds)} seed(s) "
              f"({', '.join(map(str, seeds))}). Recall counts duplicate targets (paper); NDCG in the three kinds "
              "(paper branch, master branch, standard).", ""]
    headers = ["model", "lr", "runs"] + [f"{title}@{cutoff}" for cutoff in CUTOFFS for _, title in METRIC_COLUMNS]
    lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for model in models:
        runs = [o for o in outcomes if o.model_type == model]
        succeeded = sum(1 for o in runs if o.error is None)
        cells = [format_cell(summary.get(model, {}).get(metric_key(stem, cutoff)))
                 for cutoff in CUTOFFS for stem, _ in METRIC_COLUMNS]
        lr = "-" if not trains(model) else f"{spec.learning_rate_for(model):g}"
        lines.append("| " + " | ".join([display_name(model), lr, f"{succeeded}/{len(runs)}", *cells]) + " |")
    paper_rows = _paper_rows(spec.dataset, models)
    if paper_rows:
        lines += ["", f"The paper's Table 3 on `{spec.dataset}` (percent; its NDCG is the paper kind; * not "
                  "confirmed by a second source):", ""]
        paper_headers = ["model"] + [f"{title}@{cutoff}" for cutoff in CUTOFFS
                                     for title in ("Recall", "NDCG paper", "HitRate")]
        lines += ["| " + " | ".join(paper_headers) + " |", "|" + "---|" * len(paper_headers), *paper_rows]
    lines += ["", "Runs:", "", "| model | seed | iterations | best iter | stop | run folder |",
              "|---|---|---|---|---|---|"]
    for outcome in outcomes:
        where = str(outcome.run_dir) if outcome.run_dir is not None else f"failed: {outcome.error}"
        lines.append(f"| {display_name(outcome.model_type)} | {outcome.seed} | {_blank(outcome.iterations)} | "
                     f"{_blank(outcome.best_iter)} | {_blank(outcome.stop_reason)} | {where} |")
    return "\n".join(lines) + "\n"


def _paper_rows(dataset: str, models: Sequence[str]) -> list[str]:
    rows = []
    for model in models:
        cells = []
        for cutoff in CUTOFFS:
            for metric in ("recall", "ndcg", "hitrate"):
                value = reference.paper_value(dataset, model, metric, cutoff)
                cells.append("" if value is None else f"{value.percent:.3f}{'' if value.confirmed else '*'}")
        if any(cells):
            rows.append("| " + " | ".join([display_name(model), *cells]) + " |")
    return rows


def _blank(value: object) -> str:
    return "" if value is None else str(value)


def render_table_csv(spec: BenchSpec, outcomes: Sequence[RunOutcome]) -> str:
    """Long format, fractions: one row per model, metric and cut-off."""
    summary = summarise(outcomes)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["dataset", "model_type", "learning_rate", "metric", "cutoff", "mean", "std", "runs"])
    for model in spec.model_types():
        for cutoff in CUTOFFS:
            for stem, _ in METRIC_COLUMNS:
                cell = summary.get(model, {}).get(metric_key(stem, cutoff))
                if cell is None:
                    continue
                lr = "" if not trains(model) else repr(spec.learning_rate_for(model))
                writer.writerow([spec.dataset, model, lr, stem, cutoff, repr(cell.mean),
                                 "" if cell.std is None else repr(cell.std), cell.count])
    return out.getvalue()


def render_runs_csv(outcomes: Sequence[RunOutcome]) -> str:
    """One row per run: seed, budget used, run folder and every final test metric at 20 and 50."""
    keys = [metric_key(stem, cutoff) for cutoff in CUTOFFS for stem, _ in METRIC_COLUMNS]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model_type", "seed", "learning_rate", "iterations", "best_iter", "stop_reason", "run_dir",
                     "error", *keys])
    for o in outcomes:
        writer.writerow([o.model_type, o.seed, repr(o.learning_rate), _blank(o.iterations), _blank(o.best_iter),
                         _blank(o.stop_reason), _blank(o.run_dir), _blank(o.error),
                         *(repr(o.metrics[k]) if k in o.metrics else "" for k in keys)])
    return out.getvalue()


# ---------------------------------------------------------------- running
def default_trainer(config: RunConfig) -> Path:
    return train(config)


def read_outcome(model_type: str, seed: int, learning_rate: float, run_dir: Path) -> RunOutcome:
    """A finished run's final test metrics and budget, from its `run.json`."""
    data = RunRecord.load(run_dir / "run.json").data
    final = data.get("final", {}).get("test", {})
    metrics = {str(k): float(v) for k, v in final.items() if isinstance(v, (int, float))}
    return RunOutcome(model_type, seed, learning_rate, run_dir, metrics, iterations=data.get("iterations"),
                      best_iter=data.get("best_iter"), stop_reason=data.get("stop_reason"))


def run_bench(spec: BenchSpec, trainer: Trainer = default_trainer,
              report: Callable[[str], None] = print) -> list[RunOutcome]:
    """Train every model for every seed, one run folder each. A run that fails with a recdoc error is recorded
    and the bench goes on (the table shows how many runs each cell averages)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    outcomes = []
    total = len(spec.model_types()) * len(spec.seed_values())
    for model_type in spec.model_types():
        for seed in spec.seed_values():
            config = spec.run_config(model_type, seed, exp=f"bench{stamp}_seed{seed}")
            report(f"bench: run {len(outcomes) + 1}/{total}: {model_type} seed {seed}")  # progress, before minutes
            try:
                run_dir = trainer(config)
            except RecdocError as error:
                report(f"bench: {model_type} seed {seed} failed: {error}")
                outcomes.append(RunOutcome(model_type, seed, config.learning_rate, None, {}, error=str(error)))
                continue
            outcome = read_outcome(model_type, seed, config.learning_rate, run_dir)
            outcomes.append(outcome)
            report(f"bench: {model_type} seed {seed}: test recall@50 "
                   f"{outcome.metrics.get('recall@50', float('nan')):.6f} ({run_dir})")
    return outcomes


def write_outputs(out_dir: str | Path, dataset: str, files: Mapping[str, str]) -> Path:
    """Write `files` into a new folder `<out_dir>/table3_<dataset>_<n>/` (smallest unused n); return it."""
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    number = 1
    while True:
        folder = root / f"table3_{dataset}_{number}"
        try:
            folder.mkdir()  # atomic: two benches never share a folder
            break
        except FileExistsError:
            number += 1
    for name, text in files.items():
        rewrite_file(folder / name, text)
    return folder


def bench_table(spec: BenchSpec, trainer: Trainer = default_trainer, command: str | None = None,
                report: Callable[[str], None] = print) -> Path:
    """Run the bench and write `table3.md`, `table3.csv` and `runs.csv`; return the output folder."""
    spec.model_types()  # validate the flags before any training
    spec.seed_values()
    outcomes = run_bench(spec, trainer, report)
    if all(o.error is not None for o in outcomes):
        raise UsageError(f"every bench run failed; the first: {outcomes[0].error}")
    return write_outputs(spec.out_dir, spec.dataset, {
        "table3.md": render_markdown(spec, outcomes, command),
        "table3.csv": render_table_csv(spec, outcomes),
        "runs.csv": render_runs_csv(outcomes),
    })
