"""The terminal while training: log lines on stdout, or above a rich progress bar (rate, ETA) on a terminal."""

from __future__ import annotations

import sys
from typing import Any, TextIO


class Console:
    """Where the log lines go besides train.log: plain stdout, or above a rich progress bar on a terminal."""

    def __init__(self, total_iterations: int, stream: TextIO | None = None, fancy: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.fancy = self.stream.isatty() if fancy is None else fancy
        self._progress: Any = None
        self._task: Any = None
        self.total = total_iterations

    def __enter__(self) -> "Console":
        if self.fancy:
            from rich.console import Console as RichConsole
            from rich.progress import (
                BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
            )

            # Not transient: the bar's last state (iterations, rate, time) stays on screen after training. Sized to
            # fit 80 columns with its status text, so nothing is cut to an ellipsis.
            self._progress = Progress(BarColumn(bar_width=BAR_WIDTH), MofNCompleteColumn(), _rate_column(),
                                      TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(compact=True),
                                      TextColumn("{task.fields[status]}"), console=RichConsole(file=self.stream))
            self._progress.__enter__()
            # The first TensorFlow call traces and compiles the step (seconds): say so rather than sit at 0.
            self._task = self._progress.add_task("train", total=self.total, status=COMPILING_STATUS)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
            self._progress = None

    def print(self, line: str) -> None:
        if self._progress is not None:
            # soft_wrap: a long line (a checkpoint path) is left whole for the terminal to wrap, never cut with
            # a newline that a copy would carry.
            self._progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            print(line, file=self.stream, flush=True)

    def progress(self, iteration: int, status: str | None = None) -> None:
        """Move the bar to `iteration`; `status` replaces the text after it (None keeps the current one)."""
        if self._progress is None:
            return
        fields = {} if status is None else {"status": status}
        if iteration > 0 and self._progress.tasks[0].fields.get("status") == COMPILING_STATUS:
            # The first steps ran after seconds of compilation: start the clock and the rate from here, or the
            # first rate is iterations over no time at all and the ETA is nonsense.
            self._progress.reset(self._task, total=self.total, completed=iteration,
                                 status=status if status is not None else "")
            return
        self._progress.update(self._task, completed=iteration, **fields)

    def finish(self, iteration: int, status: str) -> None:
        """Training ended at `iteration` before the budget (early stop, interruption, NaN): the bar ends there and
        says why, instead of holding a stale ETA."""
        if self._progress is not None:
            self._progress.update(self._task, total=max(iteration, 1), completed=iteration, status=status)


COMPILING_STATUS = "compiling..."
BAR_WIDTH = 16


def _rate_column() -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Iterations per second, as rich measures them over the last updates."""

        def render(self, task: Any) -> Text:
            return Text(f"{task.speed:,.1f}it/s" if task.speed else "--it/s")

    return RateColumn()
