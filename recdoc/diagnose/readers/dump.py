"""Dict and YAML dumps: results written as data rather than printed by a training loop.

- A dict of lists (`{'Recall': ['Recall@100: 0.1121'], 'NDCG': ['NDCG@100: 0.0467']}`), a JSON or Python literal
  of metric values (`{"test": {"recall@50": 0.0712}}`), on one line or many.
- A YAML (or `key = value`) config dump (`learning_rate: 0.005`, `dataset: book`, `model_type: ComiRec-SA`),
  followed by the final numbers, often in percent (`recall@50: 8.12`: rates above 1 are percentages).

Settings are declared facts with their lines; metric values are final values (split as stated, else a section word
such as `test:` above them, else test). Repeated splits and cut-offs start another run. Read line by line
(statements.py), so a literal spread over many lines reads like one on a single line; no YAML library is needed.
"""

from __future__ import annotations

from pathlib import Path

from recdoc.diagnose.observed_run import Run
from recdoc.diagnose.readers.statements import is_prose, read_statements
from recdoc.errors import InputError

FORMAT = "dump"
# Setting lines (`key: value` with a key recdoc knows) that make a head a config dump.
MIN_SETTING_LINES = 3


def sniff(head: str) -> float:
    from recdoc.diagnose.readers.reported import safe_record, setting_key
    from recdoc.diagnose.readers.statements import _SETTING_RE

    settings = metric_lines = prose = step_lines = 0
    literal = head.lstrip().startswith(("{", "["))  # a JSON object or a Python literal, pretty-printed or not
    for line in head.splitlines()[:400]:
        text = line.strip()
        if not text:
            continue
        record = safe_record(text)
        if record is not None and record.step is not None:
            if record.metrics:
                return 0.0  # an evaluation at a step: a log, not a dump of results
            step_lines += 1
            if step_lines >= 2:
                return 0.0  # steps on lines of their own (`iter 1000` then a dict of metrics): a log's evaluations
            continue
        if record is not None and record.metrics:
            metric_lines += 1
            # `{'Recall': ['Recall@100: 0.1121']}`: metric strings inside a literal's lists.
            literal = literal or ("['" in text or '["' in text or text.startswith("{"))
            continue
        if is_prose(text):
            prose += 1
        match = _SETTING_RE.match(text) if len(text) <= 100 else None
        if match is not None and setting_key(match.group(1)) is not None:
            settings += 1
    if metric_lines == 0 or prose >= 2:
        return 0.0
    return 0.4 if literal or settings >= MIN_SETTING_LINES else 0.0


def read(path: str | Path) -> Run:
    return read_runs(path)[-1]


def read_runs(path: str | Path) -> list[Run]:
    runs, _ = read_statements(path, FORMAT, detect_paper=False)
    if not runs:
        raise InputError("a dump without any metric value", str(path))
    return runs
