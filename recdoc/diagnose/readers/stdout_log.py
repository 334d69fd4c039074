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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recdoc.config import parse_exp_name
from recdoc.diagnose.observed_run import (
    Event,
    Fact,
    FinalMetrics,
    ReadCoverage,
    Run,
    SourceRef,
    StopReason,
    curve_from_rows,
    final_at,
)
from recdoc.diagnose.readers.grammar import (
    FRACTION_METRICS,
    curve_values,
    evaluation_record,
    from_percent,
    pick_cutoff,
    read_counts,
    read_eval_protocol,
    read_line,
)
from recdoc.diagnose.readers.headers import parse_exp_name_tokens, parse_header, parse_namespace, parse_shell_argv
from recdoc.diagnose.readers.lines import iter_lines
from recdoc.diagnose.readers.records import Record, is_percent_scale, parse_record, table_header, table_row
from recdoc.metrics import LOGGED_METRICS

PROMPT = "Please input the experiment name:"
# The original asks this when runs/<exp> exists; like PROMPT it is glued to the next print when stdout is piped.
COVER_PROMPT = "The exp name already exists. Do you want to cover? (y/n)"
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
    nan_stop_line: int | None = None  # a trainer's own "stopped on a non-finite loss" line
    # Per evaluation row (parallel to `rows`): every metric printed for it, keyed (split, metric, cut-off).
    row_metrics: list[dict[tuple[str | None, str, int | None], float]] = field(default_factory=list)
    # Final metrics after training: split -> {(metric, cut-off): value}, with the line of the split's first print.
    final_metrics: dict[str, dict[tuple[str, int | None], float]] = field(default_factory=dict)
    final_lines: dict[str, tuple[int, str]] = field(default_factory=dict)
    # A cut-off the run names (`_top20_` in its exp name, `DataSet: book (20)`): the curve is read at it.
    topn_hint: int | None = None
    resumed_since_row: bool = False
    # Runs that ended earlier in the same file (appended output, repeated runs), oldest first.
    segments: list[Run] = field(default_factory=list)
    format_name: str = "original"
    table_columns: list[str] | None = None  # the header of the metrics table being read, if any
    lines_read: int = 0
    bad_iter_lines: int = 0
    signals: int = 0  # lines recognised as this grammar's (not noise)
    # Cut-offs a header line states for the lists on the lines after it (`TEST[@10,@20]`, then `recall: [..]`).
    list_cutoffs: tuple[int, ...] | None = None
    list_split: str | None = None
    # Row indices whose values a `%` sign already put on the fraction scale (percent inference skips them).
    percent_signed_rows: set[int] = field(default_factory=set)
    # The first line printing each cut-off (for a run's cut-off stated by its evaluations alone).
    cutoff_lines: dict[int, tuple[int, str]] = field(default_factory=dict)
    # Counts a log states per split (`Train users: 480000`), keyed (split, declared key).
    split_counts: dict[tuple[str, str], Fact] = field(default_factory=dict)
    # Lines of the original's grammar where the generic grammar read more values (it wins): count and first line.
    generic_wins: int = 0
    generic_win_line: int | None = None
    backwards_line: int | None = None
    pending_step: tuple[int, str, Record] | None = None
    noise_line: int | None = None  # the last line found to be framework noise
    split_at_line: int | None = None  # the line at which the last run ended and another began  # a bare `iter: N` line waiting for its values  # the first step that went back without a restart (one note, one run)
    coverage: ReadCoverage = field(default_factory=ReadCoverage)

    def ref(self, line: int) -> SourceRef:
        return SourceRef(self.path, line)

    def event(self, kind: str, line: int, text: str, **values: Any) -> None:
        self.events.append(Event(kind=kind, ref=self.ref(line), text=text, values=values))  # type: ignore[arg-type]


def parse_log(path: str | Path, format_name: str) -> Run:
    """Read a stdout log of the original (or a port) into a Run labelled `format_name`: the last run in the file."""
    return parse_log_runs(path, format_name)[-1]


def parse_log_runs(path: str | Path, format_name: str) -> list[Run]:
    """Every run a log holds, oldest first (output appended with `>>`, repeated runs, one run's final lines each)."""
    lines = notebook_lines(path) if str(path).endswith(".ipynb") else iter_lines(path)
    state = _State(path=str(path), format_name=format_name)
    has_digit = _DIGIT_RE.search
    for number, raw in lines:
        state.lines_read = number
        signals, traceback_start = state.signals, state.traceback_start
        _parse_line(state, number, raw)
        # Framework noise (most of a long log) is settled by `_other_line`; only other lines are accounted. A line
        # that starts another run (a split resets the signal count) was used by it.
        if state.noise_line != number and has_digit(raw) is not None:
            used = state.signals != signals or state.split_at_line == number
            _account(state, number, raw, used=used, in_traceback=traceback_start is not None)
    if state.traceback_start is not None:
        _close_traceback(state, state.traceback_start, "Traceback (the exception line is missing)")
    _flush_pending_step(state)
    last = _finish(state, format_name)
    runs = [run for run in state.segments if _segment_has_content(run)]
    if _segment_has_content(last) or not runs:
        runs.append(last)
    if len(runs) > 1:
        for index, run in enumerate(runs, 1):
            run.extra_metrics["segment"] = {"index": index, "of": len(runs)}
    return runs


# A notebook bigger than this is not loaded whole (a log inside a notebook is a few MB at most).
MAX_NOTEBOOK_BYTES = 256 * 1024 * 1024


def notebook_lines(path: str | Path) -> list[tuple[int, str]]:
    """The text a Jupyter notebook's cells printed (stream outputs and text results), in cell order, numbered from 1
    over all outputs: a reference `nb.ipynb:N` is the N-th output line. Raises InputError on a damaged notebook."""
    import json

    from recdoc.errors import InputError

    try:
        if Path(path).stat().st_size > MAX_NOTEBOOK_BYTES:
            raise InputError(f"a notebook over {MAX_NOTEBOOK_BYTES // 2**20} MiB is not read", str(path))
        document = json.loads(Path(path).read_bytes().decode("utf-8", errors="replace"))
    except (OSError, ValueError) as error:
        raise InputError(f"not a readable notebook ({type(error).__name__})", str(path)) from None
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        raise InputError("not a Jupyter notebook (no cells)", str(path))
    out: list[tuple[int, str]] = []
    for cell in cells:
        for output in (cell.get("outputs") or []) if isinstance(cell, dict) else []:
            if not isinstance(output, dict):
                continue
            text = output.get("text") if output.get("output_type") == "stream" else (
                (output.get("data") or {}).get("text/plain"))
            if isinstance(text, list):
                text = "".join(str(part) for part in text)
            if isinstance(text, str):
                if text.endswith("\n"):
                    text = text[:-1]
                out.extend((len(out) + 1, line.rstrip("\r")) for line in text.split("\n"))
    return out


