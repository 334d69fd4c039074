"""The public TF2/Keras ComiRec port of the incident: the original's lines plus Chinese/emoji progress lines.

`✅ 发现已有 checkpoint，自动恢复: PATH` (resumed), `💾 保存新的最优模型，recall: R` (saved_best),
`Restoring best checkpoint for evaluation: PATH` (restored), `⚠️  警告：...` (warning), `training begin (Keras)`.
Its checkpoints are `keras_ckpt/ckpt-N` where N counts saves, not iterations (see checkpoint.py).
"""

from __future__ import annotations

from pathlib import Path

from recdoc.diagnose.observed_run import Run
from recdoc.diagnose.readers.stdout_log import log_signals, parse_log, parse_log_runs

FORMAT = "tf2-port"


def sniff(head: str) -> float:
    signals = log_signals(head)
    if not signals.tf2_port:
        return 0.0
    return min(0.75 + 0.05 * signals.tf2_port, 0.95) if signals.core or signals.tf2_port >= 2 else 0.5


def read(path: str | Path) -> Run:
    return parse_log(path, FORMAT)


def read_runs(path: str | Path) -> list[Run]:
    return parse_log_runs(path, FORMAT)
