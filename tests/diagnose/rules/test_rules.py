"""Each rule on a hand-built run that shows (or clears) its cause; the documentation `recdoc explain` prints."""

from __future__ import annotations

import math

import pytest

from recdoc.diagnose import curve as curves
from recdoc.diagnose.config_inference import infer_config
from recdoc.diagnose.findings import Finding, NotACause
from recdoc.diagnose.observed_run import CheckpointInfo, Event, Fact, ReadCoverage, SourceRef
from recdoc.diagnose.paper_comparison import compare_with_paper
from recdoc.diagnose.rules import RULE_CLASSES, RULES, explain_rule
from recdoc.diagnose.rules.base import BaselineRun, RuleContext, data_proximity
from recdoc.errors import UsageError
from recdoc.thresholds import Thresholds
from support.diagnose_factory import INCIDENT_EXP, healthy_run, incident_run, make_run, plateau_recalls

GOOD_DR = "book_ComiRec-DR_b128_lr0.005_d64_len20_x"
REQUIRED_IDS = {"lr-model-mismatch", "undertrained", "early-stop-too-soon", "neg-samples", "batch-size",
                "ndcg-definition", "cutoff-mismatch", "dataset-mismatch", "eval-broken", "divergence", "oscillation",
                "overfitting", "wiring-suspect", "interrupted"}


def context(run, overrides=None, baselines=()) -> RuleContext:
    config = infer_config(run, overrides or {})
    summary = curves.summarize(run.curve, Thresholds.TREND_WINDOW)
    baseline_runs = [BaselineRun(b, infer_config(b, {}), curves.summarize(b.curve, Thresholds.TREND_WINDOW))
                     for b in baselines]
    return RuleContext(run, config, compare_with_paper(run, config), summary, baseline_runs)


def check(rule_id: str, run, overrides=None, baselines=()) -> Finding | NotACause | None:
    return RULES[rule_id]().check(context(run, overrides, baselines))


# ------------------------------------------------------------------ registry and documentation
def test_registry_has_every_required_rule_with_documented_sections() -> None:
    assert REQUIRED_IDS <= set(RULES)
    for rule in RULE_CLASSES:
        doc = rule.documentation()
        for section in ("What it checks:", "Why it matters:", "Evidence it cites:", "Fix:"):
            assert section in doc, (rule.id, section)
        assert rule.statement and "\n" not in rule.statement


def test_explain_prints_the_docstring_sections_and_all_lists_ids() -> None:
    text = explain_rule("lr-model-mismatch")
    assert text.startswith("lr-model-mismatch: ")
    assert "What it checks:" in text and "--learning_rate 0.005" in text
    listing = explain_rule("all")
    assert [line.split()[0] for line in listing.splitlines() if not line.startswith(" ")] == list(RULES)
    assert all(rule_id in listing for rule_id in REQUIRED_IDS)
    with pytest.raises(UsageError, match="wiring-suspect"):
        explain_rule("no-such-rule")


# ------------------------------------------------------------------ curve helpers
def test_curve_helpers_on_a_hand_computed_curve() -> None:
    run = make_run(recalls=[0.01, 0.03, 0.02, 0.03, 0.05, 0.04, 0.045])
    assert curves.improvement_rows(run.curve) == [0, 1, 4]  # 0.03 again is not a strict improvement
    assert int(curves.best_row(run.curve)["iter"]) == 5000
    assert curves.evaluations_since_best(run.curve) == 2
    assert curves.decay_from_peak(run.curve) == pytest.approx((0.05 - 0.045) / 0.05)
    assert curves.relative_trend([1.0, 2.0, 3.0], 10.0) == pytest.approx(0.2)
    assert curves.jitter([1.0, 2.0, 1.0, 2.0], 10.0) == pytest.approx(0.1)
    assert curves.direction_changes([1.0, 2.0, 1.0, 2.0]) == pytest.approx(1.0)
    assert curves.direction_changes([1.0, 2.0, 3.0, 4.0]) == 0.0


