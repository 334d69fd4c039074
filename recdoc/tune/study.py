"""The Optuna study behind `recdoc tune`: storage, the study's own record of what it tunes, resuming, progress.

Storage: by default an SQLite file `study.db` in the study folder (one `recdoc tune` at a time, held by a lock on
`tune.lock`, which its `--jobs` worker processes share: `jobs.py`); with `--storage postgresql://...` (any
SQLAlchemy URL Optuna's RDB storage takes) processes on any number of machines share one study, each pulling the
next trial. Every process sends a heartbeat for its running
trial; a trial whose process died (kill -9, a lost machine) is failed once its heartbeat is stale and its settings
are queued again (`retry_of` names the trial it reruns), so no trial is lost. With the local SQLite storage the
lock proves no other `recdoc tune` is running, so `--resume` fails and requeues such a trial at once, and a trial
whose recorded process (ATTR_PID) has exited is requeued without waiting for its heartbeat to go stale.

The study records its specification in its own attributes (`recdoc_tune`): the base and start configurations, the
space, the budget, the seeds, so that `--resume` and a process joining from another machine need nothing else.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recdoc.config import RunConfig
from recdoc.errors import RecdocError, UsageError
from recdoc.tune.objective import ATTR_PID, requeue
from recdoc.tune.space import Space

SPEC_ATTR = "recdoc_tune"
SPEC_VERSION = 1
DB_NAME = "study.db"
LOCK_NAME = "tune.lock"
HEARTBEAT_S = 10  # a running trial's process writes a heartbeat this often
GRACE_S = 40  # a trial whose heartbeat is older than this is stale: failed and queued again
SEEDS_SUFFIX = ".seeds"  # the companion study holding the seed repeats (created once: its creator queues them)
SQLITE_BUSY_S = 60  # several local processes write one SQLite file: a writer waits this long for the others
POLL_S = 1.0  # how often a process that has run its share looks whether the others' trials have finished

Echo = Callable[[str], None]


@dataclass
class Spec:
    """What a study tunes; stored in the study (`study.user_attrs[SPEC_ATTR]`)."""

    name: str
    base: dict[str, Any]  # the corrected configuration (or the defaults): the fixed part of every trial
    start: dict[str, Any] | None  # the starting run's configuration at the study's budget (None: no start run)
    space: dict[str, Any]
    trials: int
    seeds: int
    sampler: str  # 'tpe' | 'random'
    tuner_seed: int | None
    source: dict[str, Any]  # the run diagnosed, its findings, the fix plan (for the report)

    def to_dict(self) -> dict[str, Any]:
        return {"version": SPEC_VERSION, "name": self.name, "base": self.base, "start": self.start,
                "space": self.space, "trials": self.trials, "seeds": self.seeds, "sampler": self.sampler,
                "tuner_seed": self.tuner_seed, "source": self.source}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Spec":
        return cls(**{k: data[k] for k in ("name", "base", "start", "space", "trials", "seeds", "sampler",
                                           "tuner_seed", "source")})

    @property
    def base_config(self) -> RunConfig:
        return config_from_dict(self.base)

    @property
    def start_config(self) -> RunConfig | None:
        return None if self.start is None else config_from_dict(self.start)

    @property
    def space_obj(self) -> Space:
        return Space.from_dict(self.space)


def config_from_dict(values: dict[str, Any]) -> RunConfig:
    data = dict(values)
    if "metrics_at" in data:
        data["metrics_at"] = tuple(data["metrics_at"])
    return RunConfig(**data)


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{(folder / DB_NAME).resolve()}"


def is_local(url: str) -> bool:
    return url.startswith("sqlite")


def redact(url: str) -> str:
    """The URL without its password, for reports and the terminal."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def make_storage(url: str) -> Any:
    import warnings

    import optuna

    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna's words; recdoc relies on them
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs(url), heartbeat_interval=HEARTBEAT_S,
                                          grace_period=GRACE_S, heartbeat_stale_trial_callback=requeue_failed)


def engine_kwargs(url: str) -> dict[str, Any] | None:
    """SQLAlchemy engine options: SQLite's busy timeout raised from 5 s, so `--jobs` processes queue their writes."""
    return {"connect_args": {"timeout": SQLITE_BUSY_S}} if is_local(url) else None


