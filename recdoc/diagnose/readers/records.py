"""Evaluation records in any text log: a step, a training loss, and metric@K per split, whatever the print's shape.

Forks and ports print the same facts in many shapes: `iter: 1000, train loss: 7.1, valid recall: 0.05`,
`iters: 2000` then `valid metrics: {'recall': 0.07, 'ndcg': 0.05, 'hitrate': 0.14}`, `valid recall@20: 0.05`,
`epoch=3 loss=6.2 val_recall@50=0.07`, a JSON line `{"step": 1000, "valid/recall@50": 0.07}`, a table row
`| 1000 | 6.21 | 0.071 |` under a header. `parse_record` turns one line into a `Record` (or None when the line holds
no step and no metric); the log parser (stdout_log.py) decides what a record means from where it stands (a new
evaluation, the metrics of the evaluation just printed, or a final line after training).

Pure functions over strings; no file access. Keys are matched by meaning, not by spelling: `hit_rate`, `HR@50`,
`hitrate` are one metric; `val`, `valid`, `validation`, `eval`, `dev` are one split.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

from recdoc.diagnose.readers.grammar import (
    FRACTION_METRICS,
    METRIC_SYNONYMS,
    NEEDS_CUTOFF,
    SPLIT_SYNONYMS,
    STEP_SYNONYMS,
    LineReading,
    from_percent,
    read_line,
)
from recdoc.diagnose.readers.lexer import tokenize

METRICS = ("recall", "ndcg", "hitrate", "diversity", "mrr", "precision", "auc")
_SPLIT_NAMES = SPLIT_SYNONYMS
_STEP_NAMES = STEP_SYNONYMS
_LOSS_NAMES = {"loss", "train_loss", "train loss", "training loss", "training_loss", "avg_loss", "mean_loss"}
# Cheap test before the lexer: a line without a word of the grammar's tables carries no record (a long log is
# mostly noise, and the lexer costs a few microseconds a token). Built from the tables, so a new synonym is hinted.
_LONG_NAMES = sorted({name.replace(" ", "") for name in METRIC_SYNONYMS if name not in NEEDS_CUTOFF and len(name) > 1}
                     | {name.split()[0] for name in METRIC_SYNONYMS if " " in name}
                     | {name for name in STEP_SYNONYMS if len(name) > 2 and " " not in name} | {"loss", "@"})
# One-letter and short names count only with a cut-off after them (`R@50`, `valid_N_20`, `P(10)`, `rec top-5`).
_SHORT_NAMES = "|".join(sorted(NEEDS_CUTOFF, key=len, reverse=True))
_HINTS_RE = re.compile("|".join(re.escape(h) for h in _LONG_NAMES)
                       + rf"|(?<![a-z])(?:{_SHORT_NAMES})(?=[_\[(\-]?\d|\[@|\s?top)")


@dataclass
class Record:
    """What one line states. `metrics` maps (split or None, metric, cut-off or None) to a value.

    Beyond the step, loss and metrics: `loss_text` is the loss token as printed (a printed `nan` is a fact, a loss
    never printed is None); `pending_lists` are metrics printed as lists without cut-offs (`recall:\t[0.12, 0.18]`)
    that a header line's `header_cutoffs` (`TEST[@10,@20]`, with `header_split`) before them places; `percent`
    says whether values were divided by 100 (`'sign'`: a `%` was printed; `'inferred'`: a fraction metric on the
    line exceeded 1, so the whole line is in percent).
    """

    step: int | None = None
    step_kind: str | None = None  # 'iter' or 'epoch'
    loss: float | None = None
    metrics: dict[tuple[str | None, str, int | None], float] = field(default_factory=dict)
    split: str | None = None  # the split the line names outside its keys (`valid metrics: {...}`, `Test:`)
    loss_text: str | None = None
    pending_lists: dict[tuple[str | None, str], list[float]] = field(default_factory=dict)
    header_cutoffs: tuple[int, ...] | None = None
    header_split: str | None = None
    percent: str | None = None

    @property
    def empty(self) -> bool:
        return self.step is None and not self.metrics and not self.pending_lists and self.header_cutoffs is None


def to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def metric_key(key: str) -> tuple[str | None, str, int | None] | None:
    """`valid_recall@50` -> ('valid', 'recall', 50); `HR@20` -> (None, 'hitrate', 20); `loss` -> None."""
    if not key or len(key) > 200:
        return None
    # A key is a name: a value or a separator in it (`recall@20 : 0.05`) makes it a pair, not a key.
    if any((t.kind == "punct" and t.text in ":=,;") or (t.kind == "num" and not t.text.isdigit())
           for t in tokenize(key)):
        return None
    reading = read_line(f"{key.strip()}: 0.5")
    if len(reading.metrics) != 1:
        return None
    return next(iter(reading.metrics))


def line_split(line: str) -> str | None:
    """The split a line names before its first key: `valid metrics: {...}`, `Test results:`, `[eval] ...`."""
    return read_line(line[:60]).split


def has_hint(line: str) -> bool:
    """Whether a line may hold a record at all (a substring test, before any tokenizing)."""
    return _HINTS_RE.search(line.lower()) is not None


def parse_record(line: str, infer_percent: bool = True) -> Record | None:
    """The step, loss and metrics one line states, or None. Never raises; linear in the line's length.

    `infer_percent`: a line whose fraction metrics exceed 1 is in percent (all its values / 100). A reader that
    sees a whole column passes False and decides per column (a curve in percent starts below 1%).
    """
    if not has_hint(line):
        return None
    stripped = line.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        record = _json_record(stripped)
        if record is not None:
            return record
    record = record_from_reading(read_line(stripped))
    if infer_percent:
        apply_inferred_percent(record)
    return None if record.empty else record


def record_from_reading(reading: LineReading) -> Record:
    record = Record(step=reading.step, step_kind=reading.step_kind, loss=reading.loss, loss_text=reading.loss_token,
                    metrics=dict(reading.metrics), split=reading.split, pending_lists=dict(reading.pending_lists),
                    header_cutoffs=reading.header_cutoffs, header_split=reading.header_split)
    if reading.percent_signed:
        record.percent = "sign"
    return record


def is_percent_scale(values: list[float]) -> bool:
    """Fraction-metric values printed in percent: some above 1, every one a finite number in [0, 100]. A damaged
    value (inf, a negative, above 100) keeps the values as printed, for the impossible-metrics check to see."""
    return any(v > 1 for v in values) and all(math.isfinite(v) and 0 <= v <= 100 for v in values)


def apply_inferred_percent(record: Record) -> None:
    keys = [k for k in record.metrics if k[1] in FRACTION_METRICS]
    if record.percent == "sign" or not keys:
        return
    if is_percent_scale([record.metrics[k] for k in keys]):
        for key in keys:
            record.metrics[key] = from_percent(record.metrics[key])
        record.percent = "inferred"


def _add_pair(record: Record, key: str, raw: str, percent: bool = False) -> None:
    """One `key: value` pair into `record`, read by the grammar (the key's spelling decides what it is)."""
    value = to_float(raw)
    if value == value and not math.isinf(value) and value.is_integer() and abs(value) < 1e15:
        raw = str(int(value))  # `1000.0` from a JSON number: a step count is printed as an integer
    reading = read_line(f"{key.strip()}: {raw}{'%' if percent else ''}")
    if reading.step is not None and record.step is None:
        record.step, record.step_kind = reading.step, reading.step_kind
    if reading.loss is not None and record.loss is None:
        record.loss, record.loss_text = reading.loss, reading.loss_token
    for metric, value in reading.metrics.items():
        record.metrics.setdefault(metric, value)


def _json_record(text: str) -> Record | None:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        try:
            import ast

            data = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            return None
    if not isinstance(data, dict):
        return None
    record = Record()
    for key, value in _flatten(data):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        _add_pair(record, key.replace("/", "_").replace(".", "_"), repr(float(value)))
    return None if record.empty else record


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for key, value in data.items():
        name = f"{prefix}_{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.extend(_flatten(value, name))
        else:
            out.append((name, value))
    return out


def table_header(line: str) -> list[str] | None:
    """The columns of a table header whose cells are all keys a record knows (`| iter | loss | recall@50 |`, or
    the same separated by two or more spaces); None otherwise."""
    cells = _cells(line)
    if cells is None or len(cells) < 2:
        return None
    known = 0
    for cell in cells:
        name = cell.lower()
        if name in _STEP_NAMES or name in _LOSS_NAMES or metric_key(name) is not None:
            known += 1
    return cells if known == len(cells) and any(metric_key(c.lower()) for c in cells) else None


MAX_TABLE_CELLS = 64
# Cells that say "no value here" in a printed table.
MISSING_CELLS = {"-", "--", "n/a", "na", "none", "null", "—"}


def table_row(line: str, columns: list[str]) -> Record | None:
    """A row of numbers under `columns` as a record; None when the line is not such a row."""
    cells = _cells(line)
    if cells is None or len(cells) != len(columns):
        return None
    values = []
    for cell in cells:
        if cell.lower() in MISSING_CELLS:
            values.append((cell, None))  # a value the table does not have: missing, never a nan
            continue
        value = to_float(cell.rstrip("%"))
        if value != value and cell.lower() != "nan":
            return None
        values.append((cell, value))
    record = Record()
    for column, (cell, value) in zip(columns, values):
        if value is not None:
            _add_pair(record, column, repr(value), percent=cell.endswith("%"))
            if cell.endswith("%"):
                record.percent = "sign"
    return None if record.empty else record


def _cells(line: str) -> list[str] | None:
    text = line.strip()
    if "|" in text:
        cells = [c.strip() for c in text.strip("|").split("|")]
    elif "  " in text or "\t" in text:
        cells = re.split(r"\s{2,}|\t", text)
    elif "," in text:
        cells = text.split(",")  # CSV-like rows under a CSV header (`iter,loss,recall@20`)
    else:
        return None
    cells = [c for c in cells if c]
    # A metrics table has a few columns; hundreds of cells are a dump, not a table (and bound the work per line).
    return cells if cells and len(cells) <= MAX_TABLE_CELLS else None