def test_data_proximity_scales_from_small_dense_data_to_the_papers() -> None:
    assert data_proximity("book", None) == 1.0
    assert data_proximity("ml100k", 1350) == Thresholds.PROXIMITY_SMALL
    assert data_proximity("mine", 500_000) == 1.0
    assert Thresholds.PROXIMITY_SMALL < data_proximity("mine", 20_000) < 1.0
    assert data_proximity(None, None) == Thresholds.PROXIMITY_UNKNOWN


# ------------------------------------------------------------------ the incident
def test_incident_names_the_learning_rate_on_both_prior_and_curve() -> None:
    finding = check("lr-model-mismatch", incident_run())
    assert isinstance(finding, Finding)
    assert finding.severity == "high" and finding.basis == "both" and finding.confidence >= 0.75
    assert finding.fix.changes == {"learning_rate": 0.005}
    assert any(e.ref == SourceRef("train.log", 3) for e in finding.evidence)  # the exp name line


def test_incident_clears_negatives_and_patience() -> None:
    negatives = check("neg-samples", incident_run())
    assert isinstance(negatives, NotACause) and "1280" in negatives.title
    assert "matches the reference" in negatives.reason
    patience = check("early-stop-too-soon", incident_run())
    assert isinstance(patience, NotACause) and "patience too small" in patience.title
    assert "51 evaluations without improvement" in patience.reason
    budget = check("undertrained", incident_run())
    assert isinstance(budget, NotACause) and "plateaued" in budget.reason


def test_incident_ndcg_is_a_definition_difference() -> None:
    finding = check("ndcg-definition", incident_run())
    assert isinstance(finding, Finding) and finding.fix.changes == {"ndcg": "paper"}
    assert any("0.34" in e.text for e in finding.evidence)
    assert any("4.55%" in e.text and "13.52%" in e.text for e in finding.evidence)


@pytest.mark.parametrize(("ratio", "definition", "severity"), [(0.21, "standard", "medium"), (0.34, "master", "medium"),
                                                             (0.55, "unknown", "low")])
def test_ndcg_definition_fires_for_every_definition_but_the_papers(ratio: float, definition: str,
                                                                  severity: str) -> None:
    run = make_run(argv=["src/train.py", "--dataset", "book", "--model_type", "DNN"],
                   finals={"test": (0.07, ratio * 0.153, 0.153)})
    finding = check("ndcg-definition", run)
    assert isinstance(finding, Finding) and finding.severity == severity
    assert definition in finding.title
    assert any(f"{ratio:.2f}" in e.text for e in finding.evidence)
    paper = make_run(argv=["src/train.py", "--dataset", "book", "--model_type", "DNN"],
                     finals={"test": (0.07, 0.77 * 0.153, 0.153)})
    assert check("ndcg-definition", paper) is None


def test_a_stated_standard_ndcg_is_not_the_papers() -> None:
    run = make_run(fmt="recdoc", declared={"dataset": "book", "model_type": "DNN", "ndcg": "standard"},
                   finals={"test": (0.07, 0.03, 0.153)})
    finding = check("ndcg-definition", run)
    assert isinstance(finding, Finding) and "standard" in finding.title and finding.confidence >= 0.9


def test_ndcg_definition_is_silent_when_the_paper_ndcg_was_also_computed() -> None:
    run = make_run(fmt="recdoc", declared={"dataset": "book", "model_type": "ComiRec-SA", "ndcg": "master"},
                   finals={"test": (0.085, 0.055, 0.172)})
    assert isinstance(check("ndcg-definition", run), Finding)
    run.extra_metrics["final_test"] = {"recall@50": 0.085, "ndcg_paper@50": 0.135, "ndcg_master@50": 0.055,
                                       "hitrate@50": 0.172}
    assert check("ndcg-definition", run) is None


# ------------------------------------------------------------------ priors weighed against data and curve
def test_learning_rate_prior_is_weak_on_small_dense_data() -> None:
    checkpoint = CheckpointInfo("ckpt", "tf1-saver", "model.ckpt", None, True, SourceRef("ckpt/checkpoint"),
                                tensors={"item_count": 1350})
    run = make_run(exp_name="ml100k_ComiRec-DR_b128_lr0.001_d64_len20_x", recalls=plateau_recalls(120, 0.2, 60),
                   checkpoints=[checkpoint], finals={"test": (0.2, 0.3, 0.6)})
    finding = check("lr-model-mismatch", run)
    book = check("lr-model-mismatch", incident_run())
    assert isinstance(finding, Finding) and finding.severity == "low"
    assert finding.confidence < 0.3 < book.confidence
    assert "differs from Book/Taobao" in finding.explanation