_DIGIT_RE = re.compile(r"\d")
# A number standing as a value (after a separator or a space), not a digit inside a name (`default_12`, `v2`).
_VALUE_RE = re.compile(r"(?:^|[\s:=,(\[{|])[-+]?\.?\d")
# Names that make an unread line worth showing: a metric word the grammar may have missed.
_METRIC_WORD_RE = re.compile(r"recall|ndcg|hit|mrr|precision|\bauc\b|\bhr\b|\bmap\b", re.IGNORECASE)
# Dates and times a logger prefixes (`2024-05-01 10:00:00,123`, `Tue 07 Dec 2026 10:00:00`): not measurements.
_TIME_STAMP_RE = re.compile(r"\d{4}[-/]\d{2}[-/]\d{2}|\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?|"
                            r"\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{4}")
# A progress bar's numbers are per-batch counters, not the run's measurements.
_PROGRESS_MARKERS = ("it/s]", "s/it]", "%|")


def _account(state: _State, number: int, raw: str, used: bool, in_traceback: bool) -> None:
    """Read coverage: a line holding a number as a value, whether its values entered the run, and, when not,
    whether it names a metric (shown as unread). Framework noise, traceback frames and progress bars hold numbers that are never
    measurements of the run, so they count as neither read nor unread."""
    line = raw.strip()
    if not used and (in_traceback or _VALUE_RE.search(_TIME_STAMP_RE.sub(" ", line)) is None
                     or _is_framework_noise(line)
                     or any(m in line for m in _PROGRESS_MARKERS) or (line.startswith("File ") and ", line " in line)):
        return
    coverage = state.coverage
    coverage.lines_with_numbers += 1
    if used:
        coverage.lines_used += 1
    elif _METRIC_WORD_RE.search(line) is not None:
        coverage.unread_metric_count += 1
        if len(coverage.unread_metric_lines) < ReadCoverage.KEPT_LINES:
            coverage.unread_metric_lines.append((state.ref(number), line[:200]))


def _segment_has_content(run: Run) -> bool:
    return bool(run.has_curve or run.finals or run.exp_name or run.argv)


def _parse_line(state: _State, number: int, raw: str) -> None:
    if state.traceback_start is not None and _traceback_line(state, number, raw):
        return
    line = _after_prompts(state, number, raw.strip())
    if not line:
        return
    # The line kinds are told apart by their first character before any other test (`_MARKED_LINES`).
    for is_kind, read in _MARKED_LINES.get(line[0], ()):
        if is_kind(line):
            read(state, number, line)
            return
    if _looks_like_exp_name(line):
        _exp_name_line(state, number, line)
        return
    unprefixed = _strip_log_prefix(line)
    if unprefixed is not None:
        _parse_line(state, number, unprefixed)
    else:
        _other_line(state, number, line)


def _after_prompts(state: _State, number: int, line: str) -> str:
    """The line after the original's prompts: input() prints its prompt without a newline, so when stdout is piped
    the next print is glued to it (each prompt marks a run's start)."""
    while line.startswith((PROMPT, COVER_PROMPT)):
        state.signals += 1
        _mark_run_start(state, number)
        line = line[len(PROMPT if line.startswith(PROMPT) else COVER_PROMPT):].strip()
    return line


def _looks_like_exp_name(line: str) -> bool:
    if "_lr" in line and "_len" in line and " " not in line[:line.find("_len")]:
        return True  # the typed part after `_len20_` may hold spaces; the generated part before it never does
    return "_" in line and " " not in line and len(line) < 200 and parse_exp_name_tokens(line) is not None


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
    if read_line(prefix).step is not None:
        return None  # `STEP: 8\tvalid recall...`: the prefix is the record's step, not a time stamp
    return line[match.start():]


def _iter_line(state: _State, number: int, line: str) -> None:
    match = _ITER_RE.match(line)
    if match is None:
        record = parse_record(line, infer_percent=False)
        # `iters: 2000` or `iter 1000 loss 6.1` is another port's evaluation; a bare `iter: 30` is a damaged line.
        if record is not None and record.step is not None and (
                not line.startswith("iter:") or record.loss is not None or record.metrics):
            _flush_pending_step(state)
            _record_line(state, number, line, record)
            return
        _flush_pending_step(state)
        if record is not None and record.step is not None:
            # A bare `iter: 1000`: a step print whose loss and metrics come on the next lines, or a line cut short.
            # Which one is known only from what follows: metrics or a loss adopt it, anything else notes it.
            state.pending_step = (number, line, record)
            return
        _note_bad_iter_line(state, number, line)
        return
    _flush_pending_step(state)
    iteration = int(match.group(1)) if len(match.group(1)) <= MAX_ITER_DIGITS else None
    if iteration is None:
        state.unreadable.append(f"{state.path}:{number}: an implausible iteration number: {line[:80]!r}")
        return
    metrics = parse_metric_pairs(line[match.end():])
    values = {("valid", key, cutoff): value for key, (_, value, cutoff) in metrics.items()}
    loss_text = match.group(2)
    rest = line[match.end():]
    # The generic grammar reads the line only where it may read more: more `key: value` separators than values
    # read, or a list or percent the line grammar has no notation for. (The original's own lines never qualify, so a
    # million-iteration log pays nothing for it.)
    may_read_more = rest.count(":") + rest.count("=") > len(values) or "[" in rest or "%" in rest
    generic = parse_record(line, infer_percent=False) if may_read_more else None
    if generic is not None and len(generic.metrics) > len(values):
        # The original's grammar missed names this line prints (`valid recall[@10]: 0.074`): the reading with more
        # values wins, and the run says so.
        values = {(split or "valid", metric, cutoff): value for (split, metric, cutoff), value in generic.metrics.items()}
        state.generic_wins += 1
        state.generic_win_line = state.generic_win_line or number
        if generic.percent == "sign":
            state.percent_signed_rows.add(len(state.rows))
    _note_cutoffs(state, number, line, values)
    _new_row(state, number, line, iteration, _to_float(loss_text), values, grammar=True,
             loss_printed=_is_number_token(loss_text))


