"""Text that states results line by line (pasted issue text, a chat, a config dump followed by numbers): the line
loop the pasted-text and dump readers share.

Each line is one of: a setting (`learning_rate: 0.005`, `dataset = book`, a `python train.py --flag v` command, an
argparse `Namespace(...)`, an exp name), a section word naming a split (`Test:`, `valid results`), a metric line
(any shape `records.parse_record` reads), or prose. Metric lines without a step are a run's final values; a split
or cut-off a run already stated starts another run (repeated runs pasted one after another); metric lines with a
step (a pasted log excerpt) are its curve. Settings apply to every run after them, and to earlier runs that do
not state them (a thread often gives the command after the numbers).

A block the author labels as the paper's (`the paper reports`, `paper:`, `in the paper`, `论文`, `原文`) is a
reference for comparison, not a run: it becomes an info Event with `values = {"reference": "paper", "split": ..,
"recall@50": .., ...}` on every run, and its lines count as understood but unused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from recdoc import reference
from recdoc.diagnose.observed_run import Event, Fact, Run, SourceRef  # noqa: F401 (Event: the paper's type)
from recdoc.diagnose.readers.headers import parse_exp_name_tokens, parse_namespace, parse_shell_argv
from recdoc.diagnose.readers.records import Record, line_split
from recdoc.diagnose.readers.reported import (
    CoverageCounter, RunParts, copy_coverage, count_facts, line_metrics, mark_segments, paper_reference_event, protocol_from_prose,
    safe_record,
    scale_percent, strip_ansi, tame,
)

# A setting line is short: `key: value`, `key = value`, `- key: value` (YAML list items), `key | value`.
_SETTING_RE = re.compile(r"^[-*\s]{0,4}['\"]?([A-Za-z_][\w.\- ]{0,40}?)['\"]?\s*[:=|]\s*['\"]?([^\s'\",;{}\[\]]+(?:"
                         r"\s*,\s*\d+)*)['\"]?\s*,?\s*$")
MAX_SETTING_CHARS = 100
PAPER_DATASETS = {name for name in reference.load()["original_defaults"]["datasets"] if name != "other"}
# `'key': 'value'` / `"key": 0.001` inside a dict or JSON object; bounded repeats, so linear on any line.
_QUOTED_PAIR_RE = re.compile(r"""['"]([A-Za-z_][\w.]{0,40})['"]\s*:\s*(?:['"]([^'"]{1,80})['"]|([-+\w.]{1,40}))""")
# Words that label a block as the paper's numbers, and words that label it the author's own run.
PAPER_WORDS = ("paper", "论文", "原文", "reported in", "published")
OWN_WORDS = ("my ", "mine", "i got", "i get", "i ran", "i obtained", "we got", "we get", "we obtained", "our result",
             "reproduc", "复现", "我的", "我跑", "跑出", "实际", "my result")
# Words that make a sentence about the paper a label of numbers.
RESULT_WORDS = ("report", "result", "number", "table", "score", "performance", "metric", "recall", "ndcg", "hit",
                "hr@", "结果", "指标", "数值", "表")
# "lower than the paper", "vs the paper": the paper named as what the author's numbers are compared with.
_COMPARATIVE_RE = re.compile(r"(?:than|vs\.?|versus|compared (?:to|with)|below|above|under|over|from|against|"
                             r"of)\s+(?:the\s+|what\s+the\s+)?(?:paper|original paper)", re.IGNORECASE)


def paper_label(line: str) -> bool | None:
    """True when a line labels what follows (or itself) as the paper's numbers, False when it labels them the
    author's own, None when it says neither. The later label in the line wins (the one nearest the numbers). A
    longer sentence naming the paper labels numbers only when it speaks of results (`the paper reports`, `results
    in the paper`): `I used the settings from the paper` says nothing about the numbers below it."""
    lowered = _COMPARATIVE_RE.sub(" ", line.lower())
    paper = max((lowered.rfind(word) for word in PAPER_WORDS), default=-1)
    own = max((lowered.rfind(word) for word in OWN_WORDS), default=-1)
    if paper < 0 and own < 0:
        return None
    if paper > own and len(lowered.split()) > 4 and not any(word in lowered for word in RESULT_WORDS):
        return None
    return paper > own


def is_prose(line: str) -> bool:
    """A sentence: six or more words of letters, most tokens not numbers (`I trained MIND on taobao and got`)."""
    words = line.split()
    if len(words) < 6:
        return False
    alphabetic = sum(1 for word in words if any(c.isalpha() for c in word) and not any(c.isdigit() for c in word))
    return alphabetic >= 0.6 * len(words) and "=" not in line and " | " not in line


def _is_number(cell: str) -> bool:
    try:
        float(cell.strip().rstrip("%"))
    except ValueError:
        return False
    return True


@dataclass
class _Block:
    """A paper block being read."""

    line: int
    text: str
    split: str | None = None
    values: dict[str, float] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)