def test_learning_rate_prior_is_weakened_by_an_early_peak_and_cleared_by_paper_numbers() -> None:
    early_peak = [0.05 + 0.03 * min(i, 20) / 20 - 0.0004 * max(0, i - 20) for i in range(100)]
    run = make_run(exp_name=INCIDENT_EXP, recalls=early_peak, finals={"test": (0.065, 0.05, 0.14)},
                   losses=[8 - 0.01 * i for i in range(100)])
    weakened = check("lr-model-mismatch", run)
    assert isinstance(weakened, Finding) and weakened.basis == "prior"
    assert weakened.confidence < check("lr-model-mismatch", incident_run()).confidence
    reached = make_run(exp_name=INCIDENT_EXP, recalls=plateau_recalls(400, 0.082, 340),
                       finals={"test": (0.0815, 0.135, 0.176)})
    assert isinstance(check("lr-model-mismatch", reached), NotACause)
    assert check("lr-model-mismatch", healthy_run()) is None


def test_an_assumed_learning_rate_lowers_confidence() -> None:
    run = incident_run()
    run.exp_name = None  # nothing states the learning rate: 0.001 is only the flag's default
    run.argv = None
    # The data and the model are known (a port's header), the rate is not.
    run.declared = {"dataset": Fact("book", SourceRef("train.log", 1)),
                    "model_type": Fact("ComiRec-DR", SourceRef("train.log", 1))}
    finding = check("lr-model-mismatch", run)
    assert finding.confidence == pytest.approx(0.6 * check("lr-model-mismatch", incident_run()).confidence)
    assert "assumed" in finding.explanation


def test_a_default_the_printed_argv_confirms_is_known_not_assumed() -> None:
    run = incident_run()
    run.exp_name = None  # the printed sys.argv has no --learning_rate: the original's default 0.001 was used
    run.argv = type(run.argv)(["src/train.py", "--dataset", "book", "--model_type", "ComiRec-DR"], run.argv.ref)
    finding = check("lr-model-mismatch", run)
    assert finding.confidence == pytest.approx(check("lr-model-mismatch", incident_run()).confidence)
    assert "assumed" not in finding.explanation
    assert any("flag absent from the printed argv" in e.text for e in finding.evidence)


# ------------------------------------------------------------------ training course
def test_undertrained_when_the_cap_stops_a_rising_curve() -> None:
    rising = [0.02 + 0.0003 * i for i in range(150)]
    run = make_run(exp_name=GOOD_DR, recalls=rising, stop_reason="max_iter", finals={"test": (0.064, 0.1, 0.14)})
    finding = check("undertrained", run, {"max_iter": "150"})
    assert isinstance(finding, Finding) and finding.severity == "high" and finding.basis == "both"
    assert finding.fix.changes == {"max_iter": 300}


def test_early_stop_too_soon_when_the_patience_window_still_trends_up() -> None:
    # Noisy rise: every new best is followed by dips that climb back; patience 5 stops inside a dip.
    values = []
    for i in range(60):
        values.append(0.02 + 0.0006 * i + (0.004 if i % 7 == 0 else 0.0))
    values = values[:57] + [values[56] - 0.002 + 0.0004 * k for k in range(6)]
    run = make_run(exp_name=GOOD_DR, argv=["src/train.py", "--patience", "5"], recalls=values)
    finding = check("early-stop-too-soon", run)
    assert isinstance(finding, Finding), finding
    # Like for like: the original's default patience, not double a patience far below it (2 -> 4 stays too short).
    assert finding.fix.changes == {"patience": 50}
    assert check("undertrained", run) is None  # not reported twice


