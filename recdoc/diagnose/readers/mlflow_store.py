"""MLflow's file store: `mlruns/<experiment id>/<run id>/` with `meta.yaml`, `metrics/<key>`, `params/<key>`,
`tags/<key>` (a key holding `/` is a sub-folder: `metrics/valid/recall@50`).

A metric file holds one line per logged value, `<timestamp ms> <value> <step>` (older stores: no step); a param or
tag file holds its value. Each run folder is one run: its params are declared settings (`lr`, `learning_rate`,
`model`, `dataset`, `topN`/`topk`, `interest_num` mapped to recdoc's keys), its validation metrics logged at several
steps are the curve, and a metric logged once (or a test metric) is a final value. `meta.yaml`'s status says how
the run ended (KILLED: interrupted, FAILED: crashed); `tags/mlflow.runName` (or meta's `run_name`) names it.
"""

from __future__ import annotations

import math
from pathlib import Path

from recdoc.diagnose.observed_run import ReadCoverage, Run, SourceRef
from recdoc.diagnose.readers.lines import iter_lines
from recdoc.diagnose.readers.reported import RunParts, line_metrics, looks_metric_like, scale_percent
from recdoc.errors import InputError
from recdoc.files import read_regular_bytes

FORMAT = "mlflow"
META = "meta.yaml"
# A run folder holds a few dozen keys; more than this is not a run folder a person logged by hand.
MAX_KEYS = 2000
# MLflow's RunStatus numbers as meta.yaml stores them.
STATUS = {"1": "RUNNING", "2": "SCHEDULED", "3": "FINISHED", "4": "FAILED", "5": "KILLED"}
_LOSS_WORDS = ("loss",)


def is_run_folder(folder: Path, names: list[str], dirnames: list[str]) -> bool:
    """An MLflow run: a `meta.yaml` beside a `metrics` or `params` folder."""
    return META in names and ("metrics" in dirnames or "params" in dirnames)


def sniff(head: str) -> float:
    return 0.0  # found by its folder layout (detect._discover), never by a file's text


def read(path: str | Path) -> Run:
    return read_runs(path)[-1]


def read_runs(path: str | Path) -> list[Run]:
    folder = Path(path)
    if folder.is_file():
        folder = folder.parent
    part = RunParts(format=FORMAT, path=str(folder))
    _name_and_status(part, folder, _meta(folder / META))
    coverage = ReadCoverage()
    _read_params(part, folder, coverage)
    series, losses = _read_metrics(folder, coverage)
    _assemble(part, series, sorted(losses), folder)
    if not part.has_metrics:
        raise InputError("an MLflow run without any metric recdoc knows (recall, ndcg, hit rate)", str(folder))
    scale_percent([part])
    return [part.build(coverage)]


def _name_and_status(part: RunParts, folder: Path, meta: dict[str, str]) -> None:
    """The run's name (its runName tag, else meta's), and how it ended by meta's status (KILLED: interrupted,
    FAILED: crashed); a run marked deleted is read but said to be."""
    name = _value_file(folder / "tags" / "mlflow.runName") or meta.get("run_name")
    run_id = meta.get("run_id") or meta.get("run_uuid") or folder.name
    part.label = f"{name} ({run_id[:8]})" if name else f"mlflow run {run_id}"
    part.label_ref = SourceRef(str(folder / META))
    if meta.get("lifecycle_stage") == "deleted":
        part.unreadable.append(f"{folder}: the run is marked deleted in its meta.yaml")
    status = STATUS.get(meta.get("status", ""), meta.get("status"))
    if status == "KILLED":
        part.stop_reason, part.stop_ref = "interrupted", SourceRef(str(folder / META))
    elif status == "FAILED":
        part.stop_reason, part.stop_ref = "crashed", SourceRef(str(folder / META))
    if status is not None:
        part.extra["mlflow_status"] = status


def _read_params(part: RunParts, folder: Path, coverage: ReadCoverage) -> None:
    """Each param file a setting (a param holding a number counts as a line with numbers; used when it is one)."""
    for key, file in _keys(folder / "params"):
        value = _value_file(file)
        coverage.lines_with_numbers += value is not None and any(c.isdigit() for c in value)
        if value is not None and part.declare_setting(key, value, 1, f"{key}: {value}", str(file)):
            coverage.lines_used += any(c.isdigit() for c in value)


