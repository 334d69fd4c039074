"""Pasted text with prose around metric lines: an issue, a chat, a forum post, a README's results section.

The numbers are stated, not logged: `test recall@50: 0.0712, test ndcg@50: 0.0434` after a sentence saying which
model and data, perhaps the command (`python src/train.py --dataset book --model_type ComiRec-SA`), perhaps several
runs one after another, and often the paper's numbers quoted for comparison. A block the author labels as the
paper's (`the paper reports:`, `Paper: HR@50 0.3`, `in the paper`, `论文中`) is a reference, not a run: it is kept as
an info Event (`values["reference"] == "paper"`) on every run and never read as one (statements.py).

Sniffing leaves logs to their readers: a head with the original's lines, or with step records in the majority, is
not pasted text; prose (sentences of words) beside metric lines is.
"""

from __future__ import annotations

from pathlib import Path

from recdoc.diagnose.observed_run import Run
from recdoc.diagnose.readers.statements import StatementReader, is_prose, paper_label
from recdoc.diagnose.readers.stdout_log import log_signals
from recdoc.diagnose.readers.reported import input_lines, line_metrics, safe_record
from recdoc.errors import InputError

FORMAT = "pasted"
# Sentences that make a head prose rather than a log.
MIN_PROSE_LINES = 2


def sniff(head: str) -> float:
    if log_signals(head).core >= 2:
        return 0.0  # the original's (or a port's) lines: its reader reads them, prose and all
    prose = metric_lines = step_lines = 0
    labelled = table = False
    for line in head.splitlines()[:400]:
        text = line.strip()
        if not text:
            continue
        if text.startswith("|") and text.count("|") >= 3:
            # A Markdown table: metric columns in its header, numbers in its rows.
            cells = [cell.strip() for cell in text.strip("|").split("|")]
            if any(line_metrics(f"{cell}: 0.5") for cell in cells if cell and not cell[:1].isdigit()):
                table = True
            elif table and any(cell[:1].isdigit() for cell in cells):
                metric_lines += 1
            labelled = labelled or paper_label(text) is True
            continue
        table = False
        record = safe_record(text)
        if record is not None and record.step is not None:
            step_lines += 1  # a step with its metrics, or on a line of its own before them: evaluations of a log
        if record is not None and record.metrics:
            metric_lines += 1
        elif is_prose(text):
            prose += 1
        if paper_label(text) is True:
            labelled = True
    if metric_lines == 0 or step_lines >= 2:
        # Evaluations at two or more steps are a curve, a log reader's to read (it skips the prose around them).
        return 0.0
    if labelled and prose >= 1:
        return 0.45
    return 0.42 if prose >= MIN_PROSE_LINES else 0.0


def read(path: str | Path) -> Run:
    return read_runs(path)[-1]


def read_runs(path: str | Path) -> list[Run]:
    reader = StatementReader(str(path), FORMAT, detect_paper=True)
    for number, line in input_lines(path):
        reader.line(number, line)
    runs = reader.finish()
    if not runs:
        only = (f"only the paper's numbers ({reader.paper_values} values quoted as a reference)"
                if reader.paper_values else "no metric line")
        raise InputError(f"pasted text with {only}: no run to diagnose", str(path))
    return runs
