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

METRICS = ("recall", "ndcg", "hitrate", "diversity")
_METRIC_NAMES = {"recall": "recall", "r": "recall", "ndcg": "ndcg", "n": "ndcg", "hitrate": "hitrate",
                 "hit_rate": "hitrate", "hr": "hitrate", "hit": "hitrate", "hits": "hitrate", "diversity": "diversity"}
_SPLIT_NAMES = {"valid": "valid", "val": "valid", "validation": "valid", "eval": "valid", "dev": "valid",
                "test": "test", "testing": "test"}
_STEP_NAMES = {"iter": "iter", "iters": "iter", "iteration": "iter", "iterations": "iter", "step": "iter",
               "steps": "iter", "global_step": "iter", "epoch": "epoch"}
_LOSS_NAMES = {"loss", "train_loss", "train loss", "training loss", "training_loss", "avg_loss", "mean_loss"}

_NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf)"
# `key: value`, `key=value`, `'key': value`, `"key": value`; a key may hold spaces (`train loss`), `@`, `/`, `-`.
_PAIR_RE = re.compile(r"['\"]?([A-Za-z][\w@/\-]*(?: [A-Za-z][\w@/\-]*){0,2})['\"]?\s*[:=]\s*(" + _NUMBER
                      + r")(\s*%)?(?![\w.])", re.IGNORECASE)
# `('recall@20', 0.1)`: the items of an OrderedDict or a list of pairs, as RecBole-style trainers print them.
_TUPLE_RE = re.compile(r"\(\s*['\"]([A-Za-z][\w@/\-]*)['\"]\s*,\s*(" + _NUMBER + r")\s*\)", re.IGNORECASE)
# A step without a separator: `Epoch 3`, `iter 1000/500000`, `[iter 1000]`, `Step 200:`.
_BARE_STEP_RE = re.compile(r"^\W{0,3}(iter|iters|iteration|step|epoch)\s+(\d{1,15})\b", re.IGNORECASE)
_METRIC_KEY_RE = re.compile(r"^(?:(?P<split>[a-z]+)[ _/\-.])?(?P<metric>recall|ndcg|hit_rate|hitrate|hits|hit|hr|"
                            r"diversity|r|n)(?:\s*(?:@|_at_|_|-)\s*(?P<cutoff>\d{1,5}))?$")
# Cheap test before any regular expression: lines without one of these words carry no record. Plain substring
# tests on the lowered line: a case-insensitive regex alternation costs ~70 us a line, and a long log is mostly noise.
_HINTS = ("recall", "ndcg", "hit", "epoch", "iter", "step", "loss", "r@", "n@")


@dataclass
class Record:
    """What one line states. `metrics` maps (split or None, metric, cut-off or None) to a value."""

    step: int | None = None
    step_kind: str | None = None  # 'iter' or 'epoch'
    loss: float | None = None
    metrics: dict[tuple[str | None, str, int | None], float] = field(default_factory=dict)
    split: str | None = None  # the split the line names outside its keys (`valid metrics: {...}`, `Test:`)

    @property
    def empty(self) -> bool:
        return self.step is None and not self.metrics


def to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def metric_key(key: str) -> tuple[str | None, str, int | None] | None:
    """`valid_recall@50` -> ('valid', 'recall', 50); `HR@20` -> (None, 'hitrate', 20); `loss` -> None."""
    text = key.strip().lower().replace(" ", "_")
    match = _METRIC_KEY_RE.match(text)
    if match is None:
        return None
    split_word, metric, cutoff = match.group("split"), match.group("metric"), match.group("cutoff")
    split = None
    if split_word is not None:
        split = _SPLIT_NAMES.get(split_word)
        if split is None:
            return None  # `train_recall`, `best_recall`: not an evaluation of a split we know
    if metric in ("r", "n") and cutoff is None:
        return None  # a lone `r`/`n` is too common a key to be a metric
    return split, _METRIC_NAMES[metric], int(cutoff) if cutoff else None


def line_split(line: str) -> str | None:
    """The split a line names before its first key: `valid metrics: {...}`, `Test results:`, `[eval] ...`."""
    words = re.findall(r"[A-Za-z]+", line[:40])
    for word in words[:3]:
        split = _SPLIT_NAMES.get(word.lower())
        if split is not None:
            return split
    return None


def parse_record(line: str) -> Record | None:
    """The step, loss and metrics one line states, or None. Never raises."""
    lowered = line.lower()
    if not any(hint in lowered for hint in _HINTS):
        return None
    stripped = line.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        record = _json_record(stripped)
        if record is not None:
            return record
    record = Record(split=line_split(stripped))
    bare = _BARE_STEP_RE.match(stripped)
    if bare is not None:
        record.step, record.step_kind = int(bare.group(2)), _STEP_NAMES[bare.group(1).lower()]
    for key, value, percent in _PAIR_RE.findall(stripped):
        _add_pair(record, key, value, percent=bool(percent))
    if "(" in stripped:
        for key, value in _TUPLE_RE.findall(stripped):
            _add_pair(record, key, value)
    return None if record.empty else record


def _add_pair(record: Record, key: str, raw: str, percent: bool = False) -> None:
    name = key.strip().lower()
    # A multi-word key is its last words: `valid metrics: {'recall'` never reaches here, but `x valid recall@20` does.
    words = name.split()
    for start in range(len(words)):
        candidate = " ".join(words[start:])
        if candidate in _STEP_NAMES and record.step is None:
            value = to_float(raw)
            if value == value and value >= 0 and float(value).is_integer():
                record.step, record.step_kind = int(value), _STEP_NAMES[candidate]
            return
        if candidate in _LOSS_NAMES or candidate.replace("_", " ") in _LOSS_NAMES:
            if record.loss is None:
                record.loss = to_float(raw)
            return
        parsed = metric_key(candidate)
        if parsed is not None:
            split, metric, cutoff = parsed
            if split is None and start > 0:
                split = _SPLIT_NAMES.get(words[start - 1])
            value = to_float(raw)
            record.metrics.setdefault((split, metric, cutoff), value / 100.0 if percent else value)
            return


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


def table_row(line: str, columns: list[str]) -> Record | None:
    """A row of numbers under `columns` as a record; None when the line is not such a row."""
    cells = _cells(line)
    if cells is None or len(cells) != len(columns):
        return None
    values = []
    for cell in cells:
        value = to_float(cell.rstrip("%"))
        if value != value and cell.lower() != "nan":
            return None
        values.append((cell, value))
    record = Record()
    for column, (cell, value) in zip(columns, values):
        _add_pair(record, column, repr(value), percent=cell.endswith("%"))
    return None if record.empty else record


def _cells(line: str) -> list[str] | None:
    text = line.strip()
    if "|" in text:
        cells = [c.strip() for c in text.strip("|").split("|")]
    elif "  " in text or "\t" in text:
        cells = re.split(r"\s{2,}|\t", text)
    else:
        return None
    cells = [c for c in cells if c]
    return cells or None
