"""`recdoc analyze` on a folder of runs that differ in one setting: each setting's effect against the seed noise,
and a warning when the runs were too short to compare (reports/sweep.py through reports/multi.py)."""

from __future__ import annotations

import json
from pathlib import Path

from recdoc.config import RunConfig
from recdoc.diagnose.engine import analyze_all
from recdoc.reports.multi import write_multi_reports
from recdoc.reports.sweep import sweep_facts


def run_folder(runs: Path, lr: float, seed: int, recalls: list[float], final: float, stop: str) -> Path:
    config = RunConfig.for_dataset("syn", model_type="ComiRec-DR", learning_rate=lr, random_seed=seed,
                                   test_iter=100, max_iter=2, patience=3, runs_dir=str(runs), exp=f"s{seed}",
                                   item_count=5000)
    folder = runs / config.exp_name
    folder.mkdir(parents=True)
    rows = [{"iter": 100 * i, "train_loss": 7.0 - i / 10, "recall@50": r, "ndcg_paper@50": 1.5 * r,
             "hitrate@50": 2 * r} for i, r in enumerate(recalls, start=1)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    best = max(range(len(recalls)), key=recalls.__getitem__) + 1
    metrics = {"recall@50": final, "ndcg_paper@50": 1.5 * final, "hitrate@50": 2 * final}
    (folder / "run.json").write_text(json.dumps({
        "exp_name": config.exp_name, "config": config.to_dict(), "stop_reason": stop, "best_iter": best * 100,
        "iterations": 100 * len(recalls), "best_metric": max(recalls),
        "final": {"valid": metrics, "test": metrics}}))
    return folder


def plateau(level: float) -> list[float]:
    return [level * f for f in (0.5, 0.8, 0.95, 1.0, 0.99, 0.995, 0.99, 0.98)]


def test_a_learning_rate_sweep_with_repeats_sets_the_effect_against_the_noise(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for lr, finals in ((0.001, (0.100, 0.110)), (0.005, (0.200, 0.210)), (0.02, (0.150,))):
        for seed, final in zip((19, 20), finals):
            run_folder(runs, lr, seed, plateau(final), final, "early_stop")
    diagnoses = analyze_all([str(runs)])
    facts = sweep_facts(diagnoses)
    assert facts is not None and facts["varied"] == ["learning_rate"]
    assert facts["seed_sd"] is not None and facts["seed_sd"] < 0.01
    effect = facts["effects"][0]
    assert effect["best"] == 0.005 and effect["worst"] == 0.001
    assert effect["effect"] > 0.09 and effect["beyond_noise"] is True
    written = write_multi_reports(diagnoses, [str(runs)], out_dir=tmp_path / "out", plots=False)
    report = written[0].read_text(encoding="utf-8")
    assert "## Sweep: learning_rate" in report and "seed sd" in report
    assert json.loads(written[1].read_text(encoding="utf-8"))["sweep"]["varied"] == ["learning_rate"]


def test_runs_cut_by_the_cap_while_rising_are_flagged_and_unknown_noise_is_said(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    rising = [0.02 * i for i in range(1, 21)]
    run_folder(runs, 0.001, 19, rising, 0.38, "max_iter")
    run_folder(runs, 0.005, 19, [r * 1.2 for r in rising], 0.45, "max_iter")
    facts = sweep_facts(analyze_all([str(runs)]))
    assert facts is not None
    assert any("still rising" in w and "undertrained probe" in w for w in facts["warnings"])
    assert any("Seed noise unknown" in w for w in facts["warnings"])
    assert facts["effects"][0]["beyond_noise"] is None


def test_runs_differing_in_more_than_two_settings_are_not_a_sweep(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    a = run_folder(runs, 0.001, 19, plateau(0.1), 0.1, "early_stop")
    b = run_folder(runs, 0.005, 20, plateau(0.2), 0.2, "early_stop")
    data = json.loads((b / "run.json").read_text())
    data["config"].update(patience=9, neg_num=3)
    (b / "run.json").write_text(json.dumps(data))
    assert a.exists() and sweep_facts(analyze_all([str(runs)])) is None
