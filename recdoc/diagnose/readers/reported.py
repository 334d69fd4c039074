"""What the readers of reported runs share: results sheets, pasted text, dumps, MLflow stores, framework logs.

These inputs state results rather than print a training loop: a final line per run, a cell per metric, a file per
metric. They have in common how a run is assembled from what was read:
- metric values keyed (split, metric, cut-off), read by the generic line reader (`records.parse_record`), with
  values in percent recognised (a recall, NDCG or hit rate above 1 is a percentage: `HR@10: 41.2`);
- settings under the names frameworks give them (`lr`, `learning_rate`, `model`, `topk`, `train_batch_size`,
  `MAX_ITEM_LIST_LENGTH`) mapped to recdoc's keys, each a `Fact` with its source line;
- the evaluation protocol (`eval_candidates`: an int number of sampled negative candidates per test item, or
  "full" for ranking against every item) and the data's counts (`user_count`, `item_count`, `interaction_count`);
- `ReadCoverage`: lines with numbers, lines used, metric-like lines not understood.

`RunParts` collects one run's pieces and `build()` turns them into a `Run`; the format label is the reader's own
('sheet', 'pasted', 'dump', 'mlflow', 'recbole', 'rechorus'), never one whose loss a rule reads as the original's
sampled-softmax loss. Pure functions over strings; the readers do the file access.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recdoc import reference
from recdoc.diagnose.config_inference import KEY_ALIASES
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
from recdoc.diagnose.readers.grammar import curve_values, evaluation_record, from_percent, pick_cutoff
from recdoc.diagnose.readers.headers import HEADER_KEYS
from recdoc.diagnose.readers.lines import iter_lines
from recdoc.diagnose.readers.records import parse_record
from recdoc.metrics import LOGGED_METRICS

# The metrics a Run's finals and curve hold; others (mrr, precision, auc) are kept in extra_metrics only.
RUN_METRICS = ("recall", "ndcg", "hitrate", "diversity")
# Rates: a value above 1 cannot be a fraction, so a run stating one states percentages.
# The paper reports @50 and @20: when a run prints several cut-offs and names none, its finals are read at these
# first (every printed cut-off still reaches the comparison through extra_metrics["final_<split>"]).

# Setting names of frameworks and trackers -> recdoc's keys (config_inference.INFERRED_KEYS), beyond the header
# spellings (headers.HEADER_KEYS) and argv aliases (config_inference.KEY_ALIASES).
_EXTRA_KEYS = {
    "model_name": "model_type", "train_batch_size": "batch_size", "emb_size": "embedding_dim",
    "embedding_size": "embedding_dim", "max_item_list_length": "maxlen", "max_seq_length": "maxlen",
    "history_max": "maxlen", "maxlen": "maxlen", "random_seed": "random_seed", "seed": "random_seed",
    "n_interest": "num_interest", "interests": "num_interest", "num_interests": "num_interest",
    "topks": "topN", "top_k": "topN", "topk": "topN", "topn": "topN", "learningrate": "learning_rate",
    "data_name": "dataset", "dataset": "dataset", "neg_num": "neg_num",
    # Column names and labels in Chinese write-ups (`| 模型 | 学习率 | batch_size |`).
    "学习率": "learning_rate", "模型": "model_type", "数据集": "dataset", "批大小": "batch_size",
    "批次大小": "batch_size", "兴趣数": "num_interest", "嵌入维度": "embedding_dim",
}
# Counts of the data, in the phrasings frameworks print (`The number of users: 944`, `"# user": 944`).
COUNT_KEYS = {"user": "user_count", "users": "user_count", "item": "item_count", "items": "item_count",
              "inter": "interaction_count", "inters": "interaction_count", "interaction": "interaction_count",
              "interactions": "interaction_count", "entry": "interaction_count", "entries": "interaction_count"}

_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# `uni100`, `pop100` (RecBole's sampled evaluation), `full`; an older RecBole writes `RO_RS,uni100`.
_SAMPLED_MODE_RE = re.compile(r"\b(?:uni|pop)(\d{1,6})\b")
_METRIC_WORDS = ("recall", "ndcg", "hit", "hr@", "mrr", "precision", "auc", "map@")
_DIGITS = frozenset("0123456789")


def input_lines(path: str | Path) -> Iterable[tuple[int, str]]:
    """The numbered lines of a file, or of what a Jupyter notebook's cells printed (a framework run in a notebook)."""
    if str(path).endswith(".ipynb"):
        from recdoc.diagnose.readers.stdout_log import notebook_lines

        return notebook_lines(path)
    return iter_lines(path)