def _note_bad_iter_line(state: _State, number: int, line: str) -> None:
    state.bad_iter_lines += 1
    if state.bad_iter_lines <= MAX_NOTES:
        state.unreadable.append(f"{state.path}:{number}: an `iter:` line without `train loss`: {line[:120]!r}")


def _flush_pending_step(state: _State) -> None:
    """A bare `iter: N` nothing adopted: a damaged line, noted."""
    if state.pending_step is not None:
        number, line, _ = state.pending_step
        state.pending_step = None
        _note_bad_iter_line(state, number, line)


def _adopt_pending_step(state: _State) -> None:
    """A loss or metrics line after a bare `iter: N`: that step is a row, its values on the lines that follow."""
    if state.pending_step is not None:
        number, line, record = state.pending_step
        state.pending_step = None
        assert record.step is not None
        _new_row(state, number, line, record.step, math.nan, {}, kind=record.step_kind or "iter")


def _is_number_token(text: str) -> bool:
    """A printed number, nan and inf included (`abc` where a loss should be is a damaged line, not a nan)."""
    return text.lower().lstrip("+-") in ("nan", "inf", "infinity") or _to_float(text) == _to_float(text)


def _new_row(state: _State, number: int, line: str, iteration: int, loss: float,
             metrics: dict[tuple[str | None, str, int | None], float], kind: str = "iter",
             grammar: bool = False, loss_printed: bool = False) -> None:
    """An evaluation (or a training print) at `iteration`: a new row of the curve. `grammar`: the original's
    `iter: N, train loss: L` line, printed only at evaluations (so a row of it without metrics is a failed one).
    `loss_printed`: the line printed a loss token; a NaN loss without it is a loss never read (no `nan` event: a
    curve NaN means "not read", and only a printed nan/inf is evidence of divergence)."""
    if state.rows and iteration == state.rows[-1]["iter"] and not state.rows[-1].get("closed") and not grammar:
        # The same step printed twice (`epoch 3 training [...]`, then `epoch 3 evaluating [...]`): one row.
        if not math.isnan(loss):
            state.rows[-1]["train_loss"] = loss
        state.row_metrics[-1].update(metrics)
        state.phase = "iter"
        return
    _close_row(state)
    if state.rows and iteration <= state.rows[-1]["iter"] and not state.resumed_since_row and kind == "iter":
        if state.pending_restart is not None or _restarts_from_start(state, iteration):
            # The step counter went back to a start without a resume: another run's output was appended.
            _split_segment(state, state.pending_restart or number)
        elif state.backwards_line is None:
            # Steps that go back without starting over (a log reversed or shuffled by a merge): still one run.
            state.backwards_line = number
            state.event("info", number, line, iterations_backwards=True, iter=iteration,
                        previous_iter=state.rows[-1]["iter"])
            state.unreadable.append(f"{state.path}:{number}: iterations go backwards at line {number} "
                                    f"({iteration} after {state.rows[-1]['iter']}); read as one run")
    elif state.rows and state.final_metrics:
        # Training went on after final lines (a run resumed into the same file): those finals were superseded.
        state.final_metrics, state.final_lines = {}, {}
    state.signals += 1
    row: dict[str, Any] = {"iter": iteration, "train_loss": loss, "file": state.path, "line": number,
                           "grammar": grammar}
    if kind == "epoch":
        row["epoch"] = True
    if loss_printed and (math.isnan(loss) or math.isinf(loss)):
        state.event("nan", number, line, iter=iteration)
        row["loss_nonfinite"] = True
    if any(split == "test" for split, _, _ in metrics):
        row["test_line"] = (number, line)  # a record printing test metrics with the step (one line, one record)
    state.rows.append(row)
    state.row_metrics.append(dict(metrics))
    state.phase = "iter"
    state.last_iter_line = number
    state.time_line = None
    state.restore_outcome = None
    state.interrupted_line = None
    state.early_message_line = None
    state.crash_line = None
    state.nan_stop_line = None
    state.resumed_since_row = False
    state.pending_restart = None


def _restarts_from_start(state: _State, iteration: int) -> bool:
    """A step that goes back to (or below) where an increasing run began starts another run; a step back inside
    a run, or in a run whose steps already decrease, does not."""
    rows = state.rows
    return len(rows) >= 2 and rows[-1]["iter"] > rows[0]["iter"] and iteration <= rows[0]["iter"]


def _note_cutoffs(state: _State, number: int, line: str,
                  metrics: dict[tuple[str | None, str, int | None], float]) -> None:
    for _, _, cutoff in metrics:
        if cutoff is not None and cutoff not in state.cutoff_lines:
            state.cutoff_lines[cutoff] = (number, line)


def _close_row(state: _State) -> None:
    """The last row is complete: without a validation metric, its evaluation did not run (or was not printed)."""
    if not state.rows or state.rows[-1].get("closed"):
        return
    row = state.rows[-1]
    row["closed"] = True
    # Only the original's grammar says a row is an evaluation; another code's step print without metrics is a
    # training print (not knowing a format is never evidence of a broken evaluation).
    if row["grammar"] and not any(split in ("valid", None) and metric in LOGGED_METRICS
                                  for split, metric, _ in state.row_metrics[-1]):
        # The original evaluates with faiss GPU; when that fails it prints the iter line without metrics.
        state.event("eval_missing", row["line"], f"iter: {row['iter']} without validation metrics", iter=row["iter"])


def _metrics_line(state: _State, number: int, line: str) -> None:
    """`valid recall: ...` / `Test recall@50: ...`: an evaluation's metrics, or the final metrics after training."""
    record = parse_record(line, infer_percent=False)
    if record is not None:
        _record_line(state, number, line, record)
    else:
        _generic_line(state, number, line)  # `Valid users: 61000`: a count, a header, a loss of the split


