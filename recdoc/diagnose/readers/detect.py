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

from recdoc.checkpoint_state import TORCH_SUFFIXES
from recdoc.diagnose.observed_run import Run, curve_from_rows, merge_runs
from recdoc.diagnose.readers import (
    checkpoint,
    dump,
    mlflow_store,
    original,
    pasted,
    pytorch_port,
    recbole,
    recdoc_folder,
    rechorus,
    sheet,
    tensorboard,
    text_log,
    tf2_port,
)
from recdoc.diagnose.readers.lines import binary_reason, read_head, read_head_bytes
from recdoc.diagnose.readers.lines import odd_file as _odd_file
from recdoc.errors import InputError
from recdoc.files import path_problem

LOG_READERS = (original, tf2_port, pytorch_port, text_log)
# Inputs where runs are reported rather than printed by the original's loop (results sheets, framework logs, pasted
# text, dumps): sniffed beside the log readers, each with its own format label.
REPORT_READERS = (recbole, rechorus, sheet, dump, pasted)
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
    """One Run from run folders and/or files (the last run when they hold several). Raises InputError when nothing
    readable is found."""
    runs = read_runs(paths, deep=deep)
    if len(runs) > 1:
        names = ", ".join(run_label(run) for run in runs[:-1])
        runs[-1].unreadable.append(f"{', '.join(paths)}: holds {len(runs)} runs; this is the last ({names} not read)")
    return runs[-1]


def read_runs(paths: list[str], deep: bool = False) -> list[Run]:
    """Every run in run folders and/or files, each merged from its own pieces (a log, its TensorBoard files, its
    checkpoints), never merged with another run. Raises InputError when nothing readable is found."""
    if not paths:
        raise InputError("no run folder or file given")
    pieces = _Pieces()
    for given in paths:
        path = Path(given)
        try:
            problem = path_problem(path)  # a FIFO, a device or a symlink loop is named, never opened
            if problem is not None:
                pieces.notes.append(f"{given}: {problem}" + ("" if problem.startswith("no such") else ", not read"))
            elif path.is_dir():
                _discover(path, pieces)
            else:
                _classify_file(path, pieces, explicit=True)
        except OSError as exc:  # a name too long, a folder we may not list
            pieces.notes.append(f"{given}: cannot be read ({exc.strerror or exc})")
    if pieces.sheets and (pieces.recdoc or pieces.logs or pieces.events or pieces.checkpoints):
        # A sheet found beside a run's own files most often restates that run: the run's files speak for it.
        pieces.notes.extend(f"{path}: a results sheet beside the run's files; not read (name it to read it)"
                            for path in pieces.sheets)
    else:
        pieces.logs.extend((path, sheet.read_runs) for path in pieces.sheets)
    groups = pieces.read_grouped(deep)
    runs = [[run for run in group if has_content(run)] for group in groups]
    # A piece with nothing in it (an empty log) still says why: its notes go with the whole analysis.
    pieces.notes.extend(note for group in groups for run in group if not has_content(run) for note in run.unreadable)
    # Once each: an empty piece's notes are already in `pieces.notes`.
    notes = list(dict.fromkeys(pieces.notes + [note for group in groups for run in group for note in run.unreadable]))
    runs = [group for group in runs if group]
    if not runs:
        detail = "; ".join(notes[:3]) if notes else "no log, run.json, metrics.jsonl, event file or checkpoint found"
        raise InputError(f"nothing readable ({detail})", ", ".join(paths))
    merged_runs: list[Run] = []
    for group in runs:
        merged = merge_runs(group) if len(group) > 1 else group[0]
        own = [note for run in group for note in run.unreadable]
        merged.unreadable = list(dict.fromkeys((pieces.notes if len(runs) == 1 else []) + own))
        merged_runs.append(merged)
    if len(merged_runs) > 1 and pieces.notes:
        merged_runs[0].unreadable = list(dict.fromkeys(pieces.notes + merged_runs[0].unreadable))
    return merged_runs


