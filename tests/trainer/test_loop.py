"""The training schedule on scripted metrics (instant, no TensorFlow), then real runs on synthetic data."""

from __future__ import annotations

import json
import math
import os
import random
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from recdoc.trainer.loop import (
    Evaluation,
    LoopState,
    Schedule,
    StopReason,
    restore_sampler_state,
    run_loop,
    sampler_state,
)
from support.builders import synthetic_config as shared_synthetic_config

KEY = "recall@50"


@dataclass
class ScriptedHooks:
    """Returns scripted validation recalls; records what the loop asked for, in order."""

    recalls: list[float]
    losses: list[float] | None = None
    interrupt_at: int | None = None
    steps: int = 0
    events: list[tuple] = field(default_factory=list)

    calls: list[int] = field(default_factory=list)

    def train_steps(self, count: int) -> list[float]:
        self.calls.append(count)
        return [self.train_step() for _ in range(count)]

    def train_step(self) -> float:
        self.steps += 1
        if self.interrupt_at is not None and self.steps == self.interrupt_at:
            raise KeyboardInterrupt
        if self.losses is not None:
            return self.losses[self.steps - 1]
        return 1.0

    def evaluate(self) -> dict[str, float]:
        index = len([e for e in self.events if e[0] == "eval"])
        return {KEY: self.recalls[index]} if index < len(self.recalls) else {KEY: 0.0}

    def on_evaluation(self, evaluation: Evaluation) -> None:
        self.events.append(("eval", evaluation.iteration, evaluation.train_loss, evaluation.trials))

    def save_best(self, state: LoopState) -> None:
        self.events.append(("best", state.iteration))

    def save_last(self, state: LoopState) -> None:
        self.events.append(("last", state.iteration))

    def on_time(self, minutes: float) -> None:
        self.events.append(("time",))

    def on_nan(self, iteration: int, loss: float) -> None:
        self.events.append(("nan", iteration))

    def on_step(self, iteration: int) -> None:
        pass


def kinds(hooks: ScriptedHooks, kind: str) -> list[int]:
    return [e[1] for e in hooks.events if e[0] == kind]


def test_steps_are_asked_for_in_groups_that_end_at_every_evaluation_and_at_the_cap() -> None:
    hooks, state = ScriptedHooks([0.1, 0.2, 0.3]), LoopState()
    reason = run_loop(state, hooks, Schedule(test_iter=25, patience=9, max_iterations=60, metric_key=KEY))
    assert reason is StopReason.MAX_ITER and state.iteration == 60
    assert hooks.calls == [10, 10, 5, 10, 10, 5, 10]
    assert kinds(hooks, "eval") == [25, 50]


def test_a_nan_inside_a_group_stops_at_its_own_iteration() -> None:
    losses = [1.0] * 13 + [math.nan] + [1.0] * 50
    hooks, state = ScriptedHooks([0.1] * 10, losses=losses), LoopState()
    reason = run_loop(state, hooks, Schedule(test_iter=100, patience=3, max_iterations=1000, metric_key=KEY))
    assert reason is StopReason.NAN and state.iteration == 14
    assert kinds(hooks, "nan") == [14]


