"""The verdict against seed noise: Welch's interval and when a winner is declared (pure arithmetic)."""

from __future__ import annotations

import math

import pytest

from recdoc.tune.seeds import Arm, betainc, judge, pooled_sd, t_quantile, welch_interval


@pytest.mark.parametrize("df, expected", [(1, 12.7062047), (2, 4.3026527), (3, 3.1824463), (10, 2.2281389),
                                          (30, 2.0422725)])
def test_t_quantiles_match_the_table(df: float, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-6)


def test_incomplete_beta_limits() -> None:
    assert betainc(2, 3, 0.0) == 0.0 and betainc(2, 3, 1.0) == 1.0
    assert betainc(1, 1, 0.3) == pytest.approx(0.3)  # uniform


def test_welch_interval_known_case() -> None:
    # R: t.test(c(1,2,3), c(2,3,5)) -> difference -1.3333, 95% CI [-4.4542, 1.7876], df 3.4483
    diff, low, high, df = welch_interval([1, 2, 3], [2, 3, 5])
    assert diff == pytest.approx(-4 / 3)
    assert (low, high) == (pytest.approx(-4.4542, abs=1e-3), pytest.approx(1.7876, abs=1e-3))
    assert df == pytest.approx(3.4483, abs=1e-3)


def test_a_gain_inside_the_seed_noise_declares_no_winner() -> None:
    verdict = judge(Arm("tuned", (0.25, 0.21, 0.27)), Arm("start", (0.24, 0.22, 0.23)), "test Recall@50")
    assert verdict.winner is None and verdict.low < 0 < verdict.high
    assert verdict.sentence.startswith("No setting beat the start beyond seed noise")
    assert "±" in verdict.sentence and "95% interval" in verdict.sentence


def test_a_gain_beyond_the_noise_declares_the_tuned_configuration() -> None:
    verdict = judge(Arm("tuned", (0.25, 0.251, 0.249)), Arm("start", (0.15, 0.151, 0.149)), "test Recall@50")
    assert verdict.winner == "best" and verdict.low > 0
    data = verdict.to_dict()
    assert data["method"] == "Welch t" and data["interval"][0] > 0


def test_one_seed_cannot_separate() -> None:
    verdict = judge(Arm("tuned", (0.3,)), Arm("start", (0.1,)), "m")
    assert verdict.winner is None and "at least 2 seeds" in verdict.sentence


def test_pooled_sd() -> None:
    assert pooled_sd([Arm("a", (1.0, 3.0)), Arm("b", (2.0, 4.0))]) == pytest.approx(math.sqrt(2))
