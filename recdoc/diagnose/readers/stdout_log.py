"""The line grammar shared by the original `src/train.py` stdout and the ports that copied it (reference section 7).

The original, the TF2/Keras port and the PyTorch port print the same core lines (`iter: N, train loss: X, valid ...`,
`time interval: M min`, `model restored from PATH`, final `valid ...`/`test ...` lines) and each port adds a few of its
own. One parser understands every line kind, so a log that mixes them (a port with an extra print) loses nothing; the
format modules (`original.py`, `tf2_port.py`, `pytorch_port.py`) differ in how they sniff and in the format label.

Lines that are none of these (TensorFlow warnings, progress bars, the user's own prints) are skipped. Each line is
checked against cheap prefixes before any regular expression, so a log of millions of lines reads in well under a
second per hundred thousand evaluation lines.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recdoc.config import parse_exp_name
from recdoc.diagnose.readers.lines import iter_lines
from recdoc.diagnose.run import Event, Fact, FinalMetrics, Run, SourceRef, StopReason, curve_from_rows

PROMPT = "Please input the experiment name:"
# The original asks this when runs/<exp> exists; like PROMPT it is glued to the next print when stdout is piped.
COVER_PROMPT = "The exp name already exists. Do you want to cover? (y/n)"
CTRL_C_DASHES = "-" * 89
# A traceback whose exception line never comes (the file ends, or a flood of other lines) is closed after this many.
TRACEBACK_MAX_LINES = 400
# Frame lines kept per traceback: the innermost ones name the function that failed.
TRACEBACK_FRAMES_KEPT = 6
# A damaged log can have a bad line per evaluation; the first few are named, the rest counted.
MAX_NOTES = 20
# Iterations fit an int64 column; more digits than this is a damaged line, not a long run.
MAX_ITER_DIGITS = 15

_ITER_RE = re.compile(r"iter:\s*(\d+)\s*,\s*train loss:\s*([^\s,]+)")
_METRIC_RE = re.compile(r"\b(valid|test)\s+([A-Za-z_]+)(?:@(\d{1,9}))?\s*:\s*([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?|nan|inf))",
                        re.IGNORECASE)
_TIME_RE = re.compile(r"time interval:\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)")
_EXCEPTION_RE = re.compile(r"^(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*)(?::\s.*|:)?$")
_PATH_AFTER_COLON_RE = re.compile(r"[:：]\s*(\S.*)$")
_FLOAT_RE = re.compile(r"[-+]?(?:[0-9]*\.[0-9]+|[0-9]+)(?:[eE][-+]?\d+)?|nan|inf", re.IGNORECASE)
_DECLARED_INT_RE = re.compile(r"^(hidden_size|interest_num|total user|pid)\s*:\s*(\d{1,18})\s*$")
_DEVICE_RE = re.compile(r"^use (cuda:\s*\d+|cuda|cpu)\s*$")
_DATASET_WORD_RE = re.compile(r"[A-Za-z0-9][\w.\-]*")
_INVALID_MODEL_RE = re.compile(r"Invalid model_type\s*:\s*(?:%s)?(.*)$")

_PREFIXED_MARKER_RE = re.compile(r"(?:iter: \d|time interval:|model restored from|model loaded from|valid recall|"
                                 r"test recall|Exiting from training early|Traceback \(most recent call last\)|"
                                 r"training begin|Please input the experiment name:)")
_PREFIXED_EXP_NAME_RE = re.compile(r"(?<=\s)[A-Za-z0-9][\w.\-]*_b\d+_lr[0-9.eE+\-]+_d\d+_len\d+")
_METRIC_KEYS = {"recall": "recall", "ndcg": "ndcg", "hitrate": "hitrate", "hit_rate": "hitrate",
                "hr": "hitrate", "diversity": "diversity"}
# PyTorch port lines that state a configuration value outright: log key -> RunConfig field.
_DECLARED_KEYS = {"hidden_size": "hidden_size", "interest_num": "num_interest"}

# Markers that only one port prints; detect.py sniffs with them and the parser records which it saw.
TF2_PORT_MARKERS = ("training begin (Keras)", "发现已有", "自动恢复", "保存新的最优", "Restoring best checkpoint for evaluation",
                    "⚠", "警告", "💾", "✅", "keras_ckpt")
PYTORCH_PORT_MARKERS = ("pid:", "use cuda", "use cpu", "interest_num:", "total user:", "early stopping!", "model loaded from")
ORIGINAL_MARKERS = ("iter: ", "time interval:", PROMPT, "model restored from", "train.py'", "training begin")


def _to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def parse_metric_pairs(text: str) -> dict[str, tuple[str, float, int | None]]:
    """`valid recall: 0.1, valid ndcg@50: 0.2` -> {'recall': ('valid', 0.1, None), 'ndcg': ('valid', 0.2, 50)}."""
    out: dict[str, tuple[str, float, int | None]] = {}
    for split, key, cutoff, value in _METRIC_RE.findall(text):
        name = _METRIC_KEYS.get(key.lower())
        if name is not None and name not in out:
            out[name] = (split.lower(), _to_float(value), int(cutoff) if cutoff else None)
    return out


@dataclass
class _State:
    """What the parser has seen so far; turned into a Run at the end."""

    path: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    finals: dict[str, FinalMetrics] = field(default_factory=dict)
    declared: dict[str, Fact] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    exp_name: Fact | None = None
    argv: Fact | None = None
    other_exp_names: set[str] = field(default_factory=set)
    # Where we are relative to the last `iter:` line: 'iter' right after it, 'time' after its `time interval`.
    phase: str | None = None
    last_iter_line: int | None = None
    time_line: int | None = None
    # Outcome markers seen after the last `iter:` line (a resumed run in the same file resets them).
    restore_outcome: tuple[StopReason, int] | None = None
    interrupted_line: int | None = None
    early_message_line: int | None = None
    crash_line: int | None = None
    pending_dashes: int | None = None
    traceback_start: int | None = None
    # First line of what looks like a new run's header (argv, prompt, `training begin`) after evaluations were seen;
    # a different exp name right after it means the file holds another run (output appended with `>>`).
    pending_restart: int | None = None
    # The innermost frames of the open traceback (where it crashed: `compute_diversity`, `faiss`, `coef`...).
    traceback_frames: list[str] = field(default_factory=list)
    nan_seen: bool = False
    nan_stop_line: int | None = None  # a trainer's own "stopped on a non-finite loss" line
    lines_read: int = 0
    bad_iter_lines: int = 0
    signals: int = 0  # lines recognised as this grammar's (not noise)

    def ref(self, line: int) -> SourceRef:
        return SourceRef(self.path, line)

    def event(self, kind: str, line: int, text: str, **values: Any) -> None:
        self.events.append(Event(kind=kind, ref=self.ref(line), text=text, values=values))  # type: ignore[arg-type]


def parse_log(path: str | Path, format_name: str) -> Run:
    """Read a stdout log of the original (or a port) into a Run labelled `format_name`."""
    state = _State(path=str(path))
    for number, raw in iter_lines(path):
        state.lines_read = number
        _parse_line(state, number, raw)
    if state.traceback_start is not None:
        _close_traceback(state, state.traceback_start, "Traceback (the exception line is missing)")
    return _finish(state, format_name)


def _parse_line(state: _State, number: int, raw: str) -> None:
    if state.traceback_start is not None and _traceback_line(state, number, raw):
        return
    line = raw.strip()
    if not line:
        return
    while line.startswith((PROMPT, COVER_PROMPT)):
        # input() prints its prompt without a newline, so when stdout is piped the next print is glued to it.
        state.signals += 1
        _mark_run_start(state, number)
        line = line[len(PROMPT if line.startswith(PROMPT) else COVER_PROMPT):].strip()
        if not line:
            return
    first = line[0]
    if first == "i" and line.startswith("iter:"):
        _iter_line(state, number, line)
    elif first == "t" and line.startswith("time interval:"):
        _time_line(state, number, line)
    elif first in "vt" and (line.startswith("valid ") or line.startswith("test ")):
        _final_line(state, number, line)
    elif first == "m" and (line.startswith("model restored from") or line.startswith("model loaded from")):
        _restore(state, number, line, line.split("from", 1)[1].strip())
    elif first == "n" and line.startswith("no best model was saved"):
        # recdoc's loop, when validation recall never rose: the final evaluation uses the last weights.
        _restore(state, number, line, None, kind="info")
    elif first == "R" and line.startswith("Restoring best checkpoint for evaluation"):
        _restore(state, number, line, _after_colon(line))
    elif first == "T" and line.startswith("Traceback (most recent call last)"):
        if state.traceback_start is not None:
            _close_traceback(state, state.traceback_start, "Traceback (the exception line is missing)")
        state.traceback_start = number
        state.traceback_frames = []
    elif first == "-" and line.startswith("-" * 20) and set(line) == {"-"}:
        state.pending_dashes = number
    elif first == "E" and line.startswith("Exiting from training early"):
        # The original prints the 89 dashes right before this line; a dash line further up is something else.
        dashes = state.pending_dashes
        state.interrupted_line = dashes if dashes is not None and number - dashes <= 2 else number
        state.event("interrupted", state.interrupted_line, line)
        state.signals += 1
    elif first == "[" and line.endswith("]") and ".py" in line:
        _argv_line(state, number, line)
    elif "_lr" in line and "_len" in line and " " not in line[:line.find("_len")]:
        # The typed part after `_len20_` may hold spaces; the generated part before it never does.
        _exp_name_line(state, number, line)
    else:
        unprefixed = _strip_log_prefix(line)
        if unprefixed is not None:
            _parse_line(state, number, unprefixed)
        else:
            _other_line(state, number, line)


def _strip_log_prefix(line: str) -> str | None:
    """`2024-05-01 10:00:00 INFO iter: 1000, ...` (a logging wrapper, `ts`, a cluster's stdout) -> `iter: 1000, ...`.

    Only a prefix that looks like a time stamp or a level (it holds a digit, a bracket or a colon) is cut, so prose
    that mentions `valid recall` is not taken for a metrics line.
    """
    # Plain substring tests first: a regex alternation costs ~3 us a line, and most lines (TF noise) have none.
    if not ("iter: " in line or "time interval" in line or "model " in line or "recall" in line or "_len" in line
            or "Exiting" in line or "Traceback" in line or "training begin" in line or "Please input" in line):
        return None
    match = _PREFIXED_MARKER_RE.search(line)
    if match is None and "_len" in line:
        match = _PREFIXED_EXP_NAME_RE.search(line)
    if match is None or match.start() == 0:
        return None
    prefix = line[:match.start()]
    if not any(c.isdigit() or c in "[]:|" for c in prefix):
        return None
    return line[match.start():]


def _iter_line(state: _State, number: int, line: str) -> None:
    match = _ITER_RE.match(line)
    if match is None:
        state.bad_iter_lines += 1
        if state.bad_iter_lines <= MAX_NOTES:
            state.unreadable.append(f"{state.path}:{number}: an `iter:` line without `train loss`: {line[:120]!r}")
        return
    iteration = int(match.group(1)) if len(match.group(1)) <= MAX_ITER_DIGITS else None
    if iteration is None:
        state.unreadable.append(f"{state.path}:{number}: an implausible iteration number: {line[:80]!r}")
        return
    state.signals += 1
    loss = _to_float(match.group(2))
    row: dict[str, Any] = {"iter": iteration, "train_loss": loss, "file": state.path, "line": number}
    metrics = parse_metric_pairs(line[match.end():])
    for key in ("recall", "ndcg", "hitrate"):
        if key in metrics:
            row[key] = metrics[key][1]
    if "recall" not in metrics:
        # The original evaluates with faiss GPU; when that fails it prints the iter line without metrics.
        state.event("eval_missing", number, line, iter=iteration)
    if math.isnan(loss) or math.isinf(loss):
        state.event("nan", number, line, iter=iteration)
        state.nan_seen = True
    state.rows.append(row)
    state.phase = "iter"
    state.last_iter_line = number
    state.time_line = None
    state.restore_outcome = None
    state.interrupted_line = None
    state.early_message_line = None
    state.crash_line = None
    state.nan_stop_line = None


def _time_line(state: _State, number: int, line: str) -> None:
    match = _TIME_RE.match(line)
    if match is None:
        return
    state.signals += 1
    if state.phase == "iter" and state.rows:
        state.rows[-1]["time_min"] = _to_float(match.group(1))
        state.phase = "time"
        state.time_line = number


def _final_line(state: _State, number: int, line: str) -> None:
    metrics = parse_metric_pairs(line)
    if not metrics:
        return
    state.signals += 1
    split = "valid" if line.startswith("valid") else "test"
    # The cut-off counts only when every metric on the line states the same one (`test recall@20: ...`).
    cutoffs = {c for _, _, c in metrics.values()}
    value = {key: metrics[key][1] if key in metrics else None for key in ("recall", "ndcg", "hitrate", "diversity")}
    # A later final line of the same split wins: it belongs to the last run in the file.
    state.finals[split] = FinalMetrics(split=split, ref=state.ref(number), text=line,  # type: ignore[arg-type]
                                       cutoff=next(iter(cutoffs)) if len(cutoffs) == 1 else None, **value)


def _restore(state: _State, number: int, line: str, target: str | None, kind: str = "restored") -> None:
    """The end of the training loop: the best model is restored (or, in recdoc, found missing) for final metrics."""
    state.signals += 1
    state.event(kind, number, line, path=target)
    if state.restore_outcome is None and state.phase in ("iter", "time"):
        # Early stop breaks out of the loop before `time interval`; the iteration cap breaks after it.
        if state.phase == "iter":
            state.restore_outcome = ("early_stop", state.last_iter_line or number)
        else:
            state.restore_outcome = ("max_iter", state.time_line or number)
    state.phase = "restored"


def _argv_line(state: _State, number: int, line: str) -> None:
    try:
        value = ast.literal_eval(line)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value) and value[0].endswith(".py"):
        state.signals += 1
        _mark_run_start(state, number)
        if state.argv is None or (state.pending_restart is not None and state.argv.ref.line is not None
                                  and state.argv.ref.line < state.pending_restart):
            state.argv = Fact(value=value, ref=state.ref(number), text=line)


def _mark_run_start(state: _State, number: int) -> None:
    if (state.rows or state.finals) and state.pending_restart is None:
        state.pending_restart = number


def _start_new_run(state: _State, start: int, number: int, exp_name: str) -> None:
    """The file holds another run from line `start` on: keep only that run (the last one is the one diagnosed)."""
    old_name = state.exp_name.value if state.exp_name else "?"
    state.unreadable.append(
        f"{state.path}:{start}: a second run ({exp_name}) starts here after {len(state.rows)} evaluations of "
        f"{old_name}; only the last run in the file is diagnosed")
    state.rows = []
    state.finals = {}
    state.events = [e for e in state.events if e.ref.line is not None and e.ref.line >= start]
    state.declared = {k: f for k, f in state.declared.items() if f.ref.line is not None and f.ref.line >= start}
    if state.argv is not None and (state.argv.ref.line or 0) < start:
        state.argv = None
    state.exp_name = Fact(value=exp_name, ref=state.ref(number), text=exp_name)
    state.other_exp_names = set()
    state.restore_outcome = state.interrupted_line = state.early_message_line = state.crash_line = None
    state.nan_stop_line = state.pending_dashes = None
    state.phase = None


def _exp_name_line(state: _State, number: int, line: str) -> None:
    parsed = parse_exp_name(line)
    # The generated part of the name starts with the dataset, a plain file-name word: prose or Markdown that merely
    # quotes a run folder (`runs/book_DNN_b128_...`) is not an exp-name line.
    if parsed is None or _DATASET_WORD_RE.fullmatch(parsed.dataset) is None:
        return
    state.signals += 1
    if state.pending_restart is not None and state.exp_name is not None and line != state.exp_name.value:
        _start_new_run(state, state.pending_restart, number, line)
    state.pending_restart = None
    if state.exp_name is None:
        state.exp_name = Fact(value=line, ref=state.ref(number), text=line)
    elif line != state.exp_name.value and line not in state.other_exp_names:
        state.other_exp_names.add(line)
        state.event("info", number, line, exp_name_changed_to=line, first_exp_name=state.exp_name.value)


# The ASCII line kinds `_other_line` knows start with one of these (or hold "Invalid model_type"); most lines of a
# long log (TF warnings) are ASCII and match none, so one C-level check rejects them. Non-ASCII lines (the TF2
# port's Chinese/emoji lines) go through every check.
_ASCII_PREFIXES = ("training begin", "training resumed", "train loss is", "early stopping",
                   "Restoring from checkpoint", "hidden_size", "interest_num",
                   "total user", "pid", "use ")


def _other_line(state: _State, number: int, line: str) -> None:
    if line.isascii() and not line.startswith(_ASCII_PREFIXES) and "Invalid model_type" not in line:
        return
    if line.startswith("training begin"):
        state.signals += 1
        _mark_run_start(state, number)
        state.event("info", number, line, training_begin=True, keras="Keras" in line)
    elif line.startswith("early stopping"):
        state.signals += 1
        state.early_message_line = number
        state.event("early_stop_message", number, line)
    elif "Invalid model_type" in line:
        state.signals += 1
        match = _INVALID_MODEL_RE.search(line)
        # print("Invalid model_type : %s", model_type) prints the literal %s, then the name (Py2: as a tuple).
        name = match.group(1).strip(" \t'\",()") if match else ""
        state.event("invalid_model_type", number, line, model_type=name or None)
    elif line.startswith("train loss is") and "training stopped" in line:
        # recdoc's loop stops on a non-finite loss: `train loss is nan at iter N: training stopped, ...`.
        state.signals += 1
        state.nan_stop_line = number
        state.event("nan", number, line, iter=state.rows[-1]["iter"] if state.rows else None)
    elif ("发现已有" in line or "自动恢复" in line or line.startswith("Restoring from checkpoint")
          or line.startswith("training resumed from")):
        state.signals += 1
        if line.startswith("training resumed from"):  # recdoc: `training resumed from PATH at iteration N`
            path: str | None = line[len("training resumed from"):].rsplit(" at iteration", 1)[0].strip() or None
        else:
            path = _after_colon(line)
        state.event("resumed", number, line, path=path)
    elif "保存" in line and "最优" in line or line.startswith("💾"):
        state.signals += 1
        numbers = _FLOAT_RE.findall(line.rsplit("recall", 1)[-1]) if "recall" in line else []
        last_iter = state.rows[-1]["iter"] if state.rows else None
        state.event("saved_best", number, line, recall=_to_float(numbers[0]) if numbers else None, iter=last_iter)
    elif line.startswith("⚠") or "警告" in line:
        state.signals += 1
        state.event("warning", number, line)
    else:
        _pytorch_line(state, number, line)


def _pytorch_line(state: _State, number: int, line: str) -> None:
    first = line[0]
    if first in "hitp":
        match = _DECLARED_INT_RE.match(line)
        if match is None:
            return
        key, value = match.group(1), int(match.group(2))
        state.signals += 1
        if key in _DECLARED_KEYS:
            state.declared.setdefault(_DECLARED_KEYS[key], Fact(value=value, ref=state.ref(number), text=line))
        elif key == "total user":
            state.event("info", number, line, total_users=value)
        else:
            state.event("info", number, line, pid=value)
    elif first == "u":
        match = _DEVICE_RE.match(line)
        if match is not None:
            state.signals += 1
            state.event("info", number, line, device=match.group(1).replace(" ", ""))


def _after_colon(line: str) -> str | None:
    match = _PATH_AFTER_COLON_RE.search(line)
    return match.group(1).strip() if match else None


def _traceback_line(state: _State, number: int, raw: str) -> bool:
    """Inside a traceback: consume frames; the first unindented exception-looking line closes it. True if consumed."""
    start = state.traceback_start
    assert start is not None
    if not raw.strip() or raw[0] in " \t":
        if raw.strip():
            state.traceback_frames = [*state.traceback_frames[-(TRACEBACK_FRAMES_KEPT - 1):], raw.strip()[:200]]
        if number - start > TRACEBACK_MAX_LINES:
            _close_traceback(state, start, "Traceback (the exception line is missing)")
        return True
    line = raw.strip()
    match = _EXCEPTION_RE.match(line)
    if match is not None and not line.startswith("Traceback"):
        state.traceback_start = None
        state.signals += 1
        if match.group(1) == "KeyboardInterrupt":
            # Ctrl-C outside the training loop's handler (during evaluation or data loading): still a person.
            state.interrupted_line = number
        else:
            state.crash_line = number
        state.event("traceback", number, line, exception=match.group(1), traceback_line=start,
                    frames=tuple(state.traceback_frames))
        state.traceback_frames = []
        return True
    if number - start > TRACEBACK_MAX_LINES:
        _close_traceback(state, start, "Traceback (the exception line is missing)")
    # Interleaved output (a TF warning from another thread): not part of the traceback, parse it normally.
    return False


def _close_traceback(state: _State, start: int, text: str) -> None:
    state.traceback_start = None
    state.crash_line = start
    state.event("traceback", start, text, exception=None, traceback_line=start, frames=tuple(state.traceback_frames))
    state.traceback_frames = []


def _stop_reason(state: _State) -> tuple[StopReason, int | None]:
    if state.interrupted_line is not None:
        return "interrupted", state.interrupted_line
    if state.early_message_line is not None:
        return "early_stop", state.last_iter_line or state.early_message_line
    if state.nan_stop_line is not None:
        return "nan", state.nan_stop_line
    if state.restore_outcome is not None:
        return state.restore_outcome
    if state.crash_line is not None:
        return "crashed", state.crash_line
    if state.rows:
        last = state.rows[-1]["train_loss"]
        if math.isnan(last) or math.isinf(last):
            return "nan", state.last_iter_line
        return "unfinished", state.lines_read
    return "unknown", None


def _exp_name_from_restore(state: _State) -> Fact | None:
    """The exp name inside a restore path (`model restored from best_model/<exp>/`), for logs that never print it
    on its own line (the original's `-p test` mode prints only the restore and the test line)."""
    for event in state.events:
        if event.kind != "restored" or not event.values.get("path"):
            continue
        for part in reversed(Path(str(event.values["path"])).parts):
            parsed = parse_exp_name(part)
            if parsed is not None and _DATASET_WORD_RE.fullmatch(parsed.dataset):
                return Fact(value=part, ref=event.ref, text=event.text)
    return None


def _finish(state: _State, format_name: str) -> Run:
    run = Run(format=format_name, paths=[state.path])
    run.exp_name, run.argv = state.exp_name or _exp_name_from_restore(state), state.argv
    run.declared = state.declared
    run.curve = curve_from_rows(state.rows)
    run.finals = state.finals
    run.events = state.events
    run.unreadable = state.unreadable
    reason, line = _stop_reason(state)
    run.stop_reason = reason
    run.stop_ref = state.ref(line) if line is not None else None
    if state.bad_iter_lines > MAX_NOTES:
        run.unreadable.append(f"{state.path}: {state.bad_iter_lines} `iter:` lines without `train loss` in all")
    if state.signals == 0:
        what = "an empty file" if state.lines_read == 0 else f"{state.lines_read} lines, none of them a ComiRec log line"
        run.unreadable.append(f"{state.path}: {what}")
    elif not _has_run_evidence(state):
        # A README, a notebook dump or an issue text can quote a warning or a traceback; a run prints at least one of
        # the lines below, so a file without any of them is noted and contributes nothing.
        return Run(format=format_name, paths=[state.path], unreadable=run.unreadable + [
            f"{state.path}: no evidence of a training run (no `iter:` line, final metrics line, argv line, "
            f"experiment-name line or restore line)"])
    return run


def _has_run_evidence(state: _State) -> bool:
    return bool(state.rows or state.finals or state.argv or state.exp_name or state.declared
                or any(event.kind == "restored" for event in state.events))


def count_markers(head: str, markers: tuple[str, ...]) -> int:
    return sum(1 for marker in markers if marker in head)


_PYTORCH_EXP_RE = re.compile(r"_len\d+_in\d+_top\d+")


@dataclass(frozen=True)
class LogSignals:
    """How many markers of each family a file's head shows (for the format modules' sniff)."""

    core: int
    tf2_port: int
    pytorch_port: int


def log_signals(head: str) -> LogSignals:
    core = count_markers(head, ORIGINAL_MARKERS)
    if _ITER_RE.search(head):
        core += 2
    pytorch = count_markers(head, PYTORCH_PORT_MARKERS) + (2 if _PYTORCH_EXP_RE.search(head) else 0)
    return LogSignals(core=core, tf2_port=count_markers(head, TF2_PORT_MARKERS), pytorch_port=pytorch)
