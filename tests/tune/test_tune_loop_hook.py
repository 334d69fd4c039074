"""The training loop's `on_evaluation` hook: a callback that asks to stop ends the run as `pruned`."""

from __future__ import annotations

from trainer.test_loop import KEY, ScriptedHooks, kinds

from recdoc.trainer.loop import Evaluation, LoopState, Schedule, StopReason, run_loop


class StoppingHooks(ScriptedHooks):
    def __init__(self, recalls: list[float], stop_at: int) -> None:
        super().__init__(recalls)
        self.stop_at = stop_at

    def on_evaluation(self, evaluation: Evaluation) -> None:
        super().on_evaluation(evaluation)
        evaluation.stop_requested = evaluation.iteration >= self.stop_at


def test_a_stop_request_ends_the_run_after_that_evaluation_is_saved() -> None:
    hooks, state = StoppingHooks([0.1, 0.2, 0.3, 0.4], stop_at=20), LoopState()
    reason = run_loop(state, hooks, Schedule(test_iter=10, patience=5, max_iterations=100, metric_key=KEY))
    assert reason is StopReason.PRUNED and state.iteration == 20
    assert kinds(hooks, "best") == [10, 20] and kinds(hooks, "last") == [10, 20]
    assert ("time",) not in hooks.events[-1:]  # stopped right after the evaluation, as an early stop


def test_without_a_request_the_schedule_is_unchanged() -> None:
    hooks, state = StoppingHooks([0.1, 0.2, 0.3], stop_at=10**9), LoopState()
    assert run_loop(state, hooks, Schedule(10, 5, 30, KEY)) is StopReason.MAX_ITER
