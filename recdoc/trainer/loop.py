"""The training loop of the original `src/train.py` (reference section 4), with checkpoints and resume.

`run_loop` is the schedule alone (steps, evaluation every `test_iter`, strict-improvement early stopping, the
iteration cap, NaN and Ctrl-C), driven through `LoopHooks`, so it can be tested without TensorFlow. `train` wires
it to the data, the model, the evaluation and the run folder.

Checkpoints (tf.train.CheckpointManager, one kept each): `ckpt/best/ckpt-<iteration>` on every improvement and
`ckpt/last/ckpt-<iteration>` at every evaluation, next to `ckpt/last/loop_state.json` (iteration, best metric,
trials, the sampler's RNG state, elapsed time), written after the checkpoint so it never names a missing one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from recdoc.config import RESUME_MAY_CHANGE, RunConfig, validate, validate_with_data
from recdoc.errors import UsageError
from recdoc.files import rewrite_file
from recdoc.trainer.distribute import make_cluster, worker_position
from recdoc.trainer.evaluate import evaluate, search_backend, subset_split
from recdoc.trainer.log.folder import RunPaths, open_run_folder, refuse_existing_run_folder, resumed_config
from recdoc.trainer.log.lines import (
    DASH_LINE,
    TrainLog,
    early_stop_key,
    format_final_line,
    format_iter_line,
    format_time_line,
    log_metrics,
)
from recdoc.trainer.log.progress import Console
from recdoc.trainer.log.records import MetricsLog, RunRecord, data_fingerprint, deviations, utc_now
from recdoc.trainer.log.tensorboard import Scalars
from recdoc.trainer.models import build_model
from recdoc.trainer.models.most_popular import is_most_popular, train_most_popular


class StopReason(str, Enum):
    EARLY_STOP = "early_stop"
    MAX_ITER = "max_iter"
    INTERRUPTED = "interrupted"
    NAN = "nan"
    PRUNED = "pruned"  # the caller's `on_evaluation` callback asked to stop (a tuner's pruner)


# What the progress bar says when training ends before its budget.
STOP_STATUS = {StopReason.EARLY_STOP: "early stop", StopReason.INTERRUPTED: "interrupted",
               StopReason.NAN: "stopped: NaN loss", StopReason.PRUNED: "pruned"}

# `train(..., on_evaluation=)`: called after every periodic evaluation with the iteration and the validation
# metrics (keys as `evaluate` returns them: `recall@50`, ...); returning True stops the run there, as an early
# stop would (best model restored, final valid/test evaluated), with stop_reason "pruned".
EvaluationCallback = Callable[[int, dict[str, float]], bool]


@dataclass
class LoopState:
    """Everything the schedule needs to continue after a restart."""

    iteration: int = 0
    best_metric: float = 0.0  # the original's `best_metric = 0`: a first evaluation at recall 0 does not improve
    best_iter: int = 0
    trials: int = 0
    loss_sum: float = 0.0
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LoopState":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


@dataclass(frozen=True)
class Schedule:
    test_iter: int
    patience: int
    max_iterations: int
    metric_key: str  # the validation recall whose strict improvement resets patience

    @classmethod
    def from_config(cls, config: RunConfig) -> "Schedule":
        return cls(config.test_iter, config.patience, config.max_iterations, early_stop_key(config))


@dataclass
class Evaluation:
    iteration: int
    train_loss: float
    metrics: dict[str, float]
    steps_per_s: float
    eval_s: float
    elapsed_s: float
    improved: bool = False
    trials: int = 0
    best_metric: float = 0.0
    stop_requested: bool = False  # set by `LoopHooks.on_evaluation` to end the run after this evaluation


# Steps per trainer call: one TensorFlow call costs about a millisecond, a tenth of a ComiRec-DR step on 2 cores.
STEPS_PER_CALL = 10


class LoopHooks(Protocol):
    def train_steps(self, count: int) -> list[float]: ...

    def evaluate(self) -> dict[str, float]: ...

    def on_evaluation(self, evaluation: Evaluation) -> None: ...

    def save_best(self, state: LoopState) -> None: ...

    def save_last(self, state: LoopState) -> None: ...

    def on_time(self, minutes: float) -> None: ...

    def on_nan(self, iteration: int, loss: float) -> None: ...

    def on_step(self, iteration: int) -> None: ...


def steps_per_call(iteration: int, schedule: Schedule) -> int:
    """How many steps to ask for at once: up to `STEPS_PER_CALL`, never past the next evaluation or the cap, so
    evaluations, checkpoints and sampler snapshots fall where the original's per-step loop puts them."""
    return max(1, min(STEPS_PER_CALL, schedule.test_iter - iteration % schedule.test_iter,
                      schedule.max_iterations - iteration))


