"""MLflow file-store runs: `mlruns/<experiment>/<run id>/` with metrics/, params/, tags/ and meta.yaml.

The stores below are written by these tests in MLflow's file-store layout (`<timestamp> <value> <step>` lines per
metric file, one value per param file, a meta.yaml of `key: value` lines); the numbers are made up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from recdoc.diagnose.engine import analyze_all
from recdoc.diagnose.readers.detect import read_runs

RUN_A = "4f2c9a0b8e7d4c1fa3b2c1d0e9f8a7b6"
RUN_B = "9a8b7c6d5e4f40312a1b2c3d4e5f6a7b"


def make_run(root: Path, run_id: str, name: str, params: dict[str, str], metrics: dict[str, list[tuple]],
             status: int = 3) -> Path:
    folder = root / "1" / run_id
    (folder / "artifacts").mkdir(parents=True)
    (root / "1" / "meta.yaml").write_text("artifact_location: file:///m/mlruns/1\nexperiment_id: '1'\n"
                                          "lifecycle_stage: active\nname: comirec-book\n")
    (folder / "meta.yaml").write_text(
        f"artifact_uri: file:///m/mlruns/1/{run_id}/artifacts\nend_time: 1700003600000\nexperiment_id: '1'\n"
        f"lifecycle_stage: active\nrun_id: {run_id}\nrun_name: {name}\nrun_uuid: {run_id}\nsource_type: 4\n"
        f"start_time: 1700000000000\nstatus: {status}\ntags: []\nuser_id: u\n")
    for key, value in params.items():
        (folder / "params" / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / "params" / key).write_text(value)
    (folder / "tags").mkdir()
    (folder / "tags" / "mlflow.runName").write_text(name)
    for key, points in metrics.items():
        (folder / "metrics" / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / "metrics" / key).write_text("".join(f"{1700000000000 + step} {value} {step}\n"
                                                      for step, value in points))
    return folder


PARAMS = {"model": "ComiRec-SA", "dataset": "book", "lr": "0.001", "topN": "50", "interest_num": "4",
          "batch_size": "128"}
METRICS = {"train_loss": [(500, 8.4), (1000, 8.1), (1500, 7.6), (2000, 7.2), (3000, 6.6)],
           "valid/recall@50": [(1000, 0.041), (2000, 0.055), (3000, 0.061)],
           "valid/hitrate@50": [(1000, 0.101), (2000, 0.121), (3000, 0.135)],
           "test_recall_50": [(3000, 0.0642)], "test_hitrate_50": [(3000, 0.1402)], "test_mrr": [(3000, 0.2)]}


def test_a_run_folder(tmp_path: Path) -> None:
    folder = make_run(tmp_path / "mlruns", RUN_A, "sa-book", PARAMS, METRICS)
    run, = read_runs([str(folder)])
    assert run.format == "mlflow" and run.exp_name.value == "sa-book (4f2c9a0b)"
    assert {k: f.value for k, f in run.declared.items()} == {
        "batch_size": 128, "dataset": "book", "num_interest": 4, "learning_rate": 0.001, "model_type": "ComiRec-SA",
        "topN": 50}
    assert run.declared["learning_rate"].ref.path == str(folder / "params" / "lr")
    assert run.curve["iter"].tolist() == [1000, 2000, 3000]
    assert run.curve["recall"].tolist() == [0.041, 0.055, 0.061]
    assert run.curve["hitrate"].tolist() == [0.101, 0.121, 0.135]
    assert run.curve["train_loss"].tolist() == [8.1, 7.2, 6.6]
    assert run.curve["file"].iloc[0] == str(folder / "metrics" / "valid" / "recall@50")
    test = run.finals["test"]
    assert (test.recall, test.hitrate, test.ndcg, test.cutoff) == (0.0642, 0.1402, None, 50)
    # test_mrr: a metric the grammar names but no rule judges: read and kept, so not counted as unread
    assert run.coverage.unread_metric_count == 0 and run.extra_metrics["other_metrics"] == {"test": {"mrr": 0.2}}
    assert run.extra_metrics["mlflow_status"] == "FINISHED" and run.stop_reason == "unknown"


def test_an_mlruns_folder_holds_one_run_per_run_id(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    make_run(root, RUN_A, "sa-seed1", PARAMS, METRICS)
    make_run(root, RUN_B, "sa-seed2", {**PARAMS, "seed": "2"},
             {**METRICS, "test_recall_50": [(3000, 0.0655)]}, status=5)
    runs = read_runs([str(root)])
    assert sorted(r.exp_name.value for r in runs) == ["sa-seed1 (4f2c9a0b)", "sa-seed2 (9a8b7c6d)"]
    killed = next(r for r in runs if r.exp_name.value.startswith("sa-seed2"))
    assert killed.stop_reason == "interrupted" and killed.finals["test"].recall == 0.0655
    # Neither the metric files nor meta.yaml are read as logs of their own.
    assert all(r.format == "mlflow" for r in runs)
    diagnoses = analyze_all([str(root)])
    assert all(d.verdict != "unusable" for d in diagnoses)


def test_recdoc_analyze_diagnoses_mlruns(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    make_run(root, RUN_A, "sa-book", PARAMS, METRICS)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "recdoc", "analyze", str(root), "--out", str(out), "--format",
                           "json", "--no-plots"], capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr + done.stdout
    report = json.loads((out / "diagnosis.json").read_text())
    assert report["verdict"] != "unusable"


def test_a_curve_without_recall_is_still_diagnosed(tmp_path: Path) -> None:
    metrics = {"valid_hitrate_50": [(1000, 0.10), (2000, 0.12)], "valid_ndcg_50": [(1000, 0.04), (2000, 0.05)]}
    folder = make_run(tmp_path / "mlruns", RUN_A, "hr-only", PARAMS, metrics)
    run, = read_runs([str(folder)])
    assert run.curve["hitrate"].tolist() == [0.10, 0.12] and run.curve["recall"].isna().all()
    final = run.finals["valid"]
    assert (final.hitrate, final.ndcg, final.recall, final.cutoff) == (0.12, 0.05, None, 50)
    assert run.extra_metrics["evaluation_unseen"] is True
    diagnosis, = analyze_all([str(folder)])
    assert diagnosis.verdict != "unusable" and "eval-broken" not in [f.id for f in diagnosis.findings]
