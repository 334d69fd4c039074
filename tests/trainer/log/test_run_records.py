"""The run folder's records: names, refusal to overwrite, the original's line formats, jsonl and run.json."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from recdoc.config import RunConfig
from recdoc.errors import UsageError
from recdoc.trainer.log.folder import open_run_folder
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
from recdoc.trainer.log.records import MetricsLog, RunRecord, data_fingerprint
from support.paths import LOG_SAMPLES

# The original's lines (reference section 7 and src/train.py's format strings).
ITER_RE = re.compile(r"^iter: \d+, train loss: -?\d+\.\d{4}"
                     r"(, valid recall: \d+\.\d{6}, valid ndcg: \d+\.\d{6}, valid hitrate: \d+\.\d{6})?$")
TIME_RE = re.compile(r"^time interval: \d+\.\d{4} min$")
FINAL_RE = re.compile(r"^(valid|test) recall: \d+\.\d{6}, \1 ndcg: \d+\.\d{6}, \1 hitrate: \d+\.\d{6}"
                      r"(, \1 diversity: \d+\.\d{6})?$")
SAMPLE_LOG = LOG_SAMPLES / "tf2-port_book_DNN_test12.log"

METRICS = {"recall@50": 0.0123454, "recall_master@50": 0.011, "ndcg_paper@50": 0.02, "ndcg_master@50": 0.01,
           "ndcg_standard@50": 0.005, "hitrate@50": 0.03, "diversity@50": 0.22, "recall@20": 0.001}


def config(tmp_path: Path, **overrides: object) -> RunConfig:
    return RunConfig.for_dataset("book", runs_dir=str(tmp_path / "runs"), **overrides)


def test_iter_line_matches_the_original_format_exactly() -> None:
    shown = log_metrics(METRICS, RunConfig())
    line = format_iter_line(1000, 8.12344, shown)
    assert line == "iter: 1000, train loss: 8.1234, valid recall: 0.012345, valid ndcg: 0.020000, " \
                   "valid hitrate: 0.030000"
    assert ITER_RE.match(line)
    assert format_iter_line(2000, 7.5, {}) == "iter: 2000, train loss: 7.5000"
    assert TIME_RE.match(format_time_line(0.336))


@pytest.mark.skipif(not SAMPLE_LOG.is_file(), reason="the shared reference log is not on this machine")
def test_our_regexes_accept_the_real_port_log() -> None:
    lines = SAMPLE_LOG.read_text().splitlines()
    assert sum(bool(ITER_RE.match(line)) for line in lines) == 5
    assert sum(bool(TIME_RE.match(line)) for line in lines) == 5


def test_final_lines_use_the_configured_ndcg_kind_and_diversity() -> None:
    master = log_metrics(METRICS, RunConfig(ndcg="master"), with_diversity=True)
    assert master == {"recall": 0.011, "ndcg": 0.01, "hitrate": 0.03, "diversity": 0.22}
    line = format_final_line("test", master)
    assert line == "test recall: 0.011000, test ndcg: 0.010000, test hitrate: 0.030000, test diversity: 0.220000"
    assert FINAL_RE.match(line)
    standard = log_metrics(METRICS, RunConfig(ndcg="standard"))
    assert standard == {"recall": 0.0123454, "ndcg": 0.005, "hitrate": 0.03}
    assert early_stop_key(RunConfig(ndcg="master", topN=20)) == "recall_master@20"


def test_dash_line_is_89_dashes() -> None:
    assert DASH_LINE == "-" * 89


def test_fresh_names_never_reuse_a_folder(tmp_path: Path) -> None:
    first, paths1 = open_run_folder(config(tmp_path))
    second, paths2 = open_run_folder(config(tmp_path))
    assert (first.exp, second.exp) == ("run1", "run2")
    assert paths1.root.name == "book_ComiRec-DR_b128_lr0.001_d64_len20_run1"
    assert paths1.root.is_dir() and paths2.root.is_dir()


def test_existing_folder_is_refused_unless_resuming(tmp_path: Path) -> None:
    open_run_folder(config(tmp_path, exp="x"))
    with pytest.raises(UsageError, match="already exists"):
        open_run_folder(config(tmp_path, exp="x"))
    _, paths = open_run_folder(config(tmp_path, exp="x"), resume=True)
    assert paths.exp_name.endswith("_x")
    with pytest.raises(UsageError, match="needs --exp"):
        open_run_folder(config(tmp_path), resume=True)
    with pytest.raises(UsageError, match="no run folder"):
        open_run_folder(config(tmp_path, exp="missing"), resume=True)


def test_train_log_appends_and_echoes(tmp_path: Path) -> None:
    stream = io.StringIO()
    console = Console(100, stream=stream, fancy=False)
    log = TrainLog(tmp_path / "train.log", console)
    log.line("training begin")
    log.line("iter: 1, train loss: 1.0000")
    log.close()
    assert (tmp_path / "train.log").read_text() == "training begin\niter: 1, train loss: 1.0000\n"
    assert stream.getvalue() == "training begin\niter: 1, train loss: 1.0000\n"


def test_metrics_jsonl_writes_nan_as_null_and_drops_redone_evaluations(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for iteration in (10, 20, 30):
        log.append({"iter": iteration, "train_loss": float("nan") if iteration == 30 else 1.0})
    with (tmp_path / "metrics.jsonl").open("a") as out:
        out.write('{"iter": 40, "trai')  # a line cut by a kill
    assert [r["iter"] for r in log.records()] == [10, 20, 30]
    assert log.records()[-1]["train_loss"] is None
    log.keep_until(20)
    assert [json.loads(line)["iter"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [10, 20]


def test_run_json_is_complete_and_rewritten_atomically(tmp_path: Path) -> None:
    data_file = tmp_path / "x_train.txt"
    data_file.write_text("0,1,0\n")
    record = RunRecord.start(tmp_path / "run.json", RunConfig(), "exp", [data_file], {"tensorflow": "9"})
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["config"]["topN"] == 50 and data["stop_reason"] == "running"
    assert data["versions"]["tensorflow"] == "9" and data["versions"]["recdoc"]
    assert data["data"]["fingerprint"].startswith("sha256:")
    record.update(stop_reason="early_stop", best_iter=3000)
    assert json.loads((tmp_path / "run.json").read_text())["best_iter"] == 3000
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_fingerprint_changes_with_the_data(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("0,1,0\n")
    before = data_fingerprint([path])
    path.write_text("0,2,0\n")
    assert data_fingerprint([path]) != before


def test_progress_bar_console_prints_the_same_lines(tmp_path: Path) -> None:
    stream = io.StringIO()
    with Console(10, stream=stream, fancy=True) as console:
        log = TrainLog(tmp_path / "train.log", console)
        console.progress(5, "valid recall 0.1")
        log.line("iter: 5, train loss: 1.0000")
        log.close()
    assert "iter: 5, train loss: 1.0000" in stream.getvalue()
    assert (tmp_path / "train.log").read_text() == "iter: 5, train loss: 1.0000\n"


# ---------------------------------------------------------------- run.json's configuration: one reader, one resume rule
def test_a_config_round_trips_through_run_json(tmp_path: Path) -> None:
    config = RunConfig.for_dataset("syn", exp="x", metrics_at=(10, 20), coef=0.1)
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert RunConfig.from_dict({**config.to_dict(), "not_a_setting": 1}) == config
    record = RunRecord.start(tmp_path / "run.json", config, config.exp_name, [], {})
    assert RunRecord.load(record.path).config() == config


def test_a_resume_changes_the_budget_and_the_strategy_only(tmp_path: Path) -> None:
    from recdoc.config import RESUME_MAY_CHANGE
    from recdoc.trainer.log.folder import resumed_config

    config, paths = open_run_folder(RunConfig.for_dataset("syn", exp="r", runs_dir=str(tmp_path / "runs")))
    RunRecord.start(paths.run_json, config, paths.exp_name, [], {})
    assert set(RESUME_MAY_CHANGE) == {"max_iter", "patience", "finetune_lr", "strategy"}
    resumed = resumed_config(paths.root, max_iter=7, strategy="mirrored")
    assert (resumed.max_iter, resumed.strategy, resumed.learning_rate) == (7, "mirrored", config.learning_rate)
    with pytest.raises(UsageError, match="learning_rate cannot change on resume"):
        resumed_config(paths.root, learning_rate=0.1)
    moved = paths.root.rename(tmp_path / "elsewhere")
    with pytest.raises(UsageError, match="rename the folder back"):
        resumed_config(moved)


def test_a_stated_relative_path_is_looked_for_from_the_working_folder_then_the_run_and_above(tmp_path: Path) -> None:
    from recdoc.trainer.log.folder import stated_path_candidates

    run_dir = tmp_path / "runs" / "x"
    assert stated_path_candidates(run_dir, tmp_path / "data") == [tmp_path / "data"]
    found = stated_path_candidates(run_dir, "data")
    assert found[:4] == [Path("data"), run_dir / "data", run_dir.resolve().parent / "data", tmp_path.resolve() / "data"]
