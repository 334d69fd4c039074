"""Fidelity review against the original `src/train.py::evaluate_full` (THUDM/ComiRec, master and paper branches).

The original searches `topN` items per interest and then, for a 3-D user embedding (every ComiRec/MIND model,
whatever K), merges the K lists: pairs sorted by score, repeats and item 0 dropped, the first topN kept. Only a
2-D user embedding (DNN, GRU4REC) keeps faiss' raw list, item 0 included. These tests pin the two places where
recdoc's one-retrieval-for-every-cut-off evaluation and its K = 1 shortcut departed from that.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recdoc import metrics
from recdoc.config import RunConfig
from recdoc.trainer import evaluate as ev

X_AND_Y = np.array([[[1.0, 0.0], [0.0, 1.0]]], dtype=np.float32)  # one user, interests along x and along y


def _original_merge(ids: np.ndarray, scores: np.ndarray, top_n: int) -> list[int]:
    """The original's merge for one user, restated: stable sort of all pairs by score, skip repeats and 0."""
    pairs = sorted(zip(ids.ravel().tolist(), scores.ravel().tolist()), key=lambda pair: pair[1], reverse=True)
    chosen: list[int] = []
    for item, _ in pairs:
        if item not in chosen and item != 0:
            chosen.append(item)
            if len(chosen) >= top_n:
                break
    return chosen


def test_a_smaller_cutoff_merges_only_that_cutoffs_lists_as_the_original() -> None:
    # Item 0 tops interest x, so the original at topN=2 sees x's [0, 1] and y's [3, 4]: after dropping 0 its list
    # is [1, 3]. A list merged at depth 3 and cut to 2 would be [1, 2] (item 2 is x's third).
    table = np.array([[2.0, -9.0], [1.0, 0.0], [0.8, 0.0], [0.0, 0.5], [0.0, 0.4]], dtype=np.float32)
    index = ev.ItemIndex(table)
    ids, scores = index.search(X_AND_Y[0], 2)
    assert _original_merge(ids, scores, 2) == [1, 3]
    result = ev.evaluate_interests(table, [(X_AND_Y, [np.array([2])])], cutoffs=(2, 3))
    assert result["recall@2"] == 0.0  # the original's list [1, 3] misses item 2
    assert result["recall@3"] == 1.0  # at topN=3: [1, 2, 3]


def test_controllable_aggregation_at_a_smaller_cutoff_uses_that_cutoffs_candidates() -> None:
    # Interest x retrieves 1 (1.0, cat 0), 2 (0.95, cat 0), then 5 (0.9, cat 1); y retrieves 3 and 4 (cat 0).
    # The original at topN=2, coef=1: candidates {1, 2, 3, 4}, all category 0 -> [1, 2]. With x's third item in
    # the pool (depth 3) the greedy step would pick 5 (0.9 beats 0.95 - 1) instead.
    table = np.array([[-5.0, -5.0], [1.0, 0.0], [0.95, 0.0], [0.0, 0.5], [0.0, 0.4], [0.9, 0.0]], dtype=np.float32)
    item_cate = {1: 0, 2: 0, 3: 0, 4: 0, 5: 1}
    result = ev.evaluate_interests(table, [(X_AND_Y, [np.array([2])])], cutoffs=(2, 3), item_cate=item_cate,
                                   coef=1.0)
    assert result["recall@2"] == 1.0  # [1, 2]
    assert result["diversity@2"] == 0.0  # both category 0
    assert result["recall@3"] == 1.0  # [1, 5, 2]
    assert result["diversity@3"] == pytest.approx(2 / 3)


def test_multi_interest_merge_applies_even_with_one_interest() -> None:
    # A ComiRec/MIND model with --num_interest 1 still returns [B, 1, d]: the original takes the merge branch
    # (item 0 dropped). DNN and GRU4REC return [B, d] and keep item 0.
    table = np.array([[2.0, 2.0], [1.0, 0.0], [0.0, 1.0], [0.9, 0.1]], dtype=np.float32)
    one_interest = np.array([[[1.0, 0.0]]], dtype=np.float32)
    index = ev.ItemIndex(table)
    # The original at topN=2 retrieves [0, 1] and drops 0: one item left, the empty slot is -1.
    assert ev.rank_items(index, one_interest, 2, merge=True).tolist() == [[1, -1]]
    assert ev.rank_items(index, one_interest, 2, merge=False).tolist() == [[0, 1]]
    assert ev.rank_items(index, one_interest, 2).tolist() == [[0, 1]]  # undeclared: K = 1 means one user vector