def _record_line(state: _State, number: int, line: str, record: Record) -> None:
    """Place what a line states: a new evaluation row, the metrics of the row just printed, or final metrics."""
    if record.header_cutoffs is not None:
        # `TEST[@10,@20]`: the cut-offs (and split) of the lists printed on the lines after it.
        state.signals += 1
        state.list_cutoffs, state.list_split = record.header_cutoffs, record.header_split
        return
    if record.pending_lists and state.list_cutoffs is not None:
        _place_listed_values(record, state.list_cutoffs, state.list_split)
    _note_cutoffs(state, number, line, record.metrics)
    if record.step is None and record.metrics:
        _adopt_pending_step(state)
    if record.step is not None:
        _step_record(state, number, line, record)
        return
    if record.loss is not None and record.metrics:
        # `Epoch 3/10` then `1000/1000 [===] - loss: 6.21 - val_recall@50: 0.07`: the step's loss and metrics.
        _set_row_loss(state, number, line, record.loss)
    by_split: dict[str, dict[tuple[str, int | None], float]] = {}
    for (split, metric, cutoff), value in record.metrics.items():
        by_split.setdefault(split or record.split or "", {})[(metric, cutoff)] = value
    for split, values in by_split.items():
        _split_values(state, number, line, split, values)


def _place_listed_values(record: Record, cutoffs: tuple[int, ...], header_split: str | None) -> None:
    """Lists printed without their cut-offs (`recall: [0.12, 0.18]`) at the cut-offs a header line stated."""
    for (split, metric), values in record.pending_lists.items():
        if len(values) == len(cutoffs):
            for cutoff, value in zip(cutoffs, values):
                record.metrics.setdefault((split or record.split or header_split, metric, cutoff), value)


def _step_record(state: _State, number: int, line: str, record: Record) -> None:
    """A record that names its step: a new row, its metrics without a split the validation's."""
    assert record.step is not None
    metrics = {(split or record.split or "valid", metric, cutoff): value
               for (split, metric, cutoff), value in record.metrics.items()}
    loss = record.loss if record.loss is not None else math.nan
    if record.percent == "sign":
        state.percent_signed_rows.add(len(state.rows))
    _new_row(state, number, line, record.step, loss, metrics, kind=record.step_kind or "iter",
             loss_printed=record.loss_text is not None)


def _split_values(state: _State, number: int, line: str, split: str,
                  values: dict[tuple[str, int | None], float]) -> None:
    """One split's metrics on a line without a step (`""`: no split named): the row just printed takes them while
    an evaluation is open, else they are final metrics."""
    evaluating = state.phase in ("iter", "time")
    if evaluating and state.rows and split in ("valid", ""):
        current = state.row_metrics[-1]
        if not any(("valid", metric, cutoff) in current or (None, metric, cutoff) in current
                   for metric, cutoff in values):
            state.signals += 1
            current.update({("valid", metric, cutoff): value for (metric, cutoff), value in values.items()})
            return
    if evaluating and split == "test":
        # Some ports print test metrics at every evaluation: they describe the row, not the end of training.
        state.signals += 1
        state.row_metrics[-1].update({("test", m, c): v for (m, c), v in values.items()})
        state.rows[-1].setdefault("test_line", (number, line))
        return
    if split in ("valid", "test"):  # metrics without a split after training: which split they describe is unknown
        _final_values(state, number, line, split, values)


def _final_values(state: _State, number: int, line: str, split: str,
                  values: dict[tuple[str, int | None], float]) -> None:
    stored = state.final_metrics.get(split, {})
    if any(key in stored for key in values):
        # A second final line for the same split and cut-off: another run's result (repeated runs in one file).
        _split_segment(state, state.pending_restart if state.pending_restart is not None else number)
    _close_row(state)
    state.signals += 1
    state.final_metrics.setdefault(split, {}).update(values)
    state.final_lines.setdefault(split, (number, line))
    state.phase = "finals" if state.phase not in ("restored",) else state.phase


def _time_line(state: _State, number: int, line: str) -> None:
    match = _TIME_RE.match(line)
    if match is None:
        return
    state.signals += 1
    if state.phase == "iter" and state.rows:
        state.rows[-1]["time_min"] = _to_float(match.group(1))
        state.phase = "time"
        state.time_line = number


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
        _set_argv(state, number, line, value)


def _model_restored_line(state: _State, number: int, line: str) -> None:
    _restore(state, number, line, line.split("from", 1)[1].strip())


def _no_best_model_line(state: _State, number: int, line: str) -> None:
    # recdoc's loop, when validation recall never rose: the final evaluation uses the last weights.
    _restore(state, number, line, None, kind="info")


def _restoring_checkpoint_line(state: _State, number: int, line: str) -> None:
    _restore(state, number, line, _after_colon(line))


def _traceback_start_line(state: _State, number: int, line: str) -> None:
    if state.traceback_start is not None:
        _close_traceback(state, state.traceback_start, "Traceback (the exception line is missing)")
    state.traceback_start = number
    state.traceback_frames = []


def _dash_line(state: _State, number: int, line: str) -> None:
    state.pending_dashes = number


def _exiting_early_line(state: _State, number: int, line: str) -> None:
    # The original prints the 89 dashes right before this line; a dash line further up is something else.
    dashes = state.pending_dashes
    state.interrupted_line = dashes if dashes is not None and number - dashes <= 2 else number
    state.event("interrupted", state.interrupted_line, line)
    state.signals += 1


def _is_metrics_line(line: str) -> bool:
    return line[:6].lower().startswith(("valid ", "test ", "valid:", "test:"))


_LineReader = Callable[[_State, int, str], None]
# The line kinds of the original's grammar by their first character: (is this kind, read it), tried in order. One
# dict lookup sends most lines of a long log (TensorFlow noise) past every test.
_MARKED_LINES: dict[str, tuple[tuple[Callable[[str], bool], _LineReader], ...]] = {
    "i": ((lambda line: line.startswith("iter:"), _iter_line),),
    "t": ((lambda line: line.startswith("time interval:"), _time_line), (_is_metrics_line, _metrics_line)),
    "T": ((_is_metrics_line, _metrics_line),
          (lambda line: line.startswith("Traceback (most recent call last)"), _traceback_start_line)),
    "v": ((_is_metrics_line, _metrics_line),),
    "V": ((_is_metrics_line, _metrics_line),),
    "m": ((lambda line: line.startswith(("model restored from", "model loaded from")), _model_restored_line),),
    "n": ((lambda line: line.startswith("no best model was saved"), _no_best_model_line),),
    "R": ((lambda line: line.startswith("Restoring best checkpoint for evaluation"), _restoring_checkpoint_line),),
    "-": ((lambda line: line.startswith("-" * 20) and set(line) == {"-"}, _dash_line),),
    "E": ((lambda line: line.startswith("Exiting from training early"), _exiting_early_line),),
    "[": ((lambda line: line.endswith("]") and ".py" in line, _argv_line),),
}


