"""Results sheets (CSV/TSV): one row per model (and seed), summary rows between blocks, header rows.

A sheet states results, not training: each data row is a run's final numbers, in a quoted cell of `name@K:value`
pairs (`"HR@5:0.41,NDCG@5:0.30"`) or in columns whose header names a metric (`recall@50`, `test_NDCG@20`). Columns
whose header names a setting (`model`, `dataset`, `lr`, `seed`, `topk`) give each row's settings; a row holding a
single text cell titles the block below it (`Book`, `taobao results`), and names its dataset when it is one.
Summary rows (`mean`, `std`, `avg`, ...) are the author's arithmetic over runs already read: never runs.

Rows of one configuration (the same settings, seeds aside) come back as consecutive runs with the same settings, so
the engine pools them as repeats with their spread (`engine.group_repeats`). A sheet with a step column (`epoch`,
`iter`, `step`: a metrics logger's CSV) is a curve: the rows of one configuration are one run's evaluations.
Metric values above 1 in a column are percentages. A row's split is the one its metric or a `split` column names,
else the block title's, else test (a results sheet reports the held-out numbers; the final's text says so).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from recdoc import reference
from recdoc.diagnose.observed_run import Event, Run, SourceRef
from recdoc.diagnose.readers.records import MISSING_CELLS, line_split
from recdoc.diagnose.readers.reported import (
    CoverageCounter,
    RunParts,
    copy_coverage,
    input_lines,
    line_metrics,
    mark_segments,
    paper_reference_event,
    safe_record,
    scale_percent,
    setting_key,
)
from recdoc.diagnose.readers.statements import paper_label
from recdoc.errors import InputError

FORMAT = "sheet"
SUFFIXES = (".csv", ".tsv")
# First cells of rows that summarise the rows above them (the author's mean over seeds, a std row, a total).
SUMMARY_WORDS = ("mean", "avg", "average", "std", "stdev", "std.", "sd", "var", "variance", "median", "min", "max",
                 "total", "summary", "overall", "ci", "stderr", "sem", "±", "mean±std")
STEP_COLUMNS = {"epoch": "epoch", "epochs": "epoch", "iter": "iter", "iters": "iter", "iteration": "iter",
                "step": "iter", "steps": "iter", "global_step": "iter"}
SPLIT_COLUMNS = ("split", "phase", "set", "subset", "stage", "eval_set")
SEED_COLUMNS = ("seed", "random_seed", "run_seed", "trial", "repeat", "rep", "fold")
LOSS_COLUMNS = ("loss", "train_loss", "training_loss")
# Cells of a sniffed head that must hold metrics before a file found in a folder is read as a sheet.
MIN_METRIC_ROWS = 1


def sniff(head: str) -> float:
    """A sheet: separated cells on most lines, with metric values in cells or under metric columns."""
    lines = [line for line in head.splitlines()[:200] if line.strip()]
    if len(lines) < 2:
        return 0.0
    delimiter = _delimiter(lines)
    if delimiter is None:
        return 0.0
    separated = sum(1 for line in lines if delimiter in line)
    if separated < 0.6 * len(lines):
        return 0.0
    metric_rows = log_rows = 0
    header: list[str] | None = None
    for line, cells in zip(lines[:60], csv.reader(lines[:60], delimiter=delimiter)):
        cells = [c.strip() for c in cells]
        if _is_header(cells):
            header = cells
            continue
        if header is not None and _column_metrics(header, cells):
            metric_rows += 1
            continue
        record = safe_record(line)
        if record is not None and record.step is not None:
            log_rows += 1  # `Epoch 3, loss: 0.5, recall@50: 0.07`: a log line that happens to hold commas
            continue
        pairs = [cell for cell in cells if _has_letters(cell) and _cell_metrics(cell)]
        plain = [cell for cell in cells if cell and cell not in pairs and ":" not in cell and "=" not in cell]
        # A row is a model's name or settings beside its metrics (`ComiRec-SA,1,"HR@5:0.41,..."`); a line whose
        # cells are all `name: value` pairs (`test recall: 0.07, test ndcg: 0.2`) is a log's metrics line.
        if pairs and plain:
            metric_rows += 1
    # Above the text log reader (0.3): a line of comma-separated `HR@5:0.41` pairs is a record to it too.
    return 0.45 if metric_rows >= MIN_METRIC_ROWS and metric_rows > log_rows else 0.0


def read(path: str | Path) -> Run:
    return read_runs(path)[-1]


def read_runs(path: str | Path) -> list[Run]:
    path_text = str(path)
    numbered = list(input_lines(path))
    counter = CoverageCounter(path_text)
    for number, line in numbered:
        counter.see(number, line)
    delimiter = ("\t" if str(path).lower().endswith(".tsv") else _delimiter([line for _, line in numbered[:200]])) \
        or ","
    reader = _Sheet(path_text, counter)
    for number, cells in _rows(numbered, delimiter):
        reader.row(number, cells)
    parts = reader.finish()
    if not parts:
        raise InputError("a sheet without any metric value (no `name@K:value` cell, no metric column)", path_text)
    scale_percent(parts)
    coverage = counter.coverage(exclude=reader.summary_lines)
    runs = [part.build(copy_coverage(coverage)) for part in parts]
    for run in runs:
        run.events = list(reader.references) + run.events
    summaries = reader.summary_lines - {event.ref.line for event in reader.references}
    if summaries:
        runs[0].events.append(_summary_event(path_text, summaries))
    return mark_segments(runs)


def _summary_event(path: str, lines: set[int]) -> Event:
    first = min(lines)
    return Event(kind="info", ref=SourceRef(path, first),
                 text=f"{len(lines)} summary row(s) (mean, std, ...) not read as runs; the runs' own rows are pooled "
                      "instead", values={"summary_rows": sorted(lines)})


def _rows(numbered: list[tuple[int, str]], delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Each line's cells with its line number (a quoted cell spanning lines is rare in results sheets; such a line
    is read as it stands)."""
    for number, line in numbered:
        if not line.strip():
            yield number, []
            continue
        try:
            cells = next(csv.reader([line], delimiter=delimiter))
        except (csv.Error, StopIteration):
            cells = line.split(delimiter)
        yield number, [c.strip() for c in cells]


