"""Find what a run folder (or a list of files) holds, read each piece with its reader, merge into one Run.

Authority order for `merge_runs` (earlier wins on scalar facts): recdoc's run.json/metrics.jsonl, then logs
(the one with the most evaluations first), then TensorBoard event files, then checkpoints.

A piece that cannot be read becomes a sentence in `Run.unreadable`; `read_paths` raises InputError only when nothing
at all could be read. An empty log file is such a piece: its reader returns a Run whose only content is the
`unreadable` note, so an empty file alone is an InputError, and an empty file beside a good one is a note.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from recdoc.diagnose.readers import checkpoint, original, pytorch_port, recdoc_run, tensorboard, tf2_port
from recdoc.diagnose.readers.lines import read_head
from recdoc.diagnose.run import Run, curve_from_rows, merge_runs
from recdoc.errors import InputError

LOG_READERS = (original, tf2_port, pytorch_port)
LOG_SUFFIXES = (".log", ".txt", ".out", ".err", ".stdout")
LOG_NAME_HINTS = ("log", "stdout", "nohup", "train", "output", "console")
SKIPPED_DIRS = {".git", "__pycache__", ".venv", "venv", "node_modules", ".ipynb_checkpoints"}
# A run folder is a few dozen files; a walk this deep or this long has wandered into a dataset or a home folder.
MAX_DEPTH = 6
MAX_FILES = 20_000
# A file the walk finds is read as a log only when a log reader gives it at least this; a file named by the user
# is always read (its reader then says what it found, or that it found nothing).
MIN_LOG_SNIFF = 0.05


def read_paths(paths: list[str], deep: bool = False) -> Run:
    """One Run from run folders and/or files. Raises InputError when nothing readable is found."""
    if not paths:
        raise InputError("no run folder or file given")
    pieces = _Pieces()
    for given in paths:
        path = Path(given)
        try:
            if path.is_dir():
                _discover(path, pieces)
            elif path.is_file():
                _classify_file(path, pieces, explicit=True)
            else:
                pieces.notes.append(f"{given}: no such file or folder")
        except OSError as exc:  # a name too long, a folder we may not list
            pieces.notes.append(f"{given}: cannot be read ({exc.strerror or exc})")
    runs = pieces.read_all(deep)
    readable = [run for run in runs if has_content(run)]
    notes = pieces.notes + [note for run in runs for note in run.unreadable]
    if not readable:
        detail = "; ".join(notes[:3]) if notes else "no log, run.json, metrics.jsonl, event file or checkpoint found"
        raise InputError(f"nothing readable ({detail})", ", ".join(paths))
    merged = merge_runs(readable) if len(readable) > 1 else readable[0]
    merged.unreadable = list(dict.fromkeys(notes))
    return merged


def has_content(run: Run) -> bool:
    """Whether a reader found anything at all (a curve, a name, a final line, an event, a checkpoint...)."""
    return bool(run.has_curve or run.exp_name or run.argv or run.declared or run.finals or run.events
                or run.checkpoints or run.extra_metrics)


class _Pieces:
    """What a walk found, grouped by reader."""

    def __init__(self) -> None:
        self.recdoc: list[Path] = []  # folders (or single files) with run.json / metrics.jsonl
        self.logs: list[tuple[Path, Callable[[Path], Run]]] = []
        self.events: list[Path] = []
        self.checkpoints: list[Path] = []  # folders with a `checkpoint` file or .index files; .pt files
        self.notes: list[str] = []

    def read_all(self, deep: bool) -> list[Run]:
        recdoc_runs = [_safe(recdoc_run.read, p, self.notes) for p in dict.fromkeys(self.recdoc)]
        logs = [_safe(reader, p, self.notes) for p, reader in self.logs]
        logs.sort(key=lambda run: (run is not None and bool(run.finals), run.curve.shape[0] if run else 0),
                  reverse=True)
        logs = drop_duplicate_logs([r for r in logs if r is not None], self.notes)
        event_runs = [_safe(tensorboard.read, p, self.notes) for p in sorted(dict.fromkeys(self.events))]
        checkpoint_runs = [_safe(lambda p: checkpoint.read(p, deep=deep), p, self.notes)
                           for p in dict.fromkeys(self.checkpoints)]
        runs = [r for r in recdoc_runs + logs if r is not None]
        combined_events = combine_event_runs([r for r in event_runs if r is not None])
        if combined_events is not None:
            runs.append(combined_events)
        runs.extend(r for r in checkpoint_runs if r is not None)
        return runs


def _safe(reader: Callable[[Path], Run], path: Path, notes: list[str]) -> Run | None:
    try:
        return reader(path)
    except InputError as error:
        notes.append(str(error))
    except Exception as error:  # noqa: BLE001
        # Readers raise only InputError (the robustness tests hold them to it); should one still fail on input
        # nobody foresaw, the rest of the run folder counts and the user sees one line, not a traceback.
        notes.append(f"{path}: could not be read ({type(error).__name__}: {str(error)[:160]})")
    return None


def _log_signature(run: Run) -> tuple:
    curve = tuple(zip(run.curve["iter"].tolist(), run.curve["train_loss"].fillna(-1.0).tolist()))
    finals = tuple(sorted((split, f.recall, f.ndcg, f.hitrate) for split, f in run.finals.items()))
    return curve, finals, run.stop_reason


def drop_duplicate_logs(logs: list[Run], notes: list[str]) -> list[Run]:
    """The same output saved twice (`tee train.log` beside `nohup.out`) would double every event; keep the first."""
    kept: list[Run] = []
    seen: dict[tuple, Run] = {}
    for run in logs:
        signature = _log_signature(run)
        if (run.has_curve or run.finals) and signature in seen:
            notes.append(f"{run.paths[0]}: the same evaluations as {seen[signature].paths[0]}; read once")
            continue
        seen.setdefault(signature, run)
        kept.append(run)
    return kept


def combine_event_runs(runs: list[Run]) -> Run | None:
    """Several event files of one run (a restart writes a new one): one curve, later files winning per step."""
    if not runs:
        return None
    if len(runs) == 1:
        return runs[0]
    combined = Run(format=tensorboard.FORMAT)
    rows: list[dict] = []
    for run in runs:
        combined.paths.extend(run.paths)
        combined.unreadable.extend(run.unreadable)
        for key, value in run.extra_metrics.items():
            combined.extra_metrics.setdefault(key, value)
        rows.extend(run.curve.to_dict("records"))
    combined.curve = curve_from_rows(rows) if rows else combined.curve
    return combined


def _discover(root: Path, pieces: _Pieces) -> None:
    seen = 0
    root_depth = len(root.parts)
    for folder, dirnames, filenames in os.walk(root, onerror=lambda e: pieces.notes.append(f"{e.filename}: {e.strerror}")):
        here = Path(folder)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and not d.startswith("."))
        if len(here.parts) - root_depth >= MAX_DEPTH:
            dirnames[:] = []
        names = sorted(filenames)
        if recdoc_run.RUN_JSON in names or recdoc_run.METRICS_JSONL in names:
            pieces.recdoc.append(here)
        # `.index` alone is too common a suffix (faiss, search indexes); a TF checkpoint also has `.data-*` files.
        if checkpoint.STATE_FILE in names or (any(n.endswith(".index") for n in names)
                                              and any(".data-" in n for n in names)):
            pieces.checkpoints.append(here)
        for name in names:
            seen += 1
            if seen > MAX_FILES:
                pieces.notes.append(f"{root}: more than {MAX_FILES} files; the rest were not looked at")
                return
            if name in (recdoc_run.RUN_JSON, recdoc_run.METRICS_JSONL, checkpoint.STATE_FILE) or name.endswith(".index"):
                continue
            _classify_file(here / name, pieces, explicit=False)


def _classify_file(path: Path, pieces: _Pieces, explicit: bool) -> None:
    name = path.name
    if tensorboard.FILE_MARKER in name:
        pieces.events.append(path)
        return
    if path.suffix in checkpoint.TORCH_SUFFIXES:
        pieces.checkpoints.append(path)
        return
    if explicit and (name in (recdoc_run.RUN_JSON, recdoc_run.METRICS_JSONL)):
        pieces.recdoc.append(path)
        return
    if explicit and name == checkpoint.STATE_FILE:
        pieces.checkpoints.append(path.parent)
        return
    if not (explicit or looks_like_log(name)):
        return
    head = read_head(path)
    scores = {
        "recdoc": recdoc_run.sniff(head),
        "tensorboard": tensorboard.sniff(head),
        "checkpoint": checkpoint.sniff(head),
        **{reader.FORMAT: reader.sniff(head) for reader in LOG_READERS},
    }
    best = max(scores, key=lambda k: scores[k])
    if best == "recdoc" and scores[best] >= 0.5:
        pieces.recdoc.append(path)
    elif best == "tensorboard" and scores[best] >= 0.5:
        pieces.events.append(path)
    elif best == "checkpoint" and scores[best] >= 0.5:
        pieces.checkpoints.append(path.parent)
    elif scores[best] >= MIN_LOG_SNIFF or explicit:
        reader = next((r for r in LOG_READERS if r.FORMAT == best), original)
        pieces.logs.append((path, reader.read))
    elif path.suffix.lower() == ".log":
        pieces.notes.append(f"{path}: not a ComiRec log (no line of a known format in its first 64 KiB)")


def looks_like_log(name: str) -> bool:
    """`train.log`, `stdout.txt`, `nohup.out`, `train.log.1`, `stdout`: worth sniffing; data and source files are not."""
    lowered = name.lower()
    suffix = Path(lowered).suffix
    if suffix in LOG_SUFFIXES or ".log." in lowered:
        return True
    return suffix == "" and any(hint in lowered for hint in LOG_NAME_HINTS)


def sniff_scores(head: str) -> dict[str, float]:
    """Every reader's confidence for a file head (for tests and debugging)."""
    return {reader.FORMAT: reader.sniff(head) for reader in (*LOG_READERS, recdoc_run, tensorboard, checkpoint)}


__all__ = ["read_paths", "sniff_scores", "combine_event_runs"]