def _read_metrics(folder: Path, coverage: ReadCoverage) -> tuple[dict, list[tuple[int, float]]]:
    """Each metric file's points: a metric recdoc knows as a series keyed (split, metric, cut-off), a training loss
    as (step, value) pairs; a metric-like key of neither kind is counted unread."""
    series: dict[tuple[str | None, str, int | None], list[tuple[int, float, int, str]]] = {}
    losses: list[tuple[int, float]] = []
    for key, file in _keys(folder / "metrics"):
        values = _metric_lines(file)
        coverage.lines_with_numbers += len(values)
        parsed = line_metrics(f"{key.replace('/', '_')}: 0.5")
        if parsed:
            (metric_key, _), = list(parsed.items())[:1]
            series.setdefault(metric_key, []).extend((step, value, line, str(file)) for step, value, line in values)
            coverage.lines_used += len(values)
        elif any(word in key.lower() for word in _LOSS_WORDS) and not key.lower().startswith(("val", "test", "dev")):
            losses.extend((step, value) for step, value, _ in values)
            coverage.lines_used += len(values)
        elif looks_metric_like(f"{key} 1"):
            coverage.unread_metric_count += 1
            if len(coverage.unread_metric_lines) < ReadCoverage.KEPT_LINES:
                coverage.unread_metric_lines.append((SourceRef(str(file)), key))
    return series, losses


def _assemble(part: RunParts, series: dict, losses: list[tuple[int, float]], folder: Path) -> None:
    """Validation series logged at several steps are the curve; a series logged once, or a test series, is final.
    Each curve row cites the line of its recall (else first) metric file; each final cites its own file."""
    curve_steps: dict[int, dict] = {}
    row_refs: dict[int, tuple[str, int]] = {}
    for (split, metric, cutoff), points in sorted(series.items(), key=lambda item: item[0][1] != "recall"):
        points.sort()
        if (split in (None, "valid")) and len({step for step, _, _, _ in points}) > 1:
            for step, value, line, file in points:
                curve_steps.setdefault(step, {})[("valid", metric, cutoff)] = value
                row_refs.setdefault(step, (file, line))
            continue
        step, value, line, file = points[-1]
        text = f"{metric}@{cutoff}: {value} (step {step})" if cutoff else f"{metric}: {value} (step {step})"
        if split is None:
            text += "  [split not stated: read as test]"
        part.add_final(split or "test", {(metric, cutoff): value}, line, text, file)
    loss_steps = [step for step, _ in losses]
    for step in sorted(curve_steps):
        file, line = row_refs[step]
        part.add_row(step, _loss_at(losses, loss_steps, step), curve_steps[step], line, file)


def _loss_at(losses: list[tuple[int, float]], steps: list[int], step: int) -> float | None:
    """The loss logged at `step`, else the last one before it (losses are logged more often than evaluations)."""
    import bisect

    at = bisect.bisect_right(steps, step) - 1
    return losses[at][1] if at >= 0 else None


def _keys(root: Path) -> list[tuple[str, Path]]:
    """Every key file under `root` as (key with `/`, path); sorted, at most MAX_KEYS."""
    if not root.is_dir():
        return []
    out: list[tuple[str, Path]] = []
    for file in sorted(root.rglob("*")):
        if file.is_file():
            out.append((file.relative_to(root).as_posix(), file))
            if len(out) >= MAX_KEYS:
                break
    return out


def _metric_lines(file: Path) -> list[tuple[int, float, int]]:
    """(step, value, line) for each `timestamp value [step]` line; a damaged line is skipped."""
    out: list[tuple[int, float, int]] = []
    for number, line in iter_lines(file):
        fields = line.split()
        if len(fields) < 2:
            continue
        try:
            value = float(fields[1])
            step = int(fields[2]) if len(fields) > 2 else 0
        except ValueError:
            continue
        if math.isfinite(value) or fields[1].lower() in ("nan", "inf", "-inf"):
            out.append((step, value, number))
    return out


def _value_file(file: Path) -> str | None:
    try:
        text = read_regular_bytes(file, 4096).decode("utf-8", errors="replace")  # never a FIFO or a device
    except (OSError, InputError):
        return None
    return text.strip()[:500]


def _meta(file: Path) -> dict[str, str]:
    """meta.yaml's top-level `key: value` lines (all MLflow writes there; nested YAML is not needed)."""
    out: dict[str, str] = {}
    try:
        lines = list(iter_lines(file))
    except InputError:
        return out
    for _, line in lines:
        if line[:1].isspace() or ":" not in line:
            continue
        key, value = line.split(":", 1)
        out[key.strip()] = value.strip().strip("'\"")
    return out