def _delimiter(lines: list[str]) -> str | None:
    """Tab when most lines hold tabs, else comma when most hold commas outside quotes, else semicolon."""
    lines = [line for line in lines if line.strip()]
    if not lines:
        return None
    for candidate in ("\t", ",", ";"):
        holding = sum(1 for line in lines if candidate in _outside_quotes(line))
        if holding >= max(2, 0.6 * len(lines)) or (len(lines) < 4 and holding == len(lines)):
            return candidate
    return None


def _outside_quotes(line: str) -> str:
    """The line with quoted parts removed (a quoted cell's commas do not separate cells)."""
    if '"' not in line:
        return line
    out, quoted = [], False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted:
            out.append(char)
    return "".join(out)


def _has_letters(cell: str) -> bool:
    return any(c.isalpha() for c in cell)


def _is_number(cell: str) -> bool:
    text = cell.strip().rstrip("%")
    try:
        float(text)
    except ValueError:
        return False
    return True


def _cell_metrics(cell: str) -> dict:
    return line_metrics(cell) if any(c.isdigit() for c in cell) else {}


def _column_metrics(header: list[str], cells: list[str]) -> dict:
    """Values under metric columns: `recall@50` over `0.071` (a `%` after the number is kept for the reader)."""
    out: dict = {}
    for name, cell in zip(header, cells):
        if name and _is_number(cell) and not setting_key(name) and _norm(name) not in STEP_COLUMNS:
            out.update(line_metrics(f"{name}: {cell}"))
    return out


def _is_header(cells: list[str]) -> bool:
    """Column names: at least two cells, none a number, none holding a metric value."""
    filled = [c for c in cells if c]
    return (len(filled) >= 2 and not any(_is_number(c) for c in filled)
            and not any(_cell_metrics(c) for c in filled))


COLUMN_WORDS = ("model", "method", "name", "metrics", "results", "config", "configuration", "run", "exp",
                "experiment", "variant", "algorithm")


def _names_column(cell: str) -> bool:
    name = _norm(cell)
    return bool(name in COLUMN_WORDS or name in STEP_COLUMNS or name in SPLIT_COLUMNS or name in SEED_COLUMNS
                or setting_key(cell) or line_metrics(f"{cell}: 0.5"))


