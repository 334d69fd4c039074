"""A `recdoc tune --jobs` worker process (spawned by `jobs.spawn`): its share of the study's trials, then of the seed
repeats, killed with the command that started it."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

from recdoc.errors import RecdocError
from recdoc.tune import study as studies
from recdoc.tune.jobs import STORAGE_ENV
from recdoc.tune.tuner import work_share

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Linux: this process is killed when its parent dies. Elsewhere nothing is set up."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the signal was set up
        os._exit(1)


def main(argv: list[str]) -> int:
    folder, name, job, parent = Path(argv[0]), argv[1], int(argv[2]), int(argv[3])
    url = os.environ[STORAGE_ENV]
    _die_with_parent(parent)

    def say(line: str) -> None:
        print(f"[job {job}] {line}", flush=True)

    try:
        work_share(studies.read_spec(name, url), url, folder, job, say)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except RecdocError as error:
        say(f"error: {error}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
