"""Dict and YAML dumps: a dict of metric lists, a config dump followed by final numbers in percent.

The dumps below are made up for these tests in the shapes forks write (a Python dict of `'Recall@K: value'` lists
printed at the end of a run, a YAML config dump with the results appended); none is copied from a real file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from recdoc.diagnose.engine import analyze_all
from recdoc.diagnose.readers import dump
from recdoc.diagnose.readers.detect import read_runs, sniff_scores

DICT_OF_LISTS = ("{'Recall': ['Recall@20: 0.0573', 'Recall@50: 0.0869'], 'NDCG': ['NDCG@20: 0.0911', "
                 "'NDCG@50: 0.1342'], 'HitRate': ['HitRate@20: 0.1201', 'HitRate@50: 0.1756']}\n")

YAML_DUMP = """dataset: book
model_type: ComiRec-DR
learning_rate: 0.005
batch_size: 128
embedding_dim: 64
num_interest: 4
maxlen: 20
topN: 50
test results:
  recall@50: 8.012
  ndcg@50: 13.211
  hitrate@50: 17.003
"""


def write(folder: Path, text: str, name: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_dict_of_lists(tmp_path: Path) -> None:
    path = write(tmp_path, DICT_OF_LISTS, "results.txt")
    assert max(sniff_scores(DICT_OF_LISTS).items(), key=lambda kv: kv[1])[0] == "dump"
    run, = read_runs([str(path)])
    assert run.format == "dump"
    test = run.finals["test"]
    assert (test.recall, test.ndcg, test.hitrate, test.cutoff, test.ref.line) == (0.0869, 0.1342, 0.1756, 50, 1)
    assert run.extra_metrics["final_test"]["recall@20"] == 0.0573
    assert "split not stated" in test.text
    assert (run.coverage.lines_with_numbers, run.coverage.lines_used) == (1, 1)


def test_dict_of_lists_over_several_lines_with_a_split(tmp_path: Path) -> None:
    text = "test metrics:\n{\n  'Recall': ['Recall@100: 0.1121'],\n  'NDCG': ['NDCG@100: 0.0467'],\n}\n"
    run, = read_runs([str(write(tmp_path, text, "metrics.txt"))])
    test = run.finals["test"]
    assert (test.recall, test.ndcg, test.cutoff, test.ref.line) == (0.1121, 0.0467, 100, 3)
    assert "split not stated" not in test.text


def test_yaml_config_dump_with_percent_results(tmp_path: Path) -> None:
    path = write(tmp_path, YAML_DUMP, "config_and_results.yaml")
    assert max(sniff_scores(YAML_DUMP).items(), key=lambda kv: kv[1])[0] == "dump"
    run, = read_runs([str(path)])
    assert {k: (f.value, f.ref.line) for k, f in run.declared.items()} == {
        "dataset": ("book", 1), "model_type": ("ComiRec-DR", 2), "learning_rate": (0.005, 3),
        "batch_size": (128, 4), "embedding_dim": (64, 5), "num_interest": (4, 6), "maxlen": (20, 7),
        "topN": (50, 8)}
    test = run.finals["test"]
    assert (test.recall, test.ndcg, test.hitrate, test.cutoff, test.ref.line) == (0.08012, 0.13211, 0.17003, 50, 10)
    assert run.extra_metrics["values_in_percent"] == ["hitrate", "ndcg", "recall"]
    diagnosis, = analyze_all([str(path)])
    recall = next(c for c in diagnosis.comparisons if c.metric == "recall" and c.cutoff == 50)
    assert recall.comparable and recall.run_value == 0.08012


def test_a_log_is_not_a_dump() -> None:
    log = "\n".join(["dataset: book", "model_type: DNN", "learning_rate: 0.005",
                     "iter: 1000, train loss: 7.1, valid recall: 0.05", "iter: 2000, train loss: 6.8, valid recall: 0.06"])
    assert dump.sniff(log) == 0.0


def test_recdoc_analyze_diagnoses_dumps(tmp_path: Path) -> None:
    for text, name in ((DICT_OF_LISTS, "results.txt"), (YAML_DUMP, "dump.yaml")):
        path = write(tmp_path, text, name)
        out = tmp_path / f"out-{name}"
        done = subprocess.run([sys.executable, "-m", "recdoc", "analyze", str(path), "--out", str(out), "--format",
                               "json", "--no-plots"], capture_output=True, text=True, timeout=120)
        assert done.returncode in (0, 1), done.stderr + done.stdout
        assert json.loads((out / "diagnosis.json").read_text())["verdict"] != "unusable"


def test_pretty_printed_json_results(tmp_path: Path) -> None:
    text = ('{\n  "model": "ComiRec-SA",\n  "dataset": "book",\n  "learning_rate": 0.005,\n  "test": {\n'
            '    "recall@50": 0.0712,\n    "ndcg@50": 0.1101,\n    "hitrate@50": 0.1634\n  }\n}\n')
    path = write(tmp_path, text, "results.json")
    assert max(sniff_scores(text).items(), key=lambda kv: kv[1])[0] == "dump"
    run, = read_runs([str(path)])
    assert {k: (f.value, f.ref.line) for k, f in run.declared.items()} == {
        "model_type": ("ComiRec-SA", 2), "dataset": ("book", 3), "learning_rate": (0.005, 4)}
    test = run.finals["test"]
    assert (test.recall, test.ndcg, test.hitrate, test.cutoff, test.ref.line) == (0.0712, 0.1101, 0.1634, 50, 6)