class StatementReader:
    """The line loop; `finish()` returns the runs. `detect_paper`: whether paper blocks are recognised."""

    def __init__(self, path: str, format_name: str, detect_paper: bool) -> None:
        self.path = path
        self.format = format_name
        self.detect_paper = detect_paper
        self.counter = CoverageCounter(path)
        self.parts: list[RunParts] = []
        self.part_end: list[int] = []  # the last metric line of each run
        self.settings: list[tuple[int, str, Fact]] = []  # (line, key, fact) in order
        self.section: str | None = None  # the split a section word named (`Test:`)
        self.paper_pending: int | None = None  # the line of a paper label whose block has not started yet
        self.block: _Block | None = None
        self.paper_blocks: list[_Block] = []
        self.excluded: set[int] = set()
        self.table: list[str] | None = None  # the header of the Markdown table being read

    # ------------------------------------------------------------------ lines
    def line(self, number: int, raw: str) -> None:
        self.counter.see(number, raw)
        text = strip_ansi(raw).strip()
        if not text:
            if self.block is not None and self.block.values:
                # A blank line ends the paper's block; the numbers after it are someone's again.
                self._close_block()
                self.paper_pending = None
            return
        if text.startswith("|") and text.count("|") >= 3:
            if self._table_line(number, text):
                return
        else:
            self.table = None
        label = paper_label(text) if self.detect_paper else None
        if label is False:
            self._close_block()
            self.paper_pending = None
        record = safe_record(text)
        metrics = record.metrics if record is not None else {}
        if label is True:
            self._close_block()
            self.paper_pending = number
            if not metrics:
                self.excluded.add(number)  # the label itself (`Table 3`): understood, not a run's number
                return
        if metrics and self.paper_pending is not None and number - self.paper_pending <= 3:
            self._paper_line(number, text, record)
            return
        if metrics:
            self._close_block()
            self.paper_pending = None
            self._metric_line(number, text, record)
            self._quoted_settings(number, text)  # `{"model": "SA", "recall@50": 0.07}`: the settings beside them
            return
        if self.block is not None and is_prose(text):
            self._close_block()
        if self._setting_line(number, text):
            self.paper_pending = None  # a command or a setting between a label and numbers: the label is spent
            return
        split = line_split(text)
        if split is not None and len(text) <= 40 and not any(c.isdigit() for c in text):
            self.section = split
            return

    def _paper_line(self, number: int, text: str, record) -> None:
        if self.block is None:
            self.block = _Block(line=number, text=text)
        block = self.block
        for (split, metric, cutoff), value in record.metrics.items():
            block.split = block.split or split or record.split or self.section
            block.values[f"{metric}@{cutoff}" if cutoff else metric] = value
        block.lines.append(number)
        self.excluded.add(number)
        self.paper_pending = number  # the block goes on while metric lines follow

    def _close_block(self) -> None:
        if self.block is not None and self.block.values:
            self.paper_blocks.append(self.block)
        self.block = None

    def _metric_line(self, number: int, text: str, record, new_run: bool = False) -> None:
        self.counter.use(number)
        part = self.parts[-1] if self.parts and not new_run else None
        if record.step is not None:
            metrics = {(s or record.split or "valid", m, c): v for (s, m, c), v in record.metrics.items()}
            if part is None or part.finals or (part.rows and record.step <= part.rows[-1]["iter"]):
                part = self._new_part(number)
            part.add_row(record.step, record.loss, metrics, number)
            if record.step_kind == "epoch":
                part.step_unit = "epoch"
            self.part_end[-1] = number
            return
        by_split: dict[str, dict[tuple[str, int | None], float]] = {}
        for (split, metric, cutoff), value in record.metrics.items():
            chosen = split or record.split or self.section
            by_split.setdefault(chosen or "", {})[(metric, cutoff)] = value
        for split, values in by_split.items():
            stated = split or "test"
            if part is None or any(key in part.finals.get(stated, {}) for key in values):
                part = self._new_part(number)
            note = "" if split else "  [split not stated: read as test]"
            part.add_final(stated, values, number, text + note)
        self.part_end[-1] = number

    def _table_line(self, number: int, text: str) -> bool:
        """A Markdown table (`| | Recall@20 | NDCG@20 |`, `|---|`, `| mine | 5.11 | 8.23 |`): each row under a
        header with metric columns is a run, or the paper's numbers when its label says so. False: not such a line."""
        cells = [cell.strip() for cell in text.strip().strip("|").split("|")]
        if set(text) <= set("|-: "):
            return self.table is not None
        named = [bool(line_metrics(f"{cell}: 0.5")) if cell else False for cell in cells]
        if any(named) and not any(_is_number(cell) for cell in cells):
            self.table = cells
            self.counter.use(number)
            return True
        if self.table is None or len(cells) != len(self.table):
            return False
        metrics: dict = {}
        labels: list[str] = []
        for column, cell in zip(self.table, cells):
            found = line_metrics(f"{column}: {cell}") if column and _is_number(cell) else {}
            if found:
                metrics.update(found)
            elif cell:
                labels.append(cell)
        if not metrics:
            return False
        label = " ".join(labels)
        record = Record(metrics=metrics, split=line_split(label) if label else None)
        said = paper_label(label) if self.detect_paper else None
        if said is True or (said is None and self.paper_pending is not None and number - self.paper_pending <= 3):
            # A row labelled the paper's, or any row of a table right under a paper label: one reference each.
            self._close_block()
            self.block = _Block(line=number, text=text)
            self._paper_line(number, text, record)
            self._close_block()
            return True
        self._metric_line(number, text, record, new_run=True)
        # The row's model, when a label cell names one (`ComiRec-SA (mine)`).
        models = (reference.canonical_model_type(cell.split("(")[0].strip()) for cell in labels)
        model = next((name for name in models if name is not None), None)
        part = self.parts[-1]
        if model is not None:
            part.declare("model_type", model, number, text)
        if label:
            part.label, part.label_ref = f"{Path(self.path).name}: {label}", SourceRef(self.path, number)
        return True

    def _quoted_settings(self, number: int, text: str) -> bool:
        """Settings as quoted keys of a dict or JSON object on one line (`"dataset": "book", "lr": 0.001`)."""
        found = False
        for name, quoted, bare in _QUOTED_PAIR_RE.findall(tame(text)):
            found |= self._named(number, name, quoted or bare, text)
        return found

    def _new_part(self, number: int) -> RunParts:
        part = RunParts(format=self.format, path=self.path)
        self.parts.append(part)
        self.part_end.append(number)
        return part

    def _setting_line(self, number: int, text: str) -> bool:
        found = False
        protocol = protocol_from_prose(text)
        if protocol is not None:
            self._setting(number, "eval_candidates", protocol, text)
            found = True
        for key, value in count_facts(text) if len(text) <= MAX_SETTING_CHARS else []:
            self._setting(number, key, value, text)
            found = True
        if "Namespace(" in text:
            argv = parse_namespace(text)
            if argv is not None:
                found |= self._flags(number, argv[1:], text)
        elif ".py" in text and "--" in text:
            argv = parse_shell_argv(text)
            if argv is not None:
                found |= self._flags(number, argv[1:], text)
        if not found and len(text) <= MAX_SETTING_CHARS:
            match = _SETTING_RE.match(text)
            if match is not None:
                found = self._named(number, match.group(1), match.group(2), text)
        if not found and ("'" in text or '"' in text):
            found = self._quoted_settings(number, text)
        if not found and is_prose(text):
            found = self._named_in_prose(number, text)
        if not found and "_" in text:
            for token in text.split()[:20]:
                tokens = parse_exp_name_tokens(token.strip("`'\",.()[]"))
                if tokens is not None:
                    for key, value in tokens.items():
                        self._setting(number, key, value, text)
                    found = True
                    break
        if found:
            self.counter.use(number)
        return found

    def _named_in_prose(self, number: int, text: str) -> bool:
        """A sentence naming exactly one model of the paper's (`I trained ComiRec-SA on the Book dataset`) states
        the model of the runs after it; one dataset of the paper's, their dataset. Two names state neither."""
        tokens = [token.strip("`'\"(),.:;!?") for token in text.split()[:80]]
        models = {model for model in (reference.canonical_model_type(t) for t in tokens if len(t) > 2) if model}
        datasets = {t.lower() for t in tokens} & PAPER_DATASETS
        found = False
        if len(models) == 1:
            self._setting(number, "model_type", next(iter(models)), text)
            found = True
        if len(datasets) == 1:
            self._setting(number, "dataset", next(iter(datasets)), text)
            found = True
        return found

    def _flags(self, number: int, tokens: list[str], text: str) -> bool:
        found = False
        index = 0
        while index < len(tokens):
            token = tokens[index]
            if token.startswith("--"):
                name, sep, value = token[2:].partition("=")
                if not sep and index + 1 < len(tokens) and not tokens[index + 1].startswith("--"):
                    value, index = tokens[index + 1], index + 1
                found |= self._named(number, name, value, text)
            index += 1
        return found

    def _named(self, number: int, name: str, value: str, text: str) -> bool:
        probe = RunParts(format=self.format, path=self.path)
        if not probe.declare_setting(name, value, number, text):
            return False
        for key, fact in probe.declared.items():
            self.settings.append((number, key, fact))
        return True

    def _setting(self, number: int, key: str, value: object, text: str) -> None:
        self.settings.append((number, key, Fact(value=value, ref=SourceRef(self.path, number), text=text)))

    # ------------------------------------------------------------------ the runs
    def finish(self) -> list[Run]:
        self._close_block()
        parts = [part for part in self.parts if part.has_metrics]
        ends = [end for part, end in zip(self.parts, self.part_end) if part.has_metrics]
        for part, end in zip(parts, ends):
            # The last statement of a key before the run's numbers; else the first after them (a thread often gives
            # the command after the results).
            for line, key, fact in self.settings:
                if line <= end:
                    part.declared[key] = fact
            for _, key, fact in self.settings:
                part.declared.setdefault(key, fact)
        scale_percent(parts)
        events = [self._paper_event(block) for block in self.paper_blocks]
        coverage = self.counter.coverage(exclude=self.excluded)
        runs = []
        for part in parts:
            run = part.build(copy_coverage(coverage))
            run.events = events + run.events
            runs.append(run)
        return mark_segments(runs)

    def _paper_event(self, block: _Block) -> Event:
        return paper_reference_event(self.path, block.line, block.text, block.values, block.split)

    @property
    def paper_values(self) -> int:
        return sum(len(block.values) for block in self.paper_blocks)