def run_label(run: Run) -> str:
    """A short name for a run: its exp name, else its first file (with its place in the file when it shares one)."""
    if run.exp_name is not None:
        return str(run.exp_name.value)
    label = run.paths[0] if run.paths else run.format
    segment = run.extra_metrics.get("segment")
    if isinstance(segment, dict):
        label += f" (run {segment['index']} of {segment['of']})"
    row = run.extra_metrics.get("row_label")
    if row:
        label += f": {row}"  # a table row's or column's name (never its exp name: its words are not settings)
    return label


def has_content(run: Run) -> bool:
    """Whether a reader found anything at all (a curve, a name, a final line, an event, a checkpoint...)."""
    return bool(run.has_curve or run.exp_name or run.argv or run.declared or run.finals or run.events
                or run.checkpoints or run.extra_metrics)


class _Pieces:
    """What a walk found, grouped by reader."""

    def __init__(self) -> None:
        self.recdoc: list[Path] = []  # folders (or single files) with run.json / metrics.jsonl
        self.logs: list[tuple[Path, Callable[[Path], list[Run]]]] = []
        self.events: list[Path] = []
        self.checkpoints: list[Path] = []  # folders with a `checkpoint` file or .index files; .pt files
        self.sheets: list[Path] = []  # results sheets a walk found (read when nothing else is found)
        self.notes: list[str] = []

    def read_grouped(self, deep: bool) -> list[list[Run]]:
        """The pieces read and grouped by run, each group in merge authority order (see the module docstring)."""
        recdoc_runs = [r for r in (_safe(recdoc_folder.read, p, self.notes) for p in dict.fromkeys(self.recdoc))
                       if r is not None]
        logs = [run for p, reader in self.logs for run in (_safe_many(reader, p, self.notes) or [])]
        # The most complete copy of a log first, so that a duplicate (`tee` beside `nohup.out`) is the one dropped.
        ranked = sorted(logs, key=lambda run: (bool(run.finals), run.curve.shape[0]), reverse=True)
        kept = {id(run) for run in drop_duplicate_logs(ranked, self.notes)}
        logs = [run for run in logs if id(run) in kept]
        event_runs = [r for r in (_safe(tensorboard.read, p, self.notes) for p in sorted(dict.fromkeys(self.events)))
                      if r is not None]
        checkpoint_runs = [r for r in (_safe(lambda p: checkpoint.read(p, deep=deep), p, self.notes)
                                       for p in dict.fromkeys(self.checkpoints)) if r is not None]
        groups: list[_Group] = [_Group(run, _run_folder(run)) for run in recdoc_runs]
        for log in logs:
            _attach(groups, log, is_log=True)
        # Event files of one run (a restart writes a new file) are one curve; they are grouped before attaching.
        by_owner: dict[int, list[Run]] = {}
        strays: list[Run] = []
        for events in event_runs:
            home = _home_group(groups, events, is_log=False)
            if home is None:
                strays.append(events)
            else:
                by_owner.setdefault(id(home), []).append(events)
        for group in groups:
            combined = combine_event_runs(by_owner.get(id(group), []))
            if combined is not None:
                group.members.append(combined)
        combined_strays = combine_event_runs(strays)
        if combined_strays is not None:
            groups.append(_Group(combined_strays, None))
        for folder in checkpoint_runs:
            _attach(groups, folder, is_log=False)
        return [_authority_order(group.members) for group in groups]


def _authority_order(members: list[Run]) -> list[Run]:
    """recdoc's run.json first, then logs (the most complete first), then TensorBoard, then checkpoints."""
    rank = {recdoc_folder.FORMAT: 0, tensorboard.FORMAT: 2, checkpoint.FORMAT: 3}

    def key(run: Run) -> tuple[int, int, int]:
        return rank.get(run.format, 1), -int(bool(run.finals)), -run.curve.shape[0]

    return sorted(members, key=key)


class _Group:
    """One run's pieces: the first member decides the run's name and folder."""

    def __init__(self, first: Run, folder: Path | None) -> None:
        self.members = [first]
        self.folder = folder

    @property
    def exp_name(self) -> str | None:
        return next((str(m.exp_name.value) for m in self.members if m.exp_name is not None), None)