class _InterruptBetweenGroups:
    """Ctrl-C during a group of steps is held until the group is counted; anywhere else it interrupts at once.

    A group runs inside one TensorFlow call, which Python cannot interrupt: its steps are applied whenever the
    KeyboardInterrupt surfaces, and raising it as the call returns would lose their count. Only the main thread
    can take signals; elsewhere (and when SIGINT is ignored) nothing changes."""

    def __init__(self) -> None:
        self.pending = False
        self._deferring = False
        self._previous: Any = None

    def __enter__(self) -> "_InterruptBetweenGroups":
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if previous is signal.default_int_handler:
                self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self._deferring:
            self.pending = True
        else:
            raise KeyboardInterrupt


@dataclass
class _LoopClock:
    """The loop's time: when the run started (less what a resumed run already spent) and when the current
    evaluation window began."""

    now: Callable[[], float]
    start: float
    window_start: float


def run_loop(state: LoopState, hooks: LoopHooks, schedule: Schedule,
             clock: Callable[[], float] = time.monotonic) -> StopReason:
    """Train until early stop, the cap, a non-finite loss or Ctrl-C; `state` is updated in place.

    As the original: evaluate every `test_iter` iterations; a strictly better recall saves the best model and
    resets trials, otherwise trials += 1 and the run stops when trials > patience, right after that evaluation's
    `iter:` line (no `time interval` line); the cap `iteration >= max_iterations` is checked after every step.
    """
    if state.trials > schedule.patience:
        return StopReason.EARLY_STOP
    if state.iteration >= schedule.max_iterations:
        return StopReason.MAX_ITER
    timing = _LoopClock(clock, start=clock() - state.elapsed_s, window_start=clock())
    try:
        with _InterruptBetweenGroups() as interrupts:
            while True:
                with interrupts.deferred():
                    losses = hooks.train_steps(steps_per_call(state.iteration, schedule))
                stop = _count_steps(losses, state, hooks, schedule, timing, interrupts)
                if stop is not None:
                    return stop
                if interrupts.pending:  # every step of the group ran: counted above, then the original's Ctrl-C
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        return StopReason.INTERRUPTED


def _count_steps(losses: list[float], state: LoopState, hooks: LoopHooks, schedule: Schedule, timing: _LoopClock,
                 interrupts: _InterruptBetweenGroups) -> StopReason | None:
    """A group's steps one by one, as the original's per-step loop sees them; why the run must stop, or None."""
    for loss in losses:
        state.iteration += 1
        if not math.isfinite(loss):
            hooks.on_nan(state.iteration, loss)
            return StopReason.NAN
        state.loss_sum += loss
        hooks.on_step(state.iteration)
        if state.iteration % schedule.test_iter == 0 and not interrupts.pending:
            stop = _evaluate_and_decide(state, hooks, schedule, timing)
            if stop is not None:
                return stop
            timing.window_start = timing.now()
        if state.iteration >= schedule.max_iterations:
            return StopReason.MAX_ITER
    return None


