"""The doctor's picture of one training run: what every reader produces and every rule reads.

Plain data only (dataclasses and a pandas frame), no TensorFlow. A reader fills in what its format shows;
`merge_runs` combines several readers' views of the same run (a log, a checkpoint folder, TensorBoard files).
Configuration values are not decided here: readers record raw facts (exp name, argv, a declared config), and
`recdoc.diagnose.config_inference` turns them into settings with their sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import pandas as pd

# One row per evaluation, in iteration order. Absent values are NaN. `line` is the 1-based line of the
# `iter:` line (or record) in `file`.
CURVE_COLUMNS = ("iter", "train_loss", "recall", "ndcg", "hitrate", "time_min", "file", "line")

# `pruned`: stopped by `recdoc tune`'s pruner (below the other trials at the same iteration), a decision, not a fault.
StopReason = Literal["early_stop", "max_iter", "interrupted", "crashed", "nan", "unfinished", "pruned", "unknown"]


@dataclass(frozen=True)
class SourceRef:
    """Where a fact was read: a file and, when it has lines, the 1-based line number."""

    path: str
    line: int | None = None

    def __str__(self) -> str:
        return self.path if self.line is None else f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Fact:
    """A raw value a reader saw, with where it saw it (e.g. the exp name, an argv flag, run.json's lr)."""

    value: Any
    ref: SourceRef
    text: str | None = None  # the line as written, for evidence


@dataclass(frozen=True)
class FinalMetrics:
    """The `valid ...` or `test ...` line after training (the best model restored)."""

    split: Literal["valid", "test"]
    recall: float | None
    ndcg: float | None
    hitrate: float | None
    diversity: float | None
    ref: SourceRef
    text: str | None = None
    cutoff: int | None = None  # when the format states it (recdoc's run.json); else inferred as topN


def final_at(split: str, values: dict[tuple[str, int | None], float], cutoff: int | None, ref: SourceRef,
           text: str) -> FinalMetrics:
    """The split's values at `cutoff`; a metric printed at one cut-off only is taken there (its cut-off then
    counts only when every metric picked states the same one)."""
    picked: dict[str, float | None] = {}
    used: set[int | None] = set()
    for metric in ("recall", "ndcg", "hitrate", "diversity"):
        printed = {c: v for (m, c), v in values.items() if m == metric}
        if cutoff in printed:
            picked[metric] = printed[cutoff]
            used.add(cutoff)
        elif len(printed) == 1:
            (only, value), = printed.items()
            picked[metric] = value
            used.add(only)
        else:
            picked[metric] = None
    return FinalMetrics(split=split, ref=ref, text=text, cutoff=next(iter(used)) if len(used) == 1 else None,  # type: ignore[arg-type]
                        **picked)


@dataclass(frozen=True)
class CheckpointInfo:
    """A checkpoint folder as found on disk (plain files; tensors only with --deep)."""

    path: str
    kind: Literal["tf1-saver", "tf2-manager", "torch", "recdoc", "unknown"]
    latest: str | None  # e.g. 'ckpt-130' or 'model.ckpt'
    save_counter: int | None  # TF2 CheckpointManager's N in ckpt-N: the number of saves (improvements), not an iteration
    files_ok: bool  # the index/data files the `checkpoint` file names exist
    ref: SourceRef
    problems: tuple[str, ...] = ()
    tensors: dict[str, Any] | None = None  # --deep facts: item_count, d, K, maxlen, nan/inf, norms, family
    iteration: int | None = None  # recdoc's N in ckpt-N: the iteration the model was saved at


@dataclass(frozen=True)
class Event:
    """Something notable in a log that is not a metric: Ctrl-C, a traceback, a restore, a port warning."""

    kind: Literal[
        "interrupted", "traceback", "restored", "resumed", "early_stop_message", "warning", "saved_best",
        "nan", "eval_missing", "invalid_model_type", "info",
    ]
    ref: SourceRef
    text: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReadCoverage:
    """How much of its input a reader understood: the measurement layer's account, shown in every report.

    `lines_with_numbers` counts the input's lines that hold at least one number; `lines_used` those whose values
    entered the run (a curve row, a final line, a setting, a count). `unread_metric_lines` keeps the first few lines
    with metric-like names (recall, ndcg, hit, ...) that no reading understood, with where they are;
    `unread_metric_count` counts them all. Low coverage caps the confidence of fault findings (absence of a reading
    is not evidence of a fault).
    """

    lines_with_numbers: int = 0
    lines_used: int = 0
    unread_metric_lines: list[tuple[SourceRef, str]] = field(default_factory=list)
    unread_metric_count: int = 0

    KEPT_LINES: ClassVar[int] = 5

    @property
    def fraction_used(self) -> float | None:
        return None if self.lines_with_numbers == 0 else min(1.0, self.lines_used / self.lines_with_numbers)

    def add(self, other: ReadCoverage) -> None:
        self.lines_with_numbers += other.lines_with_numbers
        self.lines_used += other.lines_used
        room = self.KEPT_LINES - len(self.unread_metric_lines)
        self.unread_metric_lines.extend(other.unread_metric_lines[:max(0, room)])
        self.unread_metric_count += other.unread_metric_count


@dataclass
class Run:
    """Everything known about one run. Readers fill it; rules only read it."""

    format: str  # 'original' | 'tf2-port' | 'pytorch-port' | 'recdoc' | 'tensorboard' | 'checkpoint' | merged 'a+b'
    paths: list[str] = field(default_factory=list)
    exp_name: Fact | None = None
    argv: Fact | None = None  # value: list[str] as printed by the original's print(sys.argv)
    declared: dict[str, Fact] = field(default_factory=dict)  # config keys a format states outright (run.json, 'interest_num: 4')
    curve: pd.DataFrame = field(default_factory=lambda: empty_curve())
    finals: dict[str, FinalMetrics] = field(default_factory=dict)  # 'valid', 'test'
    checkpoints: list[CheckpointInfo] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    stop_reason: StopReason = "unknown"
    stop_ref: SourceRef | None = None
    extra_metrics: dict[str, Any] = field(default_factory=dict)  # recdoc's metrics.jsonl: every cut-off and NDCG kind
    unreadable: list[str] = field(default_factory=list)  # what could not be read, one sentence each (with file:line)
    coverage: ReadCoverage = field(default_factory=ReadCoverage)  # how much of the input the readers understood

    @property
    def has_curve(self) -> bool:
        return not self.curve.empty

    def events_of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


def empty_curve() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in CURVE_COLUMNS}).astype({"file": "object"})