def test_models_declare_whether_the_original_merges_their_output() -> None:
    from recdoc.trainer.models import build_model

    kinds = {}
    for model_type in ("ComiRec-DR", "ComiRec-SA", "MIND", "DNN", "GRU4REC"):
        config = RunConfig(dataset="syn", model_type=model_type, num_interest=1, embedding_dim=4, hidden_size=4,
                           maxlen=5, batch_size=2)
        kinds[model_type] = build_model(config, 10).merges_interests
    assert kinds == {"ComiRec-DR": True, "ComiRec-SA": True, "MIND": True, "DNN": False, "GRU4REC": False}


def test_evaluate_drops_item_zero_for_a_one_interest_comirec_sa() -> None:
    from recdoc.trainer.data.dataset import Split
    from recdoc.trainer.models import build_model

    config = RunConfig(dataset="syn", model_type="ComiRec-SA", num_interest=1, embedding_dim=4, hidden_size=4,
                       maxlen=5, batch_size=2, topN=2, metrics_at=(2,))
    model = build_model(config, 12)
    split = Split(Path("toy_valid.txt"), np.array([0]), [np.array([3, 4, 5, 6, 7], dtype=np.int32)])
    hist = np.array([[3, 4, 5, 6, 0]], dtype=np.int32)
    mask = np.array([[1, 1, 1, 1, 0]], dtype=np.float32)
    interest = model.interests(hist, mask).numpy()[0, 0]
    table = model.item_embeddings.numpy()
    table[0] = 100.0 * interest  # item 0 now tops the search; row 0 is not in the history, so the interest stays
    model.item_embeddings.assign(table)
    scores = table @ interest
    assert int(np.argmax(scores)) == 0
    best_real_item = int(np.argmax(scores[1:])) + 1
    split.sequences[0][4] = best_real_item  # the target (int(0.8*5) = 4) is the best item other than 0
    split.flat[4] = best_real_item
    result = ev.evaluate(model, split, config)
    # The original retrieves [0, best_real_item] and drops 0: the target is first. Keeping item 0 would rank
    # it second (master NDCG 1/log2(3)).
    assert result["recall@2"] == 1.0
    assert result["ndcg_master@2"] == pytest.approx(metrics.ndcg([best_real_item], [best_real_item], "master"))
    assert result["ndcg_master@2"] == 1.0


@pytest.mark.parametrize("use_kernel", [True, False])
def test_adam_equals_tf1_adam_optimizer_on_sparse_and_dense_gradients(use_kernel: bool) -> None:
    # The original's optimizer is TF1's `tf.train.AdamOptimizer` (epsilon 1e-8, sparse rows summed, every row's
    # moments decayed). TensorFlow still ships that class as `tf.compat.v1.train.AdamOptimizer`: recdoc's fused
    # kernel and its TensorFlow-ops fallback must both reproduce it to the last bit.
    import tensorflow as tf

    from recdoc.trainer.optimizer import Adam

    rng = np.random.default_rng(0)
    table, kernel = rng.normal(size=(10, 3)).astype(np.float32), rng.normal(size=(3, 2)).astype(np.float32)
    ours_table, ours_kernel = tf.Variable(table), tf.Variable(kernel)
    tf1_table, tf1_kernel = tf.Variable(table), tf.Variable(kernel)
    ours = Adam([ours_table, ours_kernel], learning_rate=0.01, use_kernel=use_kernel)
    tf1 = tf.compat.v1.train.AdamOptimizer(learning_rate=0.01)
    for _ in range(4):
        rows = tf.constant(rng.integers(0, 10, size=6), tf.int64)  # repeated rows, untouched rows
        values = tf.constant(rng.normal(size=(6, 3)).astype(np.float32))
        dense = tf.constant(rng.normal(size=(3, 2)).astype(np.float32))
        shape = tf.constant([10, 3], tf.int64)
        ours.apply_gradients([(tf.IndexedSlices(values, rows, shape), ours_table), (dense, ours_kernel)])
        tf1.apply_gradients([(tf.IndexedSlices(values, rows, shape), tf1_table), (dense, tf1_kernel)])
    np.testing.assert_array_equal(ours_table.numpy(), tf1_table.numpy())
    np.testing.assert_array_equal(ours_kernel.numpy(), tf1_kernel.numpy())


def test_as_many_negatives_as_items_is_allowed_as_in_the_original() -> None:
    # TF1's unique log-uniform sampler accepts num_sampled == range_max (it draws every id once); only more fails.
    from recdoc.errors import UsageError
    from recdoc.trainer.loss import CandidateSampler

    drawn = CandidateSampler(num_sampled=40, item_count=40, seed=1).sample(np.array([3, 5])).sampled_ids
    assert sorted(drawn.tolist()) == list(range(40))
    with pytest.raises(UsageError, match="at most as many negatives as items"):
        CandidateSampler(num_sampled=41, item_count=40, seed=1)
