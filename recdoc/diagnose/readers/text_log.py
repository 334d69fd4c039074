"""A text log of a code recdoc has no reader for: evaluation records in any shape (records.py), settings from its
headers (headers.py). Labelled `text`, so that no rule reads its loss as the original's sampled-softmax loss or its
silences as the original's failures."""

from __future__ import annotations

from pathlib import Path

from recdoc.diagnose.observed_run import Run
from recdoc.diagnose.readers.records import parse_record
from recdoc.diagnose.readers.stdout_log import parse_log, parse_log_runs

FORMAT = "text"
# Lines of the head that must carry a record before a file found in a folder is read as a log.
MIN_RECORDS = 2


def sniff(head: str) -> float:
    records = 0
    for line in head.splitlines():
        record = parse_record(line)
        if record is not None and record.metrics:
            records += 1
            if records >= MIN_RECORDS:
                return 0.3
    return 0.0


def read(path: str | Path) -> Run:
    return parse_log(path, FORMAT)


def read_runs(path: str | Path) -> list[Run]:
    return parse_log_runs(path, FORMAT)