def strip_ansi(line: str) -> str:
    """A log printed to a terminal keeps its colour codes (`\\x1b[1;36mepoch 3\\x1b[0m`); they are not text."""
    return _ANSI_RE.sub("", line) if "\x1b" in line else line


def has_number(line: str) -> bool:
    return not _DIGITS.isdisjoint(line)


def looks_metric_like(line: str) -> bool:
    """A line naming a metric and holding a number: if no reading used it, coverage lists it as not understood."""
    lowered = line.lower()
    return has_number(line) and any(word in lowered for word in _METRIC_WORDS)


def setting_key(name: str) -> str | None:
    """`lr` -> 'learning_rate', `train_batch_size` -> 'batch_size', `MAX_ITEM_LIST_LENGTH` -> 'maxlen'."""
    key = name.strip().strip("'\"-").lower().replace(" ", "_").replace("-", "_")
    if not key:
        return None
    if key in _EXTRA_KEYS:
        return _EXTRA_KEYS[key]
    header = HEADER_KEYS.get(key)
    if header in ("item_count", "user_count") and key in ("items", "users"):
        return None  # a column called `items` in a sheet is rarely the catalogue size
    if header is not None and key != "k":  # `k` alone is too common a name for the interest count
        return header
    alias = KEY_ALIASES.get(key)
    if alias is not None:
        return alias
    if key in ("learning_rate", "batch_size", "embedding_dim", "hidden_size", "num_interest", "model_type",
               "patience", "max_iter", "test_iter"):
        return key
    return None


def setting_value(key: str, raw: str) -> Any:
    """A setting's value as its type wants it: numbers as numbers, a model name canonical, a top-k list as its
    largest cut-off (the list itself stays in the Fact's text)."""
    text = str(raw).strip().strip("'\"")
    if key == "topN":
        cutoffs = cutoff_list(text)
        return max(cutoffs) if cutoffs else None
    if key == "model_type":
        # `ComiRec-SA (ours)`, `MIND (seed 2)`: the name before a parenthesis is the model.
        return (model_name(text) or text) if text else None
    if key == "dataset":
        return text or None
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and key != "learning_rate" else number


def cutoff_list(text: str) -> list[int]:
    """`[10, 20]`, `5,10,20,50`, `10` -> the cut-offs; a list with anything else in it -> []."""
    parts = [p for p in re.split(r"[\s,\[\]()]+", text) if p]
    if not parts or not all(p.isdigit() and len(p) <= 5 for p in parts):
        return []
    return [int(p) for p in parts]


def eval_candidates(key: str, raw: str) -> int | str | None:
    """The evaluation protocol a setting states: an int (sampled negative candidates per test item) or "full".

    RecBole: `eval_args`'s `mode` (`full`, `uni100`, `pop100`, or per split `{'valid': .., 'test': ..}`: the test
    split's decides) and the older `eval_setting = RO_RS,uni100`; ReChorus: `test_all 0` samples the 99 negatives
    its data files list for each dev/test item (its data preparation's default), `test_all 1` ranks every item.
    """
    name = key.strip().lower()
    text = str(raw).strip().lower()
    if name == "test_all":
        return "full" if text in ("1", "true") else 99 if text in ("0", "false") else None
    if name not in ("eval_args", "eval_setting", "mode", "eval_mode"):
        return None
    if "'test'" in text or '"test"' in text:
        text = text[text.find("test"):]  # per-split modes: the test split's is the one the results use
    sampled = _SAMPLED_MODE_RE.search(text)
    if sampled is not None:
        return int(sampled.group(1))
    if re.search(r"\bfull\b", text):
        return "full"
    return None


# Prose stating the protocol: `ranked against 100 sampled negative items`, `99 negatives per test item`, `full
# ranking over all items`. Only with an evaluation word in the line (10 negatives per positive in training are not
# the evaluation's).
_NEGATIVES_RE = re.compile(r"\b(\d{1,6})\s+(?:randomly\s+|uniformly\s+|popularity[- ]based\s+)?(?:sampled\s+)?"
                           r"negative(?:s|\s+items|\s+samples|\s+candidates)?\b", re.IGNORECASE)