def _evaluate_and_decide(state: LoopState, hooks: LoopHooks, schedule: Schedule,
                         timing: _LoopClock) -> StopReason | None:
    """The evaluation at a multiple of `test_iter`: log it, save, update trials; why the run must stop, or None."""
    train_seconds = timing.now() - timing.window_start
    eval_start = timing.now()
    metrics = hooks.evaluate()
    eval_seconds = timing.now() - eval_start
    evaluation = Evaluation(
        iteration=state.iteration, train_loss=state.loss_sum / schedule.test_iter, metrics=metrics,
        steps_per_s=schedule.test_iter / train_seconds if train_seconds > 0 else math.inf,
        eval_s=eval_seconds, elapsed_s=timing.now() - timing.start)
    stop = False
    recall = metrics.get(schedule.metric_key)
    if recall is not None:  # an evaluation that returned nothing changes nothing, as the original
        if recall > state.best_metric:
            state.best_metric = recall
            state.best_iter = state.iteration
            state.trials = 0
            evaluation.improved = True
        else:
            state.trials += 1
            stop = state.trials > schedule.patience
    evaluation.trials, evaluation.best_metric = state.trials, state.best_metric
    hooks.on_evaluation(evaluation)
    if evaluation.improved:
        hooks.save_best(state)
    state.loss_sum = 0.0
    state.elapsed_s = timing.now() - timing.start
    hooks.save_last(state)
    if stop:
        return StopReason.EARLY_STOP
    if evaluation.stop_requested:
        return StopReason.PRUNED
    hooks.on_time(state.elapsed_s / 60.0)
    return None


# ---------------------------------------------------------------- sampler state (resume)
def sampler_state(sampler: Any) -> dict[str, Any] | None:
    """A JSON-able snapshot of the training sampler's RNG, or None when it exposes none."""
    if hasattr(sampler, "state") and callable(sampler.state):
        return {"kind": "sampler", "state": sampler.state()}
    rng = getattr(sampler, "rng", None)
    if isinstance(rng, random.Random):
        version, internal, gauss = rng.getstate()
        return {"kind": "python_random", "version": version, "internal": list(internal), "gauss": gauss}
    return None


def restore_sampler_state(sampler: Any, snapshot: Mapping[str, Any] | None) -> bool:
    """Put a `sampler_state` snapshot back; False when there is none to restore."""
    if not snapshot:
        return False
    if snapshot.get("kind") == "sampler" and hasattr(sampler, "restore"):
        sampler.restore(snapshot["state"])
        return True
    if snapshot.get("kind") == "python_random" and isinstance(getattr(sampler, "rng", None), random.Random):
        sampler.rng.setstate((snapshot["version"], tuple(snapshot["internal"]), snapshot["gauss"]))
        return True
    return False


# ---------------------------------------------------------------- the full run
@dataclass(frozen=True)
class _Built:
    """What TensorFlow builds for a run: the cluster, the model under its scope, its trainer, the batch sampler."""

    cluster: Any
    model: Any
    trainer: Any
    sampler: Any


@dataclass
class _OpenRun:
    """A run ready for its loop, new or resumed: where it writes, its checkpoints, its state and its record."""

    config: RunConfig
    dataset: Any
    built: _Built
    schedule: Schedule
    paths: RunPaths  # this worker's records: the run folder on the chief, a private folder on any other worker
    shared_paths: RunPaths  # the chief's run folder, read by every worker
    best_manager: Any  # None on workers other than the chief: they write no checkpoint
    last_manager: Any
    state: LoopState
    record: RunRecord
    resumed_from: str | None  # the checkpoint a resumed run continues from; None for a new run