def _mark_run_start(state: _State, number: int) -> None:
    if (state.rows or state.final_metrics) and state.pending_restart is None:
        state.pending_restart = number


def _split_segment(state: _State, start: int) -> None:
    """The file holds another run from line `start` on: what came before is a run of its own (kept in `segments`)."""
    state.split_at_line = state.lines_read
    _close_row(state)
    old = _State(path=state.path, format_name=state.format_name)
    for name in ("rows", "row_metrics", "final_metrics", "final_lines", "unreadable", "other_exp_names",
                 "phase", "last_iter_line", "time_line", "restore_outcome", "interrupted_line", "early_message_line",
                 "crash_line", "nan_stop_line", "bad_iter_lines", "signals", "topn_hint", "percent_signed_rows",
                 "cutoff_lines", "split_counts", "generic_wins", "generic_win_line", "backwards_line", "coverage"):
        setattr(old, name, getattr(state, name))
    old.lines_read = start - 1
    old.events = [e for e in state.events if (e.ref.line or 0) < start]
    old.declared = {k: f for k, f in state.declared.items() if (f.ref.line or 0) < start}
    old.exp_name = state.exp_name if state.exp_name is not None and (state.exp_name.ref.line or 0) < start else None
    old.argv = state.argv if state.argv is not None and (state.argv.ref.line or 0) < start else None
    state.segments.append(_finish(old, state.format_name))
    state.rows, state.row_metrics, state.final_metrics, state.final_lines = [], [], {}, {}
    state.unreadable, state.other_exp_names = [], set()
    state.events = [e for e in state.events if (e.ref.line or 0) >= start]
    state.declared = {k: f for k, f in state.declared.items() if (f.ref.line or 0) >= start}
    state.exp_name = None if old.exp_name is not None else state.exp_name
    state.argv = None if old.argv is not None else state.argv
    state.restore_outcome = state.interrupted_line = state.early_message_line = state.crash_line = None
    state.nan_stop_line = state.pending_dashes = state.last_iter_line = state.time_line = None
    state.bad_iter_lines, state.signals = 0, 0
    state.percent_signed_rows, state.cutoff_lines, state.coverage = set(), {}, ReadCoverage()
    state.split_counts = {}
    state.generic_wins, state.generic_win_line, state.backwards_line = 0, None, None
    state.pending_restart = None
    state.phase = None


def _exp_name_line(state: _State, number: int, line: str) -> None:
    parsed = parse_exp_name(line)
    tokens = parse_exp_name_tokens(line)
    dataset = parsed.dataset if parsed is not None else tokens["dataset"] if tokens is not None else None
    # The generated part of the name starts with the dataset, a plain file-name word: prose or Markdown that merely
    # quotes a run folder (`runs/book_DNN_b128_...`) is not an exp-name line.
    if dataset is None or _DATASET_WORD_RE.fullmatch(dataset) is None:
        return
    state.signals += 1
    if tokens is not None and tokens.get("topN") and state.topn_hint is None:
        state.topn_hint = int(tokens["topN"])
    if state.pending_restart is not None and (state.exp_name is not None and line != state.exp_name.value
                                              or state.final_metrics):
        # A new header after evaluations, then another exp name (or the same one after a finished run): the file
        # holds another run from the header on.
        _split_segment(state, state.pending_restart)
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


# Lines TensorFlow, absl and CUDA print (most of a long log): never a record or a setting, rejected in one C call.
_FRAMEWORK_PREFIXES = ("WARNING:tensorflow", "WARNING:absl", "INFO:tensorflow", "W0", "I0", "E0",
                       "Instructions for updating", "Use tf.", "To enable the following", "Could not load",
                       "Successfully opened", "Your CPU supports")


def _is_framework_noise(line: str) -> bool:
    if line.startswith(_FRAMEWORK_PREFIXES):
        return True
    # `2022-06-16 22:50:30.117533: I tensorflow/core/...`: a C++ log line of TensorFlow.
    return line[:1].isdigit() and "tensorflow/" in line[:90]


def _other_line(state: _State, number: int, line: str) -> None:
    if line.isascii() and not line.startswith(_ASCII_PREFIXES) and "Invalid model_type" not in line:
        if not _is_framework_noise(line):
            _generic_line(state, number, line)
        else:
            state.noise_line = number  # read coverage counts it as neither read nor unread
        return
    for is_kind, read in _PORT_LINES:
        if is_kind(line):
            read(state, number, line)
            return
    _pytorch_line(state, number, line)


def _training_begin_line(state: _State, number: int, line: str) -> None:
    state.signals += 1
    _mark_run_start(state, number)
    state.event("info", number, line, training_begin=True, keras="Keras" in line)


def _early_stopping_line(state: _State, number: int, line: str) -> None:
    state.signals += 1
    state.early_message_line = number
    state.event("early_stop_message", number, line)


def _invalid_model_type_line(state: _State, number: int, line: str) -> None:
    state.signals += 1
    match = _INVALID_MODEL_RE.search(line)
    # print("Invalid model_type : %s", model_type) prints the literal %s, then the name (Py2: as a tuple).
    name = match.group(1).strip(" \t'\",()") if match else ""
    state.event("invalid_model_type", number, line, model_type=name or None)


def _nan_stop_line(state: _State, number: int, line: str) -> None:
    # recdoc's loop stops on a non-finite loss: `train loss is nan at iter N: training stopped, ...`.
    state.signals += 1
    state.nan_stop_line = number
    state.event("nan", number, line, iter=state.rows[-1]["iter"] if state.rows else None)


def _is_resume_line(line: str) -> bool:
    return ("发现已有" in line or "自动恢复" in line or line.startswith("Restoring from checkpoint")
            or line.startswith("training resumed from"))


def _resumed_line(state: _State, number: int, line: str) -> None:
    state.signals += 1
    if line.startswith("training resumed from"):  # recdoc: `training resumed from PATH at iteration N`
        path: str | None = line[len("training resumed from"):].rsplit(" at iteration", 1)[0].strip() or None
    else:
        path = _after_colon(line)
    state.event("resumed", number, line, path=path)
    state.resumed_since_row = True