def _norm(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


@dataclass
class _RowCells:
    """What a data row's cells other than its metrics state (settings and the model go to the run's parts)."""

    step: int | None = None
    loss: float | None = None
    split: str | None = None
    seed: str | None = None
    label_bits: list[str] = field(default_factory=list)  # the cells that name the row


def _row_metrics(header: list[str], cells: list[str]) -> tuple[dict, set[int]]:
    """A row's metric values (in `name@K:value` cells and under metric columns), and the cells holding pairs."""
    metrics: dict = {}
    metric_cells: set[int] = set()
    for index, cell in enumerate(cells):
        found = _cell_metrics(cell) if cell and _has_letters(cell) else {}
        if found:
            metrics.update(found)
            metric_cells.add(index)
    if header:
        metrics.update(_column_metrics(header, cells))
    return metrics, metric_cells


def _read_row_cells(part: RunParts, header: list[str], cells: list[str], metric_cells: set[int], number: int,
                    line: str) -> _RowCells:
    row = _RowCells()
    for index, cell in enumerate(cells):
        if not cell or index in metric_cells or cell.lower() in MISSING_CELLS:
            continue  # `-`, `n/a`: a value not recorded, neither a label nor a setting
        name = _norm(header[index]) if index < len(header) else ""
        _read_cell(part, row, name, cell, number, line)
    return row


def _read_cell(part: RunParts, row: _RowCells, name: str, cell: str, number: int, line: str) -> None:
    """One cell by its column's (normalised) name: the step, the loss, the split, the seed, a setting, else a name."""
    if name in STEP_COLUMNS and cell.isdigit():
        row.step = int(cell)
        part.step_unit = "epoch" if STEP_COLUMNS[name] == "epoch" else None
    elif name in LOSS_COLUMNS and _is_number(cell):
        row.loss = float(cell)
    elif name in SPLIT_COLUMNS:
        row.split = line_split(cell)
    elif name in SEED_COLUMNS:
        row.seed = cell
        if name in ("seed", "random_seed"):
            part.declare_setting("random_seed", cell, number, line)
    elif name and part.declare_setting(name, cell, number, line):
        if setting_key(name) in ("model_type", "dataset"):
            row.label_bits.append(cell)
    elif not _is_number(cell):
        _name_cell(part, row, cell, number, line)


def _name_cell(part: RunParts, row: _RowCells, cell: str, number: int, line: str) -> None:
    """A text cell without a column that names it: a model, a dataset, or the row's name."""
    model = reference.canonical_model_type(cell)
    if model is not None:
        part.declare("model_type", model, number, line)
    elif _known_dataset(_norm(cell)):
        part.declare("dataset", _norm(cell), number, line)
    row.label_bits.append(cell)


def _known_dataset(name: str) -> bool:
    return name in reference.load()["original_defaults"]["datasets"] and name != "other"


def _values_by_split(metrics: dict, default_split: str | None) -> dict[str, dict]:
    """Final values by split: the metric's own split, else the row's (`default_split`), else test."""
    values: dict[str, dict] = {}
    for (metric_split, metric, cutoff), value in metrics.items():
        values.setdefault(metric_split or default_split or "test", {})[(metric, cutoff)] = value
    return values


class _Sheet:
    """The reading state: the current header and block title, and the runs found so far."""

    def __init__(self, path: str, counter: CoverageCounter) -> None:
        self.path = path
        self.counter = counter
        self.header: list[str] | None = None
        self.title: str | None = None
        self.title_line: int | None = None
        self.summary_lines: set[int] = set()
        self.finals: list[tuple[tuple, RunParts]] = []  # (configuration, run), in row order
        self.curves: dict[tuple, RunParts] = {}  # configuration (with seed) -> its curve run
        self.references: list[Event] = []  # rows labelled the paper's
        self.last_row: tuple[tuple, RunParts] | None = None  # the last final row's configuration (with seed), run

    def row(self, number: int, cells: list[str]) -> None:
        filled = [c for c in cells if c]
        if not filled:
            return
        # A row of words is a header when it names a column recdoc knows (a later row of words that names none is
        # a run without numbers, e.g. one that failed, not a new header).
        if _is_header(cells) and (self.header is None or any(_names_column(cell) for cell in filled)):
            self.header = cells
            self.counter.use(number)  # understood (`recall@50` holds digits); counted only if it has any
            return
        lead = [_norm(c) for c in filled[:3]]
        if any(word in SUMMARY_WORDS or word.startswith(("mean", "avg", "average", "std")) for word in lead):
            self.summary_lines.add(number)
            return
        if len(filled) == 1 and not _cell_metrics(filled[0]):
            self.title, self.title_line = filled[0], number
            return
        self._data_row(number, cells)

    def _data_row(self, number: int, cells: list[str]) -> None:
        line = ",".join(cells)
        metrics, metric_cells = _row_metrics(self.header or [], cells)
        if not metrics:
            return
        part = RunParts(format=FORMAT, path=self.path)
        row = _read_row_cells(part, self.header or [], cells, metric_cells, number, line)
        self._title_dataset(part)
        block_split = line_split(self.title) if self.title else None
        self.counter.use(number)
        configuration = tuple(sorted((k, str(f.value)) for k, f in part.declared.items() if k != "random_seed"))
        configuration += tuple(b for b in row.label_bits if b != row.seed)
        seeded = configuration + ((row.seed,) if row.seed else ())
        label = " ".join(dict.fromkeys(row.label_bits)) or None
        if label is not None:
            # The row's name (shown with the run), never its exp name: a cell's words are not an exp name's settings.
            part.extra["row_label"] = label
        if row.step is not None:
            self._curve_point(part, seeded, row, {(s or row.split or block_split, m, c): v
                                                   for (s, m, c), v in metrics.items()}, number)
            return
        values = _values_by_split(metrics, row.split or block_split)
        if label is not None and paper_label(label) is True:
            self._paper_row(number, line, values)
            return
        split_stated = bool(row.split or block_split or any(s for (s, _, _) in metrics))
        self._final_row(part, configuration, seeded, values, number,
                        line if split_stated else line + "  [split not stated: read as test]")

    def _title_dataset(self, part: RunParts) -> None:
        """A block title naming a dataset (`Book`, `taobao results`) is the dataset of rows that name none."""
        if "dataset" in part.declared or self.title is None:
            return
        title = _norm(self.title).split("_")[0]
        if _known_dataset(title):
            part.declare("dataset", title, self.title_line, self.title)

    def _curve_point(self, part: RunParts, key: tuple, row: _RowCells, metrics: dict, number: int) -> None:
        """A row with a step: a point of its configuration's curve (`part` starts the curve when it is the first)."""
        run = self.curves.get(key)
        if run is None:
            run = self.curves[key] = part
            self.finals.append((key, part))
        run.add_row(row.step, row.loss, metrics, number)

    def _paper_row(self, number: int, line: str, values: dict[str, dict]) -> None:
        """`ComiRec-SA (paper)`, `Paper (Table 3)`: the author's reference numbers, not a run."""
        for metric_split, vals in values.items():
            flat = {f"{m}@{c}" if c is not None else m: v for (m, c), v in vals.items()}
            self.references.append(paper_reference_event(self.path, number, line, flat, metric_split))
        self.summary_lines.add(number)

    def _final_row(self, part: RunParts, configuration: tuple, row_key: tuple, values: dict[str, dict], number: int,
                   text: str) -> None:
        """A row of final values: a run of its own, or the previous row's run when it is that run's other split
        on the next row (`valid` then `test`)."""
        if self.last_row is not None and self.last_row[0] == row_key and not set(values) & set(self.last_row[1].finals):
            part = self.last_row[1]
        else:
            self.finals.append((configuration, part))
        for metric_split, vals in values.items():
            part.add_final(metric_split, vals, number, text)
        self.last_row = (row_key, part)

    def finish(self) -> list[RunParts]:
        """Runs of one configuration next to each other (first appearance order), so repeats are pooled."""
        order: dict[tuple, int] = {}
        for configuration, _ in self.finals:
            order.setdefault(configuration, len(order))
        ranked = sorted(range(len(self.finals)), key=lambda i: (order[self.finals[i][0]], i))
        parts = [self.finals[i][1] for i in ranked]
        for part in parts:
            if part.rows:
                part.row_metrics = [{("valid" if s in (None, "valid") else s, m, c): v for (s, m, c), v in row.items()}
                                    for row in part.row_metrics]
        return [part for part in parts if part.has_metrics]
