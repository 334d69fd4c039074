"""`recdoc tune --jobs`: processes sharing one study stop pulling at the budget counting each other's running trials,
and a trial whose process has exited is queued again at once (real Optuna on an SQLite file; no training)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
# The tests play a second process with `study.ask()` on a heartbeat storage, which Optuna warns is unusual.
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used")

from recdoc.config import RunConfig  # noqa: E402
from recdoc.errors import UsageError  # noqa: E402
from recdoc.tune import jobs  # noqa: E402
from recdoc.tune import study as studies  # noqa: E402
from recdoc.tune.objective import ATTR_PID  # noqa: E402


def exited_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def new_study(tmp_path: Path) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    url = studies.sqlite_url(tmp_path)
    return optuna.create_study(study_name="s", storage=studies.make_storage(url), direction="maximize")


def test_process_alive_tells_running_exited_and_zombie_processes() -> None:
    import os

    assert studies.process_alive(os.getpid())
    assert not studies.process_alive(exited_pid())
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while Path(f"/proc/{zombie.pid}").exists() and "Z" not in Path(f"/proc/{zombie.pid}/stat").read_text().split(
            ")")[1].split()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not studies.process_alive(zombie.pid)  # exited, not yet reaped by its parent
    zombie.wait()


def test_a_trial_whose_process_exited_is_failed_and_queued_again_a_live_ones_is_not(tmp_path: Path) -> None:
    import os

    study = new_study(tmp_path)
    dead = study.ask({"learning_rate": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)})
    dead.set_user_attr(ATTR_PID, exited_pid())
    dead.set_user_attr("role", "fix")
    alive = study.ask()
    alive.set_user_attr(ATTR_PID, os.getpid())
    lines: list[str] = []
    assert studies.requeue_exited(study, lines.append) == [dead.number]
    states = {t.number: t.state.name for t in study.trials}
    assert states[dead.number] == "FAIL" and states[alive.number] == "RUNNING"
    retry = [t for t in study.trials if t.state.name == "WAITING"]
    assert len(retry) == 1 and retry[0].user_attrs["retry_of"] == dead.number and retry[0].user_attrs["role"] == "fix"
    assert "has exited" in lines[0]


def test_search_stops_at_the_budget_counting_another_process_trial_and_reruns_it_when_that_process_is_gone(
        tmp_path: Path) -> None:
    study = new_study(tmp_path)
    other = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})  # "another process" is running it
    other.set_user_attr(ATTR_PID, exited_pid())
    ran: list[int] = []

    def objective(trial: optuna.Trial) -> float:
        ran.append(trial.number)
        return trial.suggest_float("x", 0, 1)

    # Three finished trials wanted: this process runs two, sees the budget claimed by the third (running
    # elsewhere), waits, finds its process gone and runs its retry: three finished, none over.
    studies.run_search(study, objective, 3, lambda line: None, local=True)
    finished = studies.finished(study)
    assert len(finished) == 3 and len(ran) == 3
    assert [t.number for t in study.trials if t.state.name == "FAIL"] == [other.number]
    assert [t.user_attrs.get("retry_of") for t in finished].count(other.number) == 1
    assert studies.claimed(study) == 3


def test_jobs_below_one_are_refused(tmp_path: Path) -> None:
    from recdoc.tune.tuner import TuneRequest, tune

    with pytest.raises(UsageError, match="--jobs must be at least 1"):
        tune(TuneRequest(run=[], dataset="ml100k", model_type="DNN", jobs=0, out=str(tmp_path)))
    with pytest.raises(UsageError, match="--jobs must be at least 1"):
        jobs.spawn(tmp_path, "s", studies.sqlite_url(tmp_path), 0, lambda line: None, None)


def test_a_seed_repeat_run_again_gets_a_new_folder_and_the_killed_attempt_stays(tmp_path: Path) -> None:
    from recdoc.tune.tuner import _free_seed_config

    base = RunConfig.for_dataset("ml100k", model_type="DNN", runs_dir=str(tmp_path))
    spec = studies.Spec(name="t", base=base.to_dict(), start=None, space={"params": [], "fixed": {}}, trials=1,
                        seeds=1, sampler="tpe", tuner_seed=None, source={})
    first = _free_seed_config(spec, {}, "best", 20, tmp_path)
    assert first.exp_name.endswith("_t_best_s20")
    (tmp_path / first.exp_name).mkdir()
    again = _free_seed_config(spec, {}, "best", 20, tmp_path)
    assert again.exp_name.endswith("_t_best_s20_retry1") and again.random_seed == 20
