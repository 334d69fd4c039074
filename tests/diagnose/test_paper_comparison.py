"""Like-for-like comparison with the paper: same dataset, cut-off, NDCG definition, recall definition, K."""

from __future__ import annotations

import pytest

from recdoc.diagnose.config_inference import infer_config
from recdoc.diagnose.findings import Comparison
from recdoc.diagnose.paper_comparison import compare_with_paper
from support.diagnose_factory import incident_run, make_run


def _rows(run, overrides=None) -> dict[tuple[str, str], Comparison]:
    comparisons = compare_with_paper(run, infer_config(run, overrides or {}))
    return {(c.split, c.metric): c for c in comparisons}


def test_incident_against_table3_at_50() -> None:
    rows = _rows(incident_run())
    recall = rows[("test", "recall")]
    assert recall.cutoff == 50 and recall.comparable and recall.paper_confirmed
    assert recall.paper_value == pytest.approx(0.08106)
    assert recall.abs_gap == pytest.approx(0.061821 - 0.08106)
    assert recall.rel_gap == pytest.approx((0.061821 - 0.08106) / 0.08106)
    hitrate = rows[("test", "hitrate")]
    assert hitrate.paper_value == pytest.approx(0.17583)  # not the incident's "30%+"
    assert hitrate.comparable and not hitrate.paper_confirmed and "not confirmed" in hitrate.note
    ndcg = rows[("test", "ndcg")]
    assert not ndcg.comparable and ndcg.paper_value == pytest.approx(0.1352)
    assert ndcg.ndcg_definition == "master" and "definition difference" in ndcg.note


def test_a_run_at_20_compares_with_the_papers_20_column() -> None:
    run = make_run(fmt="pytorch-port", argv=["train.py", "--dataset", "book", "--model_type", "ComiRec-DR"],
                   finals={"test": (0.05, 0.09, 0.12)})
    rows = _rows(run)
    assert rows[("test", "recall")].cutoff == 20
    assert rows[("test", "recall")].paper_value == pytest.approx(0.05311)
    assert rows[("test", "ndcg")].comparable  # 0.09 / 0.12 = 0.75: the paper's definition


def test_other_k_uses_table4_and_has_no_hitrate() -> None:
    run = make_run(exp_name="book_ComiRec-DR_b128_lr0.005_d64_len20_k6", declared={"num_interest": 6},
                   finals={"test": (0.079, 0.131, 0.17)})
    rows = _rows(run)
    assert rows[("test", "recall")].paper_value == pytest.approx(0.07904)
    assert "Table 4" in rows[("test", "recall")].note
    assert rows[("test", "hitrate")].paper_value is None and not rows[("test", "hitrate")].comparable


def test_data_outside_the_paper_is_not_comparable_and_says_why() -> None:
    run = make_run(argv=["src/train.py", "--dataset", "ml100k", "--model_type", "ComiRec-DR"],
                   finals={"test": (0.2, 0.3, 0.6)})
    rows = _rows(run)
    assert all(not c.comparable and c.paper_value is None for c in rows.values())
    assert "ml100k is not in the paper" in rows[("test", "recall")].note


def test_taobao_recall_is_flagged_for_duplicate_targets_while_hitrate_compares() -> None:
    run = make_run(argv=["src/train.py", "--dataset", "taobao", "--model_type", "ComiRec-SA"],
                   finals={"test": (0.08, 0.24, 0.50)})
    rows = _rows(run)
    assert not rows[("test", "recall")].comparable and "duplicate" in rows[("test", "recall")].note
    assert rows[("test", "recall")].paper_value == pytest.approx(0.09462)
    assert rows[("test", "hitrate")].comparable


def test_cutoff_the_paper_lacks_has_no_paper_value() -> None:
    run = make_run(argv=["src/train.py", "--dataset", "book", "--model_type", "ComiRec-SA", "--topN", "100"],
                   finals={"test": (0.1, 0.2, 0.3)})
    rows = _rows(run)
    assert rows[("test", "recall")].paper_value is None and not rows[("test", "recall")].comparable


def test_without_final_lines_the_best_validation_evaluation_is_compared() -> None:
    run = make_run(exp_name="book_DNN_b128_lr0.001_d64_len20_x", recalls=[0.03, 0.07, 0.065], ndcg_over_hr=0.77,
                   hr_over_recall=2.0)
    rows = _rows(run)
    assert set(split for split, _ in rows) == {"best-valid"}
    assert rows[("best-valid", "recall")].run_value == pytest.approx(0.07)
    assert rows[("best-valid", "recall")].paper_value == pytest.approx(0.07312)


def test_recdoc_runs_compare_every_stored_cutoff_with_the_papers_ndcg() -> None:
    run = make_run(fmt="recdoc", declared={"dataset": "book", "model_type": "ComiRec-SA", "ndcg": "master"},
                   finals={"test": (0.08, 0.05, 0.16)})
    run.extra_metrics["final_test"] = {"recall@20": 0.055, "ndcg_paper@20": 0.09, "ndcg_master@20": 0.035,
                                       "hitrate@20": 0.114, "recall@50": 0.085, "ndcg_paper@50": 0.135,
                                       "ndcg_master@50": 0.055, "hitrate@50": 0.172}
    comparisons = compare_with_paper(run, infer_config(run, {}))
    rows = {(c.cutoff, c.metric): c for c in comparisons}
    assert set(rows) == {(20, "recall"), (20, "ndcg"), (20, "hitrate"), (50, "recall"), (50, "ndcg"), (50, "hitrate")}
    assert rows[(20, "recall")].paper_value == pytest.approx(0.05489)
    assert rows[(50, "ndcg")].run_value == pytest.approx(0.135) and rows[(50, "ndcg")].comparable
    assert rows[(50, "ndcg")].ndcg_definition == "paper"