def test_divergence_on_nan_loss() -> None:
    losses = [8.0 - 0.01 * i for i in range(29)] + [float("nan")]
    printed = Event("nan", SourceRef("train.log", 92), "iter: 30000, train loss: nan, valid recall: 0.019")
    run = make_run(exp_name=GOOD_DR, recalls=[0.01 * (1 + i / 30) for i in range(30)], losses=losses,
                   stop_reason="nan", events=[printed])
    finding = check("divergence", run)
    assert isinstance(finding, Finding) and finding.severity == "high"
    assert finding.fix.changes == {"learning_rate": 0.0025}
    assert finding.evidence[0].ref == SourceRef("train.log", 92)  # the printed token that proves it


def test_a_loss_never_read_is_not_a_divergence() -> None:
    # A NaN cell is a value never read; a reader's nan event or stop on a line that prints no nan/inf is absence.
    losses = [float("nan")] * 30
    unprinted = Event("nan", SourceRef("train.log", 92), "epoch: 13, batch: 6506:")
    run = make_run(exp_name=GOOD_DR, recalls=[0.01 * (1 + i / 30) for i in range(30)], losses=losses,
                   stop_reason="nan", events=[unprinted])
    assert check("divergence", run) is None
    ctx = context(run)
    assert not ctx.loss_nonfinite and ctx.stop_reason != "nan"


def test_divergence_from_nan_values_in_the_checkpoint() -> None:
    broken = CheckpointInfo("ckpt", "tf1-saver", "model.ckpt", None, True, SourceRef("ckpt/checkpoint"),
                            tensors={"nan_count": 12, "inf_count": 0})
    run = make_run(exp_name=GOOD_DR, recalls=plateau_recalls(60, 0.05, 30), checkpoints=[broken])
    finding = check("divergence", run)
    assert isinstance(finding, Finding) and "12 NaN" in finding.evidence[0].text


def test_divergence_on_rising_loss_and_collapsing_recall() -> None:
    recalls = [0.05 * min(i, 20) / 20 for i in range(1, 41)]
    recalls = recalls[:20] + [0.05 * (1 - 0.04 * k) for k in range(1, 21)]
    losses = [8 - 0.05 * i for i in range(20)] + [7 + 0.1 * k for k in range(20)]
    finding = check("divergence", make_run(exp_name=GOOD_DR, recalls=recalls, losses=losses))
    assert isinstance(finding, Finding) and finding.confidence == pytest.approx(0.75)


def test_oscillation_on_a_zig_zag() -> None:
    zigzag = [0.06 if i % 2 else 0.045 for i in range(80)]
    finding = check("oscillation", make_run(exp_name=GOOD_DR, recalls=zigzag))
    assert isinstance(finding, Finding) and finding.fix.changes == {"learning_rate": 0.0025}


def test_overfitting_when_recall_decays_while_loss_falls() -> None:
    recalls = [0.08 * min(i, 30) / 30 - 0.0003 * max(0, i - 30) for i in range(1, 101)]
    finding = check("overfitting", make_run(exp_name=GOOD_DR, recalls=recalls,
                                            losses=[8 - 0.02 * i for i in range(100)]))
    assert isinstance(finding, Finding) and finding.severity == "low"
    assert check("divergence", make_run(exp_name=GOOD_DR, recalls=recalls,
                                        losses=[8 - 0.02 * i for i in range(100)])) is None


def test_interrupted_run_without_test_line() -> None:
    event = Event("interrupted", SourceRef("train.log", 99), "Exiting from training early")
    run = make_run(exp_name=GOOD_DR, recalls=[0.01, 0.02, 0.03], stop_reason="interrupted", events=[event])
    finding = check("interrupted", run)
    assert isinstance(finding, Finding) and finding.severity == "high"
    assert finding.evidence[0].ref == SourceRef("train.log", 99)


# ------------------------------------------------------------------ integrity
def test_an_unfinished_rising_run_is_reported_once_as_interrupted() -> None:
    run = make_run(exp_name=GOOD_DR, recalls=[0.01, 0.02, 0.025, 0.03, 0.036], stop_reason="unfinished")
    assert check("undertrained", run) is None
    finding = check("interrupted", run)
    assert any("trend over the last 5 evaluations" in e.text for e in finding.evidence)


