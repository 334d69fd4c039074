"""Text that states results line by line (pasted issue text, a chat, a config dump followed by numbers): the line
loop the pasted-text and dump readers share.

Each line is one of: a setting (`learning_rate: 0.005`, `dataset = book`, a `python train.py --flag v` command, an
argparse `Namespace(...)`, an exp name), a section word naming a split (`Test:`, `valid results`), a metric line
(any shape `records.parse_record` reads), or prose. Metric lines without a step are a run's final values; a split
or cut-off a run already stated starts another run (repeated runs pasted one after another); metric lines with a
step (a pasted log excerpt) are its curve. Settings apply to every run after them, and to earlier runs that do
not state them (a thread often gives the command after the numbers).

Settings are read wherever a line states them: a command, `key: value`, `key = value` pairs anywhere in a sentence
(`我尝试在 book 上改了 batch_size =1024`), the one model and the one dataset a line names (`ComiRec-SA, book`;
Amazon Book is the paper's `book` only when the line says it is ComiRec's data). A heading, a rule or a line that
proposes a next run (`try`, `建议`, `测试 1: lr=0.008`) breaks the section: settings after such a break count for the
numbers after them, never for the runs before them (a config example or a suggestion after the results).

Markdown tables: under a header naming metric columns each row is a run (its model, dataset and setting cells
declared with the row's line; the row's name in `extra_metrics["row_label"]`, never the exp name); a table whose
rows each name a metric is transposed, each value column a run; a step column makes the rows one run's curve; a row
labelled the paper's is a reference. `epoch: 13` alone on a line puts the metric lines under it at that step (points
of one curve, not repeated runs).

A block the author labels as the paper's (`the paper reports`, `paper:`, `in the paper`, `论文`, `原文`) is a
reference for comparison, not a run: it becomes an info Event with `values = {"reference": "paper", "split": ..,
"recall@50": .., ...}` on every run, and its lines count as understood but unused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from recdoc.diagnose.observed_run import Event, Fact, Run, SourceRef  # noqa: F401 (Event: the paper's type)
from recdoc.diagnose.readers.headers import parse_exp_name_tokens, parse_namespace, parse_shell_argv
from recdoc.diagnose.readers.records import Record, line_split
from recdoc.diagnose.readers.reported import (
    RUN_METRICS,
    TRAILING_PUNCTUATION,
    CoverageCounter,
    RunParts,
    copy_coverage,
    count_facts,
    inline_settings,
    input_lines,
    line_metrics,
    mark_segments,
    model_name,
    paper_reference_event,
    protocol_from_prose,
    safe_record,
    scale_percent,
    setting_key,
    stated_datasets,
    stated_models,
    strip_ansi,
    tame,
)

# A setting line is short: `key: value`, `key = value`, `- key: value` (YAML list items), `key | value`.
_SETTING_RE = re.compile(r"^[-*\s]{0,4}['\"]?([A-Za-z_][\w.\- ]{0,40}?)['\"]?\s*[:=|]\s*['\"]?([^\s'\",;{}\[\]]+(?:"
                         r"\s*,\s*\d+)*)['\"]?\s*,?\s*$")
MAX_SETTING_CHARS = 100
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


# A line that proposes what to run next (an advice section, a suggestion): a section break (the settings it names
# are not those of the runs before it).
_ADVICE_RE = re.compile(r"\b(?:try|suggest(?:s|ed|ion|ions)?|recommend(?:s|ed|ation|ations)?\s+(?:to|trying|"
                        r"setting|using|a|the|lr|learning)|next\s+(?:time|step|steps|run|try)|you\s+(?:could|should|"
                        r"might)|to\s+do|todo)\b|建议|试试|尝试一下|可以尝试|下一步|推荐(?:测试|尝试|使用|设置)|测试\s*\d",
                        re.IGNORECASE)
# A column naming the step of a table's rows (a curve: `| Epoch | Recall@50 |`).
STEP_COLUMNS = ("epoch", "epochs", "iter", "iters", "iteration", "step", "steps", "global_step", "轮次", "轮")
LOSS_COLUMNS = ("loss", "train_loss", "training_loss", "train loss", "training loss")
# A table cell's number: `0.214`, `8.43%`, `**0.305** (best)`, `0.54 (+91%)`, `0.0334 ✅`, `6.9646*`.
_CELL_NUMBER_RE = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(%?)\s*(?:[(（][^)）]{0,40}[)）])?"
                             r"[\s*✅❌↑↓]*$")


def proposes(line: str) -> bool:
    """Whether a line proposes a future run (`try lr=0.01`, `建议 lr=0.001`, `测试 1: lr=0.008`)."""
    return _ADVICE_RE.search(line[:2000]) is not None


def _is_heading(text: str) -> bool:
    """A Markdown heading or rule: a new section starts (`## Next steps`, `---`)."""
    if re.match(r"#{1,6}\s+\S", text):
        return not count_facts(text)  # `# users: 944` is a count, not a heading
    return len(text) >= 3 and set(text) <= set("-*_= ")


def _clean_cell(cell: str) -> str:
    return cell.strip().strip("*_`").strip()


MAX_CELL_CHARS = 80


def cell_number(cell: str) -> str | None:
    """The number a table cell states (with its `%`), or None when the cell is not a number (a long cell never
    is one: the pattern then never meets a run of digits it could backtrack over)."""
    if len(cell) > MAX_CELL_CHARS:
        return None
    match = _CELL_NUMBER_RE.match(_clean_cell(cell).replace("**", "").replace("`", ""))
    return match.group(1) + match.group(2) if match is not None else None


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
class _Row:
    """A results table row's cells by what their columns name."""

    metrics: dict = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)  # cells naming the row (its model first)
    settings: list[tuple[str, str]] = field(default_factory=list)  # (column, cell) for columns naming a setting
    step: int | None = None
    loss: float | None = None


