"""`recdoc tune` end to end on synthetic data: the doctor's fix is trial 0, the start trial 1; a kill -9 in the middle
of a trial and `--resume` finish the study without losing or repeating a trial; the report opens with a verdict
that states the seed noise."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def recdoc(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "recdoc", *args], cwd=kwargs.get("cwd", ROOT), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, timeout: float = 300) -> str:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-3000:]
    return out


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Tiny synthetic data and the run folder `recdoc train` would write for a run on it with the incident's learning
    rate and a short patience (run.json and metrics.jsonl, no checkpoint: the doctor reads the records)."""
    from recdoc.config import RunConfig
    from recdoc.trainer.data.synth import synthesize

    work = tmp_path_factory.mktemp("tune")
    synthesize("syn", items=400, users=500, interests=4, seed=3, data_dir=str(work / "data"))
    config = RunConfig.for_dataset("syn", model_type="ComiRec-DR", learning_rate=0.001, patience=1, test_iter=100,
                                   max_iter=1, batch_size=32, neg_num=5, embedding_dim=16, hidden_size=16, maxlen=10,
                                   exp="faulty", data_dir=str(work / "data"), runs_dir=str(work / "runs"),
                                   item_count=400)
    folder = work / "runs" / config.exp_name
    folder.mkdir(parents=True)
    recalls = [0.05, 0.08, 0.11, 0.105]
    rows = [{"iter": 100 * i, "train_loss": 6.0 - i / 10, "recall@50": r, "ndcg_paper@50": 1.5 * r,
             "hitrate@50": 2 * r} for i, r in enumerate(recalls, 1)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    final = {"recall@50": 0.11, "ndcg_paper@50": 0.165, "hitrate@50": 0.22}
    (folder / "run.json").write_text(json.dumps({
        "exp_name": config.exp_name, "config": config.to_dict(), "stop_reason": "early_stop", "best_iter": 300,
        "iterations": 400, "best_metric": 0.11, "final": {"valid": final, "test": final}}))
    return work, folder


def trials_of(folder: Path, name: str) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'study.db'}").trials


@pytest.mark.slow
def test_kill_minus_9_then_resume_loses_and_repeats_no_trial(faulty_run: tuple[Path, Path]) -> None:
    work, run = faulty_run
    out = work / "tunes"
    first = recdoc("tune", str(run), "--trials", "2", "--seeds", "2", "--out", str(out), "--study", "s")
    deadline = time.monotonic() + 240
    # Kill as soon as trial 1 (the start) is training: its curve has a first evaluation.
    while not list(out.glob("s/runs/*_s_t1/metrics.jsonl")):
        assert first.poll() is None, first.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "trial 1 never started"
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert [t.state.name for t in trials_of(out / "s", "s")] == ["COMPLETE", "RUNNING"]

    # A second process on the same folder while the first held it would be refused; after the kill it resumes.
    log = finish(recdoc("tune", "--resume", str(out / "s")))
    assert "left running by a killed process" in log

    trials = trials_of(out / "s", "s")
    states = [t.state.name for t in trials]
    assert states.count("FAIL") == 1 and trials[1].state.name == "FAIL"
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == 2  # the budget, no more and no less
    retry = [t for t in trials if t.user_attrs.get("retry_of") == 1]
    assert len(retry) == 1 and retry[0].params == trials[1].params and retry[0].user_attrs["role"] == "start"
    assert trials[0].user_attrs["role"] == "fix" and trials[0].params["learning_rate"] == 0.005
    folders = [t.user_attrs["run"] for t in trials]
    assert len(set(folders)) == len(folders) and all(Path(f, "run.json").is_file() for f in folders)
    assert all(Path(f).name.endswith(f"_s_t{t.number}") for f, t in zip(folders, trials))

    seeds = trials_of(out / "s", "s.seeds")
    assert sorted((t.user_attrs["arm"], t.user_attrs["seed"]) for t in seeds if t.state.name == "COMPLETE") == [
        ("best", 20), ("best", 21), ("start", 20), ("start", 21)]

    report = (out / "s" / "tune.md").read_text(encoding="utf-8")
    verdict = report.split("\n")[2]
    assert verdict.startswith("**Verdict.**") and "±" in verdict and "95% interval" in verdict
    assert "Seed noise measured: sd" in report
    data = json.loads((out / "s" / "tune.json").read_text(encoding="utf-8"))
    assert data["verdict"]["method"] == "Welch t" and len(data["seed_runs"]["best"]["test"]) == 2
    assert {p.name for p in (out / "s").glob("tune_*.png")} >= {"tune_history.png", "tune_seeds.png"}


@pytest.mark.slow
def test_jobs_die_with_their_parent_and_resume_with_jobs_finishes_the_study(faulty_run: tuple[Path, Path]) -> None:
    from recdoc.tune.study import process_alive

    work, run = faulty_run
    out = work / "tunes-jobs"
    first = recdoc("tune", str(run), "--trials", "3", "--seeds", "1", "--out", str(out), "--study", "j",
                   "--jobs", "2")
    deadline = time.monotonic() + 240
    # Kill the command while both processes train: trial 0 (the fix) in one, trial 1 (the start) in the other.
    while len(list(out.glob("j/runs/*_j_t[01]/metrics.jsonl"))) < 2:
        assert first.poll() is None, first.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "the two first trials never ran together"
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    running = [t for t in trials_of(out / "j", "j") if t.state.name == "RUNNING"]
    pids = {int(t.user_attrs["pid"]) for t in running}
    assert len(pids) == 2 and first.pid in pids, "both trials run, one in the worker"
    worker = (pids - {first.pid}).pop()
    while process_alive(worker):  # killed with its parent (the parent-death signal), at once
        assert time.monotonic() < deadline, f"worker {worker} outlived the killed command"
        time.sleep(0.1)

    log = finish(recdoc("tune", "--resume", str(out / "j"), "--jobs", "2"))
    assert "Trials 0, 1 were left running by a killed process" in log, log[-3000:]
    trials = trials_of(out / "j", "j")
    done = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert 3 <= len(done) <= 4  # the budget; two processes starting their last trial together may add one
    assert sorted(t.user_attrs.get("retry_of") for t in trials if "retry_of" in t.user_attrs) == [0, 1]
    assert {t.number for t in trials if t.state.name == "FAIL"} == {0, 1}
    folders = [t.user_attrs["run"] for t in trials]
    assert len(set(folders)) == len(folders)
    assert len({int(t.user_attrs["pid"]) for t in done}) == 2, "the resumed study ran in two processes"
    seeds = [t for t in trials_of(out / "j", "j.seeds") if t.state.name == "COMPLETE"]
    assert sorted((t.user_attrs["arm"], t.user_attrs["seed"]) for t in seeds) == [("best", 20), ("start", 20)]
    assert (out / "j" / "job2.log").read_text(encoding="utf-8").count("[job 2]") >= 1
    assert "trials run by 4 processes" in (out / "j" / "tune.md").read_text(encoding="utf-8")  # 2 killed, 2 resumed
