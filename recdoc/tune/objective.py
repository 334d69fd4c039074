"""One trial of `recdoc tune`: an ordinary recdoc run folder `<study>_t<N>`, its validation curve reported to
Optuna's pruner through the training loop's `on_evaluation` hook.

The objective is the run's best validation recall (the loop's early-stopping metric, `best_metric` in run.json).
The loop reports the best-so-far recall at every evaluation; when the pruner finds the trial clearly below the
others at the same iteration the loop stops there (stop_reason `pruned`), restores its best model and evaluates it,
so a pruned trial's folder is as complete as any run's.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from recdoc.config import RunConfig
from recdoc.trainer.log.lines import early_stop_key

# Trial attributes (Optuna user attrs) every trial carries.
ATTR_RUN = "run"  # the run folder
ATTR_ROLE = "role"  # 'fix' (the doctor's corrected configuration), 'start', 'search'
ATTR_RETRY_OF = "retry_of"  # the number of the trial this one reruns (its process was killed)
ATTR_PID = "pid"  # the process running the trial (with local storage, an exited one means the trial is orphaned)


def trial_config(base: RunConfig, params: dict[str, Any], exp: str, runs_dir: Path,
                 seed: int | None = None) -> RunConfig:
    """The run a trial trains: the base configuration with the trial's settings, named `exp`, under `runs_dir`."""
    values: dict[str, Any] = dict(params)
    if "learning_rate" in values:  # 3 significant digits: a readable run name, and no difference that matters
        values["learning_rate"] = float(f"{float(values['learning_rate']):.3g}")
    if "embedding_dim" in values:
        values["hidden_size"] = values["embedding_dim"]
    if seed is not None:
        values["random_seed"] = seed
    return dataclasses.replace(base, **values, exp=exp, runs_dir=str(runs_dir))


def read_run(folder: Path, metric_key: str) -> dict[str, Any]:
    """What a finished run folder says: best validation recall, final metrics, stop, iterations, the curve."""
    record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    curve = []
    metrics = folder / "metrics.jsonl"
    if metrics.is_file():
        for line in metrics.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if metric_key in row and "iter" in row:
                curve.append([int(row["iter"]), float(row[metric_key])])
    final = record.get("final") or {}
    cutoff = metric_key.split("@")[-1]
    return {"best_metric": record.get("best_metric"), "best_iter": record.get("best_iter"),
            "iterations": record.get("iterations"), "stop_reason": record.get("stop_reason"),
            "final_valid": (final.get("valid") or {}).get(f"recall@{cutoff}"),
            "final_test": (final.get("test") or {}).get(f"recall@{cutoff}"), "curve": curve}


class Objective:
    """Optuna's objective: trial -> a recdoc run -> its best validation recall."""

    def __init__(self, base: RunConfig, space: Any, study_name: str, runs_dir: Path) -> None:
        self.base = base
        self.space = space
        self.study_name = study_name
        self.runs_dir = runs_dir
        self.metric_key = early_stop_key(base)

    def __call__(self, trial: Any) -> float:
        import optuna

        from recdoc.trainer.loop import train

        params = self.space.suggest(trial)
        config = trial_config(self.base, params, f"{self.study_name}_t{trial.number}", self.runs_dir)
        folder = Path(config.runs_dir) / config.exp_name
        trial.set_user_attr(ATTR_RUN, str(folder))
        trial.set_user_attr(ATTR_PID, os.getpid())
        if ATTR_ROLE not in trial.user_attrs:
            trial.set_user_attr(ATTR_ROLE, "search")
        best = [0.0]

        def on_evaluation(iteration: int, metrics: dict[str, float]) -> bool:
            value = metrics.get(self.metric_key)
            if value is None:
                return False
            best[0] = max(best[0], float(value))
            trial.report(best[0], iteration)
            # The last evaluation of the budget: the run is finished anyway, so it counts as complete.
            return iteration < config.max_iterations and trial.should_prune()

        train(config, on_evaluation=on_evaluation)
        outcome = read_run(folder, self.metric_key)
        for key in ("best_iter", "iterations", "stop_reason", "final_valid", "final_test"):
            trial.set_user_attr(key, outcome[key])
        if outcome["stop_reason"] == "interrupted":  # Ctrl-C: the loop stopped cleanly; the trial is not done
            trial.set_user_attr("failed_because", "interrupted (Ctrl-C)")
            requeue(trial.study, trial)
            raise KeyboardInterrupt
        if outcome["stop_reason"] == "pruned":
            trial.set_user_attr("pruned_at", outcome["iterations"])
            raise optuna.TrialPruned(f"pruned at iteration {outcome['iterations']}")
        value = outcome["best_metric"]
        return float(value) if value is not None else 0.0


MAX_RETRIES = 3  # queued again at most this often (a trial that kills its process every time is given up)


def requeue(study: Any, trial: Any) -> None:
    """The same settings queued again (a killed or interrupted trial), at most MAX_RETRIES times per origin."""
    retries = int(trial.user_attrs.get("retries", 0))
    if retries >= MAX_RETRIES:
        return
    attrs = {k: v for k, v in trial.user_attrs.items() if k in (ATTR_ROLE,)}
    origin = trial.user_attrs.get(ATTR_RETRY_OF, trial.number)
    attrs.update({ATTR_RETRY_OF: origin, "retries": retries + 1})
    fixed = (getattr(trial, "system_attrs", None) or {}).get("fixed_params", {})
    study.enqueue_trial(dict(trial.params) or dict(fixed), user_attrs=attrs)
