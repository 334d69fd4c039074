"""Pasted text with prose (an issue, a chat): the author's runs are runs, the paper's quoted numbers a reference.

The texts below are made up for these tests in the shapes issue threads have (a question, the command, the
numbers, the paper's numbers quoted for comparison, in English and in Chinese); none is copied from a real thread.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recdoc.diagnose.engine import analyze_all
from recdoc.diagnose.readers import pasted
from recdoc.diagnose.readers.detect import read_runs, sniff_scores
from recdoc.diagnose.readers.statements import paper_label
from recdoc.errors import InputError

ISSUE = """Hi, thanks for releasing the code. I trained ComiRec-SA on the Book dataset with the default settings and
the results are much lower than what the paper reports. Here is my command:

python src/train.py --dataset book --model_type ComiRec-SA --learning_rate 0.001

After early stopping I got the following on the test set:

test recall@20: 0.0511, test ndcg@20: 0.0823, test hitrate@20: 0.1102
test recall@50: 0.0790, test ndcg@50: 0.1164, test hitrate@50: 0.1633

The paper reports (Table 3, Amazon Book):
Recall@20: 5.489  NDCG@20: 8.991  HitRate@20: 11.402
Recall@50: 8.467  NDCG@50: 13.563  HitRate@50: 17.202

Is this gap expected? I used a single V100 and it took about 10 hours.
"""


def write(folder: Path, text: str, name: str = "issue.txt") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_issue_text_run_settings_and_paper_reference(tmp_path: Path) -> None:
    path = write(tmp_path, ISSUE)
    assert max(sniff_scores(ISSUE).items(), key=lambda kv: kv[1])[0] == "pasted"
    run, = read_runs([str(path)])
    assert run.format == "pasted"
    assert {k: (f.value, f.ref.line) for k, f in run.declared.items()} == {
        "dataset": ("book", 4), "model_type": ("ComiRec-SA", 4), "learning_rate": (0.001, 4)}
    test = run.finals["test"]
    assert (test.recall, test.ndcg, test.hitrate, test.cutoff, test.ref.line) == (0.079, 0.1164, 0.1633, 50, 8)
    assert run.extra_metrics["final_test"] == {"recall@20": 0.0511, "ndcg@20": 0.0823, "hitrate@20": 0.1102,
                                              "recall@50": 0.079, "ndcg@50": 0.1164, "hitrate@50": 0.1633}
    paper, = [e for e in run.events if e.values.get("reference") == "paper"]
    assert paper.kind == "info" and paper.ref.line == 12
    assert paper.values["recall@50"] == pytest.approx(0.08467) and paper.values["hitrate@20"] == pytest.approx(0.11402)
    assert paper.values["in_percent"] is True
    # The paper's lines are understood but not the run's: nothing is left unread.
    assert run.coverage.unread_metric_count == 0
    assert (run.coverage.lines_with_numbers, run.coverage.lines_used) == (7, 6)  # the V100 sentence is unused
    diagnosis, = analyze_all([str(path)])
    assert diagnosis.verdict != "unusable"
    assert any(c.metric == "recall" and c.cutoff == 50 and c.comparable and c.run_value == 0.079
               for c in diagnosis.comparisons)


def test_chinese_labels_repeated_runs_and_comparatives(tmp_path: Path) -> None:
    text = "\n".join([
        "用 MIND 在 taobao 上跑了两次，命令是 python src/train.py --dataset taobao --model_type MIND",
        "我跑出来的结果:",
        "test recall@50: 0.0701, test ndcg@50: 0.2082, test hitrate@50: 0.4740",
        "test recall@50: 0.0692, test ndcg@50: 0.2059, test hitrate@50: 0.4717",
        "",
        "论文里的结果: recall@50: 0.0816, hitrate@50: 0.4815",
        "My numbers are lower than the paper, and the numbers above are what I got over two seeds in total.",
    ])
    path = write(tmp_path, text, "chat.txt")
    runs = read_runs([str(path)])
    assert [r.finals["test"].recall for r in runs] == [0.0701, 0.0692]
    assert all(r.declared["model_type"].value == "MIND" and r.declared["dataset"].value == "taobao" for r in runs)
    paper, = [e for e in runs[0].events if e.values.get("reference") == "paper"]
    assert paper.values["recall@50"] == 0.0816 and paper.ref.line == 6
    diagnosis, = analyze_all([str(path)])  # two runs of one configuration: pooled
    assert diagnosis.run.extra_metrics["repeats"]["count"] == 2


def test_paper_labels() -> None:
    assert paper_label("The paper reports (Table 3):") is True
    assert paper_label("Paper: recall@50 0.0847") is True
    assert paper_label("论文中的结果") is True
    assert paper_label("my results are lower than the paper:") is False
    assert paper_label("I got these numbers, while in the paper they are:") is True  # the later label wins
    assert paper_label("test recall@50: 0.07") is None


def test_only_the_papers_numbers_is_no_run(tmp_path: Path) -> None:
    text = "What does the paper report for DNN on book? The paper reports:\nrecall@50: 0.0731, ndcg@50: 0.1205\n" \
           "Thanks in advance for any help with reproducing these numbers here.\n"
    with pytest.raises(InputError, match="only the paper's numbers"):
        pasted.read_runs(write(tmp_path, text))


def test_logs_are_not_pasted_text() -> None:
    log = "\n".join(["iter: 1000, train loss: 7.1234", "valid recall: 0.050000, valid ndcg: 0.030000",
                     "time interval: 1.5 min", "This run was started by the nightly script with its defaults"] * 3)
    assert pasted.sniff(log) == 0.0
    epochs = "\n".join(f"Epoch {i}: loss 6.{i} recall@50: 0.0{i} and then we waited a little while" for i in range(5))
    assert pasted.sniff(epochs) == 0.0


def test_recdoc_analyze_diagnoses_pasted_text(tmp_path: Path) -> None:
    path = write(tmp_path, ISSUE)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "recdoc", "analyze", str(path), "--out", str(out), "--format",
                           "json", "--no-plots"], capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr + done.stdout
    assert json.loads((out / "diagnosis.json").read_text())["verdict"] != "unusable"


MARKDOWN = """I reproduced ComiRec-SA and ComiRec-DR on Taobao with the default command, but both are below the paper.
The table below compares what I got with what the paper reports:

