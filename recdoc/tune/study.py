"""The Optuna study behind `recdoc tune`: storage, the study's own record of what it tunes, resuming, progress.

Storage: by default an SQLite file `study.db` in the study folder (one process at a time, held by a lock on
`tune.lock`); with `--storage postgresql://...` (any SQLAlchemy URL Optuna's RDB storage takes) processes on any
number of machines share one study, each pulling the next trial. Every process sends a heartbeat for its running
trial; a trial whose process died (kill -9, a lost machine) is failed once its heartbeat is stale and its settings
are queued again (`retry_of` names the trial it reruns), so no trial is lost. With the local SQLite storage the
lock proves no other process is running, so `--resume` fails and requeues such a trial at once.

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
from recdoc.tune.objective import requeue
from recdoc.tune.space import Space

SPEC_ATTR = "recdoc_tune"
SPEC_VERSION = 1
DB_NAME = "study.db"
LOCK_NAME = "tune.lock"
HEARTBEAT_S = 10  # a running trial's process writes a heartbeat this often
GRACE_S = 40  # a trial whose heartbeat is older than this is stale: failed and queued again
SEEDS_SUFFIX = ".seeds"  # the companion study holding the seed repeats (created once: its creator runs them)

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
        return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                          heartbeat_stale_trial_callback=requeue_failed)


def requeue_failed(study: Any, trial: Any) -> None:
    """Optuna's stale-trial callback (a heartbeat older than GRACE_S): queue the same settings again, once per failure."""
    requeue(study, trial)


def make_sampler(spec: Spec) -> Any:
    import optuna

    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=spec.tuner_seed)
    # Few trials: start modelling after a handful (the enqueued fix and start count among them).
    startup = max(2, min(10, spec.trials // 3))
    return optuna.samplers.TPESampler(seed=spec.tuner_seed, n_startup_trials=startup, multivariate=True,
                                      constant_liar=True)


def make_pruner(spec: Spec) -> Any:
    import optuna

    # A trial is stopped when its best-so-far validation recall is below the median of the earlier trials at the
    # same iteration, after two complete trials and past the first quarter of the budget.
    base = spec.base_config
    warmup = max(base.test_iter, base.max_iterations // 4)
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=warmup, interval_steps=1)


def load_study(name: str, url: str, spec: Spec | None = None) -> Any:
    import optuna

    return optuna.load_study(study_name=name, storage=make_storage(url),
                             sampler=make_sampler(spec) if spec else None, pruner=make_pruner(spec) if spec else None)


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
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold the study folder's lock (an SQLite study is worked by one process at a time)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    handle = open(path, "a+")  # the lock file itself holds nothing: opened, never written through recdoc.files
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another recdoc tune process is working on {folder} (it holds {path}); wait for it "
                             "or stop it first") from None
        yield
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
        echo(f"Trial{'s' if len(orphans) > 1 else ''} {', '.join(str(t.number) for t in orphans)} was left running "
             "by a killed process: marked failed and queued again with the same settings.")
    return [t.number for t in orphans]


def finished(study: Any) -> list[Any]:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


class Progress:
    """The terminal line after every trial: trials done, pruned, best so far, ETA."""

    def __init__(self, total: int, echo: Echo) -> None:
        self.total = total
        self.echo = echo
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
        eta = elapsed / self.ran_here * left
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


def run_search(study: Any, objective: Callable[[Any], float], total: int, echo: Echo) -> None:
    """Pull trials until the study holds `total` finished ones (complete or pruned). Several processes may share
    the study: each stops when the count is reached (one that starts a trial as another finishes the last may run
    one over)."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    if len(finished(study)) >= total:
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    stop = MaxTrialsCallback(total, states=(TrialState.COMPLETE, TrialState.PRUNED))
    # A trial whose settings the trainer refuses (a UsageError) is recorded as failed and the search goes on.
    study.optimize(objective, callbacks=[stop, Progress(total, echo)], catch=(RecdocError,), gc_after_trial=True)


def pid_note() -> str:
    return f"pid {os.getpid()}"


def study_folder_spec(folder: Path) -> dict[str, Any]:
    """`study.json` in a study folder: its name and storage (the password left out)."""
    try:
        return json.loads((folder / "study.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
