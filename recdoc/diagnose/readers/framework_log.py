"""What RecBole's and ReChorus's log readers share: a line loop with a prefix stripped, settings, counts, the
evaluation protocol, a traceback, and the run assembled from per-epoch rows and closing lines.

Both frameworks count epochs, not iterations: the curve's `iter` is the epoch (`extra_metrics["step_unit"] =
"epoch"`). Their losses are not the original's sampled-softmax mean (RecBole's is a sum over batches, ReChorus's a
BPR mean): the format labels ('recbole', 'rechorus') keep rules from reading the level as the original's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from recdoc.diagnose.observed_run import Run
from recdoc.diagnose.readers.records import line_split
from recdoc.diagnose.readers.reported import (
    CoverageCounter,
    MetricKey,
    RunParts,
    copy_coverage,
    count_facts,
    input_lines,
    line_metrics,
    mark_segments,
    strip_ansi,
)
from recdoc.errors import InputError

LEVELS = ("INFO", "WARNING", "ERROR", "DEBUG", "CRITICAL")


def strip_prefix(line: str) -> str:
    """`Tue 05 Jan 2021 10:20:08 INFO  epoch 0 training [...]` -> `epoch 0 training [...]` (logging's time stamp and
    level, which RecBole and ReChorus put before every message)."""
    text = strip_ansi(line).strip()
    head = text[:48]
    for level in LEVELS:
        at = head.find(level)
        if at >= 0 and (at == 0 or head[at - 1] in " ]:-") and head[at + len(level):at + len(level) + 1] in (" ", ":", "]", ""):
            return text[at + len(level):].lstrip(" :]-\t")
    return text


def paren_groups(line: str) -> list[tuple[str, str]]:
    """`dev=(HR@5:0.2,NDCG@5:0.1) test=(HR@5:0.19)` -> [('dev', 'HR@5:0.2,NDCG@5:0.1'), ('test', 'HR@5:0.19')]:
    each parenthesised group with the word before it. One left-to-right pass."""
    out: list[tuple[str, str]] = []
    start = line.find("(")
    while start >= 0:
        end = line.find(")", start + 1)
        if end < 0:
            break
        before = line[:start].rstrip(" =:")
        word_start = len(before)
        while word_start > 0 and (before[word_start - 1].isalnum() or before[word_start - 1] in "_"):
            word_start -= 1
        out.append((before[word_start:], line[start + 1:end]))
        start = line.find("(", end + 1)
    return out


def split_metrics(text: str, split: str | None) -> dict[tuple[str, int | None], float]:
    """The (metric, cut-off) values of a metrics text, whatever split the text names itself."""
    return {(metric, cutoff): value for (_, metric, cutoff), value in line_metrics(text).items()}


class FrameworkState:
    """One framework log being read: the run's parts, the line counter, the row being filled."""

    def __init__(self, path: str, format_name: str) -> None:
        self.path = path
        self.format = format_name
        self.part = RunParts(format=format_name, path=path, step_unit="epoch")
        self.done: list[RunParts] = []  # runs that ended earlier in the same file (appended output, a tuning loop)
        self.counter = CoverageCounter(path)
        self.traceback_line: int | None = None
        self.signals = 0

    def use(self, number: int) -> None:
        self.counter.use(number)
        self.signals += 1

    def counts(self, number: int, text: str) -> bool:
        facts = count_facts(text)
        for key, value in facts:
            self.part.declare(key, value, number, text)
        if facts:
            self.use(number)
        return bool(facts)

    def new_run(self) -> None:
        """The file holds another run from here on (its header started): what came before is a run of its own."""
        if self.part.rows or self.part.finals:
            self.done.append(self.part)
            self.part = RunParts(format=self.format, path=self.path, step_unit="epoch")

    def row(self, number: int, epoch: int, loss: float | None) -> None:
        if self.part.rows and epoch < self.part.rows[-1]["iter"]:
            self.new_run()  # the epoch counter went back: another run's output follows
        part = self.part
        if part.rows and part.rows[-1]["iter"] == epoch:
            if loss is not None:
                part.rows[-1]["train_loss"] = loss
            return
        part.add_row(epoch, loss, {}, number)
        if loss is not None and (math.isnan(loss) or math.isinf(loss)):
            part.event("nan", number, f"epoch {epoch}: train loss {loss}", iter=epoch)

    def row_metrics(self, number: int, values: dict[tuple[str, int | None], float], split: str = "valid") -> None:
        if not self.part.rows:
            return
        self.part.row_metrics[-1].update({(split, m, c): v for (m, c), v in values.items()})
        self.part.rows[-1]["line"] = self.part.rows[-1]["line"] or number

    def traceback(self, number: int, text: str) -> bool:
        """`Traceback (most recent call last)` then the exception line: the run crashed there."""
        if text.startswith("Traceback (most recent call last)"):
            self.traceback_line = number
            return True
        if self.traceback_line is not None and text and not text.startswith(("File ", " ")) and ":" in text[:80] \
                and text.split(":", 1)[0].replace(".", "").replace("_", "").isalnum():
            exception = text.split(":", 1)[0].rsplit(".", 1)[-1]
            self.part.event("traceback", number, text, exception=exception, traceback_line=self.traceback_line)
            if exception == "KeyboardInterrupt":
                self.part.stop_reason, self.part.stop_ref = "interrupted", self.part.ref(number)
            elif self.part.stop_reason == "unknown":
                self.part.stop_reason, self.part.stop_ref = "crashed", self.part.ref(number)
            self.traceback_line = None
            self.use(number)
            return True
        return False

    def finish(self, what: str, before_finish: Callable[[RunParts], None] | None = None) -> list[Run]:
        parts = [part for part in self.done + [self.part] if part.has_metrics or part.rows]
        if not parts:
            raise InputError(f"read as a {what} log, but no epoch, valid or test line was found", self.path)
        coverage = self.counter.coverage()
        runs = []
        for part in parts:
            if before_finish is not None:
                before_finish(part)
            evaluated = [bool(metrics) for metrics in part.row_metrics]
            if any(evaluated) and not all(evaluated):
                # Epochs between evaluations (eval_step > 1) are training prints, not failed evaluations.
                part.extra["training_prints_skipped"] = evaluated.count(False)
                part.rows = [row for row, kept in zip(part.rows, evaluated) if kept]
                part.row_metrics = [metrics for metrics, kept in zip(part.row_metrics, evaluated) if kept]
            runs.append(part.build(copy_coverage(coverage)))
        return mark_segments(runs)


def read_framework_log(path: str | Path, format_name: str, what: str,
                       line_reader: Callable[[FrameworkState, int, str], None],
                       before_finish: Callable[[RunParts], None] | None = None) -> list[Run]:
    """Read `path` line by line with `line_reader(state, number, text)` (text with its prefix stripped);
    `before_finish(run)` adds to each run what the format's code knows once every line is read."""
    state = FrameworkState(str(path), format_name)
    for number, raw in input_lines(path):
        state.counter.see(number, raw)
        text = strip_prefix(raw)
        if not text or state.traceback(number, text):
            continue
        line_reader(state, number, text)
    return state.finish(what, before_finish)


def metrics_with_split(text: str, default: str) -> dict[MetricKey, float]:
    """Metric values keyed with their split: the one the text names before its values, else `default`."""
    split = line_split(text) or default
    return {(s or split, m, c): v for (s, m, c), v in line_metrics(text).items()}
