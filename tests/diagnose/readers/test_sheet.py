"""Results sheets (CSV/TSV): one run per row, seeds of one configuration pooled, summary rows never runs.

The sheets below are made up for these tests in the shapes results sheets have (a quoted `HR@K:value,...` cell per
row, blocks with their own header and a mean/std row, metric columns in percent, a metrics logger's per-epoch CSV);
none is copied from a third-party file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recdoc.diagnose.engine import analyze_all
from recdoc.diagnose.readers import sheet
from recdoc.diagnose.readers.detect import read_runs, sniff_scores

QUOTED = """model,dataset,seed,lr,metrics
ComiRec-SA,book,1,0.001,"HR@20:0.1341,NDCG@20:0.0612,Recall@20:0.0589,HR@50:0.2104,NDCG@50:0.0771,Recall@50:0.0873"
ComiRec-SA,book,2,0.001,"HR@20:0.1322,NDCG@20:0.0601,Recall@20:0.0580,HR@50:0.2087,NDCG@50:0.0765,Recall@50:0.0861"
ComiRec-SA,book,3,0.001,"HR@20:0.1360,NDCG@20:0.0620,Recall@20:0.0595,HR@50:0.2121,NDCG@50:0.0780,Recall@50:0.0880"
mean,,,,"HR@20:0.1341,NDCG@20:0.0611,Recall@20:0.0588,HR@50:0.2104,NDCG@50:0.0772,Recall@50:0.0871"