class _TrainingHooks:
    """`LoopHooks` over a real model: sampler, Trainer, evaluation, checkpoints and the run's records."""

    def __init__(self, run: _OpenRun, log: TrainLog, console: Console, scalars: Scalars,
                 callback: EvaluationCallback | None = None) -> None:
        self._evaluate = evaluate
        config, dataset, cluster = run.config, run.dataset, run.built.cluster
        self.config = config
        self.training_eval_config = dataclasses.replace(config, coef=None)  # the original aggregates only at test
        self.paths = run.paths
        self.sampler = run.built.sampler
        self.trainer = run.built.trainer
        self.model = run.built.model
        self.log = log
        self.console = console
        self.metrics_log = MetricsLog(run.paths.metrics_jsonl)
        self.scalars = scalars
        self.best_manager = run.best_manager
        self.last_manager = run.last_manager
        self.callback = callback
        # Evaluation sharded over the workers, every worker merging the same metrics (distribute.py).
        self.sharding: dict[str, Any] = ({} if cluster.worker_count == 1 else
                                         {"shard": cluster.eval_shard, "exchange": cluster.exchange})
        # --eval_users: the early-stopping evaluations see a fixed, seeded subset; final ones see everyone.
        self.periodic_valid = (dataset.valid if config.eval_users is None
                               else subset_split(dataset.valid, config.eval_users, config.random_seed))

    def train_steps(self, count: int) -> list[float]:
        return self.trainer.train_steps([self.sampler.next_batch() for _ in range(count)])

    def evaluate(self) -> dict[str, float]:
        return self._evaluate(self.model, self.periodic_valid, self.training_eval_config, **self.sharding)

    def on_evaluation(self, evaluation: Evaluation) -> None:
        shown = log_metrics(evaluation.metrics, self.config)
        self.log.line(self.paths.exp_name)
        self.log.line(format_iter_line(evaluation.iteration, evaluation.train_loss, shown))
        self.metrics_log.append({
            "iter": evaluation.iteration, "train_loss": evaluation.train_loss, **evaluation.metrics,
            "steps_per_s": evaluation.steps_per_s, "eval_s": evaluation.eval_s, "elapsed_s": evaluation.elapsed_s,
            "time_min": evaluation.elapsed_s / 60.0, "best_metric": evaluation.best_metric,
            "trials": evaluation.trials, "improved": evaluation.improved,
        })
        scalars = {"train/loss": evaluation.train_loss}
        scalars.update({f"eval/{name}": value for name, value in shown.items()})
        self.scalars.write(evaluation.iteration, scalars)
        self.console.progress(evaluation.iteration, f"valid recall {shown.get('recall', float('nan')):.4f}")
        if self.callback is not None and self.callback(evaluation.iteration, dict(evaluation.metrics)):
            evaluation.stop_requested = True

    def save_best(self, state: LoopState) -> None:
        if self.best_manager is not None:
            self.best_manager.save(checkpoint_number=state.iteration)

    def save_last(self, state: LoopState) -> None:
        if self.last_manager is None:
            return
        path = self.last_manager.save(checkpoint_number=state.iteration)
        write_loop_state(self.paths, Path(path).name, state, sampler_state(self.sampler),
                         sampler_state(self.trainer.candidate_sampler))

    def on_time(self, minutes: float) -> None:
        self.log.line(format_time_line(minutes))

    def on_nan(self, iteration: int, loss: float) -> None:
        self.log.line(f"train loss is {loss} at iter {iteration}: training stopped, the best model is kept")

    def on_step(self, iteration: int) -> None:
        self.console.progress(iteration)


def _json(data: Any) -> str:
    return json.dumps(data, indent=1) + "\n"


def write_loop_state(paths: RunPaths, checkpoint: str, state: LoopState, sampler: Any = None,
                     candidate_sampler: Any = None) -> None:
    """`ckpt/last/loop_state.json`: what a resume restores next to the last checkpoint (named `checkpoint`)."""
    rewrite_file(paths.loop_state, _json({"checkpoint": checkpoint, "loop": state.to_dict(), "sampler": sampler,
                                          "candidate_sampler": candidate_sampler}))


def read_loop_state(paths: RunPaths) -> dict[str, Any]:
    """What `write_loop_state` wrote (UsageError when the run never reached an evaluation)."""
    try:
        return json.loads(paths.loop_state.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"cannot resume: {paths.loop_state} does not exist (the run never reached an evaluation)"
                         ) from None
    except ValueError as exc:
        raise UsageError(f"cannot resume: {paths.loop_state} is not valid JSON ({exc})") from None


def _refuse_finished(stop_reason: Any, state: LoopState, schedule: Schedule, paths: RunPaths) -> None:
    """A finished run resumed with the same budget would only repeat its final evaluation into train.log."""
    if stop_reason not in (StopReason.EARLY_STOP.value, StopReason.MAX_ITER.value, StopReason.NAN.value):
        return  # interrupted or crashed: resuming is what it is for (even if only the final evaluation is left)
    if state.iteration >= schedule.max_iterations:
        raise UsageError(f"{paths.root} already finished at iteration {state.iteration} (max_iter "
                         f"{schedule.max_iterations // 1000}); pass a larger --max_iter to train further")
    if state.trials > schedule.patience:
        raise UsageError(f"{paths.root} already stopped early at iteration {state.iteration} (patience "
                         f"{schedule.patience}); pass a larger --patience to train further")
    if stop_reason == StopReason.NAN.value:
        raise UsageError(f"{paths.root} stopped on a non-finite loss at iteration {state.iteration}; resuming would "
                         "continue from the last good checkpoint with the same settings: lower --learning_rate "
                         "in a new run instead")