_FULL_RE = re.compile(r"\bfull[- ]?(?:ranking|sort|rank)\b|\b(?:against|among|over)\s+all\s+(?:the\s+)?items\b",
                      re.IGNORECASE)
_EVAL_WORDS = ("test", "eval", "valid", "candidate", "rank", "metric")
MAX_PROSE_CHARS = 400


def protocol_from_prose(line: str) -> int | str | None:
    """The evaluation protocol a sentence states: sampled negatives per test item (an int) or "full"."""
    if len(line) > MAX_PROSE_CHARS:
        return None
    lowered = line.lower()
    if not any(word in lowered for word in _EVAL_WORDS) or "train" in lowered:
        return None
    sampled = _NEGATIVES_RE.search(line)
    if sampled is not None:
        return int(sampled.group(1))
    return "full" if _FULL_RE.search(line) else None


def count_facts(line: str) -> list[tuple[str, int]]:
    """`The number of users: 944`, `"# user": 14682, "# item": 8714`, `#items = 1683`, `n_users: 944` ->
    [('user_count', 944), ...]. One pass over the line per marker (linear)."""
    lowered = line.lower()
    out: list[tuple[str, int]] = []
    for marker in ("number of ", "# ", "#", "num_", "n_", "num "):
        at = lowered.find(marker)
        while at >= 0:
            found = _count_at(lowered, at, marker)
            if found is not None and found[0] not in (key for key, _ in out):
                out.append(found)
            at = lowered.find(marker, at + len(marker))
    return out


def _count_at(lowered: str, at: int, marker: str) -> tuple[str, int] | None:
    if at > 0 and lowered[at - 1].isalnum():
        return None  # `min_items: 5` is a filter, not a count
    rest = lowered[at + len(marker):at + len(marker) + 60]
    word_end = 0
    while word_end < len(rest) and rest[word_end].isalpha():
        word_end += 1
    key = COUNT_KEYS.get(rest[:word_end])
    if key is None:
        return None
    tail = rest[word_end:].lstrip("\"' :=\t")
    if not tail[:1].isdigit():
        return None
    digits = ""
    for char in tail:
        if char.isdigit():
            digits += char
        elif char != "," or not digits:
            break
    return (key, int(digits)) if len(digits) <= 12 else None


MetricKey = tuple[str | None, str, int | None]
# A metric name, cut-off or value is a few dozen characters; a longer run of word characters (a hash, a base64 blob,
# a line of `=`-less garbage) is cut to this before the line grammar sees it, so no pattern can backtrack over it.
MAX_TOKEN_CHARS = 256
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@/-.")


def tame(text: str) -> str:
    """`text` with every run of word characters longer than MAX_TOKEN_CHARS cut to that length: one pass, and a
    line of short tokens (every line a reading can use) is returned as it is."""
    if len(text) <= MAX_TOKEN_CHARS:
        return text
    out: list[str] = []
    run = 0
    start = 0
    for index, char in enumerate(text):
        if char in _WORD_CHARS:
            run += 1
            if run == MAX_TOKEN_CHARS + 1:
                out.append(text[start:index])
            continue
        if run > MAX_TOKEN_CHARS:
            start = index
        run = 0
    if run <= MAX_TOKEN_CHARS:
        out.append(text[start:])
    return "".join(out)


def safe_record(text: str):  # type: ignore[no-untyped-def]
    """`records.parse_record` on the tamed line (linear whatever the line holds)."""
    return parse_record(tame(text), infer_percent=False)  # percent is decided per metric over the whole input


def line_metrics(text: str) -> dict[MetricKey, float]:
    """The metric values one line (or one cell) states, keyed (split or None, metric, cut-off)."""
    record = safe_record(text)
    if record is None:
        return {}
    out: dict[MetricKey, float] = {}
    for (split, metric, cutoff), value in record.metrics.items():
        out[(split or record.split, metric, cutoff)] = value
    return out


def in_percent(values: list[float]) -> bool:
    """Rates stated in percent: some value above 1, none above 100 (a value above 100 is broken, not percent)."""
    finite = [v for v in values if v == v and not math.isinf(v)]
    return bool(finite) and max(finite) > 1.0 and max(finite) <= 100.0 and min(finite) >= 0.0


