"""The doctor on injected faults (bench/faults.py): curves recorded from recdoc's own ComiRec-DR runs on
MovieLens-100K (test_iter 100, lr 0.005 unless the fault sets it), and split files written by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from recdoc.diagnose import curve as curves
from recdoc.diagnose.config_inference import infer_config
from recdoc.diagnose.engine import analyze_paths, analyze_run, rank_findings
from recdoc.diagnose.findings import Finding, Fix, NotACause
from recdoc.diagnose.paper_comparison import compare_with_paper
from recdoc.diagnose.readers.recdoc_folder import read
from recdoc.diagnose.readers.split_facts import id_frequency_spearman
from recdoc.diagnose.rules import RULES, explain_rule
from recdoc.diagnose.rules.base import RuleContext, trend_window
from recdoc.thresholds import Thresholds
from support.diagnose_factory import make_run

# valid Recall@50 and train loss of the clean run (patience 5): best 0.2781 at iter 1800, early stop at 2400.
CLEAN_RECALLS = [0.1528, 0.161, 0.1651, 0.1785, 0.2025, 0.2144, 0.2301, 0.2252, 0.2388, 0.2492, 0.255, 0.2431,
                 0.2678, 0.2558, 0.2578, 0.2656, 0.275, 0.2781, 0.2661, 0.268, 0.262, 0.2683, 0.256, 0.2703]
CLEAN_LOSSES = [7.077, 6.551, 6.135, 5.857, 5.686, 5.546, 5.495, 5.387, 5.275, 5.172, 5.125, 5.037, 5.018, 4.953,
                4.948, 4.903, 4.872, 4.839, 4.826, 4.823, 4.798, 4.763, 4.759, 4.713]
# lr 10: Adam's bounded steps keep the loss finite, far above ln(1350) = 7.208 (a uniform guess).
LR10_RECALLS = [0.0878, 0.1397, 0.1025, 0.1074, 0.1131, 0.1079, 0.0867, 0.1182]
LR10_LOSSES = [111.396, 132.575, 126.164, 102.688, 68.727, 50.205, 41.787, 37.406]
# batch 16: still climbing when max_iter 3 (3,000 iterations) stopped it.
BATCH16_RECALLS = [0.0634, 0.0777, 0.1054, 0.1369, 0.1482, 0.1613, 0.1579, 0.1688, 0.1811, 0.187, 0.1945, 0.1934,
                   0.2019, 0.203, 0.2012, 0.2167, 0.2184, 0.2155, 0.2151, 0.2128, 0.2147, 0.2288, 0.2155, 0.2362,
                   0.2341, 0.2345, 0.238, 0.2395, 0.2434, 0.2433]


def recdoc_run(recalls: list[float], losses: list[float] | None = None, stop_reason: str = "early_stop",
               **config: object) -> object:
    declared = {"dataset": "ml100k", "model_type": "ComiRec-DR", "learning_rate": 0.005, "batch_size": 128,
                "neg_num": 10, "patience": 5, "test_iter": 100, "max_iter": 3, "item_count": 1350, "ndcg": "paper",
                "topN": 50}
    declared.update(config)
    return make_run(fmt="recdoc", declared=declared, recalls=recalls, losses=losses, test_iter=100,
                    stop_reason=stop_reason, finals={"test": (max(recalls) * 1.02, 0.5, 0.9)})


def ids(diagnosis: object, above_info: bool = True) -> list[str]:
    return [f.id for f in diagnosis.findings if not above_info or f.severity != "info"]


def rule_context(run: object) -> RuleContext:
    config = infer_config(run, {})
    return RuleContext(run, config, compare_with_paper(run, config), curves.summarize(run.curve, trend_window(config)))


# ------------------------------------------------------------------ the trend window follows the run's patience
def test_a_clean_run_that_converged_by_early_stopping_raises_nothing() -> None:
    run = recdoc_run(CLEAN_RECALLS, CLEAN_LOSSES)
    # The premise: over a fixed 51-evaluation window (here the whole run) the initial climb reads as "rising".
    assert curves.summarize(run.curve, Thresholds.TREND_WINDOW).trend_last_window >= Thresholds.STILL_RISING
    diagnosis = analyze_run(run, {}, [])
    assert ids(diagnosis) == []
    assert trend_window(diagnosis.config) == 6
    not_causes = {n.id: n for n in diagnosis.not_causes}
    assert "patience too small" in not_causes["early-stop-too-soon"].title


def test_trend_window_is_patience_plus_one_between_the_shape_minimum_and_51() -> None:
    windows = {p: trend_window(infer_config(recdoc_run(CLEAN_RECALLS, patience=p), {})) for p in (2, 5, 50, 200)}
    assert windows == {2: 5, 5: 6, 50: 51, 200: 51}


def test_patience_2_on_the_same_climbing_curve_is_named_and_fixed_with_the_originals_patience() -> None:
    cut = CLEAN_RECALLS[:16]  # patience 2 stops at iter 1600: best 0.2678 at 1300, three evaluations below it
    diagnosis = analyze_run(recdoc_run(cut, CLEAN_LOSSES[:16], patience=2), {}, [])
    assert ids(diagnosis) == ["early-stop-too-soon"]
    finding = diagnosis.findings[0]
    assert finding.fix.changes == {"patience": 50}
    assert "too few to tell a plateau from noise" in finding.explanation


def test_patience_at_or_above_the_originals_is_doubled() -> None:
    recalls = [0.03 + 0.0001 * i for i in range(200)]
    recalls += [recalls[-1] * (0.95 + 0.0004 * k) for k in range(101)]
    finding = RULES["early-stop-too-soon"]().check(rule_context(recdoc_run(recalls, patience=100)))
    assert isinstance(finding, Finding) and finding.fix.changes == {"patience": 200}


# ------------------------------------------------------------------ divergence without a NaN
def test_loss_far_above_a_uniform_guess_is_divergence_fixed_with_the_recommended_rate() -> None:
    diagnosis = analyze_run(recdoc_run(LR10_RECALLS, LR10_LOSSES, learning_rate=10.0), {}, [])
    top = diagnosis.findings[0]
    assert top.id == "divergence" and top.severity == "high" and "uniform guess" in top.title
    assert top.fix.changes == {"learning_rate": 0.005}  # the README's rate for DR, not 10 / 2
    guess = next(e for e in top.evidence if "uniform_guess_loss" in e.values)
    # 10 x 128 + 1 = 1,281 sampled candidates; the item table's 1,350 is the larger (conservative) count
    assert guess.values["uniform_guess_loss"] == pytest.approx(math.log(1350))
    assert "18.4x" in guess.text  # 132.575 / 7.208


def test_a_healthy_loss_near_the_uniform_guess_is_not_divergence() -> None:
    assert RULES["divergence"]().check(rule_context(recdoc_run(CLEAN_RECALLS, CLEAN_LOSSES))) is None


def test_a_full_softmax_guesses_among_all_items() -> None:
    from recdoc.diagnose.rules.training import uniform_guess_loss

    context = rule_context(recdoc_run(CLEAN_RECALLS, CLEAN_LOSSES, item_count=367983, dataset="book"))
    assert uniform_guess_loss(context) == pytest.approx(math.log(367983))


# ------------------------------------------------------------------ batch size off the paper's data
def test_batch_16_on_movielens_is_named_below_a_stronger_budget_finding() -> None:
    # A low-level prior (batch-size at 0.15 off the paper's data) never heads a medium finding (issue 17 item 5).
    diagnosis = analyze_run(recdoc_run(BATCH16_RECALLS, batch_size=16, stop_reason="max_iter"), {}, [])
    assert ids(diagnosis) == ["undertrained", "batch-size"]
    batch = diagnosis.findings[1]
    assert batch.severity == "low" and batch.fix.changes == {"batch_size": 128}
    assert batch.confidence == pytest.approx(0.6 * 0.25)  # scaled by the data's proximity to Book (1,350 items)
    assert any("confidence scaled by 0.25" in e.text for e in batch.evidence)


def test_the_originals_batch_on_other_data_is_not_a_cause() -> None:
    outcome = RULES["batch-size"]().check(rule_context(recdoc_run(CLEAN_RECALLS)))
    assert isinstance(outcome, NotACause) and outcome.reason == "matches the reference"


def test_budget_findings_rank_below_every_settings_finding_of_their_level() -> None:
    def finding(rule_id: str, severity: str, confidence: float) -> Finding:
        return Finding(rule_id, rule_id, severity, confidence, "evidence", (), Fix({}, ""))

    ranked = rank_findings([finding("undertrained", "high", 0.9), finding("lr-model-mismatch", "high", 0.76),
                            finding("divergence", "high", 0.8), finding("batch-size", "info", 0.4)])
    assert [f.id for f in ranked] == ["divergence", "lr-model-mismatch", "undertrained", "batch-size"]
    # The headline is the strongest finding the evidence supports: a low-level prior ranks below a high one.
    weak = rank_findings([finding("undertrained", "high", 0.9), finding("lr-model-mismatch", "low", 0.2)])
    assert [f.id for f in weak] == ["undertrained", "lr-model-mismatch"]
    alone = rank_findings([finding("batch-size", "info", 0.4), finding("undertrained", "medium", 0.6)])
    assert [f.id for f in alone] == ["undertrained", "batch-size"]  # an info note demotes nothing


# ------------------------------------------------------------------ lowering the rate, and priors off their data
@pytest.mark.parametrize(("lr", "expected"), [(0.001, {}), (0.005, {"learning_rate": 0.0025}),
                                              (0.05, {"learning_rate": 0.005})])
def test_oscillation_never_proposes_a_rate_below_the_models_recommended_one(lr: float, expected: dict) -> None:
    zigzag = [0.06 if i % 2 else 0.045 for i in range(80)]
    finding = RULES["oscillation"]().check(rule_context(recdoc_run(zigzag, learning_rate=lr, dataset="book",
                                                                   item_count=367983, patience=50)))
    assert isinstance(finding, Finding) and finding.fix.changes == expected
    if not expected:
        assert "already below the 0.005 recommended" in finding.fix.how


def test_a_prior_the_curve_contradicts_off_its_data_is_only_a_note() -> None:
    # lr 0.05 on synthetic data (3,000 items) climbing to its best at the last evaluation: the README's 0.005 is a
    # prior from Book/Taobao and the run's own curve shows nothing wrong.
    climbing = [0.3 * (1 - math.exp(-i / 8)) for i in range(1, 25)]
    diagnosis = analyze_run(recdoc_run(climbing, learning_rate=0.05, dataset="syn", item_count=3000,
                                       stop_reason="max_iter"), {}, [])
    lr = diagnosis.finding("lr-model-mismatch")
    assert lr is not None and lr.severity == "info" and lr.basis == "prior"
    assert "--learning_rate 0.05" in diagnosis.rerun["recdoc"]  # an info finding's fix is not applied


# ------------------------------------------------------------------ the NDCG definition off the paper's data
def test_a_stated_master_ndcg_off_the_papers_data_is_noted_not_flagged() -> None:
    finding = RULES["ndcg-definition"]().check(rule_context(recdoc_run(CLEAN_RECALLS, ndcg="master")))
    assert isinstance(finding, Finding) and finding.severity == "info" and "no NDCG on this data" in finding.title
    on_book = RULES["ndcg-definition"]().check(rule_context(recdoc_run(CLEAN_RECALLS, ndcg="master", dataset="book",
                                                                       item_count=367983)))
    assert isinstance(on_book, Finding) and on_book.severity == "medium"


# ------------------------------------------------------------------ facts read from the split files
def write_split(path: Path, rows: list[tuple[int, int]]) -> None:
    path.write_text("".join(f"{user},{item},{rank}\n" for rank, (user, item) in enumerate(rows)))


def recdoc_folder(tmp_path: Path, train: list[tuple[int, int]], valid: list[tuple[int, int]],
                  test: list[tuple[int, int]]) -> Path:
    data = tmp_path / "data" / "toy_data"
    data.mkdir(parents=True)
    for split, rows in (("train", train), ("valid", valid), ("test", test)):
        write_split(data / f"toy_{split}.txt", rows)
    run = tmp_path / "run"
    run.mkdir()
    config = {"dataset": "toy", "model_type": "ComiRec-DR", "learning_rate": 0.005, "patience": 5, "test_iter": 100,
              "batch_size": 128, "neg_num": 10, "item_count": 6, "ndcg": "paper", "topN": 50,
              "data_dir": str(tmp_path / "data")}
    (run / "run.json").write_text(json.dumps({
        "exp_name": "toy_ComiRec-DR_b128_lr0.005_d64_len20_t", "config": config, "stop_reason": "early_stop",
        "data": {"files": [str(data / f"toy_{split}.txt") for split in ("train", "valid", "test")]},
        "final": {"test": {"recall@50": 0.2, "ndcg_paper@50": 0.3, "hitrate@50": 0.5}}}))
    (run / "metrics.jsonl").write_text("".join(json.dumps({"iter": 100 * (i + 1), "train_loss": 7.0 - 0.1 * i,
                                                           "recall@50": r}) + "\n"
                                               for i, r in enumerate(CLEAN_RECALLS)))
    return run


# item 1 seen 3 times, 2 twice, 3 once: ids by frequency.
BY_FREQUENCY = [(0, 1), (0, 2), (0, 1), (1, 1), (1, 2), (1, 3)]


def test_spearman_of_id_and_count_on_hand_computed_cases() -> None:
    assert id_frequency_spearman([1, 1, 1, 2, 2, 3]) == pytest.approx(-1.0)
    assert id_frequency_spearman([3, 3, 3, 2, 2, 1]) == pytest.approx(1.0)
    # counts 2, 1, 2: ranks of counts 2.5, 1, 2.5 against ids 1, 2, 3 -> correlation 0
    assert id_frequency_spearman([1, 1, 2, 3, 3]) == pytest.approx(0.0)
    assert id_frequency_spearman([1, 2, 3]) is None  # every count equal: no order to measure


def test_split_files_of_a_clean_recdoc_run_clear_both_data_rules(tmp_path: Path) -> None:
    run = recdoc_folder(tmp_path, BY_FREQUENCY, [(2, 1), (2, 2)], [(3, 2), (3, 1)])
    facts = read(run).extra_metrics["split_facts"]
    assert facts["id_frequency_spearman"] == pytest.approx(-1.0)
    assert (facts["valid_users"], facts["valid_users_in_train"], facts["test_users_in_train"]) == (1, 0, 0)
    diagnosis = analyze_paths([str(run)])
    assert {"ids-not-by-frequency", "split-leak"} <= {n.id for n in diagnosis.not_causes}
    assert not {"ids-not-by-frequency", "split-leak"} & set(ids(diagnosis, above_info=False))


def test_renumbered_ids_and_a_leaking_valid_split_are_named_with_a_non_applicable_fix(tmp_path: Path) -> None:
    renumbered = [(user, 4 - item) for user, item in BY_FREQUENCY]  # the most frequent item now has the top id
    run = recdoc_folder(tmp_path, renumbered, [(2, 3), (0, 3), (1, 2)], [(3, 2)])
    diagnosis = analyze_paths([str(run)])
    order = diagnosis.finding("ids-not-by-frequency")
    assert order is not None and order.severity == "medium" and "Spearman +1.00" in order.title
    assert order.evidence[0].ref.path.endswith("toy_train.txt")
    leak = diagnosis.finding("split-leak")
    assert leak is not None and leak.severity == "high" and "67% of the valid users" in leak.title
    for finding in (order, leak):
        assert not finding.fix.applicable and "recdoc data prepare" in finding.fix.how
    assert ids(diagnosis)[0] == "split-leak"


def test_a_run_json_naming_missing_split_files_reads_no_facts(tmp_path: Path) -> None:
    run = recdoc_folder(tmp_path, BY_FREQUENCY, [(2, 1)], [(3, 1)])
    for path in (tmp_path / "data" / "toy_data").iterdir():
        path.unlink()
    assert "split_facts" not in read(run).extra_metrics


def test_explain_fits_the_width_it_is_given_and_keeps_every_word() -> None:
    for rule_id in ["all", *RULES]:
        wide, narrow = explain_rule(rule_id, width=1000), explain_rule(rule_id, width=80)
        assert max(len(line) for line in narrow.splitlines()) <= 80, rule_id
        assert narrow.split() == wide.split()  # reflowed, nothing lost or cut


@pytest.mark.parametrize("rule_id", ["ids-not-by-frequency", "split-leak"])
def test_new_data_rules_are_documented_for_explain(rule_id: str) -> None:
    text = explain_rule(rule_id)
    assert text.startswith(f"{rule_id}: ") and "recdoc data prepare" in text


def test_a_run_stopped_before_its_first_evaluation_says_so() -> None:
    run = make_run(fmt="recdoc", declared={"dataset": "ml100k", "model_type": "ComiRec-DR", "learning_rate": 0.005,
                                           "item_count": 1350, "test_iter": 1000, "max_iter": 3},
                   recalls=[], stop_reason="interrupted", finals={})
    finding = RULES["interrupted"]().check(rule_context(run))
    assert finding is not None and finding.title == "the run did not finish (interrupted) before its first evaluation"
    assert "None" not in finding.evidence[0].text


def test_the_batch_fix_on_a_small_catalogue_is_one_the_trainer_accepts() -> None:
    """neg_num x batch sampled negatives must fit the catalogue: on 1,000 items the original's 128 (1,280
    negatives) would be refused, so the fix proposes the largest batch toward it that fits."""
    small = RULES["batch-size"]().check(rule_context(recdoc_run(BATCH16_RECALLS, batch_size=16, item_count=1000)))
    assert small.fix.changes == {"batch_size": 64} and "1,000 items can serve" in small.fix.expected_effect
    tiny = RULES["batch-size"]().check(rule_context(recdoc_run(BATCH16_RECALLS, batch_size=16, item_count=150)))
    assert tiny.fix.changes == {} and not tiny.fix.applicable and "more than this data's 150 items" in tiny.fix.how
    usual = RULES["batch-size"]().check(rule_context(recdoc_run(BATCH16_RECALLS, batch_size=16)))
    assert usual.fix.changes == {"batch_size": 128}  # 1,350 items hold 1,280 negatives


# ------------------------------------------------------------------ trends beyond the curve's own noise (issue 16 item 6)
# A clean run on MovieLens-100K at patience 5 (like bench/faults.py's clean seed 20): a climb, then values +-0.02
# around 0.2 (95 users per split), stopped after 6 evaluations without a new best. The last 6 evaluations "rise"
# by +3.8% of the best, well inside one evaluation's noise (about 6.5%).
NOISY_CLEAN = [0.0492, 0.0884, 0.1173, 0.1441, 0.1523, 0.1723, 0.1464, 0.1716, 0.1967, 0.1895, 0.2033, 0.1746,
               0.191, 0.1838, 0.197, 0.1993, 0.1777]


def test_a_trend_inside_the_curves_noise_is_not_an_early_stop_too_soon() -> None:
    context = rule_context(recdoc_run(NOISY_CLEAN))
    s = context.summary
    assert s.trend_last_window >= Thresholds.STILL_RISING  # the old test: "still rising"
    assert s.noise > 0.04 and not s.rising(s.trend_last_window, s.window)
    outcome = RULES["early-stop-too-soon"]().check(context)
    assert isinstance(outcome, NotACause) and "noise" in outcome.reason
    # The same run's curve without the noise, still climbing at the stop: a real early-stop-too-soon.
    climbing = [0.2 * (1 - math.exp(-i / 8)) for i in range(1, 18)]
    assert isinstance(RULES["early-stop-too-soon"]().check(rule_context(recdoc_run(climbing))), Finding)


def test_undertrained_means_still_rising_at_the_end_beyond_noise() -> None:
    from recdoc.diagnose.curve import noise_level, trend_uncertainty

    rising = [0.2 * (1 - math.exp(-2.5 * i / 40)) for i in range(1, 41)]
    climb_then_flat = [0.2 * (1 - math.exp(-4 * min(i, 10) / 10)) * (1 + 0.01 * ((i * 7919) % 11 - 5) / 5)
                       for i in range(1, 41)]
    cap = dict(stop_reason="max_iter", patience=50)
    assert isinstance(RULES["undertrained"]().check(rule_context(recdoc_run(rising, **cap))), Finding)
    # The window holds the early climb of a curve flat for its last 30 evaluations: not rising at the end.
    assert not isinstance(RULES["undertrained"]().check(rule_context(recdoc_run(climb_then_flat, **cap))), Finding)
    assert noise_level([0.1] * 10, 0.1) == 0.0 and trend_uncertainty(0.05, 6) > 0.05


def test_the_splits_size_bounds_the_noise_from_below() -> None:
    from recdoc.diagnose.curve import sampling_noise
    from recdoc.diagnose.engine import evaluation_users

    smooth = [0.2 * (1 - math.exp(-i / 3)) for i in range(1, 18)]  # no noise of its own
    assert curves.summarize(make_run(recalls=smooth).curve, 6).noise < 0.01
    # 95 users (MovieLens-100K's test split) at recall 0.2: one user's hit is 5% of the level.
    assert sampling_noise(0.2, 95) == pytest.approx(0.0526, abs=0.001)
    assert curves.summarize(make_run(recalls=smooth).curve, 6, eval_users=95).noise == pytest.approx(
        sampling_noise(max(smooth), 95))
    run = recdoc_run(smooth)
    run.extra_metrics["split_facts"] = {"valid_users": 95}
    assert evaluation_users(run, infer_config(run, {})) == 95


def test_a_long_run_climbing_slowly_at_its_cap_is_undertrained() -> None:
    # 2,000 evaluations (a 1M-iteration cap, one every 500): under 0.1% within the last 51 evaluations (the patience
    # window), inside the noise, but +3% over the run's last tenth and still rising over its later half.
    import numpy as np

    noise = np.random.default_rng(3).normal(0, 0.0003, 2000)
    slow = [0.05 + 0.025 * i / 2000 + n for i, n in enumerate(noise)]
    flat = [0.075 * (1 - 0.9 * math.exp(-min(i, 1200) / 150)) + n for i, n in enumerate(noise)]
    cap = dict(stop_reason="max_iter", patience=50, test_iter=500)
    context = rule_context(recdoc_run(slow, **cap))
    assert context.summary.trend_last_window < Thresholds.STILL_RISING
    finding = RULES["undertrained"]().check(context)
    assert isinstance(finding, Finding) and "the run's last tenth" in " ".join(e.text for e in finding.evidence)
    assert not isinstance(RULES["undertrained"]().check(rule_context(recdoc_run(flat, **cap))), Finding)
