"""Charts drawn in a forked helper process, started early so that importing matplotlib overlaps the analysis.

Importing matplotlib costs about as much as reading a million-iteration log and running every rule (0.6 s of the
doctor's 1.5 s budget on a 2-core machine). `start()` forks a process that imports matplotlib while the parent reads
and diagnoses; `render(chart)` then sends it the chart (plain data) and gets the PNG bytes back, so files are still
written by the parent through the one file writer.

Forking is safe only from a single-threaded process on Linux (a thread holding a lock at fork time leaves that lock
held forever in the child), so `start()` does nothing elsewhere, and `render` draws in-process whenever there is no
helper or it fails: the helper only ever changes when the work is done, never what is drawn.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recdoc.files import write_file

if TYPE_CHECKING:  # the helper must be forked before numpy starts its thread pool, so nothing heavy at import
    from recdoc.reports.chart import LineChart

# A chart takes well under a second to draw; past this the helper is presumed stuck and the parent draws itself.
RENDER_TIMEOUT_S = 30.0

_helper: Any = None  # (process, connection) once started


def start() -> bool:
    """Fork the helper if it is safe here and not yet running; True when a helper is running."""
    global _helper
    if _helper is not None:
        return True
    if not _fork_is_safe():
        return False
    import multiprocessing

    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()
    process = context.Process(target=_serve, args=(child_end,), name="recdoc-charts", daemon=True)
    try:
        process.start()
    except OSError:
        return False
    child_end.close()
    _helper = (process, parent_end)
    return True


def render(chart: LineChart) -> bytes:
    """The chart as PNG bytes: from the helper when one is running and answers, else drawn here."""
    global _helper
    if _helper is not None:
        process, connection = _helper
        try:
            connection.send(chart)
            if connection.poll(RENDER_TIMEOUT_S):
                status, payload = connection.recv()
                if status == "ok":
                    return payload
        except (OSError, EOFError, ValueError):
            pass
        # A helper that failed once is not trusted again: stop it and draw here from now on.
        _helper = None
        process.kill()
        connection.close()
    return chart.png_bytes()


def save_chart(chart: LineChart, path: Path) -> Path:
    """Render `chart` and write it to `path` (a new file, through the one file writer)."""
    return write_file(path, render(chart))


def stop() -> None:
    """End the helper (it is a daemon, so it also ends with the parent; this frees it sooner)."""
    global _helper
    if _helper is None:
        return
    process, connection = _helper
    _helper = None
    connection.close()  # the helper's recv() sees EOF and returns
    process.join(timeout=2.0)
    if process.is_alive():
        process.kill()


def _fork_is_safe() -> bool:
    if sys.platform != "linux" or not hasattr(os, "fork"):
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _serve(connection: Any) -> None:
    import matplotlib.figure  # noqa: F401  (the point of the helper: pay for this while the parent works)
    from matplotlib.backends import backend_agg  # noqa: F401

    import recdoc.reports.chart  # noqa: F401  (what unpickling a chart needs)

    while True:
        try:
            chart = connection.recv()
        except (EOFError, OSError):
            return
        try:
            reply = ("ok", chart.png_bytes())
        except Exception as error:  # the parent draws it itself and reports any real error there
            reply = ("error", repr(error))
        try:
            connection.send(reply)
        except (OSError, ValueError):
            return