def _run_folder(run: Run) -> Path | None:
    return Path(run.paths[0]).parent if run.paths else None


def _attach(groups: list[_Group], piece: Run, is_log: bool) -> None:
    """Add `piece` to the run it belongs to, or start a new run with it."""
    home = _home_group(groups, piece, is_log)
    if home is None:
        groups.append(_Group(piece, None))
    else:
        home.members.append(piece)


def _home_group(groups: list[_Group], piece: Run, is_log: bool) -> _Group | None:
    """The run a piece belongs to: the one its exp name (or a folder of its path) names, else the recdoc run folder
    holding it; a piece of a lone run belongs to it whatever its name."""
    name = str(piece.exp_name.value) if piece.exp_name is not None else None
    parts = {part for path in piece.paths for part in Path(path).parts}
    for group in groups:
        # Everything inside a recdoc run folder is that run's (its train.log, event files, ckpt/).
        if group.folder is not None and piece.paths and all(
                _inside(Path(path), group.folder) for path in piece.paths):
            return group
    for group in groups:
        own = group.exp_name
        if own is None or not (own == name or own in parts):
            continue
        # Two runs of one file are two runs even under one exp name (the same command run twice, appended).
        if is_log and any(set(member.paths) & set(piece.paths) for member in group.members):
            continue
        return group
    if not is_log and len(groups) == 1:
        return groups[0]  # the event files or checkpoint of a lone run belong to it whatever their names
    return None


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _safe_many(reader: Callable[[Path], list[Run]], path: Path, notes: list[str]) -> list[Run] | None:
    return _safe(reader, path, notes)  # type: ignore[arg-type, return-value]


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
    curve = tuple(zip(run.curve["iter"].tolist(), run.curve["train_loss"].fillna(-1.0).tolist(),
                      run.curve["recall"].fillna(-1.0).tolist()))
    finals = tuple(sorted((split, f.recall, f.ndcg, f.hitrate) for split, f in run.finals.items()))
    name = run.exp_name.value if run.exp_name is not None else None
    return curve, finals, run.stop_reason, name


def drop_duplicate_logs(logs: list[Run], notes: list[str]) -> list[Run]:
    """The same output saved twice (`tee train.log` beside `nohup.out`) would double every event; keep the first."""
    kept: list[Run] = []
    seen: dict[tuple, Run] = {}
    for run in logs:
        signature = _log_signature(run)
        # Two runs of one file that print the same numbers are two runs (repeats), not one file saved twice.
        if (run.has_curve or run.finals) and signature in seen and seen[signature].paths != run.paths:
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
        if mlflow_store.is_run_folder(here, names, dirnames):
            # An MLflow run: its metrics/ and params/ files are one run, never logs of their own.
            pieces.logs.append((here, mlflow_store.read_runs))
            dirnames[:] = []
            continue
        if recdoc_folder.RUN_JSON in names or recdoc_folder.METRICS_JSONL in names:
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
            problem = _odd_file(here / name)
            if problem is not None:
                pieces.notes.append(f"{here / name}: {problem}, not read")
                continue
            if name in (recdoc_folder.RUN_JSON, recdoc_folder.METRICS_JSONL, checkpoint.STATE_FILE) or name.endswith(".index"):
                continue
            _classify_file(here / name, pieces, explicit=False)


def _classify_file(path: Path, pieces: _Pieces, explicit: bool) -> None:
    if _classify_by_name(path, pieces, explicit):
        return
    # A sheet found in a folder is read only as a sheet (a data file's CSV is neither log nor sheet).
    sheet_only = not (explicit or looks_like_log(path.name))
    if sheet_only and path.suffix.lower() not in sheet.SUFFIXES:
        return
    scores = _head_scores(read_head(path))
    best = max(scores, key=lambda k: scores[k])
    if sheet_only:
        if best == sheet.FORMAT and scores[best] > 0:
            pieces.sheets.append(path)
        return
    _classify_by_head(path, pieces, explicit, best, scores[best])