def _saved_best_line(state: _State, number: int, line: str) -> None:
    state.signals += 1
    numbers = _FLOAT_RE.findall(line.rsplit("recall", 1)[-1]) if "recall" in line else []
    last_iter = state.rows[-1]["iter"] if state.rows else None
    state.event("saved_best", number, line, recall=_to_float(numbers[0]) if numbers else None, iter=last_iter)


def _warning_line(state: _State, number: int, line: str) -> None:
    state.signals += 1
    state.event("warning", number, line)


# The line kinds of recdoc's loop and the TF2 port (its Chinese and emoji messages): (is this kind, read it), tried
# in order; a line of none is the PyTorch port's (`_pytorch_line`).
_PORT_LINES: tuple[tuple[Callable[[str], bool], _LineReader], ...] = (
    (lambda line: line.startswith("training begin"), _training_begin_line),
    (lambda line: line.startswith("early stopping"), _early_stopping_line),
    (lambda line: "Invalid model_type" in line, _invalid_model_type_line),
    (lambda line: line.startswith("train loss is") and "training stopped" in line, _nan_stop_line),
    (_is_resume_line, _resumed_line),
    (lambda line: "保存" in line and "最优" in line or line.startswith("💾"), _saved_best_line),
    (lambda line: line.startswith("⚠") or "警告" in line, _warning_line),
)


# Header keys whose value is a setting of the run (declared, like run.json's); others are facts about the data.
_SETTING_HEADER_KEYS = {"dataset", "model_type", "learning_rate", "batch_size", "topN", "num_interest", "embedding_dim",
                        "hidden_size", "maxlen", "patience", "max_iter", "test_iter", "neg_num", "item_count",
                        "user_count"}


# A header line states one setting (`DataSet: book14 (20)`); a longer line is prose or a warning.
MAX_HEADER_CHARS = 80


def _generic_line(state: _State, number: int, line: str) -> None:
    """A line of no known port's grammar: a header (`DataSet: book14 (20)`), an argv in another form, or an
    evaluation record in any shape (records.py); else the counts and evaluation protocol it states."""
    for read in _GENERIC_LINE_READERS:
        if read(state, number, line):
            return
    _fact_line(state, number, line)


def _header_line(state: _State, number: int, line: str) -> bool:
    """A header stating settings (`DataSet: book14 (20)`): declared, the dataset's marking a run's start."""
    if len(line) > MAX_HEADER_CHARS or not (":" in line or "=" in line):
        return False
    header = parse_header(line)
    if header is None:
        return False
    state.signals += 1
    for key, value in header.items():
        if key in _SETTING_HEADER_KEYS:
            state.declared.setdefault(key, Fact(value=value, ref=state.ref(number), text=line))
    if "topN" in header and state.topn_hint is None and header["topN"].isdigit():
        state.topn_hint = int(header["topN"])
    if "dataset" in header:
        _mark_run_start(state, number)
    return True


def _other_argv_line(state: _State, number: int, line: str) -> bool:
    """The run's arguments printed as an argparse Namespace or a shell command."""
    argv = parse_namespace(line) if "Namespace(" in line else None
    if argv is None and ".py" in line and "--" in line:
        argv = parse_shell_argv(line)
    if argv is None:
        return False
    _set_argv(state, number, line, argv)
    return True


def _table_line(state: _State, number: int, line: str) -> bool:
    """A row of the metrics table being read, or a table's header; a line of neither ends the table (a rule line
    `|---|` keeps it)."""
    if state.table_columns is not None:
        row = table_row(line, state.table_columns)
        if row is not None:
            _record_line(state, number, line, row)
            return True
        if not set(line.strip()) <= set("|-=+: "):
            state.table_columns = None
    if "|" in line or "  " in line or "\t" in line or "," in line:
        columns = table_header(line)
        if columns is not None:
            state.signals += 1
            state.table_columns = columns
            return True
    return False


def _evaluation_line(state: _State, number: int, line: str) -> bool:
    """An evaluation record in any shape, or a loss printed on its own after a step line. True when the line is an
    evaluation's (its step or metrics), whose counts are the evaluation's (`{'users': 61000, 'recall': ...}`), not
    the dataset's."""
    record = parse_record(line, infer_percent=False)
    if record is not None:
        _record_line(state, number, line, record)
        return bool(record.metrics or record.step is not None)
    if "loss" in line and (state.phase == "iter" and state.rows or state.pending_step is not None) and not any(
            m in line for m in _PROGRESS_MARKERS):
        _loss_line(state, number, line)
    return False


def _fact_line(state: _State, number: int, line: str) -> None:
    """The dataset's counts and the evaluation protocol a line states (cheap word tests before the grammar)."""
    lowered = line.lower()
    if "item" in lowered or "user" in lowered or "inter" in lowered or "rating" in lowered or "action" in lowered:
        _count_facts(state, number, line)
    if "neg" in lowered or "test_all" in lowered or "uni" in lowered or "pop" in lowered:
        protocol = read_eval_protocol(line)
        if protocol is not None:
            state.signals += 1
            state.declared.setdefault("eval_candidates", Fact(value=protocol, ref=state.ref(number), text=line))


# Each reads a line as one kind, True when it was that kind (the line is then read); tried in order.
_GENERIC_LINE_READERS: tuple[Callable[[_State, int, str], bool], ...] = (
    _header_line, _other_argv_line, _table_line, _evaluation_line)


def _loss_line(state: _State, number: int, line: str) -> None:
    """`train loss: 7.58` on its own line right after a step line (`iters: 500`): that step's loss."""
    reading = read_line(line)
    if reading.loss is None or reading.metrics:
        return
    _adopt_pending_step(state)
    _set_row_loss(state, number, line, reading.loss)


def _set_row_loss(state: _State, number: int, line: str, loss: float) -> None:
    """A loss printed apart from its step line: the current row's, when that row has none yet."""
    if state.phase not in ("iter", "time") or not state.rows:
        return
    row = state.rows[-1]
    if not math.isnan(row["train_loss"]) or row.get("closed"):
        return
    state.signals += 1
    row["train_loss"] = loss
    if math.isnan(loss) or math.isinf(loss):
        state.event("nan", number, line, iter=row["iter"])
        row["loss_nonfinite"] = True


