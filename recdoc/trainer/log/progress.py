"""The terminal while training: log lines on stdout, or above a rich progress bar (rate, ETA) on a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

COMPILING_STATUS = "compiling..."
BAR_WIDTH = 16
# The rate is shown once this much time has passed since the first trained step: over less it is noise (the first
# update after compilation came to 100,000 it/s over a millisecond).
MIN_RATE_S = 1.0


class Console:
    """Where the log lines go besides train.log: plain stdout, or above a rich progress bar on a terminal.

    The bar's rate and ETA are recdoc's own: iterations since the first trained step over the time since then, so
    compilation (seconds before the first step) counts in neither."""

    def __init__(self, total_iterations: int, stream: TextIO | None = None, fancy: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.fancy = self.stream.isatty() if fancy is None else fancy
        self._progress: Any = None
        self._task: Any = None
        self.total = total_iterations
        self._clock = clock
        self._started: tuple[float, int] | None = None  # (time, iteration) of the first trained step
        self._status = COMPILING_STATUS

    def __enter__(self) -> "Console":
        if self.fancy:
            from rich.console import Console as RichConsole
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            # Not transient: the bar's last state (iterations, rate, time) stays on screen after training. Sized to
            # fit 80 columns with its status text, so nothing is cut to an ellipsis.
            self._progress = Progress(BarColumn(bar_width=BAR_WIDTH), MofNCompleteColumn(),
                                      TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                                      TextColumn("{task.fields[eta]}"), TextColumn("{task.fields[status]}"),
                                      console=RichConsole(file=self.stream))
            self._progress.__enter__()
            # The first TensorFlow call traces and compiles the step (seconds): say so rather than sit at 0.
            self._task = self._progress.add_task("train", total=self.total, status=COMPILING_STATUS,
                                                 rate="--it/s", eta="eta --:--")
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
        now = self._clock()
        if self._started is None and iteration > 0:
            self._started = (now, iteration)
            if self._status == COMPILING_STATUS:
                self._status = ""
        if status is not None:
            self._status = status
        rate = self.rate(iteration, now)
        eta = "eta --:--" if rate is None else f"eta {_clock_text((self.total - iteration) / rate)}"
        self._progress.update(self._task, completed=iteration, status=self._status, rate=_rate_text(rate), eta=eta)

    def finish(self, iteration: int, status: str) -> None:
        """Training ended at `iteration` before the budget (early stop, interruption, NaN): the bar stays at the
        point reached, out of the whole budget, and says why instead of holding an ETA."""
        if self._progress is not None:
            rate = self.rate(iteration, self._clock())
            self._status = status
            self._progress.update(self._task, completed=iteration, status=status, rate=_rate_text(rate), eta="")

    def rate(self, iteration: int, now: float) -> float | None:
        """Iterations per second since the first trained step; None until MIN_RATE_S has passed."""
        if self._started is None:
            return None
        seconds, steps = now - self._started[0], iteration - self._started[1]
        return steps / seconds if seconds >= MIN_RATE_S and steps > 0 else None


def _rate_text(rate: float | None) -> str:
    return "--it/s" if rate is None else f"{rate:,.1f}it/s"


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
