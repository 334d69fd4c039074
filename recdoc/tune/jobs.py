"""`recdoc tune --jobs N`: N processes on this machine work one study, each pulling the next trial, then the next
seed repeat (the same mechanism as several machines on one `--storage`, started for you).

The process the user started is job 1; it spawns jobs 2..N as `python -m recdoc.tune.worker`, each writing its
training log to `<study folder>/job<k>.log`. The workers share the study folder's lock (they inherit its file
descriptor), so no other `recdoc tune --resume` can start on the folder while any of them runs, and they are killed
with their parent (Linux's parent-death signal): a kill -9 of the command stops the whole study, whose running trials
`--resume` then fails and queues again. Training is compute-bound: two processes on two cores trained x1.2-1.5 the
iterations per second of one (`bench/tune_jobs.py`, figures in the README); past the cores they only compete.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from recdoc.errors import UsageError

Echo = Callable[[str], None]
LOG_NAME = "job{}.log"
STORAGE_ENV = "RECDOC_TUNE_STORAGE"  # how a worker learns the study's storage URL
STOP_GRACE_S = 30  # after Ctrl-C or an error, workers get this long to stop their trial cleanly


@dataclass
class Worker:
    job: int
    process: subprocess.Popen
    log: Path
    handle: IO[bytes]


def spawn(folder: Path, name: str, url: str, count: int, say: Echo, lock_fd: int | None) -> list[Worker]:
    """Start jobs 2..count on this study (none when count is 1); `lock_fd`: the study folder's lock this process
    holds (local storage), which the workers inherit."""
    if count < 1:
        raise UsageError(f"--jobs must be at least 1, got {count}")
    workers = []
    for job in range(2, count + 1):
        log = folder / LOG_NAME.format(job)
        handle = open(log, "ab")  # appended on --resume: an earlier session's log stays whole
        command = [sys.executable, "-m", "recdoc.tune.worker", str(folder), name, str(job), str(os.getpid())]
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   pass_fds=(lock_fd,) if lock_fd is not None else (), env=_worker_env(url))
        workers.append(Worker(job, process, log, handle))
    if workers:
        say(f"{count} processes on this study: this one and {len(workers)} worker"
            f"{'s' if len(workers) > 1 else ''} (logs: {', '.join(str(w.log) for w in workers)}).")
    return workers


def wait(workers: list[Worker], say: Echo) -> None:
    """Wait for every worker to finish its share; a worker that failed is reported, and its trial is run again
    (its process has exited, so the study requeues it)."""
    for worker in workers:
        code = worker.process.wait()
        worker.handle.close()
        if code != 0:
            say(f"Worker job {worker.job} exited with status {code}; its log: {worker.log} (the trial it left is "
                "queued again)")


def stop(workers: list[Worker], interrupted: bool) -> None:
    """After an error or Ctrl-C in this process: workers still running get STOP_GRACE_S to stop their trial cleanly
    (a Ctrl-C at the terminal reached them too; otherwise they are sent one), then are killed."""
    deadline = time.monotonic() + STOP_GRACE_S
    for worker in workers:
        if worker.process.poll() is None and not interrupted:
            worker.process.send_signal(signal.SIGINT)
    for worker in workers:
        try:
            worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
        worker.handle.close()


def _worker_env(url: str) -> dict[str, str]:
    """This environment, recdoc importable, and the storage URL (in the environment, not the command line, which
    any user of the machine can read: a PostgreSQL URL may hold a password)."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root if not path else f"{root}{os.pathsep}{path}", STORAGE_ENV: url}
