"""Results stated in Markdown tables and terse prose: the shapes READMEs, issue threads and benchmark pages use.

Every text here is made up for these tests in those shapes (models as rows, a transposed table, a suite table with
a dataset column and counts, a dataset named in a Chinese sentence, a suggestion block after the results, epoch
headers above metric lines); none is copied from a real page.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recdoc.diagnose.readers.detect import read_runs, run_label, sniff_scores
from recdoc.diagnose.readers.reported import model_name, stated_datasets


def write(folder: Path, text: str, name: str = "README.md") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def analyze(path: Path, out: Path) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "recdoc", "analyze", str(path), "--out", str(out), "--format",
                           "json", "--no-plots"], capture_output=True, text=True, timeout=120)
    return done.returncode, json.loads((out / "diagnosis.json").read_text())


# ---------------------------------------------------------------- class: Markdown results tables
@pytest.mark.parametrize("rows", [
    ["| Method | HR@50 | Recall@50 |", "|:---|---:|---:|", "| GRU4Rec | **0.1100** (best) | 0.0500 |"],
    ["| 方法 | Recall@50 | NDCG@50 |", "| --- | --- | --- |", "| GRU4Rec | 5.00% | 4.10% |"],
])
def test_a_table_with_models_as_rows_is_a_run_per_row(tmp_path: Path, rows: list[str]) -> None:
    path = write(tmp_path, "\n".join(rows) + "\n")
    assert max(sniff_scores(path.read_text()).items(), key=lambda kv: kv[1])[0] == "pasted"
    run, = read_runs([str(path)])
    assert run.declared["model_type"].value == "GRU4REC" and run.declared["model_type"].ref.line == 3
    assert run.finals["test"].recall == pytest.approx(0.05) and run.finals["test"].cutoff == 50
    assert run.exp_name is None and "GRU4Rec" in run_label(run)


def test_a_suite_table_with_dataset_and_count_columns(tmp_path: Path) -> None:
    text = "\n".join([
        "Each suite writes a comparison table:", "",
        "| model | dataset | params | HR@20 | NDCG@20 | seconds |", "| --- | --- | --- | --- | --- | --- |",
        "| ComirecSA | mydata-small | 1234 | 0.2000 | 0.1000 | 0.5 |",
        "| YoutubeDNN | mydata-small | 5678 | 0.0000 | 0.0000 | 0.4 |", "",
        "## Configuration", "", "```yaml", "trainer:", "  batch_size: 16", "  learning_rate: 0.01", "```"])
    sa, dnn = read_runs([str(write(tmp_path, text))])
    assert (sa.declared["model_type"].value, dnn.declared["model_type"].value) == ("ComiRec-SA", "DNN")
    assert sa.declared["dataset"].value == "mydata-small" and sa.declared["dataset"].ref.line == 5
    assert (sa.finals["test"].hitrate, sa.finals["test"].cutoff) == (0.2, 20)
    # The count column is not a metric nor a setting; the config example under a later heading is no run's.
    assert "batch_size" not in sa.declared and "learning_rate" not in dnn.declared
    assert sa.exp_name is None and dnn.exp_name is None


def test_a_rows_own_model_beats_the_prose(tmp_path: Path) -> None:
    text = "\n".join(["I trained MIND on taobao, and here is also the other model:", "", "| Model | Recall@50 |",
                      "|---|---|", "| ComiRec-DR | 0.080 |"])
    run, = read_runs([str(write(tmp_path, text))])
    assert run.declared["model_type"].value == "ComiRec-DR" and run.declared["dataset"].value == "taobao"


def test_a_transposed_table_makes_a_run_per_value_column(tmp_path: Path) -> None:
    text = "\n".join([
        "## MIND results on MovieLens-1M", "", "| Epoch | Train Loss | Valid Loss |", "| ---: | ---: | ---: |",
        "| 1 | 7.1 | 7.0 |", "| 2 | 6.9 | 6.8 |", "",
        "| Metric | MIND | Most popular | Lift |", "| --- | ---: | ---: | ---: |",
        "| Recall@10 | 0.1200 | 0.0200 | 6.0x |", "| NDCG@10 | 0.0600 | 0.0100 | 6.0x |", "",
        "| Epoch | Train AUC | Valid AUC |", "| --- | --- | --- |", "| 1 | 0.80 | 0.79 |"])
    mind, popular = read_runs([str(write(tmp_path, text))])
    assert mind.declared["model_type"].value == "MIND" and mind.declared["dataset"].value == "ml-1m"
    assert (mind.finals["test"].recall, mind.finals["test"].ndcg, mind.finals["test"].cutoff) == (0.12, 0.06, 10)
    # The heading's model is the column that names it; the column naming none is another model (a baseline).
    assert popular.finals["test"].recall == 0.02 and "model_type" not in popular.declared
    assert popular.extra_metrics["row_label"] == "Most popular"
    # The loss table and the AUC table state no retrieval metric: no run of theirs.


def test_a_paper_row_is_a_reference_and_a_table_alone_is_readable(tmp_path: Path) -> None:
    text = "| Model | Recall@50 | HitRate@50 |\n|---|---|---|\n| MIND (paper) | 7.0 | 16.0 |\n" \
           "| MIND (ours) | 6.5 | 15.0 |\n"
    run, = read_runs([str(write(tmp_path, text))])
    assert run.finals["test"].recall == pytest.approx(0.065)
    paper, = [e for e in run.events if e.values.get("reference") == "paper"]
    assert paper.values["recall@50"] == pytest.approx(0.07)
    code, diagnosis = analyze(tmp_path / "README.md", tmp_path / "out")
    assert code != 2 and diagnosis["verdict"] != "unusable"


def test_a_table_of_words_only_is_no_run(tmp_path: Path) -> None:
    text = "| Model | Idea |\n|---|---|\n| MIND | capsules (2019) |\n\n| Model | Recall@100 |\n|---|---|\n" \
           "| SASRec | 0.30 |\n"
    run, = read_runs([str(write(tmp_path, text))])
    assert run.finals["test"].recall == 0.3 and run.exp_name is None


# ---------------------------------------------------------------- class: datasets and settings stated in prose
def test_dataset_words() -> None:
    assert stated_datasets("我尝试在 book 上改了 batch_size =1024, 效果提升") == {"book"}
    assert stated_datasets("使用论文ComiRec提供的AmazonBook数据集") == {"book"}
    assert stated_datasets("trained on the Amazon Books data of ComiRec") == {"book"}
    assert stated_datasets("trained on Amazon-Books 2018") == {"Amazon-Books"}  # not said to be the paper's data
    assert stated_datasets("we use MovieLens 1M and taobao") == {"ml-1m", "taobao"}
    assert model_name("**ComirecDR**") == "ComiRec-DR" and model_name("ComiRec") is None


@pytest.mark.parametrize("first", [
    "我在 taobao 上把 learning_rate =0.005 改了一下，用的是 MIND，结果如下",
    "MIND, taobao, learning_rate=0.005",
    "Trained MIND on the taobao data with learning_rate = 0.005",
])
def test_settings_stated_in_a_sentence_or_a_terse_list(tmp_path: Path, first: str) -> None:
    text = first + "\ntest recall: 0.070000, test ndcg: 0.200000, test hitrate: 0.460000\n"
    run, = read_runs([str(write(tmp_path, text, "issue.txt"))])
    assert run.format == "pasted"
    assert {k: (f.value, f.ref.line) for k, f in run.declared.items()} == {
        "dataset": ("taobao", 1), "model_type": ("MIND", 1), "learning_rate": (0.005, 1)}


# ---------------------------------------------------------------- class: a suggestion after the results
def test_settings_in_a_suggestion_block_are_not_the_runs(tmp_path: Path) -> None:
    text = "\n".join([
        "python src/train.py --dataset book --model_type ComiRec-DR --learning_rate 0.003", "",
        "test recall@50: 0.0300, test hitrate@50: 0.0700", "",
        "## 下一步", "建议: lr=0.009", "python src/train.py --learning_rate 0.009 --max_iter 40", "",
        "Next I would try batch_size=512 as well."])
    run, = read_runs([str(write(tmp_path, text, "notes.md"))])
    assert run.declared["learning_rate"].value == 0.003
    assert "max_iter" not in run.declared and "batch_size" not in run.declared


def test_a_command_given_after_the_numbers_still_counts(tmp_path: Path) -> None:
    text = "I got these numbers:\n\ntest recall@50: 0.0790, test hitrate@50: 0.1633\n\n" \
           "with the command python src/train.py --dataset book --model_type ComiRec-SA\n"
    run, = read_runs([str(write(tmp_path, text, "issue.txt"))])
    assert run.declared["model_type"].value == "ComiRec-SA" and run.declared["dataset"].value == "book"


# ---------------------------------------------------------------- class: epochs of one run
def test_epoch_headers_above_metric_lines_make_one_curve(tmp_path: Path) -> None:
    text = "\n".join([
        "I ran my own model on the book data of ComiRec and the results are below what I hoped for.", "",
        "epoch: 4, batch: 1200:", "hit20: 0.0800, recall_20: 0.0350", "hit50: 0.1300, recall_50: 0.0600", "",
        "epoch: 6, batch: 1200:", "hit20: 0.0810, recall_20: 0.0340", "hit50: 0.1280, recall_50: 0.0580"])
    run, = read_runs([str(write(tmp_path, text, "issue.txt"))])
    assert run.curve["iter"].tolist() == [4, 6]
    assert run.curve["recall"].tolist() == [0.06, 0.058]
    assert run.extra_metrics["step_unit"] == "epoch" and "repeats" not in run.extra_metrics


# ---------------------------------------------------------------- class: flag values with a sentence's punctuation
@pytest.mark.parametrize("tail", [", 得到的效果为", "; got", "，结果："])
def test_flag_values_lose_trailing_punctuation(tmp_path: Path, tail: str) -> None:
    text = f"我运行指令 python src/train.py --dataset taobao --model_type MIND{tail}\n" \
           "test recall: 0.070000, test ndcg: 0.200000, test hitrate: 0.460000\n"
    run, = read_runs([str(write(tmp_path, text, "issue.txt"))])
    assert run.declared["model_type"].value == "MIND" and run.declared["dataset"].value == "taobao"


def test_a_suggestion_word_before_the_numbers_does_not_hide_their_settings(tmp_path: Path) -> None:
    text = "I try to reproduce MIND on taobao with learning_rate=0.005 and get:\n" \
           "test recall@50: 0.0700, test hitrate@50: 0.4600\n\n建议 测试 2: learning_rate=0.01\n"
    run, = read_runs([str(write(tmp_path, text, "issue.txt"))])
    assert run.declared["learning_rate"].value == 0.005 and run.declared["model_type"].value == "MIND"


def test_a_csv_suite_sheet_names_glued_models_and_no_exp_name(tmp_path: Path) -> None:
    text = "model,dataset,params,HR@10,NDCG@10\nComirecDR,mydata-small,1234,0.2000,0.1000\n" \
           "GRU4Rec,mydata-small,99,0.1000,0.0500\n"
    dr, gru = read_runs([str(write(tmp_path, text, "suite.csv"))])
    assert (dr.declared["model_type"].value, gru.declared["model_type"].value) == ("ComiRec-DR", "GRU4REC")
    assert dr.declared["dataset"].value == "mydata-small" and dr.exp_name is None
    assert dr.extra_metrics["row_label"] == "ComirecDR mydata-small"


def test_a_chinese_settings_column_and_a_split_column_beside_an_unsplit_one(tmp_path: Path) -> None:
    text = "\n".join(["# MIND 学习率对比", "", "| 学习率 | 10K Recall | Test Recall | Test NDCG | 备注 |",
                      "|---|---|---|---|---|", "| **0.002** | 0.0300 | 0.0310 | 0.0200 | 慢 |",
                      "| **0.004** | 0.0350 | 0.0360 | 0.0230 | 快 |"])
    slow, fast = read_runs([str(write(tmp_path, text, "lr.md"))])
    assert (slow.declared["learning_rate"].value, fast.declared["learning_rate"].value) == (0.002, 0.004)
    assert slow.declared["learning_rate"].ref.line == 5 and slow.declared["model_type"].value == "MIND"
    assert (slow.finals["test"].recall, slow.finals["test"].ndcg) == (0.031, 0.02)


def test_long_table_cells_are_read_in_linear_time(tmp_path: Path) -> None:
    import time

    digits = "1" * 200_000
    text = f"| Model | Recall@50 |\n|---|---|\n| MIND | 0.07 |\n| MIND | {digits} x |\n| {digits}.{digits} | 0.08 |\n" \
           f"try {'a' * 100_000}=1 {'b=' * 50_000}\n"
    started = time.perf_counter()
    sniff_scores(text)
    runs = read_runs([str(write(tmp_path, text))])
    assert runs[0].finals["test"].recall == 0.07 and time.perf_counter() - started < 5.0