def _classify_by_name(path: Path, pieces: _Pieces, explicit: bool) -> bool:
    """A file its name alone places (an event file, a torch checkpoint, a notebook; a recdoc file or checkpoint state
    file only when named on the command line, a walk finds those with their folder); False: its head decides."""
    name = path.name
    if tensorboard.FILE_MARKER in name:
        pieces.events.append(path)
    elif path.suffix in TORCH_SUFFIXES:
        pieces.checkpoints.append(path)
    elif explicit and (name in (recdoc_folder.RUN_JSON, recdoc_folder.METRICS_JSONL)):
        pieces.recdoc.append(path)
    elif explicit and name == checkpoint.STATE_FILE:
        pieces.checkpoints.append(path.parent)
    elif path.suffix == ".ipynb":
        # A notebook is read as the text its cells printed, in cell order (stdout_log.notebook_lines).
        pieces.logs.append((path, read_notebook))
    else:
        return False
    return True


def _head_scores(head: str) -> dict[str, float]:
    return {
        "recdoc": recdoc_folder.sniff(head),
        "tensorboard": tensorboard.sniff(head),
        "checkpoint": checkpoint.sniff(head),
        **{reader.FORMAT: reader.sniff(head) for reader in LOG_READERS + REPORT_READERS},
    }


def _classify_by_head(path: Path, pieces: _Pieces, explicit: bool, best: str, score: float) -> None:
    """A file by the reader most sure of its head (`best`, sure by `score`)."""
    found_in = {"recdoc": (pieces.recdoc, path), "tensorboard": (pieces.events, path),
                "checkpoint": (pieces.checkpoints, path.parent)}
    if best in found_in and score >= 0.5:
        found, piece = found_in[best]
        found.append(piece)
    elif score < MIN_LOG_SNIFF and (binary := binary_reason(read_head_bytes(path))) is not None:
        if explicit or path.suffix.lower() == ".log":
            pieces.notes.append(f"{path}: {binary}")
    elif score >= MIN_LOG_SNIFF or explicit:
        # No known marker at all: a code recdoc has no reader for, read for its records (text_log.py).
        reader = next((r for r in LOG_READERS + REPORT_READERS if r.FORMAT == best), original) if score > 0 \
            else text_log
        pieces.logs.append((path, reader.read_runs))
    elif path.suffix.lower() == ".log":
        pieces.notes.append(f"{path}: not a ComiRec log (no line of a known format in its first 64 KiB)")


def read_notebook(path: Path) -> list[Run]:
    """A Jupyter notebook's printed output, read by the log reader whose format its text matches best."""
    from recdoc.diagnose.readers.stdout_log import notebook_lines, parse_log_runs

    printed = notebook_lines(path)
    if not printed:
        raise InputError("a Jupyter notebook whose cells hold no printed output (nothing to read)", str(path))
    head = "\n".join(line for _, line in printed[:2000])
    scores = {reader.FORMAT: reader.sniff(head) for reader in LOG_READERS + REPORT_READERS}
    best = max(scores, key=lambda k: scores[k])
    reporter = next((r for r in REPORT_READERS if r.FORMAT == best), None)
    if reporter is not None and scores[best] > 0:
        return reporter.read_runs(path)  # a framework's output or results printed in a notebook
    return parse_log_runs(path, best if scores[best] > 0 else text_log.FORMAT)


def looks_like_log(name: str) -> bool:
    """`train.log`, `stdout.txt`, `nohup.out`, `train.log.1`, `stdout`: worth sniffing; data and source files are not."""
    lowered = name.lower()
    suffix = Path(lowered).suffix
    if suffix in LOG_SUFFIXES or ".log." in lowered:
        return True
    return suffix == "" and any(hint in lowered for hint in LOG_NAME_HINTS)


def sniff_scores(head: str) -> dict[str, float]:
    """Every reader's confidence for a file head (for tests and debugging)."""
    return {reader.FORMAT: reader.sniff(head)
            for reader in (*LOG_READERS, *REPORT_READERS, recdoc_folder, tensorboard, checkpoint)}


__all__ = ["read_paths", "read_runs", "run_label", "sniff_scores", "combine_event_runs"]
