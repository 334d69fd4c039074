"""recdoc/config.py: the one validation of a configuration, and sampling settings a small catalogue can serve."""

from __future__ import annotations

import dataclasses

import pytest

from recdoc.config import RunConfig, sampling_that_fits, validate, validate_model_shape, validate_with_data
from recdoc.errors import UsageError


@pytest.mark.parametrize("item_count", [11, 50, 300, 1281, 1350, 5000, 367_983])
def test_sampling_that_fits_any_catalogue_and_keeps_the_defaults_where_they_fit(item_count: int) -> None:
    batch, negatives = sampling_that_fits(item_count, 128, 10)
    assert batch >= 1 and negatives >= 1
    config = dataclasses.replace(RunConfig(), batch_size=batch, neg_num=negatives)
    validate_with_data(config, item_count, has_categories=False, data_path="d")  # does not raise
    if 10 * 128 <= item_count - 1:
        assert (batch, negatives) == (128, 10)
    assert sampling_that_fits(50, 128, 10) == (16, 3)  # MovieLens-small-like: batch first, then negatives


@pytest.mark.parametrize("change, message", [
    ({"ndcg": "ndcg"}, "--ndcg must be one of paper, master, standard"),
    ({"strategy": "horovod"}, "--strategy must be one of none, mirrored, multi_worker"),
    ({"model_type": "Foo"}, "unknown --model_type 'Foo'"),
    ({"embedding_dim": 32}, "--embedding_dim (32) must equal --hidden_size (64)"),
    ({"maxlen": 0}, "embedding_dim, num_interest and maxlen must be positive"),
    ({"neg_num": 0}, "batch_size, test_iter and neg_num must be positive"),
    ({"learning_rate": 0.0}, "--learning_rate and --finetune_lr must be positive"),
    ({"patience": -1}, "max_iter must be positive and patience non-negative"),
])
def test_validate_refuses_settings_that_cannot_work(change: dict, message: str) -> None:
    with pytest.raises(UsageError) as refused:
        validate(dataclasses.replace(RunConfig(), **change))
    assert message in str(refused.value)


def test_the_model_shape_is_checked_with_the_item_count_when_a_model_is_built() -> None:
    validate(RunConfig())  # the original's defaults pass
    with pytest.raises(UsageError, match="item_count must be at least 2"):
        validate_model_shape(RunConfig(), item_count=1)
    with pytest.raises(UsageError, match="neg_num x batch_size = 1280 but item_count = 1000"):
        validate_with_data(RunConfig(), 1000, has_categories=False, data_path="d")
    with pytest.raises(UsageError, match="--coef needs item categories"):
        validate_with_data(dataclasses.replace(RunConfig(), coef=0.1), 5000, has_categories=False, data_path="d")