def sniff_markers(head: str, markers: tuple[str, ...]) -> float:
    """A framework's log: two or more of the lines only that framework prints are in the head."""
    return 0.75 if sum(1 for marker in markers if marker in head) >= 2 else 0.0


@dataclass
class RunParts:
    """One run's pieces as a reader finds them; `build()` makes the Run."""

    format: str
    path: str
    label: str | None = None  # shown as the run's name (a sheet row's model, an MLflow run name)
    label_ref: SourceRef | None = None
    declared: dict[str, Fact] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)  # curve rows: iter, train_loss, metrics at cut-offs
    row_metrics: list[dict[MetricKey, float]] = field(default_factory=list)
    finals: dict[str, dict[tuple[str, int | None], float]] = field(default_factory=dict)
    final_refs: dict[str, tuple[SourceRef, str]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    stop_reason: StopReason = "unknown"
    stop_ref: SourceRef | None = None
    step_unit: str | None = None  # 'epoch' when the curve counts epochs
    extra: dict[str, Any] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)

    def ref(self, line: int | None) -> SourceRef:
        return SourceRef(self.path, line)

    def declare(self, key: str, value: Any, line: int | None, text: str | None, path: str | None = None) -> None:
        """A setting the input states; the first statement wins (a later one of the same key is another run's)."""
        if value is None or key in self.declared:
            return
        self.declared[key] = Fact(value=value, ref=SourceRef(path or self.path, line), text=text)

    def declare_setting(self, name: str, raw: str, line: int | None, text: str | None,
                        path: str | None = None) -> bool:
        """`name = raw` as a setting, the evaluation protocol or nothing; True when it was one of them."""
        candidates = eval_candidates(name, raw)
        if candidates is not None:
            self.declare("eval_candidates", candidates, line, text, path)
            return True
        key = setting_key(name)
        if key is None:
            return False
        value = setting_value(key, raw)
        if value is None:
            return False
        self.declare(key, value, line, text, path)
        return True

    def add_final(self, split: str, values: dict[tuple[str, int | None], float], line: int | None,
                  text: str, path: str | None = None) -> None:
        self.finals.setdefault(split, {}).update(values)
        self.final_refs.setdefault(split, (SourceRef(path or self.path, line), text))

    def add_row(self, step: int, loss: float | None, metrics: dict[MetricKey, float], line: int | None,
                path: str | None = None) -> None:
        self.rows.append({"iter": step, "train_loss": math.nan if loss is None else loss,
                          "file": path or self.path, "line": line})
        self.row_metrics.append(dict(metrics))

    def declare_or_keep(self, name: str, raw: str, line: int | None, text: str | None,
                        kept: tuple[str, ...]) -> bool:
        """`name = raw` as a setting; or, for a name in `kept` (one the format's own code reads, such as RecBole's
        `epochs`), kept in `extra` as printed. True when it was either."""
        if name in kept:
            self.extra.setdefault(name, raw)
            return True
        return self.declare_setting(name, raw, line, text)

    def event(self, kind: str, line: int | None, text: str, **values: Any) -> None:
        self.events.append(Event(kind=kind, ref=self.ref(line), text=text, values=values))  # type: ignore[arg-type]

    def stop(self, reason: StopReason, line: int | None, text: str, event_kind: str) -> None:
        """The run ended as the line says (an early-stop or interrupt message), kept as an event of `event_kind`."""
        self.stop_reason, self.stop_ref = reason, self.ref(line)
        self.event(event_kind, line, text)

    @property
    def has_metrics(self) -> bool:
        return bool(self.finals) or any(self.row_metrics)

    def build(self, coverage: ReadCoverage | None = None) -> Run:
        run = Run(format=self.format, paths=[self.path])
        if self.label is not None:
            run.exp_name = Fact(value=self.label, ref=self.label_ref or self.ref(None), text=self.label)
        run.declared = dict(self.declared)
        stated = self.declared.get("topN")
        stated_cutoff = stated.value if stated is not None else None
        row_cutoffs = [c for metrics in self.row_metrics for (_, m, c) in metrics if m in RUN_METRICS]
        final_cutoffs = [c for values in self.finals.values() for (m, c) in values if m in RUN_METRICS]
        # The curve is read at a cut-off its rows print (a framework may evaluate @5 per epoch and @5..@50 at the end).
        curve_cutoff = pick_cutoff(row_cutoffs, stated_cutoff)
        cutoff = pick_cutoff(final_cutoffs, stated_cutoff) if final_cutoffs else curve_cutoff
        rows = [{**row, **curve_values(metrics, curve_cutoff)} for row, metrics in zip(self.rows, self.row_metrics)]
        run.curve = curve_from_rows(rows)
        self._note_evaluations(run, rows, row_cutoffs + final_cutoffs, curve_cutoff)
        _one_printed_cutoff(run, rows, row_cutoffs)
        if rows and not any("recall" in row for row in rows):
            self._curve_without_recall(run, rows, curve_cutoff)
        self._add_finals(run, cutoff)
        run.extra_metrics.update(self.extra)
        run.events = list(self.events)
        run.stop_reason, run.stop_ref = self.stop_reason, self.stop_ref
        run.unreadable = list(self.unreadable) + run.unreadable
        if coverage is not None:
            run.coverage = coverage
        return run

    def _note_evaluations(self, run: Run, rows: list[dict[str, Any]], cutoffs: list[int | None],
                          curve_cutoff: int | None) -> None:
        """Every metric each evaluation printed (all cut-offs and splits; the curve holds one cut-off of valid), the
        curve's step unit and cut-off, and every cut-off printed."""
        evaluations = [evaluation_record(row["iter"], metrics)
                       for row, metrics in zip(self.rows, self.row_metrics) if metrics]
        if evaluations:
            run.extra_metrics["evaluation_metrics"] = evaluations
        if self.step_unit is not None and rows:
            run.extra_metrics["step_unit"] = self.step_unit
        printed = sorted({c for c in cutoffs if c is not None})
        if printed:
            run.extra_metrics["cutoffs_printed"] = printed
        if curve_cutoff is not None and rows:
            run.extra_metrics["curve_cutoff"] = curve_cutoff

    def _curve_without_recall(self, run: Run, rows: list[dict[str, Any]], curve_cutoff: int | None) -> None:
        if not self.finals:
            # The engine judges a curve by its recall; without one, the last evaluation's values are what the run
            # measured (a run with metric values is diagnosed, never called unusable).
            last = next((row for row in reversed(rows) if "ndcg" in row or "hitrate" in row), None)
            if last is not None:
                run.finals["valid"] = FinalMetrics(
                    split="valid", recall=None, ndcg=last.get("ndcg"), hitrate=last.get("hitrate"), diversity=None,
                    ref=SourceRef(str(last["file"]), last["line"]), cutoff=curve_cutoff,
                    text=f"the last evaluation (step {last['iter']}); the curve states no recall")
        # The curve rules read validation recall; a curve of hit rate or NDCG only is not an evaluation that
        # printed nothing (absence of a recall column is not evidence of a broken evaluation).
        run.extra_metrics["evaluation_unseen"] = True
        run.unreadable.append(f"{self.path}: the evaluations state no recall (only "
                              f"{', '.join(sorted({m for r in rows for m in ('ndcg', 'hitrate') if m in r})) or 'other metrics'}"
                              "): curve judgements that read recall were not made")

    def _add_finals(self, run: Run, cutoff: int | None) -> None:
        """Each split's final values at the run's cut-off; every cut-off's rates when several were printed, and
        metrics recdoc does not judge (AUC, MRR, ...) kept aside."""
        for split, values in self.finals.items():
            ref, text = self.final_refs[split]
            run.finals[split] = final_at(split, values, cutoff, ref, text)  # type: ignore[arg-type]
            every = {f"{m}@{c}": v for (m, c), v in values.items() if c is not None and m in LOGGED_METRICS and v == v}
            if len({c for (_, c) in values if c is not None}) > 1:
                run.extra_metrics[f"final_{split}"] = every
            others = {f"{m}@{c}" if c is not None else m: v for (m, c), v in values.items() if m not in RUN_METRICS}
            if others:
                run.extra_metrics.setdefault("other_metrics", {})[split] = others