def _count_facts(state: _State, number: int, line: str) -> None:
    """Item, user and interaction counts in any phrasing (grammar.read_counts), as declared facts with their line:
    identity.py recognises a paper dataset by them."""
    for fact in read_counts(line):
        state.signals += 1
        if fact.split is not None:
            state.split_counts.setdefault((fact.split, fact.key), Fact(value=fact.value, ref=state.ref(number),
                                                                       text=line))
        elif fact.key not in state.declared:
            state.declared[fact.key] = Fact(value=fact.value, ref=state.ref(number), text=line)


def _dataset_counts(state: _State) -> None:
    """The dataset's counts from counts per split, where the log states no total: items are the training split's
    (the catalogue a model is trained on); users are the sum over train, valid and test when the splits hold
    disjoint users (each of valid and test smaller than train, as in ComiRec's user split), else the training
    split's; interactions are the sum over the splits printed. Each fact says how it was formed."""
    counts = state.split_counts
    if not counts:
        return
    for key in ("item_count", "user_count", "interaction_count"):
        if key in state.declared:
            continue
        train, valid, test = (counts.get((split, key)) for split in ("train", "valid", "test"))
        parts = [fact for fact in (train, valid, test) if fact is not None]
        if not parts:
            continue
        summed = key == "interaction_count" or (
            key == "user_count" and train is not None and valid is not None and test is not None
            and valid.value < train.value and test.value < train.value)
        if summed and len(parts) > 1:
            total = sum(int(fact.value) for fact in parts)
            text = " + ".join(str(fact.text) for fact in parts) + f" = {total}"
            state.declared[key] = Fact(value=total, ref=parts[0].ref, text=text)
        elif train is not None:
            state.declared[key] = train


def _set_argv(state: _State, number: int, line: str, argv: list[str]) -> None:
    state.signals += 1
    _mark_run_start(state, number)
    if state.argv is None or (state.pending_restart is not None and state.argv.ref.line is not None
                              and state.argv.ref.line < state.pending_restart):
        state.argv = Fact(value=argv, ref=state.ref(number), text=line)
    topn = next((argv[i + 1] for i, token in enumerate(argv[:-1]) if token.lstrip("-").lower() == "topn"), None)
    if topn is not None and topn.isdigit() and state.topn_hint is None:
        state.topn_hint = int(topn)


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
            state.declared.setdefault("user_count", Fact(value=value, ref=state.ref(number), text=line))
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
    if state.rows and state.final_metrics and not any(row["grammar"] for row in state.rows):
        # Another code's final metrics after its training: it finished, by a rule its log does not name.
        return "unknown", None
    if state.rows:
        if state.rows[-1].get("loss_nonfinite"):  # a printed nan/inf, never a loss that was not printed
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


def _last_test_is_final(state: _State) -> None:
    """Test metrics printed only after the last evaluation are the run's final test result, not that evaluation's."""
    if "test" in state.final_metrics or not state.row_metrics:
        return
    with_test = [i for i, metrics in enumerate(state.row_metrics) if any(s == "test" for s, _, _ in metrics)]
    if with_test != [len(state.row_metrics) - 1]:
        return
    last = state.row_metrics[-1]
    state.final_metrics["test"] = {(metric, cutoff): value for (split, metric, cutoff), value in last.items()
                                   if split == "test"}
    state.final_lines["test"] = state.rows[-1]["test_line"]
    for key in [k for k in last if k[0] == "test"]:
        del last[key]


def primary_cutoff(state: _State) -> int | None:
    """The cut-off the curve is read at: the one the run names (exp name, header) if printed, else the paper's, else
    the first printed (`grammar.pick_cutoff`, as for every reader)."""
    seen: list[int | None] = []
    # Recall's cut-offs first (the paper's headline metric); a run that prints no recall is read at its others'.
    for wanted in (("recall",), LOGGED_METRICS):
        for metrics in state.row_metrics:
            seen.extend(cutoff for split, metric, cutoff in metrics if metric in wanted and cutoff not in seen)
        for values in state.final_metrics.values():
            seen.extend(cutoff for metric, cutoff in values if metric in wanted and cutoff not in seen)
        if seen:
            break
    return pick_cutoff(seen, state.topn_hint)


def _percent_columns(state: _State) -> None:
    """Values printed in percent, decided over what belongs together (`HIT@10: 3.569` is 3.569%): an evaluation
    line whose fraction metrics exceed 1, or a metric column (one key over all evaluations) that does, is in
    percent as a whole, since a curve in percent starts below 1%. Rows a `%` sign already scaled are left alone;
    a column holding an impossible value (inf, negative, above 100) stays as printed for the impossible-metrics
    check."""
    columns, percent_rows = _fraction_columns(state)
    for key, indices in columns.items():
        values = [state.row_metrics[i][key] for i in indices]
        if not all(math.isfinite(v) and 0 <= v <= 100 for v in values):
            continue
        if is_percent_scale(values) or any(i in percent_rows for i in indices):
            for i in indices:
                state.row_metrics[i][key] = from_percent(state.row_metrics[i][key])
    for values in state.final_metrics.values():
        fractions = {k: v for k, v in values.items() if k[0] in FRACTION_METRICS}
        if fractions and is_percent_scale(list(fractions.values())):
            for key in fractions:
                values[key] = from_percent(values[key])


def _fraction_columns(state: _State) -> tuple[dict[tuple[str | None, str, int | None], list[int]], set[int]]:
    """The rows (not scaled by a `%` sign) holding each fraction metric's key, and the rows whose fraction metrics
    are on the percent scale."""
    columns: dict[tuple[str | None, str, int | None], list[int]] = {}
    percent_rows: set[int] = set()
    for i, metrics in enumerate(state.row_metrics):
        if i in state.percent_signed_rows:
            continue
        fractions = [v for k, v in metrics.items() if k[1] in FRACTION_METRICS]
        if fractions and is_percent_scale(fractions):
            percent_rows.add(i)
        for key in metrics:
            if key[1] in FRACTION_METRICS:
                columns.setdefault(key, []).append(i)
    return columns, percent_rows


