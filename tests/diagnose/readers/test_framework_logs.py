"""Framework logs: RecBole's and ReChorus's, with their settings, dataset counts, per-epoch curve and closing lines.

The logs below are made up for these tests in the shapes RecBole (`run_recbole`) and ReChorus (`main.py`) print:
hyper-parameter dump, `The number of users: 944`, `epoch 3 training [time: .., train loss: ..]`, `valid result:`
with the values on the next line, `test result: OrderedDict([...])`; ReChorus's argument table, `Epoch 3 loss=..
dev=(HR@5:..,NDCG@5:..)`, `Test After Training: (...)`. The numbers are invented; none is copied from a real log.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from recdoc.diagnose.engine import analyze_all
from recdoc.diagnose.readers import recbole, rechorus
from recdoc.diagnose.readers.detect import read_runs, sniff_scores
from recdoc.diagnose.readers.framework_log import paren_groups, strip_prefix

RECBOLE = [
    'Tue 05 Jan 2021 10:20:08 INFO  ',
    'General Hyper Parameters:',
    'gpu_id = 0',
    'use_gpu = True',
    'seed = 2020',
    'state = INFO',
    'reproducibility = True',
    'data_path = dataset/ml-100k',
    '',
    'Training Hyper Parameters:',
    'checkpoint_dir = saved',
    'epochs = 4',
    'train_batch_size = 2048',
    'learner = adam',
    'learning_rate = 0.001',
    'eval_step = 1',
    'stopping_step = 10',
    '',
    'Evaluation Hyper Parameters:',
    "eval_args = {'split': {'RS': [0.8, 0.1, 0.1]}, 'group_by': 'user', 'order': 'RO', 'mode': 'uni100'}",
    "metrics = ['Recall', 'MRR', 'NDCG', 'Hit', 'Precision']",
    'topk = [10]',
    'valid_metric = MRR@10',
    'eval_batch_size = 4096',
    '',
    'Other Hyper Parameters: ',
    'model = BPR',
    'dataset = ml-100k',
    'embedding_size = 64',
    '',
    'Tue 05 Jan 2021 10:20:09 INFO  ml-100k',
    'The number of users: 944',
    'Average actions of users: 106.04453870625663',
    'The number of items: 1683',
    'Average actions of items: 59.45303210463734',
    'The number of inters: 100000',
    'The sparsity of the dataset: 93.70575143257098%',
    "Remain Fields: ['user_id', 'item_id', 'rating', 'timestamp']",
    'Tue 05 Jan 2021 10:20:10 INFO  epoch 0 training [time: 0.52s, train loss: 27.7231]',
    'Tue 05 Jan 2021 10:20:10 INFO  epoch 0 evaluating [time: 0.04s, valid_score: 0.020800]',
    'Tue 05 Jan 2021 10:20:10 INFO  valid result: ',
    'recall@10 : 0.0085    mrr@10 : 0.0208    ndcg@10 : 0.0099    hit@10 : 0.0721    precision@10 : 0.0074',
    'Tue 05 Jan 2021 10:20:10 INFO  Saving current: saved/BPR-Jan-05-2021_10-20-08.pth',
    'Tue 05 Jan 2021 10:20:11 INFO  epoch 1 training [time: 0.49s, train loss: 27.4412]',
    'Tue 05 Jan 2021 10:20:11 INFO  epoch 1 evaluating [time: 0.04s, valid_score: 0.031200]',
    'Tue 05 Jan 2021 10:20:11 INFO  valid result: ',
    'recall@10 : 0.0121    mrr@10 : 0.0312    ndcg@10 : 0.0141    hit@10 : 0.1013    precision@10 : 0.0102',
    'Tue 05 Jan 2021 10:20:12 INFO  epoch 2 training [time: 0.50s, train loss: 26.1038]',
    'Tue 05 Jan 2021 10:20:12 INFO  epoch 2 evaluating [time: 0.04s, valid_score: 0.052600]',
    'Tue 05 Jan 2021 10:20:12 INFO  valid result: ',
    'recall@10 : 0.0317    mrr@10 : 0.0526    ndcg@10 : 0.0302    hit@10 : 0.1941    precision@10 : 0.0223',
    'Tue 05 Jan 2021 10:20:13 INFO  epoch 3 training [time: 0.51s, train loss: 22.8710]',
    'Tue 05 Jan 2021 10:20:13 INFO  epoch 3 evaluating [time: 0.04s, valid_score: 0.081400]',
    'Tue 05 Jan 2021 10:20:13 INFO  valid result: ',
    'recall@10 : 0.0533    mrr@10 : 0.0814    ndcg@10 : 0.0488    hit@10 : 0.2812    precision@10 : 0.0371',
    'Tue 05 Jan 2021 10:20:13 INFO  Loading model structure and parameters from saved/BPR-Jan-05-2021_10-20-08.pth',
    "Tue 05 Jan 2021 10:20:14 INFO  best valid : OrderedDict([('recall@10', 0.0533), ('mrr@10', 0.0814), ('ndcg@10', 0.0488), ('hit@10', 0.2812), ('precision@10', 0.0371)])",
    "Tue 05 Jan 2021 10:20:14 INFO  test result: OrderedDict([('recall@10', 0.0612), ('mrr@10', 0.0951), ('ndcg@10', 0.0567), ('hit@10', 0.3117), ('precision@10', 0.0433)])",
]

RECHORUS = [
    "Namespace(model_name='BPRMF')",
    '--------------------------------------------- BEGIN: 2022-03-20 10:01:45 ---------------------------------------------',
    '',
    '=======================================',
    ' Arguments          | Values               ',
    '=======================================',
    ' batch_size         | 256                 ',
    ' dataset            | Grocery_and_Gourmet_Food',
    ' early_stop         | 10                  ',
    ' emb_size           | 64                  ',
    ' epoch              | 200                 ',
    ' l2                 | 1e-06               ',
    ' lr                 | 0.001               ',
    ' num_neg            | 1                   ',
    ' random_seed        | 0                   ',
    ' test_all           | 0                   ',
    ' topk               | 5,10,20,50          ',
    '=======================================',
    'Device: cuda',
    'Load corpus from ../data/Grocery_and_Gourmet_Food/BaseReader.pkl',
    '"# user": 14682, "# item": 8714, "# entry": 151254',
    '#params: 1497344',
    'BPRMF(',
    '  (u_embeddings): Embedding(14682, 64)',
    '  (i_embeddings): Embedding(8714, 64)',
    ')',
    'Test Before Training: (HR@5:0.0507,NDCG@5:0.0295,HR@10:0.0989,NDCG@10:0.0449,HR@20:0.1977,NDCG@20:0.0696,HR@50:0.4943,NDCG@50:0.1277)',
    'Optimizer: Adam',
    'Epoch 1     loss=0.6931 [30.6 s]\tdev=(HR@5:0.2299,NDCG@5:0.1515) [1.5 s] *',
    'Epoch 2     loss=0.5123 [28.7 s]\tdev=(HR@5:0.2489,NDCG@5:0.1662) [1.4 s] *',
    'Epoch 3     loss=0.4410 [28.9 s]\tdev=(HR@5:0.2611,NDCG@5:0.1770) [1.4 s] *',
    'Epoch 4     loss=0.4012 [29.0 s]\tdev=(HR@5:0.2598,NDCG@5:0.1761) [1.4 s]',
    'Early stop at 4 based on dev result.',
    '',
    'Best Iter(dev)=    3\t dev=(HR@5:0.2611,NDCG@5:0.1770) [125.4 s] ',
    'Load model from ../model/BPRMF/BPRMF__Grocery_and_Gourmet_Food__0__lr=0.001__l2=1e-06.pt',
    '',
    'Dev  After Training: (HR@5:0.2611,NDCG@5:0.1770,HR@10:0.3590,NDCG@10:0.2088,HR@20:0.4702,NDCG@20:0.2369,HR@50:0.6633,NDCG@50:0.2751)',
    '',
    'Test After Training: (HR@5:0.2211,NDCG@5:0.1490,HR@10:0.3112,NDCG@10:0.1781,HR@20:0.4205,NDCG@20:0.2056,HR@50:0.6201,NDCG@50:0.2450)',
    '--------------------------------------------- END: 2022-03-20 10:25:20 -----------------------------------------------',
]


def write(folder: Path, lines: list[str], name: str) -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def settings(run) -> dict:
    return {key: fact.value for key, fact in run.declared.items()}


def test_recbole_curve_finals_settings_counts_and_protocol(tmp_path: Path) -> None:
    path = write(tmp_path, RECBOLE, "BPR-ml-100k-Jan-05-2021_10-20-08.log")
    assert max(sniff_scores("\n".join(RECBOLE)).items(), key=lambda kv: kv[1])[0] == "recbole"
    run, = read_runs([str(path)])
    assert run.format == "recbole"
    assert settings(run) == {
        "random_seed": 2020, "batch_size": 2048, "learning_rate": 0.001, "eval_candidates": 100, "topN": 10,
        "model_type": "BPR", "dataset": "ml-100k", "embedding_dim": 64, "user_count": 944, "item_count": 1683,
        "interaction_count": 100000}
    assert run.declared["eval_candidates"].ref.line == 20 and "uni100" in run.declared["eval_candidates"].text
    assert run.declared["item_count"].text == "The number of items: 1683"
    assert run.curve["iter"].tolist() == [0, 1, 2, 3]
    assert run.curve["train_loss"].tolist() == [27.7231, 27.4412, 26.1038, 22.871]
    assert run.curve["recall"].tolist() == [0.0085, 0.0121, 0.0317, 0.0533]
    assert run.curve["hitrate"].tolist() == [0.0721, 0.1013, 0.1941, 0.2812]
    assert run.extra_metrics["step_unit"] == "epoch" and run.extra_metrics["curve_cutoff"] == 10
    test = run.finals["test"]
    assert (test.recall, test.ndcg, test.hitrate, test.cutoff, test.ref.line) == (0.0612, 0.0567, 0.3117, 10, 58)
    assert run.finals["valid"].recall == 0.0533
    # MRR and precision are kept (not judged) once the shared line grammar names them.
    assert "other_metrics" not in run.extra_metrics or \
        run.extra_metrics["other_metrics"]["test"] == {"mrr@10": 0.0951, "precision@10": 0.0433}
    assert run.stop_reason == "max_iter"  # epochs = 4, the last epoch 3, no early-stop line
    assert run.coverage.lines_with_numbers > 30 and run.coverage.unread_metric_count == 0


def test_recbole_full_mode_early_stop_colours_and_eval_step(tmp_path: Path) -> None:
    lines = [line.replace("'mode': 'uni100'", "'mode': {'valid': 'full', 'test': 'full'}") for line in RECBOLE]
    lines = [line.replace("eval_step = 1", "eval_step = 2") for line in lines]
    # Epochs 1 and 3 train without evaluating (eval_step 2); a terminal copy keeps colour codes.
    body = [line for line in lines if not (("epoch 1 evaluating" in line) or ("epoch 3 evaluating" in line))]
    out: list[str] = []
    skip = 0
    for index, line in enumerate(body):
        if skip:
            skip -= 1
            continue
        if "valid result" in line and index > 0 and ("epoch 1 training" in body[index - 1]
                                                     or "epoch 3 training" in body[index - 1]):
            skip = 1
            continue
        out.append(line.replace("epoch 2 training", "\x1b[1;32mepoch 2 training\x1b[0m"))
    at = next(i for i, line in enumerate(out) if "Loading model structure" in line)
    out.insert(at, "Tue 05 Jan 2021 10:20:13 INFO  Finished training, best eval result in epoch 2")
    out[-1] = "Tue 05 Jan 2021 10:20:14 INFO  test result: {'recall@10': 0.0612, 'ndcg@10': 0.0567, 'hit@10': 0.3117}"
    run, = read_runs([str(write(tmp_path, out, "recbole.log"))])
    assert run.declared["eval_candidates"].value == "full"
    assert run.curve["iter"].tolist() == [0, 2]
    assert run.extra_metrics["training_prints_skipped"] == 2
    assert run.stop_reason == "early_stop" and run.extra_metrics["best_epoch"] == 2
    assert run.finals["test"].hitrate == 0.3117


def test_rechorus_curve_finals_settings_and_sampled_protocol(tmp_path: Path) -> None:
    path = write(tmp_path, RECHORUS, "BPRMF__Grocery_and_Gourmet_Food__0__lr=0.001.txt")
    assert max(sniff_scores("\n".join(RECHORUS)).items(), key=lambda kv: kv[1])[0] == "rechorus"
    run, = read_runs([str(path)])
    assert run.format == "rechorus"
    assert settings(run) == {
        "model_type": "BPRMF", "batch_size": 256, "dataset": "Grocery_and_Gourmet_Food", "embedding_dim": 64,
        "learning_rate": 0.001, "random_seed": 0, "eval_candidates": 99, "topN": 50, "user_count": 14682,
        "item_count": 8714, "interaction_count": 151254}
    assert run.declared["eval_candidates"].text.split() == ["test_all", "|", "0"]
    assert run.curve["iter"].tolist() == [1, 2, 3, 4]
    assert run.curve["train_loss"].tolist() == [0.6931, 0.5123, 0.441, 0.4012]
    assert run.curve["hitrate"].tolist() == [0.2299, 0.2489, 0.2611, 0.2598]
    assert run.curve["recall"].tolist() == run.curve["hitrate"].tolist()  # one target per instance
    assert run.extra_metrics["curve_cutoff"] == 5
    test = run.finals["test"]
    assert (test.hitrate, test.ndcg, test.cutoff, test.ref.line) == (0.6201, 0.245, 50, 40)
    assert run.extra_metrics["final_test"]["hitrate@20"] == 0.4205
    assert run.finals["valid"].hitrate == 0.6633
    assert run.stop_reason == "early_stop" and run.extra_metrics["best_epoch"] == 3


def test_line_helpers() -> None:
    assert strip_prefix("Tue 05 Jan 2021 10:20:08 INFO  epoch 0 training [time: 0.52s]") == \
        "epoch 0 training [time: 0.52s]"
    assert strip_prefix("06 Jan 10:20    WARNING  x = 1") == "x = 1"
    assert strip_prefix("epoch 0 training") == "epoch 0 training"
    assert paren_groups("Epoch 3 loss=0.5 [1.2 s] dev=(HR@5:0.2,NDCG@5:0.1) test=(HR@5:0.19)") == [
        ("dev", "HR@5:0.2,NDCG@5:0.1"), ("test", "HR@5:0.19")]


def test_framework_sniffers_leave_other_logs_alone() -> None:
    original = "\n".join(["['src/train.py', '--dataset', 'book']", "iter: 1000, train loss: 7.1234",
                          "valid recall: 0.050000, valid ndcg: 0.030000, valid hitrate: 0.100000"])
    assert recbole.sniff(original) == 0.0 and rechorus.sniff(original) == 0.0


def test_recdoc_analyze_judges_framework_logs(tmp_path: Path) -> None:
    for lines, name in ((RECBOLE, "recbole.log"), (RECHORUS, "rechorus.txt")):
        path = write(tmp_path, lines, name)
        out = tmp_path / f"out-{name}"
        done = subprocess.run([sys.executable, "-m", "recdoc", "analyze", str(path), "--out", str(out), "--format",
                               "json", "--no-plots"], capture_output=True, text=True, timeout=120)
        assert done.returncode in (0, 1), done.stderr + done.stdout
        report = json.loads((out / "diagnosis.json").read_text())
        assert report["verdict"] != "unusable"
    diagnosis, = analyze_all([str(tmp_path / "rechorus.txt")])
    assert diagnosis.verdict != "unusable" and "eval-broken" not in [f.id for f in diagnosis.findings]


def test_rechorus_without_test_all_uses_its_codes_default(tmp_path: Path) -> None:
    lines = [line for line in RECHORUS if "test_all" not in line]
    run, = read_runs([str(write(tmp_path, lines, "rechorus.txt"))])
    fact = run.declared["eval_candidates"]
    assert (fact.value, fact.ref.line) == (99, None) and "default" in fact.text


def test_recbole_output_in_a_notebook(tmp_path: Path) -> None:
    notebook = {"cells": [{"cell_type": "code", "source": ["run_recbole(model='BPR', dataset='ml-100k')"],
                           "outputs": [{"output_type": "stream", "name": "stdout",
                                        "text": [line + "\n" for line in RECBOLE]}]}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "recbole.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    run, = read_runs([str(path)])
    assert run.format == "recbole" and run.curve["recall"].tolist() == [0.0085, 0.0121, 0.0317, 0.0533]
    assert run.finals["test"].ref.line == 58  # the 58th printed line


def test_two_runs_appended_in_one_log(tmp_path: Path) -> None:
    second = [line.replace("seed = 2020", "seed = 2021").replace("('recall@10', 0.0612)", "('recall@10', 0.0598)")
              for line in RECBOLE]
    first_run, second_run = read_runs([str(write(tmp_path, RECBOLE + second, "recbole.log"))])
    assert (first_run.declared["random_seed"].value, second_run.declared["random_seed"].value) == (2020, 2021)
    assert (first_run.finals["test"].recall, second_run.finals["test"].recall) == (0.0612, 0.0598)
    assert second_run.curve["line"].tolist()[0] == len(RECBOLE) + 39
    diagnosis, = analyze_all([str(tmp_path / "recbole.log")])  # one configuration, two seeds: pooled
    assert diagnosis.run.extra_metrics["repeats"]["count"] == 2
    again = RECHORUS + RECHORUS
    assert len(read_runs([str(write(tmp_path, again, "rechorus.txt"))])) == 2


def test_each_appended_rechorus_run_keeps_its_own_namespace(tmp_path: Path) -> None:
    # The second run's `Namespace(...)` line comes after the first run's output: its settings are the second run's.
    second = [line.replace("model_name='BPRMF'", "model_name='NeuMF'").replace("| 0.001 ", "| 0.005 ")
              for line in RECHORUS]
    first_run, second_run = read_runs([str(write(tmp_path, RECHORUS + second, "rechorus.txt"))])
    assert (first_run.declared["model_type"].value, second_run.declared["model_type"].value) == ("BPRMF", "NeuMF")
    assert (first_run.declared["learning_rate"].value, second_run.declared["learning_rate"].value) == (0.001, 0.005)
    assert second_run.declared["model_type"].ref.line == len(RECHORUS) + 1
