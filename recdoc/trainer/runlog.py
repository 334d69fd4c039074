"""The run folder and its records: `train.log` (the original's lines), `metrics.jsonl`, `run.json`, TensorBoard.

Layout of `<runs_dir>/<exp_name>/`:
- `train.log`: exactly the lines the original `src/train.py` prints (reference section 7), so every reader of
  original logs reads recdoc's too; the same lines go to stdout (or above a progress bar on a terminal);
- `metrics.jsonl`: one JSON record per evaluation, every metric at every cut-off;
- `run.json`: configuration, versions, data fingerprint, times, stop reason, best iteration, final metrics;
- TensorBoard event files (`train/loss`, `eval/recall`, `eval/ndcg`, `eval/hitrate` at step = iteration) in the
  folder itself, as the original's `runs/<exp>/`;
- `ckpt/best/` and `ckpt/last/` (written by the loop).

Nothing here imports TensorFlow at module import; the TensorBoard writer imports it when created.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import platform
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import recdoc
from recdoc.config import RunConfig
from recdoc.errors import UsageError
from recdoc.files import write_file

DASH_LINE = "-" * 89


# ---------------------------------------------------------------- the folder
@dataclasses.dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def exp_name(self) -> str:
        return self.root.name

    @property
    def train_log(self) -> Path:
        return self.root / "train.log"

    @property
    def metrics_jsonl(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def best_dir(self) -> Path:
        return self.root / "ckpt" / "best"

    @property
    def last_dir(self) -> Path:
        return self.root / "ckpt" / "last"

    @property
    def loop_state(self) -> Path:
        return self.last_dir / "loop_state.json"


def open_run_folder(config: RunConfig, resume: bool = False) -> tuple[RunConfig, RunPaths]:
    """Create `<runs_dir>/<exp_name>/` (or find it when resuming) and return the config with its final `exp`.

    Without `config.exp`, the free part of the name is `run<n>` with the smallest n not yet used; an existing
    folder is never overwritten: it is refused unless `resume` is set.
    """
    runs_dir = Path(config.runs_dir)
    if resume:
        if config.exp is None:
            raise UsageError("--resume needs --exp: the experiment to continue")
        root = runs_dir / config.exp_name
        if not root.is_dir():
            raise UsageError(f"cannot resume: no run folder {root}")
        return config, RunPaths(root)
    runs_dir.mkdir(parents=True, exist_ok=True)
    if config.exp is not None:
        root = runs_dir / config.exp_name
        try:
            root.mkdir()
        except FileExistsError:
            raise UsageError(f"run folder {root} already exists; choose another --exp, "
                             "or pass --resume to continue it") from None
        return config, RunPaths(root)
    number = 1
    while True:
        candidate = _with_exp(config, f"run{number}")
        try:
            (runs_dir / candidate.exp_name).mkdir()  # mkdir is atomic: two runs never share a folder
            return candidate, RunPaths(runs_dir / candidate.exp_name)
        except FileExistsError:
            number += 1


def refuse_existing_run_folder(config: RunConfig) -> None:
    """Fail fast, before data and model load, when a named new run would collide with an existing folder."""
    if config.exp is not None and (Path(config.runs_dir) / config.exp_name).exists():
        raise UsageError(f"run folder {Path(config.runs_dir) / config.exp_name} already exists; choose another "
                         "--exp, or pass --resume to continue it")


def _with_exp(config: RunConfig, exp: str) -> RunConfig:
    return dataclasses.replace(config, exp=exp)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` atomically with ordinary permissions (recdoc.files): readers never see half a file."""
    write_file(path, text, replace=True, fsync=True)


# ---------------------------------------------------------------- train.log lines
def log_metrics(metrics: Mapping[str, float], config: RunConfig, with_diversity: bool = False) -> dict[str, float]:
    """The values `train.log` shows, in the original's order: recall, ndcg, hitrate (, diversity) at topN.

    NDCG is `config.ndcg`'s kind; recall is the paper's (duplicates count) except with `--ndcg master`, where it
    is the master branch's, so a log matches the branch it imitates.
    """
    cutoff = config.topN
    recall_key = f"recall_master@{cutoff}" if config.ndcg == "master" else f"recall@{cutoff}"
    keys = {"recall": recall_key, "ndcg": f"ndcg_{config.ndcg}@{cutoff}", "hitrate": f"hitrate@{cutoff}"}
    if with_diversity:
        keys["diversity"] = f"diversity@{cutoff}"
    return {name: float(metrics[key]) for name, key in keys.items() if key in metrics}


def early_stop_key(config: RunConfig) -> str:
    """The metric whose strict improvement resets patience: the recall `train.log` shows."""
    return f"recall_master@{config.topN}" if config.ndcg == "master" else f"recall@{config.topN}"


def format_iter_line(iteration: int, train_loss: float, shown: Mapping[str, float]) -> str:
    """`iter: %d, train loss: %.4f, valid recall: %.6f, ...` (no metrics part when evaluation gave none)."""
    line = "iter: %d, train loss: %.4f" % (iteration, train_loss)
    if shown:
        line += ", " + ", ".join("valid " + name + ": %.6f" % value for name, value in shown.items())
    return line


def format_time_line(minutes: float) -> str:
    return "time interval: %.4f min" % minutes


def format_final_line(split: str, shown: Mapping[str, float]) -> str:
    return ", ".join(split + " " + name + ": %.6f" % value for name, value in shown.items())