def _finish(state: _State, format_name: str) -> Run:
    _close_row(state)
    _last_test_is_final(state)
    _percent_columns(state)
    _dataset_counts(state)
    run = Run(format=format_name, paths=[state.path])
    run.exp_name, run.argv = state.exp_name or _exp_name_from_restore(state), state.argv
    run.declared = state.declared
    cutoff = primary_cutoff(state)
    run.curve = curve_from_rows(_curve_rows(state, run, cutoff))
    if any(row.get("epoch") for row in state.rows):
        run.extra_metrics["step_unit"] = "epoch"
    cutoffs = sorted({c for m in state.row_metrics for (_, metric, c) in m if metric == "recall" and c is not None}
                     | {c for v in state.final_metrics.values() for (metric, c) in v if metric == "recall" and c})
    if cutoffs:
        run.extra_metrics["cutoffs_printed"] = cutoffs
    if cutoff is not None:
        run.extra_metrics["curve_cutoff"] = cutoff
    run.finals = _final_metrics(state, cutoff)
    if format_name == "original" and any(c is not None for m in state.row_metrics for (_, _, c) in m):
        # The original prints `valid recall: ...` without a cut-off; a log that prints `valid recall@20` at its
        # evaluations is another code's, whose loss and messages mean something else.
        run.format = "text"
        run.unreadable.append(f"{state.path}: evaluation lines name a cut-off (`@K`), which the original never "
                              "prints: read as another code's log")
    if len(cutoffs) > 1:
        for split, values in state.final_metrics.items():
            run.extra_metrics[f"final_{split}"] = {f"{metric}@{c}": value for (metric, c), value in values.items()
                                                   if c is not None and value == value}
    run.events = state.events
    run.unreadable = state.unreadable + run.unreadable  # the format note above was written before this list
    run.coverage = state.coverage
    _cutoff_of_evaluations(state, run)
    _set_stop(state, run)
    _reading_notes(state, run)
    if state.signals and not _has_run_evidence(state):
        # A README, a notebook dump or an issue text can quote a warning or a traceback; a run prints at least one of
        # the lines below, so a file without any of them is noted and contributes nothing.
        return Run(format=format_name, paths=[state.path], unreadable=run.unreadable + [
            f"{state.path}: no evidence of a training run (no `iter:` line, final metrics line, argv line, "
            f"experiment-name line or restore line)"])
    return run


def _curve_rows(state: _State, run: Run, cutoff: int | None) -> list[dict[str, Any]]:
    """The curve's rows at `cutoff` (evaluations only, where another code's training prints come between them),
    with every metric each evaluation printed kept in `extra_metrics["evaluation_metrics"]`."""
    evaluated = [any(metric in LOGGED_METRICS for _, metric, _ in m) for m in state.row_metrics]
    training_prints = [not row["grammar"] and not has for row, has in zip(state.rows, evaluated)]
    if any(evaluated) and any(training_prints):
        # Another code's step prints between its evaluations: the curve holds evaluations only.
        run.extra_metrics["training_prints_skipped"] = sum(training_prints)
    elif state.rows and not any(evaluated) and not any(row["grammar"] for row in state.rows):
        run.extra_metrics["evaluation_unseen"] = True  # steps in a shape without metrics: nothing says eval failed
    rows = []
    evaluation_metrics: list[dict[str, Any]] = []
    for row, metrics, skip in zip(state.rows, state.row_metrics, training_prints):
        if skip and any(evaluated):
            continue
        row = {k: v for k, v in row.items() if k not in ("closed", "epoch", "grammar", "test_line", "loss_nonfinite")}
        if metrics:
            evaluation_metrics.append(evaluation_record(row["iter"], metrics))
        rows.append({**row, **curve_values(metrics, cutoff)})
    if evaluation_metrics:
        # Every metric each evaluation printed (all cut-offs and splits; the curve holds one cut-off of valid).
        run.extra_metrics["evaluation_metrics"] = evaluation_metrics
    return rows


def _cutoff_of_evaluations(state: _State, run: Run) -> None:
    """Every evaluation names one cut-off (`valid recall[@10]`) and nothing else states the run's: that is the
    run's, with the line that shows it."""
    printed = sorted(state.cutoff_lines)
    if len(printed) == 1 and "topN" not in run.declared and state.topn_hint is None:
        number, text = state.cutoff_lines[printed[0]]
        run.declared["topN"] = Fact(value=printed[0], ref=state.ref(number), text=text)


def _set_stop(state: _State, run: Run) -> None:
    reason, line = _stop_reason(state)
    run.stop_reason = reason
    run.stop_ref = state.ref(line) if line is not None else None


def _reading_notes(state: _State, run: Run) -> None:
    """What the reader could not read, or read only by the generic grammar, in the run's notes."""
    if state.generic_wins:
        run.unreadable.append(f"{state.path}:{state.generic_win_line}: {state.generic_wins} line(s) of the original's "
                              "shape hold metric names its grammar does not read; read by the generic grammar, which "
                              "read more values")
    if state.bad_iter_lines > MAX_NOTES:
        run.unreadable.append(f"{state.path}: {state.bad_iter_lines} `iter:` lines without `train loss` in all")
    if state.signals == 0:
        what = "an empty file" if state.lines_read == 0 else f"{state.lines_read} lines, none of them a ComiRec log line"
        run.unreadable.append(f"{state.path}: {what}")


def _final_metrics(state: _State, cutoff: int | None) -> dict[str, FinalMetrics]:
    finals: dict[str, FinalMetrics] = {}
    for split, values in state.final_metrics.items():
        at = cutoff if any(c == cutoff for _, c in values) else next(iter(values))[1]
        number, text = state.final_lines[split]
        finals[split] = final_at(split, values, at, state.ref(number), text)
    return finals


# Facts a README or an issue text can state as well as a run: alone they are no evidence that the file is a run.
FACT_ONLY_KEYS = {"item_count", "user_count", "interaction_count", "eval_candidates"}


def _has_run_evidence(state: _State) -> bool:
    return bool(state.rows or state.final_metrics or state.argv or state.exp_name
                or any(key not in FACT_ONLY_KEYS for key in state.declared)
                or any(event.kind == "restored" for event in state.events))


def count_markers(head: str, markers: tuple[str, ...]) -> int:
    return sum(1 for marker in markers if marker in head)


# The PyTorch port's exp names add `_in{K}_top{N}` (ports derived from it keep the pair, whatever precedes it).
_PYTORCH_EXP_RE = re.compile(r"_in\d+_top\d+")


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