def _one_printed_cutoff(run: Run, rows: list[dict[str, Any]], row_cutoffs: list[int | None]) -> None:
    row_cutoff_set = {c for c in row_cutoffs if c is not None}
    if len(row_cutoff_set) == 1 and "topN" not in run.declared and len(set(row_cutoffs)) == 1:
        # Every evaluation names one cut-off (as stdout_log decides it): that is the run's, with its first row.
        first = rows[0]
        run.declared["topN"] = Fact(value=row_cutoff_set.pop(), ref=SourceRef(str(first["file"]), first["line"]),
                                    text="the one cut-off every evaluation prints")


def paper_reference_event(path: str, line: int | None, text: str, values: dict[str, float],
                          split: str | None) -> Event:
    """The paper's numbers as an author quotes them: a reference for comparison, never a run. `values` keyed
    `metric@K`; rates above 1 are percentages (scaled to fractions, `in_percent` says so)."""
    out: dict[str, Any] = {"reference": "paper", "split": split}
    rates = [v for k, v in values.items() if k.split("@")[0] in LOGGED_METRICS]
    scale = in_percent(rates)
    for key, value in values.items():
        out[key] = from_percent(value) if scale and key.split("@")[0] in LOGGED_METRICS else value
    if scale:
        out["in_percent"] = True
    return Event(kind="info", ref=SourceRef(path, line),
                 text=f"the paper's numbers as the author quotes them (a reference, not a run): {text[:160]}",
                 values=out)


