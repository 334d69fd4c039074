"""An evaluation that measures nothing (`eval-broken`): metrics frozen to their printed digits while the loss moves.

Logs are generated here (made-up numbers in the original's and an epoch script's shapes): runs whose metrics never
respond to training must be found whatever the level's cause, and a converged plateau, a run still climbing, a
slow start near zero and a model that does not train at all must not be taken for one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from recdoc.diagnose.engine import analyze_paths
from recdoc.diagnose.evaluation_response import frozen_metrics, loss_movement, printed_step
from recdoc.diagnose.findings import Diagnosis, Finding
from recdoc.diagnose.observed_run import curve_from_rows
from recdoc.reports.jsonreport import render_json
from recdoc.reports.markdown import render_markdown
from recdoc.thresholds import Confidence, Thresholds
from support.generated_logs import MUTATIONS, epoch_log, losses_for, original_log, plateau, rising
from support.schema_check import validate

# Findings no training setting explains when the evaluation itself measures nothing.
TRAINING_FINDINGS = {"undertrained", "early-stop-too-soon", "lr-model-mismatch", "oscillation", "overfitting",
                     "divergence"}
ONE_HIT = 0.000004  # one user hit among 250,000: recall = NDCG = hit rate at one target per user


def diagnose(tmp_path: Path, text: str) -> Diagnosis:
    path = tmp_path / "train.log"
    path.write_text(text, encoding="utf-8")
    diagnosis = analyze_paths([str(path)])
    render_markdown(diagnosis)
    assert validate(json.loads(render_json(diagnosis))) == []
    return diagnosis


def frozen_finding(diagnosis: Diagnosis) -> Finding | None:
    finding = diagnosis.finding("eval-broken")
    return finding if finding is not None and "measures nothing" in finding.title else None


def line_of(tmp_path: Path, needle: str) -> int:
    lines = (tmp_path / "train.log").read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if needle in line)


# ------------------------------------------------------------------ the class, in several shapes
@pytest.mark.parametrize("dataset", ["shop", "book"])
def test_one_hit_frozen_over_a_whole_run_while_the_loss_falls(tmp_path: Path, dataset: str) -> None:
    text = original_log([ONE_HIT] * 30, dataset=dataset, hitrate_over_recall=1.0, ndcg_over_hitrate=1.0)
    diagnosis = diagnose(tmp_path, text)
    finding = frozen_finding(diagnosis)
    assert finding is not None and finding.severity == "high" and not finding.fix.applicable
    assert finding.confidence == pytest.approx(Confidence.UNRESPONSIVE_EVALUATION)
    assert finding.evidence[0].ref.line == line_of(tmp_path, "iter: 1000,")
    assert finding.evidence[1].ref.line == line_of(tmp_path, "iter: 30000,")
    texts = " | ".join(e.text for e in finding.evidence)
    assert "beyond its own noise" in texts and "recall = ndcg = hitrate" in texts and "never hits" in texts
    assert ids(diagnosis).isdisjoint(TRAINING_FINDINGS) and diagnosis.verdict == "findings"


def test_an_excerpt_of_two_frozen_evaluations_is_weaker_evidence_and_infers_no_patience(tmp_path: Path) -> None:
    text = original_log([ONE_HIT] * 2, dataset="shop", hitrate_over_recall=1.0, ndcg_over_hitrate=1.0,
                        losses=[2.3141, 2.3087], first_evaluation=41, header=False)
    diagnosis = diagnose(tmp_path, text)
    finding = frozen_finding(diagnosis)
    assert finding is not None and finding.confidence == pytest.approx(Confidence.UNRESPONSIVE_EXCERPT)
    assert finding.confidence < Confidence.UNRESPONSIVE_EVALUATION
    assert "Only 2 evaluations are shown" in finding.explanation
    assert any("too few evaluations to measure its own noise" in e.text for e in finding.evidence)
    assert diagnosis.config["patience"].is_default  # the best may lie before iter 41000
    assert ids(diagnosis).isdisjoint(TRAINING_FINDINGS)


def test_a_loss_flat_within_its_noise_leaves_only_the_level_as_evidence(tmp_path: Path) -> None:
    losses = [3.0 + 0.01 * math.sin(2.3 * i) for i in range(20)]  # noise around a level, no trend
    text = original_log([ONE_HIT] * 20, dataset="shop", losses=losses, hitrate_over_recall=1.0,
                        ndcg_over_hitrate=1.0)
    finding = frozen_finding(diagnose(tmp_path, text))
    assert finding is not None and finding.confidence == pytest.approx(Confidence.CONSTANT_RECALL)
    assert any("within its own noise" in e.text for e in finding.evidence)


def test_no_learning_rate_explains_an_excerpt_frozen_near_zero_on_the_papers_data(tmp_path: Path) -> None:
    # ComiRec-DR on Book at lr 0.001 (the README advises 0.005): the shortfall is not the rate's.
    text = original_log([ONE_HIT] * 2, dataset="book", model="ComiRec-DR", hitrate_over_recall=1.0,
                        ndcg_over_hitrate=1.0, losses=[5.0123, 4.9871], first_evaluation=41, header=False)
    diagnosis = diagnose(tmp_path, text)
    assert diagnosis.findings[0].id == "eval-broken" and frozen_finding(diagnosis) is not None
    assert ids(diagnosis).isdisjoint(TRAINING_FINDINGS)
    assert "lr-model-mismatch" in {item.id for item in diagnosis.not_causes}


def test_zero_at_every_epoch_of_an_epoch_script(tmp_path: Path) -> None:
    diagnosis = diagnose(tmp_path, epoch_log([0.0] * 12))
    finding = frozen_finding(diagnosis)
    assert finding is not None and finding.confidence == pytest.approx(Confidence.UNRESPONSIVE_EVALUATION)
    assert ids(diagnosis).isdisjoint(TRAINING_FINDINGS)


def test_frozen_at_an_ordinary_level_to_fine_digits_while_the_loss_falls(tmp_path: Path) -> None:
    diagnosis = diagnose(tmp_path, original_log([0.071234] * 12, dataset="shop"))
    finding = frozen_finding(diagnosis)
    assert finding is not None and finding.confidence == pytest.approx(Confidence.FROZEN_AT_LEVEL)
    assert any("no digit moved" in e.text for e in finding.evidence)


# ------------------------------------------------------------------ what must not be taken for it
def test_a_converged_plateau_is_not_frozen(tmp_path: Path) -> None:
    diagnosis = diagnose(tmp_path, original_log(plateau(90, rise=30), ending="early_stop"))
    assert diagnosis.finding("eval-broken") is None


def test_a_run_still_climbing_is_undertrained_not_frozen(tmp_path: Path) -> None:
    diagnosis = diagnose(tmp_path, original_log(rising(40), ending="max_iter"))
    assert diagnosis.finding("eval-broken") is None and diagnosis.finding("undertrained") is not None


def test_a_slow_start_near_zero_that_then_climbs_is_not_frozen(tmp_path: Path) -> None:
    recalls = [ONE_HIT, ONE_HIT] + [ONE_HIT * 3 ** k for k in range(1, 9)]
    assert frozen_finding(diagnose(tmp_path, original_log(recalls, dataset="shop"))) is None


def test_metrics_and_loss_both_frozen_is_a_model_that_does_not_train(tmp_path: Path) -> None:
    text = original_log([ONE_HIT] * 8, dataset="shop", losses=[7.1546] * 8, hitrate_over_recall=1.0,
                        ndcg_over_hitrate=1.0)
    assert frozen_finding(diagnose(tmp_path, text)) is None


def test_without_a_loss_read_training_is_not_shown_to_move_the_model(tmp_path: Path) -> None:
    text = MUTATIONS["no-loss"](original_log([ONE_HIT] * 30, dataset="shop", hitrate_over_recall=1.0,
                                             ndcg_over_hitrate=1.0))
    assert "loss" not in text.split("iter: 2000", 1)[1].splitlines()[0]
    assert frozen_finding(diagnose(tmp_path, text)) is None


@pytest.mark.parametrize("evaluations, recall", [(12, 0.08), (4, 0.071234)])
def test_frozen_at_an_ordinary_level_needs_fine_digits_and_several_evaluations(tmp_path: Path, evaluations: int,
                                                                               recall: float) -> None:
    # 0.080000 printed from 0.08 reads as two digits (too coarse to tell); four evaluations are too few.
    text = original_log([recall] * evaluations, dataset="shop", hitrate_over_recall=2.0, ndcg_over_hitrate=0.5)
    assert frozen_finding(diagnose(tmp_path, text)) is None


# ------------------------------------------------------------------ the pure helpers
def rows(recalls: list[float], losses: list[float], ratio: float = 1.0) -> list[dict[str, object]]:
    return [{"iter": 1000 * (i + 1), "recall": r, "ndcg": r * ratio, "hitrate": r, "train_loss": loss,
             "file": "train.log", "line": 3 * i + 2} for i, (r, loss) in enumerate(zip(recalls, losses))]


def test_frozen_metrics_needs_every_printed_metric_identical() -> None:
    frozen = frozen_metrics(curve_from_rows(rows([0.00002] * 3, [5.0, 4.9, 4.8])), 2)
    assert frozen is not None and frozen.all_equal and frozen.evaluations == 3 and frozen.first.line == 2
    assert frozen_metrics(curve_from_rows(rows([0.00002] * 3, [5.0, 4.9, 4.8], ratio=0.5)), 2) is not None
    moved = rows([0.00002] * 3, [5.0, 4.9, 4.8])
    moved[2]["ndcg"] = 0.00001
    assert frozen_metrics(curve_from_rows(moved), 2) is None
    assert frozen_metrics(curve_from_rows(rows([0.00002] * 3, [5.0, 4.9, 4.8])), 4) is None


def test_loss_movement_is_judged_against_its_own_noise_from_five_evaluations() -> None:
    falling = loss_movement(curve_from_rows(rows([0.0] * 20, losses_for(20))), Thresholds.NOISE_Z)
    assert falling is not None and falling.beyond_noise and falling.trend < 0
    wobble = [3.0 + 0.01 * math.sin(2.3 * i) for i in range(20)]  # noise around a level, no trend
    flat = loss_movement(curve_from_rows(rows([0.0] * 20, wobble)), Thresholds.NOISE_Z)
    assert flat is not None and flat.moved and flat.beyond_noise is False
    two = loss_movement(curve_from_rows(rows([0.0] * 2, [2.0, 1.9])), Thresholds.NOISE_Z)
    assert two is not None and two.beyond_noise is None and two.change == pytest.approx(-0.05)


@pytest.mark.parametrize("value, step", [(0.000007, 1e-6), (0.0812, 1e-4), (0.08, 1e-2), (0.123456, 1e-6)])
def test_printed_step_is_one_unit_of_the_last_digit_shown(value: float, step: float) -> None:
    assert math.isclose(printed_step(value), step)


def ids(diagnosis: Diagnosis) -> set[str]:
    return {finding.id for finding in diagnosis.findings}