def test_eval_broken_when_iterations_have_no_metrics() -> None:
    rows = [{"iter": 1000 * (i + 1), "train_loss": 8.0, "file": "train.log", "line": 5 + i} for i in range(10)]
    # The original's evaluation line printed without its metrics (the reader's eval_missing events): a fault.
    declared = [Event("eval_missing", SourceRef("train.log", 5 + i), f"iter: {1000 * (i + 1)} without validation "
                      "metrics") for i in range(10)]
    declared.append(Event("traceback", SourceRef("train.log", 20), "ValueError: The passed save_path is not a "
                          "valid checkpoint"))
    finding = check("eval-broken", make_run(exp_name=GOOD_DR, rows=rows, events=declared))
    assert isinstance(finding, Finding) and not finding.fix.applicable
    assert finding.evidence[0].ref == SourceRef("train.log", 5)
    # The same rows from a code whose evaluation line is unknown, or without a crash: not read, not a fault.
    assert check("eval-broken", make_run(exp_name=GOOD_DR, rows=rows)) is None
    assert check("eval-broken", make_run(exp_name=GOOD_DR, rows=rows, events=declared[:-1])) is None
    # ...nor when the readers saw metric-like lines they did not understand.
    unread = make_run(exp_name=GOOD_DR, rows=rows, events=declared)
    unread.coverage = ReadCoverage(10, 0, [(SourceRef("train.log", 5), "iter: 1000, recall[@10]: 0.07")], 10)
    assert check("eval-broken", unread) is None


def test_eval_broken_when_evaluations_stop_printing_metrics() -> None:
    recalls = [0.01 * (i + 1) for i in range(6)] + [float("nan")] * 4
    finding = check("eval-broken", make_run(exp_name=GOOD_DR, recalls=recalls))
    assert isinstance(finding, Finding) and "last 4 of 10" in finding.evidence[0].text
    # Metrics missing here and there amid printed ones are lines not read (or damage), not a fault.
    holes = [0.01, float("nan"), 0.02, 0.03, float("nan"), 0.04, 0.05, 0.06]
    assert check("eval-broken", make_run(exp_name=GOOD_DR, recalls=holes)) is None


def test_only_evaluation_tracebacks_count_as_a_broken_evaluation() -> None:
    faiss = Event("traceback", SourceRef("train.log", 40), "AttributeError: module 'faiss' has no attribute "
                                                           "'StandardGpuResources'")
    oom = Event("traceback", SourceRef("train.log", 40), "ResourceExhaustedError: OOM when allocating tensor")
    crashed = dict(exp_name=GOOD_DR, recalls=[0.01, 0.02, 0.03], stop_reason="crashed")
    assert check("eval-broken", make_run(events=[faiss], **crashed)).evidence[0].ref == SourceRef("train.log", 40)
    assert check("eval-broken", make_run(events=[oom], **crashed)) is None
    interrupted = check("interrupted", make_run(events=[oom], **crashed))
    assert any("OOM" in e.text for e in interrupted.evidence)


def test_dataset_mismatch_from_item_count_and_from_constant_recall() -> None:
    checkpoint = CheckpointInfo("ckpt", "tf1-saver", "model.ckpt", None, True, SourceRef("ckpt/checkpoint"),
                                tensors={"item_count": 313967})
    by_items = check("dataset-mismatch", make_run(exp_name=GOOD_DR, recalls=plateau_recalls(80, 0.07, 40),
                                                  checkpoints=[checkpoint]))
    assert isinstance(by_items, Finding) and not by_items.fix.applicable and by_items.confidence == 0.85
    constant = check("dataset-mismatch", make_run(exp_name=GOOD_DR, recalls=[0.000007] * 60))
    assert isinstance(constant, Finding)
    assert check("oscillation", make_run(exp_name=GOOD_DR, recalls=[0.000007] * 60)) is None


