"""The data is identified by the counts a run prints, with or without a name: split-wise prints (`Train items: N`,
users per split) of the paper's data, a few items short of the catalogue because a split misses them, name the paper
dataset and are not `dataset-mismatch`; counts of other data name nothing. Logs generated here, in the shape of a
notebook's prints (no dataset or model named anywhere)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from recdoc import reference
from recdoc.diagnose.engine import analyze_paths


def notebook_log(train_users: int, split_users: int, train_items: int) -> str:
    lines = [f"Train users: {train_users}", f"Train items: {train_items}", "Train interactions: 7145481",
             f"Valid users: {split_users}", "Valid items: 249664", f"Test users: {split_users}", "Test items: 249724"]
    recall = 0.03
    for step in range(1000, 11000, 1000):
        recall += 0.004
        lines += [f"iters: {step}", "train loss: 6.5",
                  f"valid metrics: {{'users': {split_users}, 'recall': {recall:.4f}, 'ndcg': 0.02, "
                  f"'hitrate': {recall * 2.1:.4f}}}"]
    lines.append(f"test metrics: {{'users': {split_users}, 'recall': {recall:.4f}, 'ndcg': 0.02, "
                 f"'hitrate': {recall * 2.1:.4f}}}")
    return "\n".join(lines) + "\n"


BOOK = reference.load()["original_defaults"]["datasets"]["book"]


@settings(max_examples=8, deadline=None)
@given(missing_items=st.integers(0, 300), valid_users=st.integers(50_000, 70_000))
def test_split_counts_of_the_paper_data_identify_it(tmp_path_factory, missing_items: int, valid_users: int) -> None:
    folder: Path = tmp_path_factory.mktemp("counts")
    train_users = BOOK["users"] - 2 * valid_users  # the splits are user-disjoint: their sum is the dataset's users
    (folder / "train.log").write_text(notebook_log(train_users, valid_users, BOOK["item_count"] - missing_items))
    diagnosis = analyze_paths([str(folder / "train.log")])
    assert diagnosis.config["paper_dataset"].value == "book"
    assert "dataset-mismatch" not in [f.id for f in diagnosis.findings]


def test_counts_of_other_data_name_no_paper_dataset(tmp_path: Path) -> None:
    (tmp_path / "train.log").write_text(notebook_log(120_000, 15_000, 91_599))
    diagnosis = analyze_paths([str(tmp_path / "train.log")])
    assert "paper_dataset" not in diagnosis.config
