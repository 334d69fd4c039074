"""recdoc's own run folder: run.json (config, stop reason, finals) and metrics.jsonl (curve, every cut-off)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from recdoc.config import RunConfig
from recdoc.diagnose.readers import recdoc_folder
from recdoc.errors import InputError
from support.run_folders import EXP, make_run_folder


def test_run_folder_config_stop_finals_curve(tmp_path: Path) -> None:
    folder = make_run_folder(tmp_path / EXP)
    run = recdoc_folder.read(folder)
    assert run.format == "recdoc"
    assert run.declared["learning_rate"].value == 0.001 and run.declared["batch_size"].value == 128
    assert run.declared["ndcg"].value == "paper"
    assert run.declared["model_type"].ref.path.endswith("run.json")
    assert "extra" not in run.declared and "metrics_at" not in run.declared  # containers are not settings
    assert run.exp_name is not None and run.exp_name.value == EXP
    assert run.stop_reason == "early_stop"
    assert run.extra_metrics["best_iter"] == 2000
    test = run.finals["test"]
    assert (test.recall, test.ndcg, test.hitrate, test.diversity, test.cutoff) == (0.071, 0.12, 0.152, 0.21, 50)
    assert run.extra_metrics["final_test"]["ndcg_master@50"] == 0.051
    assert run.curve["iter"].tolist() == [1000, 2000]
    assert run.curve["recall"].tolist() == [0.02, 0.04]
    assert run.curve["ndcg"].tolist() == pytest.approx([0.03, 0.06])  # the paper kind, as configured
    assert run.curve["hitrate"].tolist() == [0.04, 0.08]
    assert run.curve["line"].tolist() == [1, 2]
    evaluations = run.extra_metrics["evaluations"]
    assert evaluations["recall@20"].tolist() == [0.01, 0.02]
    assert "improved" not in evaluations.columns  # booleans are not metrics


def test_master_run_takes_master_recall_and_ndcg(tmp_path: Path) -> None:
    run = recdoc_folder.read(make_run_folder(tmp_path / "m", ndcg="master"))
    assert run.curve["recall"].tolist() == pytest.approx([0.018, 0.036])
    assert run.curve["ndcg"].tolist() == pytest.approx([0.014, 0.028])
    assert (run.finals["valid"].recall, run.finals["valid"].ndcg) == (0.069, 0.05)


def test_running_and_unknown_stop_reasons(tmp_path: Path) -> None:
    assert recdoc_folder.read(make_run_folder(tmp_path / "a", stop_reason="running")).stop_reason == "unfinished"
    run = recdoc_folder.read(make_run_folder(tmp_path / "b", stop_reason="sleepy"))
    assert run.stop_reason == "unknown" and "unknown stop_reason 'sleepy'" in run.unreadable[0]


def test_cut_and_garbage_jsonl_lines_are_named(tmp_path: Path) -> None:
    folder = make_run_folder(tmp_path / "c")
    with (folder / "metrics.jsonl").open("a") as out:
        out.write('{"iter": 3000, "train_loss": 6.5, "recall@50": 0.05}\n[1, 2]\n{"iter": Infinity}\n'
                  '{"iter": 4000, "train_lo')
    run = recdoc_folder.read(folder)
    assert run.curve["iter"].tolist() == [1000, 2000, 3000]
    assert math.isnan(run.curve["hitrate"].iloc[-1])
    assert any(note.endswith("3 line(s) not an evaluation record (lines 4, 5, 6)") and "metrics.jsonl:4" in note
               for note in run.unreadable)


def test_missing_keys_and_flat_final(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"final": {"test_recall@20": 0.05, "test_hitrate@20": 0.1}}))
    run = recdoc_folder.read(folder)
    # No config: topN is unknown, so the only cut-off present is taken, and the final's cut-off stays the default.
    assert run.finals["test"].recall == 0.05 and run.finals["test"].hitrate == 0.1
    assert run.stop_reason == "unknown" and run.declared == {}


def test_corrupt_run_json_is_a_note_and_missing_files_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "e"
    folder.mkdir()
    (folder / "run.json").write_bytes(b"\xff\xfe{not json")
    run = recdoc_folder.read(folder)
    assert "not valid JSON" in run.unreadable[0]
    empty = tmp_path / "f"
    empty.mkdir()
    with pytest.raises(InputError):
        recdoc_folder.read(empty)


def test_sniff() -> None:
    assert recdoc_folder.sniff('{"exp_name": "x", "config": {}, "stop_reason": "running"}') > 0.9
    assert recdoc_folder.sniff('{"iter": 1000, "train_loss": 7.0, "recall@50": 0.1}') > 0.5
    assert recdoc_folder.sniff("iter: 1000, train loss: 7.0") == 0.0


def test_reads_what_the_trainer_writes(tmp_path: Path) -> None:
    # The contract with recdoc/trainer/log/, through its own writers (no TensorFlow needed for these).
    from recdoc.trainer.log.lines import TrainLog, format_final_line, format_iter_line, format_time_line, log_metrics
    from recdoc.trainer.log.records import MetricsLog, RunRecord

    config = RunConfig.for_dataset("book", ndcg="master", exp="contract", topN=20)
    root = tmp_path / config.exp_name
    root.mkdir()
    data_file = tmp_path / "book_train.txt"
    data_file.write_text("0,1,0\n")
    record = RunRecord.start(root / "run.json", config, config.exp_name, [data_file], {"tensorflow": "x"})
    metrics = MetricsLog(root / "metrics.jsonl")
    log = TrainLog(root / "train.log")
    values = {"recall@20": 0.05, "recall_master@20": 0.045, "ndcg_paper@20": 0.09, "ndcg_master@20": 0.03,
              "ndcg_standard@20": 0.035, "hitrate@20": 0.1, "diversity@20": 0.3}
    for iteration, loss in ((1000, 8.0), (2000, float("nan"))):
        metrics.append({"iter": iteration, "train_loss": loss, **values, "time_min": iteration / 2000,
                        "improved": iteration == 1000, "trials": 0})
        log.line(config.exp_name)
        log.line(format_iter_line(iteration, loss, log_metrics(values, config)))
    log.line(format_time_line(1.0))
    log.line(f"model restored from {root / 'ckpt' / 'best' / 'ckpt-1'}")
    log.line(format_final_line("test", log_metrics(values, config, True)))
    log.close()
    record.update(stop_reason="max_iter", best_iter=1000, final={"test": values})

    from recdoc.diagnose.readers.detect import read_paths

    run = read_paths([str(root)])
    assert run.format == "recdoc+original"
    assert run.stop_reason == "max_iter" and run.extra_metrics["best_iter"] == 1000
    assert run.declared["topN"].value == 20 and run.declared["ndcg"].value == "master"
    assert run.curve["recall"].tolist() == [0.045, 0.045]  # master recall, as train.log shows it
    assert run.curve["ndcg"].tolist() == [0.03, 0.03]
    assert run.curve["train_loss"].iloc[0] == 8.0 and math.isnan(run.curve["train_loss"].iloc[1])
    test = run.finals["test"]
    assert (test.recall, test.ndcg, test.hitrate, test.diversity, test.cutoff) == (0.045, 0.03, 0.1, 0.3, 20)
    assert run.exp_name is not None and run.exp_name.value == config.exp_name
    assert [e.values["iter"] for e in run.events_of("nan")] == [2000]  # from train.log: JSON has no NaN