def requeue_failed(study: Any, trial: Any) -> None:
    """Optuna's stale-trial callback (a heartbeat older than GRACE_S): queue the same settings again, once per failure."""
    requeue(study, trial)


def make_sampler(spec: Spec, job: int = 0) -> Any:
    """The study's sampler; `job` > 0 (a `--jobs` worker) offsets the seed, or every process would propose alike."""
    import optuna

    seed = None if spec.tuner_seed is None else spec.tuner_seed + job
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    # Few trials: start modelling after a handful (the enqueued fix and start count among them).
    startup = max(2, min(10, spec.trials // 3))
    # constant_liar: a trial running in another process counts as a poor result, so proposals spread out.
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup, multivariate=True, constant_liar=True)


def make_pruner(spec: Spec) -> Any:
    import optuna

    # A trial is stopped when its best-so-far validation recall is below the median of the earlier trials at the
    # same iteration, after two complete trials and past the first quarter of the budget.
    base = spec.base_config
    warmup = max(base.test_iter, base.max_iterations // 4)
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=warmup, interval_steps=1)


def load_study(name: str, url: str, spec: Spec | None = None, job: int = 0) -> Any:
    import optuna

    return optuna.load_study(study_name=name, storage=make_storage(url),
                             sampler=make_sampler(spec, job) if spec else None,
                             pruner=make_pruner(spec) if spec else None)


def read_spec(name: str, url: str) -> Spec:
    import optuna

    try:
        study = optuna.load_study(study_name=name, storage=make_storage(url))
    except KeyError:
        raise UsageError(f"no study {name!r} in {redact(url)}") from None
    for _ in range(60):  # a study created a moment ago by another process: its spec follows at once
        data = study.user_attrs.get(SPEC_ATTR)
        if data:
            return Spec.from_dict(data)
        time.sleep(0.5)
        study = optuna.load_study(study_name=name, storage=make_storage(url))
    raise UsageError(f"study {name!r} in {redact(url)} was not created by recdoc tune (no {SPEC_ATTR} attribute)")


def create_or_join(spec: Spec, url: str, enqueue: list[tuple[dict[str, Any], dict[str, Any]]],
                   echo: Echo) -> tuple[Any, Spec, bool]:
    """Create the study with its spec and the enqueued trials, or join the existing one of that name (its spec
    wins). Returns (study, spec, created)."""
    import optuna
    from optuna.exceptions import DuplicatedStudyError

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not Optuna's own "A new study created" line
    storage = make_storage(url)
    try:
        optuna.create_study(study_name=spec.name, storage=storage, direction="maximize")
    except DuplicatedStudyError:
        existing = read_spec(spec.name, url)
        echo(f"Joining study {spec.name} in {redact(url)}: its own settings apply (space, budget, seeds).")
        return load_study(spec.name, url, existing), existing, False
    study = load_study(spec.name, url, spec)
    study.set_user_attr(SPEC_ATTR, spec.to_dict())
    for params, attrs in enqueue:
        study.enqueue_trial(params, user_attrs=attrs)
    return study, spec, True


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[int]:
    """Hold the study folder's lock (an SQLite study is worked by one `recdoc tune` at a time); yields the lock's
    file descriptor, which `--jobs` workers inherit."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    handle = open(path, "a+")  # the lock file itself holds nothing: opened, never written through recdoc.files
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another recdoc tune process is working on {folder} (it holds {path}); wait for it "
                             "or stop it first") from None
        yield handle.fileno()
    finally:
        handle.close()


def recover_orphans(study: Any, echo: Echo) -> list[int]:
    """Under the folder lock (no other process runs this study): trials left RUNNING by a killed process are
    failed and their settings queued again. Returns their numbers."""
    from optuna.trial import TrialState

    orphans = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in orphans:
        study._storage.set_trial_user_attr(trial._trial_id, "failed_because", "its process was killed")
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        requeue(study, trial)
    if orphans:
        plural = len(orphans) > 1
        echo(f"Trial{'s' if plural else ''} {', '.join(str(t.number) for t in orphans)} {'were' if plural else 'was'} "
             "left running by a killed process: marked failed and queued again with the same settings.")
    return [t.number for t in orphans]


def finished(study: Any) -> list[Any]:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


class Progress:
    """The terminal line after every trial: trials done, pruned, best so far, ETA."""

    def __init__(self, total: int, echo: Echo, jobs: int = 1) -> None:
        self.total = total
        self.echo = echo
        self.jobs = jobs  # processes sharing the trials left
        self.started = time.monotonic()
        self.ran_here = 0

    def __call__(self, study: Any, trial: Any) -> None:
        from optuna.trial import TrialState

        done = finished(study)
        self.ran_here += 1
        pruned = sum(1 for t in done if t.state == TrialState.PRUNED)
        complete = [t for t in done if t.state == TrialState.COMPLETE]
        best = max(complete, key=lambda t: t.value) if complete else None
        elapsed = time.monotonic() - self.started
        left = max(0, self.total - len(done))
        eta = elapsed / self.ran_here * math.ceil(left / self.jobs)
        state = trial.state.name.lower()
        value = f" {trial.value:.4f}" if trial.value is not None else ""
        best_text = f"best {best.value:.4f} (trial {best.number})" if best else "best: none yet"
        self.echo(f"[tune] trial {trial.number} {state}{value} | {len(done)}/{self.total} done, {pruned} pruned | "
                  f"{best_text} | ETA {format_duration(eta) if left else '0s'}")


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def run_search(study: Any, objective: Callable[[Any], float], total: int, echo: Echo, local: bool,
               jobs: int = 1) -> None:
    """Pull trials until the study holds `total` finished ones (complete or pruned). Several processes may share
    the study (`--jobs` here, `--storage` on several machines): each stops pulling once the finished and running
    trials reach the budget, then waits for the running ones; a trial whose process died is queued again and
    whoever is waiting runs it (`local`: the storage is this machine's, so process ids tell). Two processes that
    start a trial at the same moment may run one over the budget."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    progress = Progress(total, echo, jobs)
    while len(finished(study)) < total:
        if claimed(study) < total:
            # A trial whose settings the trainer refuses (a UsageError) is recorded as failed and the search goes on.
            study.optimize(objective, callbacks=[BudgetReached(total), progress], catch=(RecdocError,),
                           gc_after_trial=True)
            continue
        time.sleep(POLL_S)
        _fail_stale(study)
        if local:
            requeue_exited(study, echo)


def _fail_stale(study: Any) -> None:
    """Optuna's own check (run before each trial it starts), for a process that is only waiting."""
    import warnings

    import optuna

    with warnings.catch_warnings():  # "experimental" in Optuna's words, as the heartbeat it reads
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def claimed(study: Any) -> int:
    """Trials finished or running: what counts against the budget while processes share the study."""
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)))