class Console:
    """Where the log lines go besides train.log: plain stdout, or above a rich progress bar on a terminal."""

    def __init__(self, total_iterations: int, stream: TextIO | None = None, fancy: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.fancy = self.stream.isatty() if fancy is None else fancy
        self._progress: Any = None
        self._task: Any = None
        self.total = total_iterations

    def __enter__(self) -> "Console":
        if self.fancy:
            from rich.console import Console as RichConsole
            from rich.progress import (
                BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
            )

            # Not transient: the bar's last state (iterations, rate, time) stays on screen after training.
            self._progress = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), _rate_column(),
                                      TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                      TextColumn("{task.fields[status]}"), console=RichConsole(file=self.stream))
            self._progress.__enter__()
            # The first TensorFlow call traces and compiles the step (seconds): say so rather than sit at 0.
            self._task = self._progress.add_task("train", total=self.total, status=COMPILING_STATUS)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
            self._progress = None

    def print(self, line: str) -> None:
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=self.stream, flush=True)

    def progress(self, iteration: int, status: str | None = None) -> None:
        """Move the bar to `iteration`; `status` replaces the text after it (None keeps the current one)."""
        if self._progress is not None:
            fields = {} if status is None else {"status": status}
            if iteration > 0 and self._progress.tasks[0].fields.get("status") == COMPILING_STATUS and status is None:
                fields["status"] = ""
            self._progress.update(self._task, completed=iteration, **fields)


COMPILING_STATUS = "compiling the training step..."


def _rate_column() -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Iterations per second, as rich measures them over the last updates."""

        def render(self, task: Any) -> Text:
            return Text(f"{task.speed:,.1f}it/s" if task.speed else "--it/s")

    return RateColumn()


class TrainLog:
    """Appends lines to `train.log` (flushed per line, so a killed run keeps every line) and echoes them."""

    def __init__(self, path: Path, console: Console | None = None) -> None:
        self.path = path
        self.console = console
        self._file = path.open("a", encoding="utf-8")

    def line(self, text: str) -> None:
        self._file.write(text + "\n")
        self._file.flush()
        if self.console is not None:
            self.console.print(text)

    def close(self) -> None:
        self._file.close()


# ---------------------------------------------------------------- metrics.jsonl
def _json_number(value: Any) -> Any:
    """JSON has no NaN/Infinity: write them as null so every line stays parseable."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog:
    """`metrics.jsonl`: one record per evaluation, appended and flushed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: Mapping[str, Any]) -> None:
        clean = {key: _json_number(value) for key, value in record.items()}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(clean, sort_keys=False) + "\n")

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a kill
        return out

    def keep_until(self, iteration: int) -> None:
        """Drop records after `iteration` (evaluations a resumed run will redo)."""
        kept = [r for r in self.records() if isinstance(r.get("iter"), int) and r["iter"] <= iteration]
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))


# ---------------------------------------------------------------- run.json
def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def data_fingerprint(paths: list[Path]) -> str:
    """sha256 over the split files (name and bytes), to tell later whether two runs used the same data."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


def git_commit() -> str | None:
    """The commit of the recdoc source tree, when it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(recdoc.__file__).parent, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def deviations(config: RunConfig, valid_users: int) -> list[dict[str, Any]]:
    """run.json's `deviations`: where this run departs from the original's protocol, for the doctor and readers."""
    out: list[dict[str, Any]] = []
    if config.eval_users is not None and config.eval_users < valid_users:
        out.append({
            "flag": "eval_users", "value": config.eval_users, "of": valid_users,
            "text": (f"periodic validation on a fixed, seeded subset of {config.eval_users} of {valid_users} "
                     "validation users (the original evaluates everyone): the curve is noisier and early "
                     "stopping may pick another best iteration; the final valid and test evaluations use "
                     "every user"),
        })
    return out


class RunRecord:
    """`run.json`, rewritten atomically whenever it changes."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def start(cls, path: Path, config: RunConfig, exp_name: str, data_files: list[Path],
              versions: Mapping[str, str]) -> "RunRecord":
        record = cls(path, {
            "exp_name": exp_name,
            "config": config.to_dict(),
            "versions": {"recdoc": recdoc.__version__, "python": platform.python_version(), **versions},
            "data": {"files": [str(p) for p in data_files], "fingerprint": data_fingerprint(data_files)},
            "git_commit": git_commit(),
            "started": utc_now(),
            "ended": None,
            "stop_reason": "running",
            "best_iter": None,
            "final": {},
        })
        record.write()
        return record

    @classmethod
    def load(cls, path: Path) -> "RunRecord":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read {path}: {exc}") from None
        if not isinstance(data, dict):
            raise UsageError(f"{path} is not a run.json object")
        return cls(path, data)

    def update(self, **values: Any) -> None:
        self.data.update(values)
        self.write()

    def write(self) -> None:
        atomic_write_text(self.path, json.dumps(self.data, indent=2, default=_json_number) + "\n")


# ---------------------------------------------------------------- TensorBoard
class Scalars:
    """TensorBoard scalars with the original's tags, at step = iteration."""

    def __init__(self, folder: Path) -> None:
        import tensorflow as tf

        self._tf = tf
        self._writer = tf.summary.create_file_writer(str(folder))

    def write(self, iteration: int, values: Mapping[str, float]) -> None:
        with self._writer.as_default():
            for tag, value in values.items():
                if math.isfinite(value):
                    self._tf.summary.scalar(tag, value, step=iteration)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