def _row_cells(header: list[str], cells: list[str], values: list[str | None]) -> _Row:
    """A row under a header naming metric columns, each filled cell by its column (`values`: each cell's number)."""
    row = _Row()
    for column, cell, value in zip(header, cells, values):
        if cell:
            _read_cell(row, column, cell, value)
    # `| 20K Recall | Test Recall |`: a column naming its split is the row's value for it; one naming none
    # beside it is another reading of the same metric (a curve's last point), not a second run.
    stated = {(metric, cutoff) for (split, metric, cutoff) in row.metrics if split is not None}
    row.metrics = {key: v for key, v in row.metrics.items() if key[0] is not None or key[1:] not in stated}
    return row


def _read_cell(row: _Row, column: str, cell: str, value: str | None) -> None:
    name = column.strip().lower()
    found = line_metrics(f"{column}: {value}") if column and value is not None else {}
    if value is not None and name in STEP_COLUMNS and value.isdigit():
        row.step = int(value)
    elif value is not None and name in LOSS_COLUMNS:
        row.loss = float(value)
    elif found:
        row.metrics.update(found)
    elif column and setting_key(column) is not None:
        row.settings.append((column, cell))
        if setting_key(column) == "model_type":
            row.labels.insert(0, cell)  # the row's name too (`ComiRec-SA (paper)` labels a reference)
    elif value is None:
        row.labels.append(cell)


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
        self.table_metrics = False  # whether that header names metric columns (else rows may name metrics)
        self.columns: dict[int, dict] = {}  # a transposed table's runs, one per value column
        self.table_curve: RunParts | None = None  # a table with a step column: its rows are one run's curve
        self.pending_step: Record | None = None  # `epoch: 13` alone on a line: the metric lines below are at it
        self.detached: set[int] = set()  # setting lines after a section break that follows the last numbers
        self.broken = False  # a heading, rule or advice line came after the last metric line
        self.tables = 0  # tables seen so far
        self.table_of: dict[int, int] = {}  # id(run parts) -> the table its row or column is in

    # ------------------------------------------------------------------ lines
    def line(self, number: int, raw: str) -> None:
        self.counter.see(number, raw)
        text = strip_ansi(raw).strip()
        if not text:
            self._blank_line()
            return
        if self._in_table(number, text):
            return
        if _is_heading(text):
            # A new section: what follows the last numbers under another heading is not about them (a heading's
            # own words, `## Results on MovieLens-1M`, still state what the section's runs are).
            self.broken = True
            self.pending_step = None
        label = paper_label(text) if self.detect_paper else None
        if label is False:
            self._close_block()
            self.paper_pending = None
        if not self._record_line(number, text, label):
            self._words_line(number, text)

    def _blank_line(self) -> None:
        if self.block is not None and self.block.values:
            # A blank line ends the paper's block; the numbers after it are someone's again.
            self._close_block()
            self.paper_pending = None
        self._end_table()
        self.pending_step = None

    def _in_table(self, number: int, text: str) -> bool:
        """Whether the line was read as a Markdown table's; any line not shaped as one ends the table."""
        if text.startswith("|") and text.count("|") >= 3:
            return self._table_line(number, text)
        self._end_table()
        return False

    def _record_line(self, number: int, text: str, label: bool | None) -> bool:
        """A line with a step or metric values, or one labelling the paper's numbers (`label`, paper_label's
        answer): True when read here, False when its words are still to be read."""
        record = safe_record(text)
        metrics = record.metrics if record is not None else {}
        if record is not None and not metrics and record.step is not None and record.loss is None \
                and len(text) <= 60:
            # `epoch: 13, batch: 6506:` alone: the evaluation lines below it are that step's (one curve).
            self.pending_step = record
            return True
        if metrics and record.step is None and self.pending_step is not None:
            record = replace(record, step=self.pending_step.step, step_kind=self.pending_step.step_kind)
        if label is True:
            self._close_block()
            self.paper_pending = number
            if not metrics:
                self.excluded.add(number)  # the label itself (`Table 3`): understood, not a run's number
                return True
        if metrics and self.paper_pending is not None and number - self.paper_pending <= 3:
            self._paper_line(number, text, record)
            return True
        if not metrics:
            return False
        self._close_block()
        self.paper_pending = None
        self.broken = False
        self._metric_line(number, text, record)
        self._quoted_settings(number, text)  # `{"model": "SA", "recall@50": 0.07}`: the settings beside them
        return True

    def _words_line(self, number: int, text: str) -> None:
        """A line without numbers to read: prose, a suggestion, a setting or a section word naming a split."""
        if is_prose(text):
            if self.block is not None:
                self._close_block()
            self.pending_step = None
        if proposes(text):
            # A suggestion of what to run next (`测试 1: lr=0.008`): a section break like a heading. Its settings
            # count only for numbers stated after it (`I try lr=0.005 and get:`), never for the runs before it.
            self.broken = True
        if self._setting_line(number, text):
            self.paper_pending = None  # a command or a setting between a label and numbers: the label is spent
            return
        split = line_split(text)
        if split is not None and len(text) <= 40 and not any(c.isdigit() for c in text):
            self.section = split

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
            if part is not None and part.rows and record.step == part.rows[-1]["iter"] and record.loss is None \
                    and not set(metrics) & set(part.row_metrics[-1]):
                part.row_metrics[-1].update(metrics)  # the same evaluation's other cut-offs on the next line
                self.part_end[-1] = number
                return
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
        """A Markdown table. Its first row is its header. Under a header naming metric columns (`| Model |
        Recall@50 | NDCG@50 |`) each row is a run (its cells naming the model, the dataset and settings), or the
        paper's numbers when its label says so, or a point of one curve when a column names the step (`| Epoch |`).
        Under a header of names only, rows that each name a metric (`| Recall@10 | 0.1007 | 0.0195 |`) make the
        table transposed: each value column is a run. False: not such a line (read as any other line)."""
        cells = [_clean_cell(cell) for cell in text.strip().strip("|").split("|")]
        if set(text) <= set("|-: "):
            return self.table is not None
        values = [cell_number(cell) for cell in cells]
        if self.table is None:
            if any(value is not None for value in values) or len([c for c in cells if c]) < 2:
                return False
            self.table = cells
            self.tables += 1
            self.table_metrics = any(bool(line_metrics(f"{cell}: 0.5")) for cell in cells if cell)
            if self.table_metrics:
                self.counter.use(number)
            return True
        if len(cells) != len(self.table):
            return False
        if not self.table_metrics:
            return self._transposed_row(number, cells, values)
        return self._table_row(number, text, cells, values)

    def _table_row(self, number: int, text: str, cells: list[str], values: list[str | None]) -> bool:
        row = _row_cells(self.table or [], cells, values)
        if not any(metric in RUN_METRICS for (_, metric, _) in row.metrics):
            # No retrieval metric in the row (an AUC or loss table of another model, a failed run's empty row).
            return True
        label = " ".join(row.labels)
        record = Record(metrics=row.metrics, split=line_split(label) if label else None)
        if self._paper_row(number, text, label, record):
            return True
        self.broken = False
        if row.step is not None:
            part = self._curve_row(number, row)
        else:
            self._metric_line(number, text, record, new_run=True)
            part = self.parts[-1]
        self._row_facts(part, number, text, row.labels, row.settings)
        return True

    def _paper_row(self, number: int, text: str, label: str, record: Record) -> bool:
        """A row labelled the paper's, or any row of a table right under a paper label: one reference each."""
        said = paper_label(label) if self.detect_paper else None
        under_label = said is None and self.paper_pending is not None and number - self.paper_pending <= 3
        if said is not True and not under_label:
            return False
        self._close_block()
        self.block = _Block(line=number, text=text)
        self._paper_line(number, text, record)
        self._close_block()
        if said is True:
            self.paper_pending = None  # the row's own label: the rows after it are someone's again
        return True

    def _curve_row(self, number: int, row: _Row) -> RunParts:
        """A row of a table with a step column: a point of the table's one curve."""
        self.counter.use(number)
        if self.table_curve is None:
            self.table_curve = self._new_part(number)
        part = self.table_curve
        part.add_row(row.step, row.loss, {(s or "valid", m, c): v for (s, m, c), v in row.metrics.items()}, number)
        if "epoch" in " ".join(self.table or []).lower():
            part.step_unit = "epoch"
        self.part_end[next(i for i, p in enumerate(self.parts) if p is part)] = number
        return part

    def _row_facts(self, part: RunParts, number: int, text: str, labels: list[str],
                   settings: list[tuple[str, str]]) -> None:
        """A table row's model, dataset and settings (declared facts with the row's line) and its label (shown as
        the row's name; never the exp name, whose words would be read as settings)."""
        self.table_of[id(part)] = self.tables
        for column, cell in settings:
            key = setting_key(column)
            if key == "model_type":
                model = model_name(cell)
                if model is not None:
                    part.declare("model_type", model, number, text)
            elif key == "dataset":
                named = stated_datasets(cell)
                part.declare("dataset", next(iter(named)) if len(named) == 1 else cell, number, text)
            else:
                part.declare_setting(column, cell, number, text)
        if "model_type" not in part.declared:
            model = next((m for m in (model_name(cell) for cell in labels) if m is not None), None)
            if model is not None:
                part.declare("model_type", model, number, text)
        if labels:
            part.extra["row_label"] = " ".join(dict.fromkeys(labels))

    def _transposed_row(self, number: int, cells: list[str], values: list[str | None]) -> bool:
        """A row of a transposed table: its first cell names a metric, the other cells are each run's value."""
        first = cells[0]
        if not first or values[0] is not None or not line_metrics(f"{first}: 0.5"):
            return True  # a table of names (models and their ideas): nothing to read
        for index, value in enumerate(values[1:], 1):
            if value is None or not (self.table or [""])[index]:
                continue
            column = self.columns.setdefault(index, {"metrics": {}, "lines": []})
            column["metrics"].update(line_metrics(f"{first}: {value}"))
            column["lines"].append(number)
        self.counter.use(number)
        return True

    def _end_table(self) -> None:
        """The table ends: a transposed table's columns become runs (or the paper's numbers, by their label)."""
        columns, header = self.columns, self.table or []
        self.table, self.table_metrics, self.columns, self.table_curve = None, False, {}, None
        for index, column in sorted(columns.items()):
            label = header[index]
            metrics = column["metrics"]
            if not any(metric in RUN_METRICS for (_, metric, _) in metrics):
                continue
            first, last = column["lines"][0], column["lines"][-1]
            text = f"the column {label!r} of the table at lines {first}-{last}"
            record = Record(metrics=metrics, split=line_split(label))
            if self.detect_paper and paper_label(label) is True:
                self.paper_blocks.append(_Block(line=first, text=text, split=record.split,
                                                values={f"{m}@{c}" if c else m: v for (_, m, c), v in metrics.items()},
                                                lines=column["lines"]))
                continue
            self._metric_line(first, text, record, new_run=True)
            part = self.parts[-1]
            self.part_end[-1] = last
            self._row_facts(part, first, text, [label], [])

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
        found = self._protocol_and_counts(number, text)
        found |= self._command(number, text)
        # The narrower readings first: a line that states settings one way is not read for them another way.
        found = found or any(read(number, text) for read in (self._key_value, self._quoted_in_line,
                                                             self._stated_in_line, self._exp_name_in_line))
        if found:
            self.counter.use(number)
            if self.broken:
                self.detached.add(number)
        return found

    def _protocol_and_counts(self, number: int, text: str) -> bool:
        """The evaluation protocol a line states (`ranked among 100 candidates`) and a short line's data counts."""
        found = False
        protocol = protocol_from_prose(text)
        if protocol is not None:
            self._setting(number, "eval_candidates", protocol, text)
            found = True
        for key, value in count_facts(text) if len(text) <= MAX_SETTING_CHARS else []:
            self._setting(number, key, value, text)
            found = True
        return found

    def _command(self, number: int, text: str) -> bool:
        """An argparse `Namespace(...)` print or a `python train.py --flag v` command: its flags."""
        if "Namespace(" in text:
            argv = parse_namespace(text)
        elif ".py" in text and "--" in text:
            argv = parse_shell_argv(text)
        else:
            return False
        return argv is not None and self._flags(number, argv[1:], text)

    def _key_value(self, number: int, text: str) -> bool:
        """A short line of one setting: `key: value`, `key = value`, `- key: value`, `key | value`."""
        match = _SETTING_RE.match(text) if len(text) <= MAX_SETTING_CHARS else None
        return match is not None and self._named(number, match.group(1), match.group(2), text)

    def _quoted_in_line(self, number: int, text: str) -> bool:
        return ("'" in text or '"' in text) and self._quoted_settings(number, text)

    def _exp_name_in_line(self, number: int, text: str) -> bool:
        """The settings an exp name spells (`book_SA_b128_lr0.001_d64_len20`), the first such word of the line."""
        if "_" not in text:
            return False
        for token in text.split()[:20]:
            tokens = parse_exp_name_tokens(token.strip("`'\",.()[]"))
            if tokens is not None:
                for key, value in tokens.items():
                    self._setting(number, key, value, text)
                return True
        return False

    def _stated_in_line(self, number: int, text: str) -> bool:
        """Settings stated anywhere in a line of prose or a terse list (`我尝试在 book 上改了 batch_size =1024`,
        `ComiRec-SA, book, batch_size=1024`): `key = value` pairs with a key recdoc knows, and the one model and
        the one dataset the line names (a line naming two models or two datasets states neither)."""
        found = False
        for name, value in inline_settings(text):
            found |= self._named(number, name, value, text)
        models = stated_models(text)
        if len(models) == 1 and not any(key == "model_type" for line, key, _ in self.settings if line == number):
            self._setting(number, "model_type", next(iter(models)), text)
            found = True
        datasets = stated_datasets(text)
        if len(datasets) == 1 and not any(key == "dataset" for line, key, _ in self.settings if line == number):
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
                # `--model_type ComiRec-SA, 得到的效果为`: the sentence's comma is not the value's.
                value = re.split(r"[，。；：、！？]", value)[0].rstrip(TRAILING_PUNCTUATION)
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
        self._end_table()
        self._close_block()
        parts = [part for part in self.parts if part.has_metrics]
        ends = [end for part, end in zip(self.parts, self.part_end) if part.has_metrics]
        # A table whose rows (or columns) name their models: a row naming none is another model (a baseline), not
        # the one the prose names.
        named_tables = {self.table_of[id(part)] for part in parts
                        if id(part) in self.table_of and "model_type" in part.declared}
        for part, end in zip(parts, ends):
            # A table row's own cells first; then the last statement of a key before the run's numbers; else the
            # first after them (a thread often gives the command after the results).
            own = set(part.declared)
            if self.table_of.get(id(part), -1) in named_tables:
                own.add("model_type")
            for line, key, fact in self.settings:
                if line <= end and key not in own:
                    part.declared[key] = fact
            for line, key, fact in self.settings:
                if line not in self.detached and key not in own:  # never from a later section (a next step)
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



def read_statements(path: str | Path, format_name: str, detect_paper: bool) -> tuple[list[Run], StatementReader]:
    """Every line of `path` through one reader: its runs, and the reader itself (what it set aside as the paper's
    numbers says why a text without runs has none)."""
    reader = StatementReader(str(path), format_name, detect_paper=detect_paper)
    for number, line in input_lines(path):
        reader.line(number, line)
    return reader.finish(), reader