@pytest.fixture
def python_ctrl_c():
    """Python's own Ctrl-C handler for the test: a process started in the background by a non-interactive shell
    inherits SIGINT ignored, and Python then installs no handler (the behaviour under test is the user's Ctrl-C)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class CtrlCHooks(ScriptedHooks):
    """Sends itself a real SIGINT inside the given group of steps, or inside the given evaluation."""

    def __init__(self, during_group: int | None = None, during_eval: int | None = None) -> None:
        super().__init__([0.1 * (i + 1) for i in range(100)])
        self.during_group, self.during_eval = during_group, during_eval

    def train_steps(self, count: int) -> list[float]:
        if len(self.calls) + 1 == self.during_group:
            os.kill(os.getpid(), signal.SIGINT)  # arrives while the group runs
        return super().train_steps(count)

    def evaluate(self) -> dict[str, float]:
        if len(kinds(self, "eval")) + 1 == self.during_eval:
            os.kill(os.getpid(), signal.SIGINT)
        return super().evaluate()


def test_ctrl_c_during_a_group_counts_its_steps_then_stops_without_evaluating(python_ctrl_c: None) -> None:
    hooks, state = CtrlCHooks(during_group=4), LoopState()  # the 4th group is steps 31..40, ending at an evaluation
    reason = run_loop(state, hooks, Schedule(test_iter=20, patience=9, max_iterations=1000, metric_key=KEY))
    assert reason is StopReason.INTERRUPTED
    assert state.iteration == 40 and hooks.steps == 40  # every step that ran is counted
    assert kinds(hooks, "eval") == [20]  # the evaluation due at 40 is skipped: the user asked to stop
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back


def test_ctrl_c_during_an_evaluation_stops_at_once(python_ctrl_c: None) -> None:
    hooks, state = CtrlCHooks(during_eval=2), LoopState()
    reason = run_loop(state, hooks, Schedule(test_iter=20, patience=9, max_iterations=1000, metric_key=KEY))
    assert reason is StopReason.INTERRUPTED
    assert state.iteration == 40 and kinds(hooks, "eval") == [20]


def test_stop_iteration_is_best_plus_patience_plus_one_evaluations() -> None:
    recalls = [0.1, 0.2, 0.3] + [0.25] * 100  # best at the third evaluation
    hooks, state = ScriptedHooks(recalls), LoopState()
    reason = run_loop(state, hooks, Schedule(test_iter=10, patience=4, max_iterations=10_000, metric_key=KEY))
    assert reason is StopReason.EARLY_STOP
    assert state.best_iter == 30
    assert state.iteration == 30 + (4 + 1) * 10
    assert kinds(hooks, "best") == [10, 20, 30]
    # No time line after the evaluation that stops the run; one after every other evaluation.
    assert hooks.events[-1] == ("last", 80)
    assert sum(1 for e in hooks.events if e[0] == "time") == len(kinds(hooks, "eval")) - 1


def test_equal_recall_is_not_an_improvement_and_zero_never_improves() -> None:
    hooks, state = ScriptedHooks([0.0, 0.5, 0.5, 0.5]), LoopState()
    reason = run_loop(state, hooks, Schedule(test_iter=5, patience=1, max_iterations=1000, metric_key=KEY))
    assert reason is StopReason.EARLY_STOP
    # 0.0 is not > best 0: trials 1; 0.5 improves; two equal values exhaust patience 1.
    assert kinds(hooks, "best") == [10]
    assert [e[3] for e in hooks.events if e[0] == "eval"] == [1, 0, 1, 2]
    assert state.iteration == 20


def test_cap_stops_after_the_time_line() -> None:
    hooks, state = ScriptedHooks([0.1 * i for i in range(1, 100)]), LoopState()
    reason = run_loop(state, hooks, Schedule(test_iter=10, patience=50, max_iterations=30, metric_key=KEY))
    assert reason is StopReason.MAX_ITER
    assert state.iteration == 30
    assert hooks.events[-1] == ("time",)


def test_cap_that_is_not_a_multiple_of_test_iter_stops_without_evaluating() -> None:
    hooks, state = ScriptedHooks([0.1, 0.2]), LoopState()
    assert run_loop(state, hooks, Schedule(10, 5, 25, KEY)) is StopReason.MAX_ITER
    assert state.iteration == 25 and kinds(hooks, "eval") == [10, 20]


def test_train_loss_is_the_mean_of_the_window() -> None:
    losses = [float(i) for i in range(1, 21)]
    hooks = ScriptedHooks([0.1, 0.2], losses=losses)
    run_loop(LoopState(), hooks, Schedule(10, 5, 20, KEY))
    assert [e[2] for e in hooks.events if e[0] == "eval"] == [pytest.approx(5.5), pytest.approx(15.5)]


def test_nan_loss_stops_and_never_saves_after_it() -> None:
    losses = [1.0] * 12 + [math.nan] + [1.0] * 50
    hooks, state = ScriptedHooks([0.3, 0.4], losses=losses), LoopState()
    assert run_loop(state, hooks, Schedule(10, 5, 1000, KEY)) is StopReason.NAN
    assert kinds(hooks, "nan") == [13]
    assert kinds(hooks, "best") == [10] and state.best_iter == 10


def test_ctrl_c_returns_interrupted_with_state_of_the_last_evaluation() -> None:
    hooks, state = ScriptedHooks([0.3, 0.4, 0.5], interrupt_at=25), LoopState()
    assert run_loop(state, hooks, Schedule(10, 5, 1000, KEY)) is StopReason.INTERRUPTED
    assert state.best_iter == 20 and kinds(hooks, "last") == [10, 20]


def test_a_resumed_state_continues_the_schedule() -> None:
    # Resume after the evaluation at 30 with two trials used: patience 3 allows two more non-improving evaluations.
    state = LoopState(iteration=30, best_metric=0.5, best_iter=10, trials=2)
    hooks = ScriptedHooks([0.4, 0.4, 0.4])
    assert run_loop(state, hooks, Schedule(10, 3, 1000, KEY)) is StopReason.EARLY_STOP
    assert kinds(hooks, "eval") == [40, 50] and state.iteration == 50
    # A state saved at the stopping evaluation stops at once.
    assert run_loop(LoopState(iteration=50, trials=4), ScriptedHooks([]), Schedule(10, 3, 1000, KEY)) \
        is StopReason.EARLY_STOP


def test_resuming_a_finished_run_is_refused_unless_the_budget_grows(tmp_path: Path) -> None:
    """A finished run resumed with the same budget would only append a second final evaluation to train.log."""
    from recdoc.errors import UsageError
    from recdoc.trainer.log.folder import RunPaths
    from recdoc.trainer.loop import _refuse_finished

    paths = RunPaths(tmp_path / "run")
    capped = LoopState(iteration=1000, trials=1)
    with pytest.raises(UsageError, match="already finished at iteration 1000 .*larger --max_iter"):
        _refuse_finished("max_iter", capped, Schedule(100, 5, 1000, KEY), paths)
    _refuse_finished("max_iter", capped, Schedule(100, 5, 2000, KEY), paths)  # a larger budget continues
    stopped = LoopState(iteration=700, trials=6)
    with pytest.raises(UsageError, match="stopped early at iteration 700 .*larger --patience"):
        _refuse_finished("early_stop", stopped, Schedule(100, 5, 1000, KEY), paths)
    _refuse_finished("early_stop", stopped, Schedule(100, 10, 1000, KEY), paths)
    # Interrupted or crashed runs resume as before, even when only the final evaluation is left.
    _refuse_finished("interrupted", capped, Schedule(100, 5, 1000, KEY), paths)
    _refuse_finished("crashed", stopped, Schedule(100, 5, 1000, KEY), paths)


def test_evaluation_without_recall_changes_nothing() -> None:
    class NoMetrics(ScriptedHooks):
        def evaluate(self) -> dict[str, float]:
            self.events.append(("evaluated",))
            return {}

    hooks, state = NoMetrics([]), LoopState()
    assert run_loop(state, hooks, Schedule(10, 0, 50, KEY)) is StopReason.MAX_ITER
    assert state.trials == 0 and kinds(hooks, "best") == []


class TinySampler:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def next_batch(self) -> list[int]:
        return self.rng.sample(range(1000), 5)


def test_sampler_rng_state_survives_a_json_round_trip() -> None:
    sampler = TinySampler(7)
    for _ in range(13):
        sampler.next_batch()
    snapshot = json.loads(json.dumps(sampler_state(sampler)))
    expected = [sampler.next_batch() for _ in range(3)]
    fresh = TinySampler(7)
    assert restore_sampler_state(fresh, snapshot)
    assert [fresh.next_batch() for _ in range(3)] == expected
    assert not restore_sampler_state(fresh, None)


# ---------------------------------------------------------------- real training on synthetic data
ITER_RE = re.compile(r"^iter: \d+, train loss: \d+\.\d{4}, valid recall: \d\.\d{6}, valid ndcg: \d\.\d{6}, "
                     r"valid hitrate: \d\.\d{6}$")
TIME_RE = re.compile(r"^time interval: \d+\.\d{4} min$")
FINAL_RE = re.compile(r"^(valid|test) recall: \d\.\d{6}, \1 ndcg: \d\.\d{6}, \1 hitrate: \d\.\d{6}, "
                      r"\1 diversity: \d\.\d{6}$")


def synthetic_config(data_dir: Path, runs_dir: Path, **overrides: object):
    return shared_synthetic_config(data_dir, runs_dir, **{"test_iter": 250, "patience": 3, **overrides})


@pytest.mark.slow
def test_comirec_dr_beats_most_popular_threefold_and_logs_like_the_original(synthetic_data: Path,
                                                                            tmp_path: Path) -> None:
    from recdoc.trainer.data.dataset import load_dataset
    from recdoc.trainer.evaluate import evaluate_most_popular
    from recdoc.trainer.loop import train

    run = train(synthetic_config(synthetic_data, tmp_path))
    record = json.loads((run / "run.json").read_text())
    dataset = load_dataset(str(synthetic_data), "syn")
    popular = evaluate_most_popular(dataset.train, dataset.test, (50,))
    assert record["final"]["test"]["recall@50"] >= 3 * popular["recall@50"]
    assert record["stop_reason"] in {"max_iter", "early_stop"}
    # The final validation pass runs on the restored best model: it reproduces the best validation recall.
    assert record["final"]["valid"]["recall@50"] == record["best_metric"]

    lines = (run / "train.log").read_text().splitlines()
    assert lines[0] == "training begin"
    iter_lines = [i for i, line in enumerate(lines) if line.startswith("iter: ")]
    assert iter_lines and all(ITER_RE.match(lines[i]) for i in iter_lines)
    assert all(lines[i - 1] == run.name for i in iter_lines)  # the exp name before every iter line
    restored = next(i for i, line in enumerate(lines) if line.startswith("model restored from "))
    if record["stop_reason"] == "max_iter":
        assert TIME_RE.match(lines[iter_lines[-1] + 1]) and restored == iter_lines[-1] + 2
    else:
        assert restored == iter_lines[-1] + 1
    assert lines[restored].endswith(f"ckpt-{record['best_iter']}")
    assert FINAL_RE.match(lines[restored + 1]) and lines[restored + 1].startswith("valid ")
    assert FINAL_RE.match(lines[restored + 2]) and lines[restored + 2].startswith("test ")

    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records] == [250 * (i + 1) for i in range(len(records))]
    assert {"recall@20", "ndcg_standard@50", "ndcg_master@20", "steps_per_s", "train_loss"} <= set(records[0])
    import tensorflow as tf

    tags: dict[str, list[int]] = {}
    for event_file in run.glob("events.out.tfevents*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
    expected_steps = [r["iter"] for r in records]
    assert {tag: tags.get(tag) for tag in ("train/loss", "eval/recall", "eval/ndcg", "eval/hitrate")} == \
        dict.fromkeys(("train/loss", "eval/recall", "eval/ndcg", "eval/hitrate"), expected_steps)


class StepScript:
    """Wraps Trainer.train_steps: Ctrl-C at the given step, or a NaN loss from a given step on."""

    def __init__(self, original, interrupt_at: int | None = None, nan_from: int | None = None) -> None:
        self.original, self.interrupt_at, self.nan_from, self.calls = original, interrupt_at, nan_from, 0

    def __get__(self, trainer, owner):
        def steps(batches):
            # The batches before a scripted Ctrl-C run as one real multi-step call, as in training.
            first = self.calls + 1
            interrupted = self.interrupt_at is not None and first <= self.interrupt_at < first + len(batches)
            run = batches[: self.interrupt_at - first] if interrupted else batches
            losses = self.original(trainer, run) if run else []
            self.calls += len(run)
            if interrupted:
                raise KeyboardInterrupt
            if self.nan_from is not None:
                losses = [math.nan if first + i >= self.nan_from else loss for i, loss in enumerate(losses)]
            return losses
        return steps


@pytest.mark.slow
def test_resume_continues_from_the_last_evaluation(synthetic_data: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from recdoc.trainer.data.dataset import load_dataset
    from recdoc.trainer.data.sampling import TrainSampler
    from recdoc.trainer.loop import train
    from recdoc.trainer.train import Trainer

    original = Trainer.train_steps
    config = synthetic_config(synthetic_data, tmp_path, test_iter=20, patience=50)
    monkeypatch.setattr(Trainer, "train_steps", StepScript(original, interrupt_at=50))
    run = train(config)
    record = json.loads((run / "run.json").read_text())
    assert record["stop_reason"] == "interrupted"
    lines = (run / "train.log").read_text().splitlines()
    dash = lines.index("-" * 89)
    assert lines[dash + 1] == "Exiting from training early"
    assert lines[dash + 2].startswith("model restored from ")
    state = json.loads((run / "ckpt" / "last" / "loop_state.json").read_text())
    assert state["loop"]["iteration"] == 40 and state["checkpoint"] == "ckpt-40"

    # The batches drawn after resuming are the ones an uninterrupted sampler draws after 40 steps.
    dataset = load_dataset(str(synthetic_data), "syn")
    reference = TrainSampler(dataset.train, 128, 20, config.random_seed)
    for _ in range(40):
        reference.next_batch()
    expected_target = reference.next_batch()[2]
    seen: list[np.ndarray] = []

    def recording_steps(trainer, batches):
        losses = []
        for batch in batches:
            seen.append(np.array(batch[2]))
            if len(seen) == 30:
                raise KeyboardInterrupt
            losses.extend(original(trainer, [batch]))
        return losses

    monkeypatch.setattr(Trainer, "train_steps", recording_steps)
    assert train(config, resume=True) == run
    assert np.array_equal(seen[0], expected_target)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records] == [20, 40, 60]
    lines = (run / "train.log").read_text().splitlines()
    assert any(line.startswith("training resumed from ") and line.endswith("at iteration 40") for line in lines)
    resumed = json.loads((run / "run.json").read_text())
    assert resumed["stop_reason"] == "interrupted" and resumed["resumed"][0]["iter"] == 40
    assert resumed["best_iter"] >= record["best_iter"]


@pytest.mark.slow
def test_a_resumed_run_matches_an_uninterrupted_one_exactly(synthetic_data: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Weights, Adam moments, the batch sampler and the negative sampler all continue from ckpt/last: the
    # evaluation after resuming equals the uninterrupted run's to the last digit.
    from recdoc.trainer.loop import train
    from recdoc.trainer.train import Trainer

    original = Trainer.train_steps

    def metrics_at(run: Path, iteration: int) -> dict:
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        record = next(r for r in records if r["iter"] == iteration)
        timing = ("steps_per_s", "eval_s", "elapsed_s", "time_min")
        return {k: v for k, v in record.items() if k not in timing}

    straight = synthetic_config(synthetic_data, tmp_path, test_iter=20, patience=50, exp="straight")
    monkeypatch.setattr(Trainer, "train_steps", StepScript(original, interrupt_at=61))
    uninterrupted = train(straight)

    broken = synthetic_config(synthetic_data, tmp_path, test_iter=20, patience=50, exp="broken")
    monkeypatch.setattr(Trainer, "train_steps", StepScript(original, interrupt_at=50))  # last checkpoint: 40
    resumed_run = train(broken)
    monkeypatch.setattr(Trainer, "train_steps", StepScript(original, interrupt_at=21))  # steps 41..60, then stop
    assert train(broken, resume=True) == resumed_run
    assert metrics_at(resumed_run, 60) == metrics_at(uninterrupted, 60)


@pytest.mark.slow
def test_nan_loss_stops_the_run_and_keeps_the_best_checkpoint(synthetic_data: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from recdoc.trainer.loop import train
    from recdoc.trainer.train import Trainer

    monkeypatch.setattr(Trainer, "train_steps", StepScript(Trainer.train_steps, nan_from=35))
    run = train(synthetic_config(synthetic_data, tmp_path, test_iter=20))
    record = json.loads((run / "run.json").read_text())
    assert record["stop_reason"] == "nan" and record["best_iter"] == 20
    assert [p.name for p in (run / "ckpt" / "best").glob("ckpt-*.index")] == ["ckpt-20.index"]
    lines = (run / "train.log").read_text().splitlines()
    assert any("at iter 35" in line for line in lines)
    assert any(line.endswith("ckpt/best/ckpt-20") and line.startswith("model restored from ") for line in lines)
    assert record["final"]["test"]["recall@50"] > 0


@pytest.mark.parametrize("bad", [{"ndcg": "mean"}, {"test_iter": 0}, {"metrics_at": (0, 50)}, {"patience": -1}])
def test_impossible_settings_are_refused_before_any_folder_is_made(tmp_path: Path, bad: dict) -> None:
    from recdoc.config import RunConfig
    from recdoc.errors import UsageError
    from recdoc.trainer.loop import train

    with pytest.raises(UsageError):
        train(RunConfig(runs_dir=str(tmp_path / "runs"), data_dir=str(tmp_path), **bad))
    assert not (tmp_path / "runs").exists()


def test_an_existing_named_run_is_refused_before_loading_anything(tmp_path: Path) -> None:
    from recdoc.config import RunConfig
    from recdoc.errors import UsageError
    from recdoc.trainer.loop import train

    config = RunConfig(runs_dir=str(tmp_path / "runs"), data_dir=str(tmp_path / "no-data"), exp="taken")
    (tmp_path / "runs" / config.exp_name).mkdir(parents=True)
    with pytest.raises(UsageError, match="already exists"):
        train(config)