def train(config: RunConfig, resume: bool = False, advice: Sequence[str] = (),
          on_evaluation: EvaluationCallback | None = None) -> Path:
    """Train as the original `src/train.py` and write the run folder; returns its path.

    `advice` lines are printed once the configuration and the data have passed their checks (an error in either
    comes first and alone), before TensorFlow starts. `on_evaluation(iteration, metrics) -> stop` sees every
    periodic validation (see `EvaluationCallback`; `recdoc tune` reports it to its pruner)."""
    if is_most_popular(config.model_type):  # no model to train: the original's separate src/mostpop.py
        if resume:
            raise UsageError("MostPopular has nothing to resume: it does not train")
        return train_most_popular(config)
    config, dataset = _prepare(config, resume, advice)
    run = _open_or_resume(config, dataset, _build(config, dataset), resume)
    return _run_and_evaluate(run, on_evaluation)


def _prepare(config: RunConfig, resume: bool, advice: Sequence[str]) -> tuple[RunConfig, Any]:
    """The configuration to train (a resumed run's as stored, with this command's changes) and its data, both
    checked before TensorFlow is imported: bad input fails fast, without TensorFlow's log lines. Then `advice`."""
    from recdoc.trainer.data.dataset import load_dataset

    validate(config)
    worker_index, worker_count = worker_position(config.strategy)
    if worker_count > 1 and config.exp is None:
        raise UsageError("--strategy multi_worker with several workers needs --exp: every worker must find the "
                         "run folder the chief writes")
    if resume:
        config = _resumed_config(config)
    elif worker_index == 0:
        refuse_existing_run_folder(config)
    dataset = load_dataset(config.data_dir, config.dataset, config.item_count)
    validate_with_data(config, dataset.item_count, bool(dataset.item_cate), str(dataset.path))
    if worker_index == 0:
        for line in advice:
            print(line, flush=True)
    return config, dataset


def _resumed_config(config: RunConfig) -> RunConfig:
    """On resume the stored configuration wins, except what may legitimately change (`RESUME_MAY_CHANGE`)."""
    _, paths = open_run_folder(config, resume=True)
    resumed = resumed_config(paths.root, **{key: getattr(config, key) for key in RESUME_MAY_CHANGE})
    validate(resumed)  # as resumed: run.json's settings with this command's overrides
    return resumed


def _build(config: RunConfig, dataset: Any) -> _Built:
    """TensorFlow starts here: the cluster first (collectives start with it), then the model and its trainer."""
    from recdoc.trainer.data.sampling import TrainSampler
    from recdoc.trainer.train import Trainer

    cluster = make_cluster(config.strategy)
    with cluster.scope():  # mirrored variables under a strategy: one copy per replica
        model = build_model(config, dataset.item_count)  # seeds tf, numpy and random from random_seed
        trainer = Trainer(model, config, cluster.strategy)
    if trainer.optimizer.sparse_update_path != "fused kernel":
        print(f"recdoc: note: the item table's Adam update runs as {trainer.optimizer.sparse_update_path}: "
              "the same numbers, slower, and more memory with large tables", file=sys.stderr)
    sampler = TrainSampler(dataset.train, config.batch_size, config.maxlen, config.random_seed)
    return _Built(cluster, model, trainer, sampler)


