"""The original ComiRec `src/train.py` stdout (reference section 7); recdoc's own `train.log` uses it too."""

from __future__ import annotations

from pathlib import Path

from recdoc.diagnose.observed_run import Run
from recdoc.diagnose.readers.stdout_log import log_signals, parse_log, parse_log_runs

FORMAT = "original"


def sniff(head: str) -> float:
    signals = log_signals(head)
    if signals.core == 0:
        return 0.0
    # The ports print the same core lines; their own markers make them the better match.
    if signals.tf2_port or signals.pytorch_port >= 2:
        return 0.4
    return min(0.5 + 0.1 * signals.core, 0.8)


def read(path: str | Path) -> Run:
    return parse_log(path, FORMAT)


def read_runs(path: str | Path) -> list[Run]:
    return parse_log_runs(path, FORMAT)
