"""Logs in shapes no reader was written for: records in any shape, settings from headers, several runs per file.

The lines below are written for these tests in the shapes real forks print (a REMI-derived PyTorch port, a fork
that prints `DataSet: book14 (20)`, dict and JSON-line metrics, a notebook); none is copied from a third-party log.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recdoc.diagnose.engine import analyze_all
from recdoc.diagnose.readers.detect import read_runs
from recdoc.diagnose.readers.headers import parse_exp_name_tokens, parse_header, parse_namespace, parse_shell_argv
from recdoc.diagnose.readers.records import parse_record


def write(folder: Path, lines: list[str], name: str = "train.log") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ids(diagnosis) -> list[str]:
    return [f.id for f in diagnosis.findings]


# ------------------------------------------------------------------ records and headers, line by line
def test_records_in_many_shapes() -> None:
    assert parse_record("iters: 2000").step == 2000
    record = parse_record("valid metrics: {'recall': 0.07, 'ndcg': 0.05, 'hitrate': 0.14}")
    assert record.split == "valid" and record.metrics == {(None, "recall", None): 0.07, (None, "ndcg", None): 0.05,
                                                          (None, "hitrate", None): 0.14}
    record = parse_record("epoch=3 loss=6.2 val_recall@50=0.07 HR@50=0.2")
    assert (record.step, record.step_kind, record.loss) == (3, "epoch", 6.2)
    assert record.metrics == {("valid", "recall", 50): 0.07, (None, "hitrate", 50): 0.2}
    record = parse_record('{"step": 1000, "valid/recall@50": 0.07, "train_loss": 3.25}')
    assert (record.step, record.loss, record.metrics) == (1000, 3.25, {("valid", "recall", 50): 0.07})
    assert parse_record("Test recall@20: 0.141257, Test ndcg@20: 0.082649").metrics == {
        ("test", "recall", 20): 0.141257, ("test", "ndcg", 20): 0.082649}
    # Noise carries no record: a TF warning, a progress bar with only a loss, a training recall of another split.
    assert parse_record("WARNING:tensorflow:From src/train.py:347: The name tf.set_random_seed is deprecated") is None
    assert parse_record("100%|#####| 500/500 [00:10<00:00, loss=7.1]") is None
    assert parse_record("train_recall: 0.5") is None


def test_settings_from_headers_argv_and_names() -> None:
    assert parse_header("DataSet: book14 (20)") == {"dataset": "book14", "topN": "20"}
    assert parse_header("model_type = ComiRec-SA") == {"model_type": "ComiRec-SA"}
    assert parse_header("model: <object at 0x7f>") is None
    assert parse_shell_argv("$ python3 -u ./src/train.py --model_type MIND --dataset taobao 2>&1 | tee log") == [
        "./src/train.py", "--model_type", "MIND", "--dataset", "taobao"]
    assert parse_namespace("Namespace(dataset='book', learning_rate=0.005, topN=20, coef=None)") == [
        "Namespace", "--dataset", "book", "--learning_rate", "0.005", "--topN", "20"]
    assert parse_exp_name_tokens("rocket_ComiRec-SA_dropout0.2_wdc0_d64_in4_top20_e1") == {
        "dataset": "rocket", "model_type": "ComiRec-SA", "embedding_dim": 64, "num_interest": 4, "topN": 20}
    assert parse_exp_name_tokens("default_12") is None


# ------------------------------------------------------------------ whole logs
REMI_NAME = "retail_ComiRec-SA_dropout0.2_d64_in4_top20_e1"


def remi_log(evaluations: int = 6) -> list[str]:
    lines: list[str] = []
    for n in range(1, evaluations + 1):
        recall20, recall50 = 0.02 * n / (1 + 0.1 * n), 0.03 * n / (1 + 0.1 * n)
        lines += [REMI_NAME, f"iter: {n * 200}, train loss: {7.0 - 0.3 * n:.4f} ",
                  f"valid recall@20: {recall20:.6f}, valid ndcg@20: {recall20 / 2:.6f}, valid hitrate@20: {2 * recall20:.6f}",
                  f"valid recall@50: {recall50:.6f}, valid ndcg@50: {recall50 / 2:.6f}, valid hitrate@50: {2 * recall50:.6f}",
                  f"time interval: {0.13 * n:.4f} min"]
    lines += ["early stopping!", "model loaded from best_model/x/", "Valid results:",
              "Valid recall@20: 0.100000, Valid ndcg@20: 0.050000, Valid hitrate@20: 0.200000",
              "Valid recall@50: 0.150000, Valid ndcg@50: 0.070000, Valid hitrate@50: 0.300000", "Test results:",
              "Test recall@20: 0.090000, Test ndcg@20: 0.045000, Test hitrate@20: 0.190000",
              "Test recall@50: 0.140000, Test ndcg@50: 0.065000, Test hitrate@50: 0.290000"]
    return lines


def test_metrics_on_the_lines_after_the_step_are_that_evaluation(tmp_path: Path) -> None:
    (run,) = read_runs([str(write(tmp_path, remi_log()))])
    assert run.curve["iter"].tolist() == [200, 400, 600, 800, 1000, 1200]
    assert run.curve["recall"].notna().all() and run.extra_metrics["curve_cutoff"] == 20  # the name's top20
    assert not run.events_of("eval_missing") and run.stop_reason == "early_stop"
    assert (run.finals["test"].recall, run.finals["test"].cutoff) == (0.09, 20)
    assert run.extra_metrics["final_test"]["recall@50"] == 0.14
    (diagnosis,) = analyze_all([str(tmp_path / "train.log")])
    assert "eval-broken" not in ids(diagnosis)
    assert diagnosis.config["topN"].value == 20 and diagnosis.config["num_interest"].value == 4
    # Data the paper never used: nothing is comparable, nothing is labelled a dataset mismatch.
    assert not any(c.comparable for c in diagnosis.comparisons) and "dataset-mismatch" not in ids(diagnosis)


def test_step_prints_between_evaluations_are_not_failed_evaluations(tmp_path: Path) -> None:
    lines = ["DataSet: book (50)"]
    for n in range(1, 7):
        lines += [f"step {n * 1000 - 500} loss={7 - 0.1 * n:.3f}", f"iters: {n * 1000}",
                  f"valid metrics: {{'recall': {0.01 * n:.4f}, 'ndcg': {0.004 * n:.4f}, 'hitrate': {0.02 * n:.4f}}}"]
    (run,) = read_runs([str(write(tmp_path, lines))])
    assert run.curve["iter"].tolist() == [1000, 2000, 3000, 4000, 5000, 6000]
    assert run.curve["recall"].tolist() == [0.01, 0.02, 0.03, 0.04, 0.05, 0.06]
    assert run.declared["dataset"].value == "book" and run.extra_metrics["training_prints_skipped"] == 6
    (diagnosis,) = analyze_all([str(tmp_path / "train.log")])
    assert "eval-broken" not in ids(diagnosis)


def test_json_lines_and_a_notebook(tmp_path: Path) -> None:
    records = [json.dumps({"step": n * 500, "loss": 7 - 0.2 * n, "valid": {"recall@50": 0.01 * n,
                                                                         "hitrate@50": 0.03 * n}})
               for n in range(1, 6)]
    (run,) = read_runs([str(write(tmp_path / "jsonl", records, "metrics.log"))])
    assert run.curve["recall"].tolist() == [0.01, 0.02, 0.03, 0.04, 0.05]
    assert run.curve["train_loss"].round(3).tolist() == [6.8, 6.6, 6.4, 6.2, 6.0]
    notebook = {"cells": [
        {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stdout",
                                           "text": ["['train.py', '--dataset', 'book', '--model_type', 'DNN']\n"]}]},
        {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stdout", "text": [
            "iter: 1000, train loss: 7.0, valid recall: 0.020000, valid ndcg: 0.010000, valid hitrate: 0.050000\n",
            "iter: 2000, train loss: 6.5, valid recall: 0.030000, valid ndcg: 0.015000, valid hitrate: 0.070000\n"]}]},
    ], "metadata": {}, "nbformat": 4}
    path = tmp_path / "nb" / "train.ipynb"
    path.parent.mkdir()
    path.write_text(json.dumps(notebook), encoding="utf-8")
    (run,) = read_runs([str(path.parent)])
    assert run.curve["recall"].tolist() == [0.02, 0.03] and run.argv.value[2] == "book"
    assert run.curve["line"].tolist() == [2, 3]  # numbered over the notebook's printed lines, in cell order


# ------------------------------------------------------------------ several runs
def test_repeated_final_lines_are_repeats_with_a_spread(tmp_path: Path) -> None:
    lines = [f"test recall: {r:.6f}, test ndcg: 0.2, test hitrate: {h:.6f}, test diversity: 0.6"
             for r, h in ((0.0702, 0.474), (0.0702, 0.475), (0.0692, 0.472), (0.0689, 0.4716))]
    log = write(tmp_path, lines)
    assert len(read_runs([str(log)])) == 4
    (diagnosis,) = analyze_all([str(log)], {"dataset": "taobao", "model_type": "MIND"})
    repeats = diagnosis.metrics["repeats"]
    assert repeats["count"] == 4 and repeats["splits"]["test"]["recall"]["min"] == 0.0689
    assert abs(diagnosis.run.finals["test"].recall - (0.0702 + 0.0702 + 0.0692 + 0.0689) / 4) < 1e-12
    hit = next(c for c in diagnosis.comparisons if c.metric == "hitrate")
    recall = next(c for c in diagnosis.comparisons if c.metric == "recall")
    assert hit.comparable and not recall.comparable  # Taobao: master recall counts distinct targets


def original_lines(exp: str, dataset: str, recalls: list[float], hitrate_scale: float) -> list[str]:
    lines = [f"['src/train.py', '--dataset', '{dataset}', '--model_type', 'ComiRec-SA']", "training begin"]
    for n, recall in enumerate(recalls, 1):
        lines += [exp, f"iter: {n * 1000}, train loss: {7 - 0.1 * n:.4f}, valid recall: {recall:.6f}, valid ndcg: "
                       f"{recall * 0.7:.6f}, valid hitrate: {recall * hitrate_scale:.6f}", f"time interval: {n} min"]
    return lines


def test_a_folder_of_two_runs_gives_two_diagnoses(tmp_path: Path) -> None:
    write(tmp_path / "a", original_lines("ml100k_ComiRec-SA_b128_lr0.001_d64_len20_a", "ml100k",
                                         [0.1, 0.15, 0.2, 0.22, 0.23, 0.235], 3.0))
    write(tmp_path / "b", original_lines("book_ComiRec-SA_b128_lr0.001_d64_len20_b", "book",
                                         [0.02, 0.03, 0.04, 0.05, 0.06, 0.07], 2.0))
    diagnoses = analyze_all([str(tmp_path)])
    assert [d.config["dataset"].value for d in diagnoses] == ["ml100k", "book"]
    assert all(not d.config["dataset"].conflicts for d in diagnoses)
    assert diagnoses[0].run.paths == [str(tmp_path / "a" / "train.log")]
    from recdoc.reports.multi import render_summary, write_multi_reports

    summary = render_summary(diagnoses)
    assert "| 1 | `ml100k_ComiRec-SA_b128_lr0.001_d64_len20_a` | ml100k |" in summary
    written = write_multi_reports(diagnoses, [str(tmp_path)], out_dir=tmp_path / "out", plots=False)
    document = json.loads(written[1].read_text())
    assert [r["config"]["dataset"]["value"] for r in document["runs"]] == ["ml100k", "book"]
    assert document["summary"][1]["dataset"] == "book"


# ------------------------------------------------------------------ data identity
def test_a_renamed_paper_dataset_is_identified_by_its_facts(tmp_path: Path) -> None:
    lines = ["['src/train.py', '--model_type', 'MIND']", "DataSet: book14", *original_lines(
        "book14_MIND_b128_lr0.001_d64_len20_x", "book14", [0.05, 0.07, 0.08, 0.09, 0.095, 0.096], 2.0)[2:],
        "model restored from best_model/x/",
        "valid recall: 0.096, valid ndcg: 0.077, valid hitrate: 0.195, valid diversity: 0.0",
        "test recall: 0.0958, test ndcg: 0.0763, test hitrate: 0.1943, test diversity: 0.0"]
    (diagnosis,) = analyze_all([str(write(tmp_path, lines))])
    assert diagnosis.config["dataset"].value == "book14" and diagnosis.config["paper_dataset"].value == "book"
    recall = next(c for c in diagnosis.comparisons if c.metric == "recall" and c.split == "test")
    assert recall.comparable and abs(recall.paper_value - 0.07638) < 1e-9
    alias = diagnosis.finding("dataset-alias")
    assert alias is not None and alias.severity == "high" and "ReLU" in alias.title
    assert diagnosis.finding("above-paper") is not None  # +25%: questioned, not celebrated
    assert "dataset-mismatch" not in ids(diagnosis)


def test_a_paper_name_whose_numbers_fit_the_other_dataset_is_questioned(tmp_path: Path) -> None:
    lines = [*original_lines("book_ComiRec-SA_b128_lr0.001_d64_len20_x", "book",
                             [0.05, 0.07, 0.08, 0.09, 0.092, 0.093], 5.4),
             "model restored from best_model/x/",
             "test recall: 0.093, test ndcg: 0.3, test hitrate: 0.50, test diversity: 0.0"]
    (diagnosis,) = analyze_all([str(write(tmp_path, lines))])
    mismatch = diagnosis.finding("dataset-mismatch")
    assert mismatch is not None and any("taobao" in e.text for e in mismatch.evidence)


def test_impossible_values_are_a_finding_and_leave_the_comparisons(tmp_path: Path) -> None:
    lines = [*original_lines("book_ComiRec-SA_b128_lr0.001_d64_len20_x", "book", [0.02, 0.03], 2.0),
             "model restored from best_model/x/", "test recall: 2.5, test ndcg: 0.04, test hitrate: inf"]
    (diagnosis,) = analyze_all([str(write(tmp_path, lines))])
    assert diagnosis.findings[0].id == "impossible-metrics"
    assert not any(c.metric in ("recall", "hitrate") and c.split == "test" for c in diagnosis.comparisons)


def test_epoch_logs_with_ordered_dict_metrics(tmp_path: Path) -> None:
    lines = []
    for epoch in range(6):
        recall = 0.05 + 0.01 * epoch
        lines += [f"epoch {epoch} training [time: 12.3s, train loss: {900 - 50 * epoch:.4f}]",
                  f"epoch {epoch} evaluating [time: 2.1s, valid_score: {recall:.4f}]",
                  "valid result: ",
                  f"recall@20 : {recall:.4f}    ndcg@20 : {recall / 2:.4f}    hit@20 : {2 * recall:.4f}"]
    lines += ["best valid : OrderedDict([('recall@20', 0.1), ('ndcg@20', 0.05), ('hit@20', 0.2)])",
              "test result: OrderedDict([('recall@20', 0.09), ('ndcg@20', 0.045), ('hit@20', 0.19)])"]
    (run,) = read_runs([str(write(tmp_path, lines))])
    assert run.curve["iter"].tolist() == [0, 1, 2, 3, 4, 5] and run.extra_metrics["step_unit"] == "epoch"
    assert run.curve["recall"].round(4).tolist() == [0.05, 0.06, 0.07, 0.08, 0.09, 0.1]
    assert run.curve["train_loss"].tolist()[:2] == [900.0, 850.0]
    assert (run.finals["test"].recall, run.finals["test"].hitrate, run.finals["test"].cutoff) == (0.09, 0.19, 20)
    (diagnosis,) = analyze_all([str(tmp_path / "train.log")])
    assert "eval-broken" not in ids(diagnosis) and "divergence" not in ids(diagnosis)


def test_a_metrics_table_and_percent_values(tmp_path: Path) -> None:
    lines = ["| iter | loss | recall@50 | hitrate@50 |", "|---|---|---|---|"]
    lines += [f"| {n * 1000} | {7 - 0.2 * n:.2f} | {0.01 * n:.4f} | {0.03 * n:.4f} |" for n in range(1, 6)]
    lines += ["", "test: Recall@50: 6.50%, HitRate@50: 15.2%"]
    (run,) = read_runs([str(write(tmp_path, lines))])
    assert run.curve["iter"].tolist() == [1000, 2000, 3000, 4000, 5000]
    assert run.curve["recall"].round(4).tolist() == [0.01, 0.02, 0.03, 0.04, 0.05]
    assert abs(run.finals["test"].recall - 0.065) < 1e-12 and abs(run.finals["test"].hitrate - 0.152) < 1e-12


def test_several_runs_report_in_the_folder_given_never_inside_a_run(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from recdoc.cli import main

    runs = tmp_path / "runs"
    write(runs / "a", original_lines("ml100k_ComiRec-SA_b128_lr0.001_d64_len20_a", "ml100k", [0.1, 0.2, 0.3], 3.0))
    write(runs / "b", original_lines("book_ComiRec-SA_b128_lr0.001_d64_len20_b", "book", [0.02, 0.03, 0.04], 2.0))

    def analyze(*args: str) -> str:
        with pytest.raises(SystemExit):
            main(["analyze", *args, "--no-plots"])
        return capsys.readouterr().out

    out = analyze(str(runs))
    assert "--- run 1 of 2: ml100k_ComiRec-SA_b128_lr0.001_d64_len20_a" in out
    assert f"Report written in the folder holding the runs {runs.resolve()} (--out DIR writes elsewhere)" in out
    assert sorted(p.name for p in runs.iterdir() if p.name != ".recdoc-written.json") == ["a", "b", "diagnosis.json", "report.md"]
    assert sorted(p.name for p in (runs / "a").iterdir()) == ["train.log"]  # nothing inside a run
    analyze(str(runs / "a" / "train.log"), str(runs / "b" / "train.log"))  # two files: their common folder
    assert (runs / "report-2.md").is_file()
    assert "it replaced the last report" in analyze(str(runs), "--force")
    assert not (runs / "report-3.md").exists() and "of 2 runs" in (runs / "report-2.md").read_text()


@settings(max_examples=60, deadline=None)
@given(value=st.sampled_from(["ComiRec-SA", "MIND", "book", "0.005", "taobao"]),
       punctuation=st.sampled_from([",", ";", ":", "，", "。", "；", "："]),
       prose=st.sampled_from(["", " got these numbers", " 得到的效果为", "结果如下", " and then"]))
def test_a_command_inside_a_sentence_keeps_its_values_clean(value: str, punctuation: str, prose: str) -> None:
    """The sentence's punctuation after a command's last value is not part of it, and the prose after is no flag."""
    line = f"I ran python src/train.py --dataset book --flag {value}{punctuation}{prose}"
    assert parse_shell_argv(line) == ["src/train.py", "--dataset", "book", "--flag", value]