class BudgetReached:
    """Optuna callback: this process stops pulling once finished and running trials (its own and the others')
    reach the budget."""

    def __init__(self, total: int) -> None:
        self.total = total

    def __call__(self, study: Any, trial: Any) -> None:
        if claimed(study) >= self.total:
            study.stop()


def requeue_exited(study: Any, echo: Echo) -> list[int]:
    """Local storage only (the process ids are this machine's): running trials whose process has exited are failed
    and queued again at once, without waiting for their heartbeat to go stale."""
    from optuna.trial import TrialState

    gone = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if ATTR_PID in t.user_attrs and not process_alive(int(t.user_attrs[ATTR_PID]))]
    for trial in gone:
        study._storage.set_trial_user_attr(trial._trial_id, "failed_because", "its process exited")
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        requeue(study, trial)
        echo(f"Trial {trial.number} was left running by process {trial.user_attrs[ATTR_PID]}, which has exited: "
             "marked failed and queued again with the same settings.")
    return [t.number for t in gone]


def process_alive(pid: int) -> bool:
    """Whether process `pid` on this machine still runs (an exited child not yet reaped counts as exited)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie: exited, waiting for its parent to read its status
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def pid_note() -> str:
    return f"pid {os.getpid()}"


def study_folder_spec(folder: Path) -> dict[str, Any]:
    """`study.json` in a study folder: its name and storage (the password left out)."""
    try:
        return json.loads((folder / "study.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
