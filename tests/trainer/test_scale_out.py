"""Scale-out training: --eval_users on a real run; --strategy multi_worker (two localhost workers) against one
process, and its resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.builders import synthetic_config as shared_synthetic_config
from support.paths import REPO

CAP = 100  # iterations per run (instead of max_iter x 1000): four evaluations at test_iter 25


def synthetic_config(data_dir: Path, runs_dir: Path, **overrides: object):
    return shared_synthetic_config(data_dir, runs_dir, **{"test_iter": 100, "patience": 2, **overrides})


@pytest.mark.slow
def test_eval_users_subsets_periodic_evaluations_only_and_is_recorded(synthetic_data: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from recdoc.config import RunConfig
    from recdoc.diagnose.readers import recdoc_folder
    from recdoc.trainer import loop
    from recdoc.trainer.loop import train

    seen: list[tuple[int, ...]] = []
    original = loop.evaluate  # the name the loop calls (imported there from recdoc.trainer.evaluate)

    def recording(model, split, config, *args, **kwargs):
        seen.append(tuple(int(u) for u in split.users))
        return original(model, split, config, *args, **kwargs)

    monkeypatch.setattr(loop, "evaluate", recording)
    monkeypatch.setattr(RunConfig, "max_iterations", property(lambda self: CAP))  # a hundred steps suffice
    run = train(synthetic_config(synthetic_data, tmp_path, eval_users=60, patience=50, test_iter=25))
    record = json.loads((run / "run.json").read_text())
    valid_users = record["deviations"][0]["of"]
    assert record["config"]["eval_users"] == 60 and record["deviations"][0]["flag"] == "eval_users"
    periodic, final_valid, final_test = seen[:-2], seen[-2], seen[-1]
    assert len(periodic) == CAP // 25 and all(users == periodic[0] for users in periodic)  # the same fixed subset
    assert len(periodic[0]) == 60 and len(final_valid) == valid_users > 60
    assert set(periodic[0]) < set(final_valid) and not set(final_test) & set(final_valid)
    assert "search" in record["versions"]["eval_search"]

    doctor_view = recdoc_folder.read(run)
    assert doctor_view.extra_metrics["deviations"][0]["value"] == 60
    assert any("subset of 60" in event.text for event in doctor_view.events_of("info"))


# ---------------------------------------------------------------- two workers on localhost
WORKER = Path(__file__).with_name("multi_worker_run.py")


def launch(config, resume: bool, workers: int, **env: str):
    """Start `workers` processes of one run (TF_CONFIG on localhost ports), or one plain process."""
    import os
    import subprocess
    import sys

    argv = [sys.executable, str(WORKER), json.dumps(config.to_dict()), "resume" if resume else "new", str(CAP)]
    base = dict(os.environ, CUDA_VISIBLE_DEVICES="-1", PYTHONPATH=str(REPO), **env)
    if workers == 1:
        return [subprocess.Popen(argv, env=base, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]
    from recdoc.trainer.distribute import localhost_tf_configs

    return [subprocess.Popen(argv, env=dict(base, TF_CONFIG=tf_config), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for tf_config in localhost_tf_configs(workers)]


def finish(processes, timeout: float = 900) -> None:
    for process in processes:
        output, _ = process.communicate(timeout=timeout)
        assert process.returncode == 0, output[-3000:]


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_workers_train_the_one_process_curve_and_resume_after_a_kill(synthetic_data: Path,
                                                                         tmp_path: Path) -> None:
    import signal
    import time

    one = synthetic_config(synthetic_data, tmp_path, exp="one", test_iter=25, patience=50)
    two = synthetic_config(synthetic_data, tmp_path, exp="two", test_iter=25, patience=50,
                           strategy="multi_worker")
    mirrored = synthetic_config(synthetic_data, tmp_path, exp="mirrored", test_iter=25, patience=50,
                                strategy="mirrored")
    single = launch(one, resume=False, workers=1)
    pair = launch(two, resume=False, workers=2)
    in_process = launch(mirrored, resume=False, workers=1, RECDOC_CPU_REPLICAS="2")  # two replicas, one process
    run = tmp_path / two.exp_name
    loop_state = run / "ckpt" / "last" / "loop_state.json"
    deadline = time.monotonic() + 900  # generous: a loaded shared machine
    while not loop_state.exists() and time.monotonic() < deadline and all(p.poll() is None for p in pair):
        time.sleep(0.05)
    for process in pair:  # a kill, not Ctrl-C: both workers die wherever they are
        process.send_signal(signal.SIGKILL)
        process.communicate()
    killed_at = json.loads(loop_state.read_text())["loop"]["iteration"]
    assert killed_at < CAP and json.loads((run / "run.json").read_text())["stop_reason"] == "running"
    finish(single)
    finish(in_process)

    finish(launch(two, resume=True, workers=2))
    reference, distributed = records(tmp_path / one.exp_name), records(run)
    assert [r["iter"] for r in distributed] == [r["iter"] for r in reference] == [25, 50, 75, 100]
    # The same global batches, negatives and Adam arithmetic: equal up to float summation order.
    assert distributed[0]["train_loss"] == pytest.approx(reference[0]["train_loss"], rel=1e-6)
    assert distributed[0]["recall@50"] == pytest.approx(reference[0]["recall@50"], abs=1e-3)
    for ours, theirs in zip(distributed, reference):
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-3)
        assert ours["recall@50"] == pytest.approx(theirs["recall@50"], abs=0.01)
    # Two replicas in one process (MirroredStrategy) run the same replica step as two workers.
    local = json.loads((tmp_path / mirrored.exp_name / "run.json").read_text())
    assert local["distribute"]["replicas"] == 2 and local["distribute"]["workers"] == 1
    for ours, theirs in zip(records(tmp_path / mirrored.exp_name), reference):
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-3)
    assert records(tmp_path / mirrored.exp_name)[0]["train_loss"] == pytest.approx(reference[0]["train_loss"],
                                                                                   rel=1e-6)
    record = json.loads((run / "run.json").read_text())
    final_one = json.loads((tmp_path / one.exp_name / "run.json").read_text())["final"]
    for split in ("valid", "test"):
        for key in ("recall@50", "ndcg_paper@50", "hitrate@50"):
            assert record["final"][split][key] == pytest.approx(final_one[split][key], abs=0.01)
    assert record["distribute"]["workers"] == 2 and record["resumed"][0]["iter"] == killed_at
    assert record["stop_reason"] == "max_iter"
    # The chief alone wrote the folder: one TensorBoard file per start, each evaluation up to the kill logged once.
    iters = [int(line.split(",")[0][len("iter: "):]) for line in (run / "train.log").read_text().splitlines()
             if line.startswith("iter: ")]
    assert set(iters) == {25, 50, 75, 100} and all(iters.count(i) == 1 for i in range(25, killed_at + 1, 25))
    assert len(list(run.glob("events.out.tfevents*"))) == 2
