"""`train.log`: the original's lines, byte for byte (reference section 7), appended and echoed as they happen."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from recdoc.config import RunConfig
from recdoc.trainer.log.progress import Console

DASH_LINE = "-" * 89


def log_metrics(metrics: Mapping[str, float], config: RunConfig, with_diversity: bool = False) -> dict[str, float]:
    """The values `train.log` shows, in the original's order: recall, ndcg, hitrate (, diversity) at topN.

    NDCG is `config.ndcg`'s kind; recall is the paper's (duplicates count) except with `--ndcg master`, where it
    is the master branch's, so a log matches the branch it imitates.
    """
    cutoff = config.topN
    recall_key = f"recall_master@{cutoff}" if config.ndcg == "master" else f"recall@{cutoff}"
    keys = {"recall": recall_key, "ndcg": f"ndcg_{config.ndcg}@{cutoff}", "hitrate": f"hitrate@{cutoff}"}
    if with_diversity:
        keys["diversity"] = f"diversity@{cutoff}"
    return {name: float(metrics[key]) for name, key in keys.items() if key in metrics}


def early_stop_key(config: RunConfig) -> str:
    """The metric whose strict improvement resets patience: the recall `train.log` shows."""
    return f"recall_master@{config.topN}" if config.ndcg == "master" else f"recall@{config.topN}"


def format_iter_line(iteration: int, train_loss: float, shown: Mapping[str, float]) -> str:
    """`iter: %d, train loss: %.4f, valid recall: %.6f, ...` (no metrics part when evaluation gave none)."""
    line = "iter: %d, train loss: %.4f" % (iteration, train_loss)
    if shown:
        line += ", " + ", ".join("valid " + name + ": %.6f" % value for name, value in shown.items())
    return line


def format_time_line(minutes: float) -> str:
    return "time interval: %.4f min" % minutes


def format_final_line(split: str, shown: Mapping[str, float]) -> str:
    return ", ".join(split + " " + name + ": %.6f" % value for name, value in shown.items())


class TrainLog:
    """Appends lines to `train.log` (flushed per line, so a killed run keeps every line) and echoes them."""

    def __init__(self, path: Path, console: Console | None = None) -> None:
        self.path = path
        self.console = console
        self._file = path.open("a", encoding="utf-8")

    def line(self, text: str) -> None:
        self._file.write(text + "\n")
        self._file.flush()
        if self.console is not None:
            self.console.print(text)

    def close(self) -> None:
        self._file.close()
