"""The PyTorch port (ShiningCosmos/pytorch_ComiRec): the original's lines plus `pid:N`, `use cuda:N`/`use cpu`,
`hidden_size: H`, `interest_num: K` (declared settings), `total user: N`, `early stopping!`, `model loaded from PATH`,
and exp names with `_in{K}_top{N}` (its default topN is 20)."""

from __future__ import annotations

from pathlib import Path

from recdoc.diagnose.observed_run import Run
from recdoc.diagnose.readers.stdout_log import log_signals, parse_log, parse_log_runs

FORMAT = "pytorch-port"


def sniff(head: str) -> float:
    signals = log_signals(head)
    if signals.pytorch_port == 0:
        return 0.0
    if signals.pytorch_port >= 2:
        return min(0.8 + 0.03 * signals.pytorch_port, 0.95)
    # A lone `pid:` or `use cpu` is weak evidence on its own.
    return 0.45 if signals.core else 0.2


def read(path: str | Path) -> Run:
    return parse_log(path, FORMAT)


def read_runs(path: str | Path) -> list[Run]:
    return parse_log_runs(path, FORMAT)