model,dataset,seed,lr,metrics
ComiRec-DR,book,1,0.005,"HR@20:0.1212,NDCG@20:0.0590,Recall@20:0.0501,HR@50:0.1980,NDCG@50:0.0720,Recall@50:0.0790"
ComiRec-DR,book,2,0.005,"HR@20:0.1230,NDCG@20:0.0598,Recall@20:0.0511,HR@50:0.1999,NDCG@50:0.0731,Recall@50:0.0801"
std,,,,"HR@20:0.0013,NDCG@20:0.0006,Recall@20:0.0007,HR@50:0.0013,NDCG@50:0.0008,Recall@50:0.0008"
"""


def write(folder: Path, text: str, name: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_quoted_metric_cells_one_run_per_row_summary_rows_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, QUOTED, "results.csv")
    assert max(sniff_scores(path.read_text()).items(), key=lambda kv: kv[1])[0] == "sheet"
    runs = read_runs([str(path)])
    assert [r.format for r in runs] == ["sheet"] * 5  # five data rows; the mean and std rows are not runs
    first = runs[0]
    assert {k: f.value for k, f in first.declared.items()} == {
        "model_type": "ComiRec-SA", "dataset": "book", "random_seed": 1, "learning_rate": 0.001}
    assert first.declared["learning_rate"].ref.line == 2
    test = first.finals["test"]
    assert (test.recall, test.ndcg, test.hitrate, test.cutoff) == (0.0873, 0.0771, 0.2104, 50)
    assert test.ref.line == 2 and "split not stated" in test.text
    assert first.extra_metrics["final_test"]["recall@20"] == 0.0589
    assert [r.finals["test"].recall for r in runs] == [0.0873, 0.0861, 0.088, 0.079, 0.0801]
    assert [r.declared["model_type"].value for r in runs] == ["ComiRec-SA"] * 3 + ["ComiRec-DR"] * 2
    assert first.coverage.lines_with_numbers == 7 and first.coverage.lines_used == 7
    assert first.coverage.unread_metric_count == 0
    summary = [e for e in first.events if e.kind == "info"]
    assert summary and summary[0].values["summary_rows"] == [5, 10]


def test_seeds_of_one_configuration_pooled_with_their_spread(tmp_path: Path) -> None:
    path = write(tmp_path, QUOTED, "results.csv")
    diagnoses = analyze_all([str(path)])
    assert len(diagnoses) == 2  # one per configuration
    sa, dr = diagnoses
    assert sa.config["model_type"].value == "ComiRec-SA" and dr.config["model_type"].value == "ComiRec-DR"
    spread = sa.run.extra_metrics["repeats"]
    assert spread["count"] == 3
    assert spread["splits"]["test"]["recall"]["values"] == [0.0873, 0.0861, 0.088]
    assert sa.run.finals["test"].recall == pytest.approx((0.0873 + 0.0861 + 0.088) / 3)
    assert dr.run.extra_metrics["repeats"]["count"] == 2
    assert any(c.comparable and c.metric == "recall" and c.cutoff == 50 for c in sa.comparisons)


def test_metric_columns_in_percent_with_block_titles(tmp_path: Path) -> None:
    text = ("Book\n"
            "Method\tRecall@50\tNDCG@50\tHitRate@50\n"
            "MIND\t7.12\t12.01\t15.90\n"
            "ComiRec-SA\t8.02\t13.10\t17.11\n"
            "\n"
            "Taobao\n"
            "Method\tRecall@50\tNDCG@50\tHitRate@50\n"
            "MIND\t6.80\t24.5\t39.0\n")
    path = write(tmp_path, text, "table3_repro.tsv")
    runs = read_runs([str(path)])
    assert [(r.declared["model_type"].value, r.declared["dataset"].value) for r in runs] == [
        ("MIND", "book"), ("ComiRec-SA", "book"), ("MIND", "taobao")]
    assert runs[0].declared["dataset"].ref.line == 1
    final = runs[1].finals["test"]
    assert (final.recall, final.ndcg, final.hitrate, final.cutoff) == (0.0802, 0.131, 0.1711, 50)
    assert runs[0].extra_metrics["values_in_percent"] == ["hitrate", "ndcg", "recall"]


def test_a_per_epoch_metrics_csv_is_a_curve(tmp_path: Path) -> None:
    text = "epoch,train_loss,val_recall@50,val_ndcg@50\n" + "".join(
        f"{e},{7.0 - 0.5 * e:.2f},{0.02 + 0.01 * e:.3f},{0.03 + 0.01 * e:.3f}\n" for e in range(1, 6))
    path = write(tmp_path, text, "metrics.csv")
    run, = read_runs([str(path)])
    assert run.curve["iter"].tolist() == [1, 2, 3, 4, 5]
    assert run.curve["recall"].tolist() == [0.03, 0.04, 0.05, 0.06, 0.07]
    assert run.curve["train_loss"].tolist() == [6.5, 6.0, 5.5, 5.0, 4.5]
    assert run.extra_metrics["step_unit"] == "epoch" and run.extra_metrics["curve_cutoff"] == 50
    assert not run.finals


def test_sheet_found_in_a_folder_and_data_csv_ignored(tmp_path: Path) -> None:
    write(tmp_path, QUOTED, "results.csv")
    write(tmp_path, "user_id,item_id,timestamp\n1,2,1500000000\n1,3,1500000001\n", "ratings.csv")
    runs = read_runs([str(tmp_path)])
    assert len(runs) == 5 and all(r.paths == [str(tmp_path / "results.csv")] for r in runs)


def test_log_lines_with_commas_are_not_sheets() -> None:
    log = "\n".join(f"test recall: 0.07{i}, test ndcg: 0.20{i}, test hitrate: 0.47{i}" for i in range(4))
    assert sheet.sniff(log) == 0.0
    epochs = "\n".join(f"Epoch {i}, loss: {7 - i}.1, recall@50: 0.0{i}" for i in range(1, 5))
    assert sheet.sniff(epochs) == 0.0


def test_recdoc_analyze_diagnoses_a_sheet(tmp_path: Path) -> None:
    path = write(tmp_path, QUOTED, "results.csv")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "recdoc", "analyze", str(path), "--out", str(out), "--format",
                           "json", "--no-plots"], capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr + done.stdout
    report = json.loads((out / "diagnosis.json").read_text())
    assert len(report["runs"]) == 2


def test_paper_rows_are_references_and_a_runs_splits_on_two_rows(tmp_path: Path) -> None:
    text = ("model,seed,split,recall@50,hitrate@50\n"
            "ComiRec-SA (paper),,test,8.467,17.202\n"
            "ComiRec-SA,1,valid,8.81,17.9\n"
            "ComiRec-SA,1,test,8.31,16.95\n"
            "ComiRec-SA,2,valid,8.70,17.7\n"
            "ComiRec-SA,2,test,8.22,16.81\n")
    runs = read_runs([str(write(tmp_path, text, "seeds.csv"))])
    assert len(runs) == 2  # two seeds, each with its valid and test rows; the paper's row is no run
    assert [(r.finals["valid"].recall, r.finals["test"].recall) for r in runs] == [(0.0881, 0.0831), (0.087, 0.0822)]
    assert [r.declared["random_seed"].value for r in runs] == [1, 2]
    paper, = [e for e in runs[0].events if e.values.get("reference") == "paper"]
    assert (paper.ref.line, paper.values["recall@50"], paper.values["split"]) == (2, 0.08467, "test")
    assert not [e for e in runs[0].events if "summary_rows" in e.values]


def test_a_row_of_words_without_numbers_is_not_a_new_header(tmp_path: Path) -> None:
    text = ("model,dataset,recall@50\n"
            "ComiRec-SA,book,0.0851\n"
            "ComiRec-DR,book,crashed\n"
            "MIND,book,0.0702\n")
    runs = read_runs([str(write(tmp_path, text, "r.csv"))])
    assert [(r.declared["model_type"].value, r.finals["test"].recall) for r in runs] == [
        ("ComiRec-SA", 0.0851), ("MIND", 0.0702)]


def test_a_sheet_beside_a_runs_log_is_left_to_the_log(tmp_path: Path) -> None:
    from support.logs import RESTORE, TEST, VALID, header

    (tmp_path / "train.log").write_text("\n".join(header() + [RESTORE, VALID, TEST]) + "\n")
    write(tmp_path, QUOTED, "results.csv")
    runs = read_runs([str(tmp_path)])
    assert [r.format for r in runs] == ["original"]
    assert any("results.csv: a results sheet beside" in note for note in runs[0].unreadable)
    assert len(read_runs([str(tmp_path / "results.csv")])) == 5  # named, it is read