def test_wiring_suspect_strength_depends_on_data_and_checkpoint_evidence() -> None:
    dnn_book = make_run(exp_name="book_DNN_b128_lr0.001_d64_len20_x", finals={"test": (0.082, 0.06, 0.17)})
    finding = check("wiring-suspect", incident_with_a_healthy_loss(), baselines=[dnn_book])
    assert isinstance(finding, Finding) and finding.severity == "high" and not finding.fix.applicable
    assert finding.confidence == pytest.approx(0.7)
    # The incident's own loss (at chance while recall rises, rules/loss.py) is evidence of its own: 0.75.
    assert check("wiring-suspect", incident_run(), baselines=[dnn_book]).confidence == pytest.approx(0.75)

    small = CheckpointInfo("ckpt", "tf1-saver", "model.ckpt", None, True, SourceRef("c"), tensors={"item_count": 1350})
    dr_ml = make_run(exp_name="ml100k_ComiRec-DR_b128_lr0.005_d64_len20_x", finals={"test": (0.18, 0.3, 0.6)},
                     checkpoints=[small])
    dnn_ml = make_run(exp_name="ml100k_DNN_b128_lr0.001_d64_len20_x", finals={"test": (0.21, 0.3, 0.6)})
    weak = check("wiring-suspect", dr_ml, baselines=[dnn_ml])
    assert isinstance(weak, Finding) and weak.severity == "low" and weak.confidence < 0.3

    dead = CheckpointInfo("ckpt", "tf1-saver", "model.ckpt", None, True, SourceRef("c"),
                          tensors={"item_count": 1350, "dead_interests": 3, "K": 4})
    dr_dead = make_run(exp_name="ml100k_ComiRec-DR_b128_lr0.005_d64_len20_x", finals={"test": (0.18, 0.3, 0.6)},
                       checkpoints=[dead])
    strong = check("wiring-suspect", dr_dead, baselines=[dnn_ml])
    assert strong.confidence == pytest.approx(0.9) and strong.basis == "both"

    other_family = CheckpointInfo("ckpt", "tf1-saver", "model.ckpt", None, True, SourceRef("ckpt/checkpoint"),
                                  tensors={"item_count": 367983, "family": "DNN"})
    named_dr = make_run(exp_name=GOOD_DR, finals={"test": (0.07, 0.1, 0.15)}, checkpoints=[other_family])
    family = check("wiring-suspect", named_dr)
    assert family.confidence == pytest.approx(0.6) and family.evidence[0].ref == SourceRef("ckpt/checkpoint")

    dnn_low = make_run(exp_name="book_DNN_b128_lr0.001_d64_len20_x", finals={"test": (0.05, 0.04, 0.12)})
    assert isinstance(check("wiring-suspect", incident_with_a_healthy_loss(), baselines=[dnn_low]), NotACause)
    # no baseline, no checkpoint evidence, a loss like the original's
    assert check("wiring-suspect", incident_with_a_healthy_loss()) is None
    # The incident's loss alone still says "wiring"; a baseline that clears it halves what the loss is worth.
    alone = check("wiring-suspect", incident_run())
    assert isinstance(alone, Finding) and alone.confidence == pytest.approx(0.75)
    contested = check("wiring-suspect", incident_run(), baselines=[dnn_low])
    assert isinstance(contested, Finding) and contested.confidence == pytest.approx(0.375)
    assert contested.severity == "low" and any(e.values.get("baseline_clears") for e in contested.evidence)


def incident_with_a_healthy_loss():
    """The incident with the loss the original's DR logs at lr 0.001 on Book (falling from 7.95 to ~3.5 by 284k)."""
    run = incident_run()
    run.curve["train_loss"] = [7.95 - 4.4 * (1 - math.exp(-i / 120)) for i in range(len(run.curve))]
    return run


# ------------------------------------------------------------------ settings and comparability
def test_neg_samples_finding_when_it_differs() -> None:
    finding = check("neg-samples", incident_run(), {"neg_num": "20"})
    assert isinstance(finding, Finding) and finding.fix.changes == {"neg_num": 10}
    assert "2560" in finding.title


