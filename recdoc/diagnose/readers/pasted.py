"""Pasted text with prose around metric lines: an issue, a chat, a forum post, a README's results section.

The numbers are stated, not logged: `test recall@50: 0.0712, test ndcg@50: 0.0434` after a sentence saying which
model and data, perhaps the command (`python src/train.py --dataset book --model_type ComiRec-SA`), perhaps several
runs one after another, and often the paper's numbers quoted for comparison. A block the author labels as the
paper's (`the paper reports:`, `Paper: HR@50 0.3`, `in the paper`, `论文中`) is a reference, not a run: it is kept as
an info Event (`values["reference"] == "paper"`) on every run and never read as one (statements.py).

Sniffing leaves logs to their readers: a head with the original's lines, or with step records in the majority, is
not pasted text; prose (sentences of words, or of CJK characters) beside metric lines is, and so is a Markdown
results table (models as rows or transposed) or a terse line of settings beside final numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recdoc.diagnose.observed_run import Run
from recdoc.diagnose.readers.reported import (
    inline_settings,
    line_metrics,
    safe_record,
    stated_datasets,
    stated_models,
)
from recdoc.diagnose.readers.statements import _clean_cell, cell_number, is_prose, paper_label, read_statements
from recdoc.diagnose.readers.stdout_log import log_signals
from recdoc.errors import InputError

FORMAT = "pasted"


@dataclass
class _HeadTally:
    """What a head's lines are, counted for sniffing."""

    prose: int = 0
    stated: int = 0  # terse lines of settings
    metric_lines: int = 0
    step_lines: int = 0
    table_rows: int = 0  # rows of a Markdown results table
    labelled: bool = False  # a line labels numbers as the paper's


def sniff(head: str) -> float:
    if log_signals(head).core >= 2:
        return 0.0  # the original's (or a port's) lines: its reader reads them, prose and all
    return _score(_tally(head))


def _tally(head: str) -> _HeadTally:
    tally = _HeadTally()
    header: list[str] | None = None  # the header of the Markdown table being read
    for line in head.splitlines()[:400]:
        text = line.strip()
        if text.startswith("|") and text.count("|") >= 3:
            header = _count_table_line(text, header, tally)
            continue
        header = None
        if text:
            _count_text_line(text, tally)
    return tally


def _count_table_line(text: str, header: list[str] | None, tally: _HeadTally) -> list[str] | None:
    """A Markdown table's line: metric columns in its header and numbers in its rows, or (transposed) a metric name
    first in each row and numbers across. Returns the table's header from here on."""
    cells = [_clean_cell(cell) for cell in text.strip("|").split("|")]
    numbers = [cell_number(cell) is not None for cell in cells]
    if set(text) <= set("|-: "):
        return header
    if header is None:
        header = cells if not any(numbers) else None
    elif any(numbers) and (any(_names_metric(cell) for cell in header if cell)
                           or (cells[0] and not numbers[0] and _names_metric(cells[0]))):
        tally.table_rows += 1
    tally.labelled = tally.labelled or paper_label(text) is True
    return header


def _names_metric(cell: str) -> bool:
    return bool(line_metrics(f"{cell}: 0.5"))


def _count_text_line(text: str, tally: _HeadTally) -> None:
    record = safe_record(text)
    if record is not None and record.step is not None:
        tally.step_lines += 1  # a log's step line, with its metrics or alone (`iters: 500` above them)
    if record is not None and record.metrics:
        tally.metric_lines += 1
    elif is_prose(text) or _sentence(text):
        tally.prose += 1
    elif _states_settings(text):
        tally.stated += 1
    if paper_label(text) is True:
        tally.labelled = True


def _score(tally: _HeadTally) -> float:
    if tally.table_rows:
        return 0.45  # a results table: read as stated results whatever the prose around it
    if tally.metric_lines == 0 or tally.step_lines >= 2:
        # Evaluations at two or more steps are a curve, a log reader's to read (it skips the prose around them).
        return 0.0
    if tally.labelled and tally.prose >= 1:
        return 0.45
    if tally.prose >= 1:
        return 0.42
    # Terse settings beside final numbers (`ComiRec-SA, book, batch_size=1024`): above the text log reader, below a
    # config dump (whose `key: value` lines state settings too).
    return 0.35 if tally.stated >= 1 else 0.0


def _sentence(text: str) -> bool:
    """A sentence in a script without spaces between words (`我尝试在 book 上改了 batch_size`): six CJK characters."""
    return sum(1 for char in text if "\u4e00" <= char <= "\u9fff") >= 6


def _states_settings(text: str) -> bool:
    """A terse line of settings (`ComiRec-SA, book, batch_size=1024`): a model, a dataset or a known `key=value`."""
    if len(text) > 300:
        return False
    return bool(inline_settings(text) or stated_models(text) or stated_datasets(text))


def read(path: str | Path) -> Run:
    return read_runs(path)[-1]


def read_runs(path: str | Path) -> list[Run]:
    runs, reader = read_statements(path, FORMAT, detect_paper=True)
    if not runs:
        only = (f"only the paper's numbers ({reader.paper_values} values quoted as a reference)"
                if reader.paper_values else "no metric line")
        raise InputError(f"pasted text with {only}: no run to diagnose", str(path))
    return runs
