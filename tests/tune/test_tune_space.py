"""The search space from the diagnosis (pure: no Optuna, no training)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from recdoc.config import RunConfig, sampling_that_fits
from recdoc.errors import UsageError
from recdoc.tune.space import Space, full_space, including, param_around, parse_space, space_from_diagnosis


def configs() -> tuple[RunConfig, RunConfig]:
    start = RunConfig.for_dataset("ml100k", model_type="ComiRec-DR", learning_rate=0.001, patience=2, max_iter=2,
                                  test_iter=100)
    base = RunConfig.for_dataset("ml100k", model_type="ComiRec-DR", learning_rate=0.005, patience=50, max_iter=2,
                                 test_iter=100)
    return base, start


def test_findings_centre_the_space_and_cleared_settings_stay_fixed() -> None:
    base, start = configs()
    space = space_from_diagnosis(base, start, [("learning_rate", "lr-model-mismatch"),
                                               ("patience", "early-stop-too-soon")],
                                 {"neg_num": "neg-samples", "batch_size": "batch-size"}, {}, 1350)
    assert space.names == ["learning_rate", "patience"]
    lr = space.param("learning_rate")
    assert lr.kind == "log_float" and math.isclose(math.sqrt(lr.low * lr.high), 0.005)  # centred, log scale
    assert lr.low <= 0.001 <= lr.high  # the start is inside the space
    patience = space.param("patience")
    assert patience.high == 20 and patience.low <= 2  # capped at the 20 evaluations the budget holds
    assert "cleared" in space.fixed["neg_num"] and "cleared" in space.fixed["batch_size"]
    assert space.fixed["num_interest"] == "no finding names it (the original's value)"


def test_space_option_adds_a_cleared_setting_with_its_range() -> None:
    base, start = configs()
    named = parse_space("neg_num=2:8,maxlen")
    space = space_from_diagnosis(base, start, [("learning_rate", "lr-model-mismatch")], {"neg_num": "neg-samples"},
                                 named, 1350)
    # patience 2 is not the original's 50 and no rule named it here: searched as well (see the test below)
    assert space.names == ["learning_rate", "patience", "neg_num", "maxlen"]
    neg = space.param("neg_num")
    assert (neg.low, neg.high) == (2.0, 10.0)  # widened to hold the enqueued value 10
    assert space.param("maxlen").choices == (10, 20, 40)


def test_a_setting_off_the_original_that_no_rule_checked_is_searched_toward_the_original() -> None:
    # MovieLens-100K at 10 evaluations: the start's patience 1 never stopped its slow lr-0.001 climb, so no rule
    # named it, but at the corrected rate the noisy 94-user curve dips and patience 1 stops runs early.
    start = RunConfig.for_dataset("ml100k", model_type="ComiRec-DR", learning_rate=0.001, patience=1, max_iter=1,
                                  test_iter=100)
    base = dataclasses.replace(start, learning_rate=0.005)
    space = space_from_diagnosis(base, start, [("learning_rate", "lr-model-mismatch")], {}, {}, 1350)
    assert space.names == ["learning_rate", "patience"]
    patience = space.param("patience")
    assert patience.low <= 1 and patience.high == 10 and "not the original's 50" in patience.why
    # A patience the budget never reaches acts as the original's: nothing to search.
    long = dataclasses.replace(start, patience=30)
    space = space_from_diagnosis(dataclasses.replace(long, learning_rate=0.005), long,
                                 [("learning_rate", "lr-model-mismatch")], {}, {}, 1350)
    assert space.names == ["learning_rate"]
    # A cleared setting stays fixed even off the original's value.
    small_batch = dataclasses.replace(start, patience=50, batch_size=64)
    space = space_from_diagnosis(dataclasses.replace(small_batch, learning_rate=0.005), small_batch,
                                 [("learning_rate", "lr-model-mismatch")], {"batch_size": "batch-size"}, {}, 1350)
    assert "batch_size" not in space.names and "cleared" in space.fixed["batch_size"]


def test_no_tunable_finding_searches_the_learning_rate() -> None:
    base, start = configs()
    space = space_from_diagnosis(base, base, [("ndcg", "ndcg-definition")], {}, {}, 1350)
    assert space.names == ["learning_rate"]


def test_full_space_leaves_out_interests_for_single_interest_models() -> None:
    base = RunConfig.for_dataset("syn", model_type="DNN")
    assert "num_interest" not in full_space(base, {}, 10_000).names
    assert full_space(base, parse_space("learning_rate"), 10_000).names == ["learning_rate"]


def test_space_round_trips_through_the_study_record() -> None:
    base, start = configs()
    space = full_space(base, {}, 1350)
    assert Space.from_dict(space.to_dict()) == space


def test_batch_choices_respect_the_catalogue_and_including_extends_choices() -> None:
    param = param_around("batch_size", 128, "x", item_count=100)
    assert max(param.choices) <= 99
    assert 256 in including(param, 256).choices


@pytest.mark.parametrize("text", ["lr", "learning_rate=0.1", "learning_rate=0.1:0.01", "patience=a:b"])
def test_bad_space_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_space(text)


class FakeTrial:
    """Answers suggest_* with the upper bound, and records the bounds it was asked for."""

    def __init__(self) -> None:
        self.params: dict = {}
        self.asked: dict = {}

    def suggest_float(self, name, low, high, log=False):
        self.asked[name] = (low, high)
        self.params[name] = high
        return high

    def suggest_int(self, name, low, high, log=False):
        return self.suggest_float(name, low, high)

    def suggest_categorical(self, name, choices):
        self.asked[name] = tuple(choices)
        self.params[name] = max(choices)
        return max(choices)


def test_neg_num_upper_bound_follows_the_batch_so_the_sampler_can_draw() -> None:
    base = RunConfig.for_dataset("ml100k", model_type="ComiRec-DR")
    space = full_space(base, parse_space("batch_size,neg_num"), 1350)
    trial = FakeTrial()
    values = space.suggest(trial)
    assert values["batch_size"] * values["neg_num"] <= 1349


@pytest.mark.parametrize("items", [600, 1001, 1350, 5000])
@pytest.mark.parametrize("searched", ["batch_size", "neg_num"])
def test_one_of_batch_and_neg_num_searched_beside_the_other_fixed_never_asks_for_more_than_the_catalogue(
        items: int, searched: str) -> None:
    # The other one stays at the base's value: the largest value the searched range offers must still fit beside it,
    # on a catalogue smaller or larger than the original's 1,280 negatives. The base itself is fitted first, as
    # `recdoc tune` fits the corrected run before it becomes trial 0.
    original = RunConfig.for_dataset("ml100k", model_type="ComiRec-DR")
    batch, negatives = sampling_that_fits(items, original.batch_size, original.neg_num)
    base = dataclasses.replace(original, batch_size=batch, neg_num=negatives)
    for space in (full_space(base, parse_space(searched), items),
                  space_from_diagnosis(base, base, [(searched, "a-finding")], {}, {}, items)):
        values = space.suggest(FakeTrial())  # FakeTrial takes the largest value offered
        batch = values.get("batch_size", base.batch_size)
        negatives = values.get("neg_num", base.neg_num)
        assert batch * negatives <= items - 1
        uncut = full_space(base, parse_space(searched), None).param(searched)
        if items > 2 * original.batch_size * original.neg_num:  # room for the base's pair and more: the range is not cut
            assert (space.param(searched).high, space.param(searched).choices) == (uncut.high, uncut.choices)