def scale_percent(parts: list[RunParts]) -> bool:
    """Rates above 1 in a whole input mean it states percentages: divide every rate of every run by 100, per
    metric (a sheet may state recall in percent beside a fraction diversity). True when something was scaled."""
    by_metric: dict[str, list[float]] = {}
    for part in parts:
        for values in part.finals.values():
            for (metric, _), value in values.items():
                by_metric.setdefault(metric, []).append(value)
        for metrics in part.row_metrics:
            for (_, metric, _), value in metrics.items():
                by_metric.setdefault(metric, []).append(value)
    scaled = {metric for metric, values in by_metric.items() if metric in LOGGED_METRICS and in_percent(values)}
    if not scaled:
        return False
    for part in parts:
        for split, values in part.finals.items():
            part.finals[split] = {(m, c): from_percent(v) if m in scaled else v for (m, c), v in values.items()}
        part.row_metrics = [{(s, m, c): from_percent(v) if m in scaled else v for (s, m, c), v in metrics.items()}
                            for metrics in part.row_metrics]
        part.extra["values_in_percent"] = sorted(scaled)
    return True


class CoverageCounter:
    """Counts an input's lines for ReadCoverage: every line with a number, the ones used, the metric-like ones
    nothing understood (kept with their line numbers)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.numbered: set[int] = set()
        self.used: set[int] = set()
        self.metric_like: dict[int, str] = {}

    def see(self, number: int, line: str) -> None:
        if has_number(line):
            self.numbered.add(number)
            if looks_metric_like(line):
                self.metric_like[number] = line.strip()[:200]

    def use(self, number: int | None) -> None:
        if number is not None:
            self.used.add(number)

    def coverage(self, exclude: set[int] | None = None) -> ReadCoverage:
        """`exclude`: lines understood but not a run's (a paper's reference block, a summary row): they count as
        used, since coverage measures what was understood (a low coverage caps fault findings' confidence)."""
        skip = exclude or set()
        unread = [(n, text) for n, text in sorted(self.metric_like.items()) if n not in self.used and n not in skip]
        return ReadCoverage(lines_with_numbers=len(self.numbered), lines_used=len((self.used | skip) & self.numbered),
                            unread_metric_lines=[(SourceRef(self.path, n), t)
                                                 for n, t in unread[:ReadCoverage.KEPT_LINES]],
                            unread_metric_count=len(unread))


def copy_coverage(coverage: ReadCoverage) -> ReadCoverage:
    """Each run of a many-run input carries the input's coverage (merge_runs adds coverages; runs never share)."""
    return ReadCoverage(coverage.lines_with_numbers, coverage.lines_used, list(coverage.unread_metric_lines),
                        coverage.unread_metric_count)


def mark_segments(runs: list[Run]) -> list[Run]:
    """Several runs of one input are labelled `run i of n`, as the log reader labels a file's runs."""
    if len(runs) > 1:
        for index, run in enumerate(runs, 1):
            run.extra_metrics["segment"] = {"index": index, "of": len(runs)}
    return runs


# ---------------------------------------------------------------- settings stated in prose and in table cells
# Trailing punctuation a flag value or a cell picks up from the sentence around it (`--model_type ComiRec-SA,`).
TRAILING_PUNCTUATION = ",.;:!?，。；：、！？"
# `ComirecDR`, `ComiRecSA`: a model name with its variant glued on.
_GLUED_VARIANT_RE = re.compile(r"^([A-Za-z][A-Za-z0-9]*?[a-z0-9])([A-Z]{2,4})$")


def model_name(text: str) -> str | None:
    """The model a name, a table cell or a token states, in recdoc's spelling: `ComiRec-SA (mine)`, `**mind**`,
    `ComirecDR` (the variant glued on); None when it names none (a bare `ComiRec` names no variant)."""
    bare = text.strip().strip("*`_'\"").strip().rstrip(TRAILING_PUNCTUATION)
    for candidate in (bare, bare.split("(")[0].split("（")[0].strip().strip("*`_")):
        if not candidate or len(candidate) > 40:
            continue
        model = reference.canonical_model_type(candidate)
        if model is not None:
            return model
        glued = _GLUED_VARIANT_RE.match(candidate)
        if glued is not None:
            model = reference.canonical_model_type(f"{glued.group(1)}-{glued.group(2)}")
            if model is not None:
                return model
    return None


# Dataset names as texts state them. The paper's Amazon Book data under its long names is the paper's `book` only
# when the text says it is ComiRec's (or the paper's) data; otherwise the stated name is kept and the data's
# identity is left to identity.py (counts, magnitudes).
# ASCII lookarounds, not \b: a CJK character next to a name (`AmazonBook数据集`) is a word character to \b.
_AMAZON_BOOK_RE = re.compile(r"(?<![A-Za-z])amazon[\s_-]?books?(?![A-Za-z])", re.IGNORECASE)
_MOVIELENS_RE = re.compile(r"(?<![A-Za-z0-9])(?:movielens|ml)[\s_-]?(\d{1,3}[mk])(?![A-Za-z0-9])"
                           r"(?:[\s_-]sample(?![A-Za-z]))?", re.IGNORECASE)
_PAPER_DATA_WORDS = ("comirec", "paper", "论文", "原文", "original")
# The datasets the original's code knows by name (reference.json), each a word a line may state.
KNOWN_DATASETS = {name for name in reference.load()["original_defaults"]["datasets"] if name != "other"}
_ASCII_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")


def stated_datasets(line: str) -> set[str]:
    """The datasets a line names: the paper's (`book`, `taobao`), Amazon Book (`book` when the line says it is
    ComiRec's data), MovieLens (`ml-1m`, `ml-25m`)."""
    found: set[str] = set()
    lowered = line.lower()
    rest = line
    for match in _AMAZON_BOOK_RE.finditer(line):
        paper_data = any(word in lowered for word in _PAPER_DATA_WORDS)
        found.add("book" if paper_data else re.sub(r"[\s_]+", "", match.group(0)))
    rest = _AMAZON_BOOK_RE.sub(" ", rest)
    for match in _MOVIELENS_RE.finditer(rest):
        found.add(f"ml-{match.group(1).lower()}" + ("-sample" if "sample" in match.group(0).lower() else ""))
    rest = _MOVIELENS_RE.sub(" ", rest)
    words = {word.lower().rstrip(".-") for word in _ASCII_WORD_RE.findall(rest)}
    found |= words & KNOWN_DATASETS
    return found


def stated_models(line: str) -> set[str]:
    """The models a line names (`ComiRec-SA`, `MIND`, `ComirecDR`), each in recdoc's spelling."""
    tokens = _ASCII_WORD_RE.findall(line[:2000])[:80]
    return {model for model in (model_name(token) for token in tokens if len(token) > 2) if model}


# `batch_size=1024`, `batch_size =1024`, `lr: 0.005`, `学习率 lr=0.001`: `key = value` pairs anywhere in a line.
_INLINE_PAIR_RE = re.compile(r"(?<![\w\-])([A-Za-z_][A-Za-z0-9_]{1,40})\s{0,3}[=:：]\s{0,3}([-+]?[A-Za-z0-9_.\-]{1,40})")


def inline_settings(line: str) -> list[tuple[str, str]]:
    """The `key = value` pairs of a line whose key names a setting recdoc knows, in line order."""
    out = []
    for name, value in _INLINE_PAIR_RE.findall(line[:2000]):
        if setting_key(name) is not None:
            out.append((name, value.rstrip(TRAILING_PUNCTUATION)))
    return out