def _open_or_resume(config: RunConfig, dataset: Any, built: _Built, resume: bool) -> _OpenRun:
    """The run folder (the chief alone writes it; another worker's records go to a private folder, removed at the
    end), its checkpoint managers, and the loop state and record: fresh, or where the last checkpoint left them."""
    from recdoc.tfimport import tf

    best_checkpoint = tf.train.Checkpoint(**built.trainer.checkpoint_objects())
    last_checkpoint = tf.train.Checkpoint(**built.trainer.checkpoint_objects())
    is_chief = built.cluster.is_chief
    if not resume and is_chief:
        # Only now that the data and the model are known to load: a failure above leaves no empty folder behind.
        config, _ = open_run_folder(config)
    shared_paths = RunPaths(Path(config.runs_dir) / config.exp_name)
    paths = shared_paths if is_chief else _private_paths(built.cluster.worker_index, config.exp_name)
    schedule = Schedule.from_config(config)
    if resume:
        state, record, resumed_from = _resume(config, dataset, built, schedule, paths, shared_paths,
                                             last_checkpoint)
    else:
        state, record, resumed_from = LoopState(), _start_record(config, dataset, built, paths), None
    if config.strategy != "none":
        record.update(distribute=built.cluster.describe())
    if config.finetune_lr is not None:
        built.trainer.set_learning_rate(config.finetune_lr)
    return _OpenRun(
        config, dataset, built, schedule, paths, shared_paths,
        best_manager=(tf.train.CheckpointManager(best_checkpoint, str(paths.best_dir), max_to_keep=1)
                      if is_chief else None),
        last_manager=(tf.train.CheckpointManager(last_checkpoint, str(paths.last_dir), max_to_keep=1)
                      if is_chief else None),
        state=state, record=record, resumed_from=resumed_from)


def _private_paths(worker_index: int, exp_name: str) -> RunPaths:
    paths = RunPaths(Path(tempfile.mkdtemp(prefix=f"recdoc-worker{worker_index}-")) / exp_name)
    paths.root.mkdir()
    return paths


def _data_files(dataset: Any) -> list[Path]:
    return [dataset.train.path, dataset.valid.path, dataset.test.path]


def _start_record(config: RunConfig, dataset: Any, built: _Built, paths: RunPaths) -> RunRecord:
    """run.json for a new run, with the item count the data actually has, so the doctor knows how close the data
    is to the paper's (a prior's confidence scales with it), and the settings that depart from the original."""
    from recdoc.tfimport import tf

    recorded = config if config.item_count is not None else dataclasses.replace(config, item_count=dataset.item_count)
    # The item table's Adam update: recdoc's fused kernel or, without a compiler, TF1's ops (same numbers).
    record = RunRecord.start(paths.run_json, recorded, paths.exp_name, _data_files(dataset),
                             {"tensorflow": tf.__version__,
                              "sparse_adam": built.trainer.optimizer.sparse_update_path,
                              "eval_search": search_backend()})
    departures = deviations(config, len(dataset.valid))
    if departures:
        record.update(deviations=departures)
    return record


def _resume(config: RunConfig, dataset: Any, built: _Built, schedule: Schedule, paths: RunPaths,
            shared_paths: RunPaths, last_checkpoint: Any) -> tuple[LoopState, RunRecord, str]:
    """Everything a resume restores: the last checkpoint `loop_state.json` names, the loop state, the samplers'
    RNG, run.json (marked running again) and metrics.jsonl (cut to the checkpoint's iteration). Refused when the
    run has finished or its split files changed; returns the state, the record and the checkpoint's path."""
    snapshot = read_loop_state(shared_paths)
    checkpoint_path = str(shared_paths.last_dir / snapshot["checkpoint"])
    last_checkpoint.restore(checkpoint_path).assert_existing_objects_matched()
    state = LoopState.from_dict(snapshot["loop"])
    restore_sampler_state(built.sampler, snapshot.get("sampler"))
    restore_sampler_state(built.trainer.candidate_sampler, snapshot.get("candidate_sampler"))
    record = RunRecord.load(shared_paths.run_json)
    _refuse_finished(record.data.get("stop_reason"), state, schedule, paths)
    record.path = paths.run_json  # a worker other than the chief keeps its copy in its private folder
    stored_fingerprint = record.data.get("data", {}).get("fingerprint")
    if stored_fingerprint and stored_fingerprint != data_fingerprint(_data_files(dataset)):
        raise UsageError(f"cannot resume {paths.root}: the split files changed since the run started "
                         f"({stored_fingerprint} in run.json)")
    resumed_at = {"at": utc_now(), "iter": state.iteration,
                  "sparse_adam": built.trainer.optimizer.sparse_update_path}
    record.update(config=config.to_dict(), stop_reason="running", ended=None,
                  resumed=[*record.data.get("resumed", []), resumed_at])
    MetricsLog(paths.metrics_jsonl).keep_until(state.iteration)
    return state, record, checkpoint_path