def curve_from_rows(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A curve frame from dict rows (missing keys become NaN), sorted by iteration, one row per iteration."""
    if not rows:
        return empty_curve()
    frame = pd.DataFrame.from_records(rows)
    for column in CURVE_COLUMNS:
        if column not in frame.columns:
            frame[column] = float("nan")
    frame = frame[list(CURVE_COLUMNS)]
    # A resumed run may repeat iterations: the later record wins.
    frame = frame.drop_duplicates(subset="iter", keep="last").sort_values("iter", kind="stable")
    return frame.reset_index(drop=True)


def merge_runs(runs: list[Run]) -> Run:
    """Combine several readers' views of one run. Earlier runs win on scalar facts; lists are concatenated.

    Put the most authoritative reader first (recdoc's run.json, then a log, then TensorBoard, then checkpoints).
    The curve comes from the first run that has one; a later run fills columns it lacks (e.g. TensorBoard's loss).
    """
    if not runs:
        raise ValueError("merge_runs needs at least one run")
    if len(runs) == 1:
        return runs[0]
    merged = Run(format="+".join(dict.fromkeys(r.format for r in runs)))
    for run in runs:
        merged.paths.extend(p for p in run.paths if p not in merged.paths)
        merged.exp_name = merged.exp_name or run.exp_name
        merged.argv = merged.argv or run.argv
        for key, fact in run.declared.items():
            merged.declared.setdefault(key, fact)
        for split, final in run.finals.items():
            merged.finals.setdefault(split, final)
        merged.checkpoints.extend(run.checkpoints)
        merged.events.extend(run.events)
        for key, value in run.extra_metrics.items():
            merged.extra_metrics.setdefault(key, value)
        merged.unreadable.extend(run.unreadable)
        merged.coverage.add(run.coverage)
        if merged.stop_reason == "unknown" and run.stop_reason != "unknown":
            merged.stop_reason, merged.stop_ref = run.stop_reason, run.stop_ref
        if run.has_curve:
            if not merged.has_curve:
                merged.curve = run.curve.copy()
            else:
                merged.curve = _fill_curve(merged.curve, run.curve)
    return merged


def _fill_curve(base: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Fill NaN cells of `base` from `other` at the same iterations; never add rows the base lacks."""
    filled = base.set_index("iter")
    extra = other.drop_duplicates(subset="iter", keep="last").set_index("iter")
    for column in ("train_loss", "recall", "ndcg", "hitrate", "time_min"):
        if column in extra.columns:
            filled[column] = filled[column].fillna(extra[column].reindex(filled.index))
    return filled.reset_index()[list(CURVE_COLUMNS)]