| Model | Recall@50 | NDCG@50 | HitRate@50 |
|---|---|---|---|
| ComiRec-SA (paper) | 9.01 | 32.97 | 49.41 |
| ComiRec-SA (mine) | 7.93 | 30.12 | 47.80 |
| ComiRec-DR (mine) | 8.11 | 31.02 | 48.55 |

config: {"dataset": "taobao", "learning_rate": 0.001, "batch_size": 256}
"""


def test_markdown_table_rows_and_a_json_config_line(tmp_path: Path) -> None:
    path = write(tmp_path, MARKDOWN)
    sa, dr = read_runs([str(path)])
    # A row's cells name it, never as its exp name (whose words would be read as settings).
    assert sa.exp_name is None and dr.exp_name is None
    assert (sa.extra_metrics["row_label"], dr.extra_metrics["row_label"]) == ("ComiRec-SA (mine)", "ComiRec-DR (mine)")
    assert {k: (f.value, f.ref.line) for k, f in sa.declared.items()} == {
        "model_type": ("ComiRec-SA", 7), "dataset": ("taobao", 1), "learning_rate": (0.001, 10),
        "batch_size": (256, 10)}
    assert dr.declared["model_type"].value == "ComiRec-DR"
    final = sa.finals["test"]
    assert (final.recall, final.ndcg, final.hitrate, final.cutoff) == (0.0793, 0.3012, 0.478, 50)
    paper, = [e for e in sa.events if e.values.get("reference") == "paper"]
    assert (paper.ref.line, paper.values["hitrate@50"]) == (6, 0.4941)
    assert sa.coverage.unread_metric_count == 0


def test_the_evaluation_protocol_stated_in_prose(tmp_path: Path) -> None:
    from recdoc.diagnose.readers.reported import protocol_from_prose

    assert protocol_from_prose("Each test item is ranked against 100 sampled negative items.") == 100
    assert protocol_from_prose("We evaluate with full ranking over all items.") == "full"
    assert protocol_from_prose("We sample 10 negatives per positive for training.") is None
    text = ISSUE.replace("After early stopping", "Each test item was ranked against 99 sampled negative items. After"
                                                 " early stopping")
    run, = read_runs([str(write(tmp_path, text))])
    assert run.declared["eval_candidates"].value == 99 and run.declared["eval_candidates"].ref.line == 6


def test_sentences_naming_one_model_each(tmp_path: Path) -> None:
    text = "\n".join(["I ran two models on taobao with the default settings of the repository.",
                      "With MIND the final numbers were:",
                      "test recall@50: 0.0701, test hitrate@50: 0.4740",
                      "And with ComiRec-SA, after the same number of iterations:",
                      "test recall@50: 0.0811, test hitrate@50: 0.4855"])
    mind, sa = read_runs([str(write(tmp_path, text))])
    assert (mind.declared["model_type"].value, mind.declared["model_type"].ref.line) == ("MIND", 2)
    assert (sa.declared["model_type"].value, sa.declared["model_type"].ref.line) == ("ComiRec-SA", 4)
    assert mind.declared["dataset"].value == sa.declared["dataset"].value == "taobao"
    assert (mind.finals["test"].recall, sa.finals["test"].recall) == (0.0701, 0.0811)


def test_a_sentence_about_the_papers_settings_labels_no_numbers(tmp_path: Path) -> None:
    assert paper_label("I used exactly the settings from the paper for this run") is None
    text = "\n".join(["I used the hyper-parameters from the paper:", "python src/train.py --dataset book "
                      "--model_type ComiRec-DR --learning_rate 0.005", "test recall@50: 0.0790, test hitrate@50: 0.1633",
                      "Any idea what else could explain the difference I see here?"])
    run, = read_runs([str(write(tmp_path, text))])
    assert run.finals["test"].recall == 0.079 and run.declared["learning_rate"].value == 0.005
    assert not [e for e in run.events if e.values.get("reference") == "paper"]


def test_a_blank_line_ends_the_papers_block(tmp_path: Path) -> None:
    text = "\n".join(["Comparing my run of ComiRec-SA on book with the paper, the paper reports:", "",
                      "Recall@50: 8.467, HitRate@50: 17.202", "", "test recall@50: 0.0790, test hitrate@50: 0.1633",
                      "That is the whole story so far, any pointers are very welcome."])
    run, = read_runs([str(write(tmp_path, text))])
    assert run.finals["test"].recall == 0.079 and run.finals["test"].ref.line == 5
    paper, = [e for e in run.events if e.values.get("reference") == "paper"]
    assert paper.ref.line == 3 and paper.values["recall@50"] == pytest.approx(0.08467)