def _run_and_evaluate(run: _OpenRun, on_evaluation: EvaluationCallback | None) -> Path:
    """The loop, then the final evaluation of the best model; run.json records how the run ended, Ctrl-C and
    crashes included. Returns the chief's run folder."""
    cluster = run.built.cluster
    console = (Console(run.config.max_iterations) if cluster.is_chief
               else Console(run.config.max_iterations, stream=open(os.devnull, "w"), fancy=False))
    log = TrainLog(run.paths.train_log, console)
    scalars = Scalars(run.paths.root)
    stop = None
    try:
        with console:
            log.line(f"training resumed from {run.resumed_from} at iteration {run.state.iteration}"
                     if run.resumed_from is not None else "training begin")
            hooks = _TrainingHooks(run, log, console, scalars, on_evaluation)
            stop = run_loop(run.state, hooks, run.schedule)
            _close_loop(run, stop, console, log)
            final = _final_evaluation(run, log, hooks.sharding)
        run.record.update(stop_reason=stop.value, best_iter=run.state.best_iter or None,
                          iterations=run.state.iteration, best_metric=run.state.best_metric, final=final,
                          ended=utc_now())
        return run.shared_paths.root
    except BaseException:
        run.record.update(stop_reason="interrupted" if stop is StopReason.INTERRUPTED else "crashed",
                          ended=utc_now())
        raise
    finally:
        log.close()
        scalars.close()
        if not cluster.is_chief:
            console.stream.close()
            shutil.rmtree(run.paths.root.parent, ignore_errors=True)


def _close_loop(run: _OpenRun, stop: StopReason, console: Console, log: TrainLog) -> None:
    """Between the loop and the final evaluation: the progress bar's last word, every worker waiting for the
    chief's last checkpoints (before anyone reads the best one), and the original's lines after a Ctrl-C."""
    if run.state.iteration < run.config.max_iterations:
        console.finish(run.state.iteration, STOP_STATUS.get(stop, stop.value))
    run.built.cluster.barrier()
    if stop is StopReason.INTERRUPTED:
        log.line(DASH_LINE)
        log.line("Exiting from training early")


def _final_evaluation(run: _OpenRun, log: TrainLog, sharding: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The best model (else the last weights) on the whole validation and test splits, as the original logs it."""
    _restore_best(run, log)
    final: dict[str, dict[str, float]] = {}
    for split_name, split in (("valid", run.dataset.valid), ("test", run.dataset.test)):
        metrics = evaluate(run.built.model, split, run.config, item_cate=run.dataset.item_cate or None, **sharding)
        final[split_name] = metrics
        log.line(format_final_line(split_name, log_metrics(metrics, run.config, True)))
    return final


def _restore_best(run: _OpenRun, log: TrainLog) -> None:
    from recdoc.tfimport import tf

    best_path = (run.best_manager.latest_checkpoint if run.best_manager is not None
                 else tf.train.latest_checkpoint(str(run.shared_paths.best_dir)))
    if best_path is None:
        log.line(f"no best model was saved ({_why_no_best(run.state, run.schedule)}); evaluating the last weights")
        return
    # The final evaluation needs the model only: leaving the Adam moments in the checkpoint keeps two table-sized
    # read buffers out of memory (bench/scale.py).
    tf.train.Checkpoint(model=run.built.model).restore(best_path).assert_existing_objects_matched().expect_partial()
    log.line(f"model restored from {best_path}")


def _why_no_best(state: LoopState, schedule: Schedule) -> str:
    if state.best_metric > 0:  # with no checkpoint: the run stopped while the first best model was written
        return "the run stopped before the first best model was written"
    if state.iteration < schedule.test_iter:
        return f"the run stopped at iteration {state.iteration}, before its first evaluation"
    return "validation recall never rose above 0"