def test_batch_size_smaller_than_the_originals_below_the_paper() -> None:
    run = make_run(exp_name="book_ComiRec-DR_b64_lr0.005_d64_len20_x", recalls=plateau_recalls(300, 0.06, 200),
                   finals={"test": (0.06, 0.09, 0.13)})
    finding = check("batch-size", run)
    assert isinstance(finding, Finding) and finding.severity == "low" and finding.fix.changes == {"batch_size": 128}


def test_cutoff_mismatch() -> None:
    odd = make_run(argv=["src/train.py", "--dataset", "book", "--topN", "100"], finals={"test": (0.1, 0.08, 0.2)})
    assert check("cutoff-mismatch", odd).severity == "medium"
    port = make_run(fmt="pytorch-port", argv=["train.py", "--dataset", "book"], finals={"test": (0.05, 0.09, 0.12)})
    at20 = check("cutoff-mismatch", port)
    assert at20.severity == "info" and "@20" in at20.title
    assert check("cutoff-mismatch", healthy_run()) is None


def test_no_rule_fires_on_a_healthy_run() -> None:
    ctx = context(healthy_run())
    outcomes = [rule().check(ctx) for rule in RULE_CLASSES]
    assert [o.id for o in outcomes if isinstance(o, Finding)] == []
    assert not math.isnan(ctx.summary.trend_last_window)


def test_lr_model_mismatch_confidence_follows_the_data_identity() -> None:
    from recdoc.diagnose.findings import Setting

    run = make_run(exp_name="book_ComiRec-DR_b128_lr0.001_d64_len20_x", recalls=plateau_recalls(60, 0.05, 30))
    ctx = context(run)
    named = RULES["lr-model-mismatch"]().check(ctx)
    # The same run on data named `book14`, identified as Book at 0.80: the prior is worth 0.80 of itself.
    ctx.config["dataset"] = Setting("book14", "log")
    ctx.config["paper_dataset"] = Setting("book", "identified (the name 'book14' names book; confidence 0.80)")
    identified = RULES["lr-model-mismatch"]().check(ctx)
    assert ctx.identity_confidence == 0.8 and ctx.proximity == 1.0
    assert identified.confidence == pytest.approx(named.confidence * 0.8)
    assert identified.severity == named.severity
    assert "identified as book with confidence 0.80" in identified.explanation


def test_a_declared_sampled_candidate_evaluation_is_not_comparable_with_the_paper() -> None:
    run = make_run(exp_name=GOOD_DR, recalls=plateau_recalls(60, 0.05, 30), finals={"test": (0.3, 0.2, 0.5)})
    run.declared["eval_candidates"] = Fact(100, SourceRef("train.log", 4), "eval_setting: uni100")
    finding = check("evaluation-protocol", run)
    assert isinstance(finding, Finding) and finding.evidence[0].ref == SourceRef("train.log", 4)
    assert "(100 candidates)" in finding.title
    ctx = context(run)
    assert ctx.comparisons and not any(c.comparable for c in ctx.comparisons)
    assert all("sampled candidates" in c.note for c in ctx.comparisons if c.paper_value is not None)
    run.declared["eval_candidates"] = Fact("full", SourceRef("train.log", 4))
    assert check("evaluation-protocol", run) is None


def test_an_ndcg_below_the_single_target_bound_is_impossible() -> None:
    # One target per user (recall = hit rate 0.12 @20): NDCG@20 >= 0.12 / log2(21) = 0.0273 under any definition.
    bad = make_run(exp_name=GOOD_DR, recalls=plateau_recalls(60, 0.05, 30), hr_over_recall=1.0, ndcg_over_hr=0.2,
                   finals={"test": (0.12, 0.02, 0.12)}, declared={"topN": 20})
    finding = check("evaluation-protocol", bad)
    assert isinstance(finding, Finding) and "NDCG@20 0.0200 < HitRate@20 / log2(21) = 0.0273" in \
        finding.evidence[0].text
    # Several targets per user (recall below hit rate): the bound does not hold, nothing is claimed.
    multi = make_run(exp_name=GOOD_DR, recalls=plateau_recalls(60, 0.05, 30), ndcg_over_hr=0.2,
                     finals={"test": (0.06, 0.02, 0.12)}, declared={"topN": 20})
    assert check("evaluation-protocol", multi) is None
