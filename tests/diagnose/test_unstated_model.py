"""A run whose data is the paper's but whose model is not stated is placed among the paper's models: one comparison
row per paper model (each naming its model, `model_unknown`), comparable only where the metric's definition matches
(recall, hit rate; NDCG only with the paper's definition), shown as a range in the report, and never read by a rule
as the run's own model's gap. Runs built here and logs generated here (a notebook's prints, nothing named)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recdoc import reference
from recdoc.diagnose.config_inference import infer_config
from recdoc.diagnose.engine import analyze_paths, analyze_run
from recdoc.diagnose.paper_comparison import compare_with_paper
from recdoc.reports.facts import headline_comparison
from recdoc.reports.markdown import render_markdown
from support.diagnose_factory import make_run


def unnamed_model_run(dataset: str, recall: float, ndcg_over_hr: float = 0.34, hr_over_recall: float = 2.2):
    hitrate = recall * hr_over_recall
    return make_run(argv=["src/train.py", "--dataset", dataset],
                    finals={"test": (recall, ndcg_over_hr * hitrate, hitrate)})


def test_one_row_per_paper_model_each_named_and_marked_model_unknown() -> None:
    run = unnamed_model_run("book", 0.0699)
    rows = compare_with_paper(run, infer_config(run, {}))
    models = list(reference.load()["paper"]["table3"]["book"])
    for metric in ("recall", "ndcg", "hitrate"):
        metric_rows = [c for c in rows if c.metric == metric and c.split == "test" and c.cutoff == 50]
        assert [c.model for c in metric_rows] == models
        assert all(c.model_unknown and c.paper_value is not None for c in metric_rows)
        assert all(c.comparable == (metric != "ndcg") for c in metric_rows), metric
    dnn = next(c for c in rows if c.metric == "recall" and c.model == "DNN")
    assert dnn.paper_value == pytest.approx(0.07312) and "not stated" in dnn.note


def test_paper_ndcg_compares_and_taobao_recall_does_not() -> None:
    paper_ndcg = unnamed_model_run("book", 0.07, ndcg_over_hr=0.77)
    rows = compare_with_paper(paper_ndcg, infer_config(paper_ndcg, {}))
    assert all(c.comparable for c in rows if c.metric == "ndcg")
    taobao = unnamed_model_run("taobao", 0.06, ndcg_over_hr=0.45, hr_over_recall=7.0)
    rows = compare_with_paper(taobao, infer_config(taobao, {}))
    assert rows and not any(c.comparable for c in rows if c.metric == "recall")
    assert all(c.comparable for c in rows if c.metric == "hitrate")


@settings(max_examples=12, deadline=None)
@given(recall=st.floats(0.005, 0.2))
def test_no_rule_reads_a_placement_as_the_models_gap(recall: float) -> None:
    """Far below every paper model or far above them all, the gap is nobody's: no model-gap rule fires."""
    diagnosis = analyze_run(unnamed_model_run("book", recall))
    ids = {f.id for f in diagnosis.findings}
    assert not ids & {"lr-model-mismatch", "above-paper"}, ids
    assert headline_comparison(diagnosis) is None
    assert any(c.model_unknown for c in diagnosis.comparisons)


def test_the_report_shows_the_paper_models_as_a_range_and_the_closest() -> None:
    diagnosis = analyze_run(unnamed_model_run("book", 0.0699))
    report = render_markdown(diagnosis)
    assert "from 2.40% (MostPopular) to 8.47% (ComiRec-SA)" in report
    assert "6.99% is closest to YouTube DNN's 7.31%" in report
    assert "ndcg-definition" in {f.id for f in diagnosis.findings}
    document = diagnosis.to_dict()
    rows = [c for c in document["comparisons"] if c["metric"] == "recall"]
    assert all(c["model_unknown"] is True and c["model"] for c in rows)


def notebook_log(recall: float, ndcg_over_hr: float) -> str:
    """A notebook's prints of ComiRec's Book (split-wise counts) with no dataset or model named."""
    book = reference.load()["original_defaults"]["datasets"]["book"]
    valid_users = 60_367
    lines = [f"Train users: {book['users'] - 2 * valid_users}", f"Train items: {book['item_count']}",
             f"Valid users: {valid_users}", f"Test users: {valid_users}"]
    value = recall / 2
    for step in range(1000, 21000, 1000):
        value += recall / 40
        hitrate = value * 2.2
        lines += [f"iters: {step}", "train loss: 5.0",
                  f"valid metrics: {{'users': {valid_users}, 'recall': {value:.5f}, "
                  f"'ndcg': {hitrate * ndcg_over_hr:.5f}, 'hitrate': {hitrate:.5f}}}"]
    hitrate = recall * 2.2
    lines.append(f"test metrics: {{'users': {valid_users}, 'recall': {recall:.5f}, "
                 f"'ndcg': {hitrate * ndcg_over_hr:.5f}, 'hitrate': {hitrate:.5f}}}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("ndcg_over_hr", "definition"), [(0.21, "standard"), (0.34, "master"), (0.77, "paper")])
def test_a_notebook_log_of_book_is_placed_and_its_ndcg_definition_read(tmp_path: Path, ndcg_over_hr: float,
                                                                        definition: str) -> None:
    (tmp_path / "train.log").write_text(notebook_log(0.07, ndcg_over_hr))
    diagnosis = analyze_paths([str(tmp_path / "train.log")])
    assert diagnosis.config["paper_dataset"].value == "book"
    assert diagnosis.config["ndcg"].value == definition
    ids = {f.id for f in diagnosis.findings}
    assert ("ndcg-definition" in ids) == (definition != "paper")
    assert not ids & {"lr-model-mismatch", "above-paper"}
    recall = [c for c in diagnosis.comparisons if c.metric == "recall" and c.split == "test"]
    assert any(c.model == "DNN" and c.comparable and c.paper_value == pytest.approx(0.07312) for c in recall)


def test_rules_see_placements_apart_from_the_runs_own_comparisons() -> None:
    from recdoc.diagnose import curve as curves
    from recdoc.diagnose.rules.base import RuleContext
    from recdoc.thresholds import Thresholds

    run = unnamed_model_run("book", 0.2)
    config = infer_config(run, {})
    rows = compare_with_paper(run, config)
    ctx = RuleContext(run, config, rows, curves.summarize(run.curve, Thresholds.TREND_WINDOW))
    assert ctx.comparisons == [] and len(ctx.placements) == len(rows)
    assert ctx.shortfall_comparison() is None and ctx.below_paper() is None


def test_an_unknown_ndcg_definition_is_no_setting_to_repeat() -> None:
    run = make_run(argv=["src/train.py", "--dataset", "book", "--model_type", "DNN"],
                   finals={"test": (0.07, 0.55 * 0.153, 0.153)})
    diagnosis = analyze_run(run)
    assert diagnosis.config["ndcg"].value == "unknown"
    assert not any("cannot compose" in note for note in diagnosis.notes), diagnosis.notes
