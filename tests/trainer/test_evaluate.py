"""Full-catalogue evaluation: exact retrieval, merge, cut-offs, item 0, MostPopular."""

from __future__ import annotations

from dataclasses import dataclass
from math import log2
from pathlib import Path

import numpy as np
import pytest

from recdoc import metrics
from recdoc.config import RunConfig
from recdoc.trainer import evaluate as ev


def test_index_returns_exact_top_k_including_row_zero() -> None:
    rng = np.random.default_rng(0)
    table = rng.normal(size=(300, 8)).astype(np.float32)
    table[0] *= 50  # a padding row that dominates: it must still be searched
    queries = rng.normal(size=(7, 8)).astype(np.float32)
    ids, scores = ev.ItemIndex(table).search(queries, 10)
    brute = queries @ table.T
    expected = np.argsort(-brute, axis=1)[:, :10]
    assert (ids == expected).all()
    assert np.allclose(scores, np.take_along_axis(brute, expected, axis=1), atol=1e-4)


def test_index_pads_when_catalogue_is_smaller_than_depth() -> None:
    ids, scores = ev.ItemIndex(np.eye(3, dtype=np.float32)).search(np.array([[0.0, 1.0, 0.5]]), 5)
    assert ids.tolist() == [[1, 2, 0, -1, -1]]
    assert np.isneginf(scores[0, 3:]).all()


# Item table in 2-D: item 0 points along +x+y (scores highest for both interests), items 1..4 spread out.
TABLE = np.array([[2.0, 2.0], [1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9]], dtype=np.float32)


def test_multi_interest_merge_drops_item_zero_and_interleaves_interests() -> None:
    interests = np.array([[[1.0, 0.0], [0.0, 1.0]]])  # one user, K = 2
    ranked = ev.rank_items(ev.ItemIndex(TABLE), interests, 3)
    # Pairs: (0,2.0) (1,1.0) (3,0.9) from x; (0,2.0) (2,1.0) (4,0.9) from y -> drop 0, ties keep interest order.
    assert ranked.tolist() == [[1, 2, 3]]


def test_single_interest_keeps_item_zero_as_the_original() -> None:
    ranked = ev.rank_items(ev.ItemIndex(TABLE), np.array([[[1.0, 0.0]]]), 3)
    assert ranked.tolist() == [[0, 1, 3]]


def test_evaluate_interests_reports_every_metric_at_every_cutoff() -> None:
    interests = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    targets = [np.array([2, 9, 2])]  # item 2 (rank 1) twice, item 9 never retrieved
    result = ev.evaluate_interests(TABLE, [(interests, targets)], cutoffs=(1, 3),
                                   item_cate={1: 0, 2: 1, 3: 0, 4: 1})
    assert set(result) == {f"{name}@{c}" for c in (1, 3) for name in
                           ("recall", "recall_master", "hitrate", "ndcg_paper", "ndcg_master", "ndcg_standard",
                            "diversity")}
    assert result["recall@1"] == 0.0 and result["hitrate@1"] == 0.0
    assert result["recall@3"] == pytest.approx(2 / 3)
    assert result["recall_master@3"] == pytest.approx(1 / 3)
    assert result["hitrate@3"] == 1.0
    # paper: targets at positions 0 and 2 hit, ideal over two hits
    assert result["ndcg_paper@3"] == pytest.approx((1 + 1 / log2(4)) / (1 + 1 / log2(3)))
    assert result["ndcg_master@3"] == pytest.approx(1 / log2(3))
    assert result["ndcg_standard@3"] == pytest.approx(1 / log2(3) / (1 + 1 / log2(3)))  # two distinct targets
    assert result["diversity@3"] == pytest.approx(2 / 3)  # [1, 2, 3] -> categories 0, 1, 0


def test_coef_aggregation_changes_the_list_by_category() -> None:
    interests = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    item_cate = {1: 0, 2: 0, 3: 1, 4: 1}
    index = ev.ItemIndex(TABLE)
    lookup = metrics.category_lookup(item_cate, index.size)
    assert ev.rank_items(index, interests, 3, coef=None).tolist() == [[1, 2, 3]]
    # After item 1 (category 0), item 2 scores 1.0 - 1.0 and item 3 (category 1) 0.9: 3 goes first.
    assert ev.rank_items(index, interests, 3, coef=1.0, cate_lookup=lookup).tolist() == [[1, 3, 2]]


def test_cutoffs_include_top_n() -> None:
    assert ev.cutoffs_for(RunConfig(topN=30, metrics_at=(50, 20))) == (20, 30, 50)


@dataclass
class FakeSplit:
    path: Path
    users: np.ndarray
    sequences: list[np.ndarray]


def test_most_popular_counts_every_occurrence_and_breaks_ties_by_first_appearance() -> None:
    train = [np.array([5, 3, 3]), np.array([7, 5, 9]), np.array([9])]
    # counts: 5:2, 3:2, 9:2, 7:1 -> ties in first-appearance order 5, 3, 9.
    assert ev.most_popular_items(train, 4).tolist() == [5, 3, 9, 7]


def test_evaluate_most_popular_uses_last_fifth_as_targets() -> None:
    train = FakeSplit(Path("t"), np.arange(2), [np.array([5, 3, 3]), np.array([7, 5, 9])])
    test = FakeSplit(Path("s"), np.arange(2), [np.array([1, 2, 3, 4, 5]), np.array([1, 1, 1, 1, 1, 8, 8, 8, 8, 8])])
    result = ev.evaluate_most_popular(train, test, cutoffs=(2,))  # list [5, 3]
    # user 0: targets [5] (int(0.8*5)=4) -> hit; user 1: targets [8, 8] -> miss
    assert result["recall@2"] == pytest.approx(0.5)
    assert result["hitrate@2"] == pytest.approx(0.5)
    assert result["ndcg_paper@2"] == pytest.approx(0.5)


class TableModel:
    """A model without TensorFlow: interest k of a user = the embedding of its (k+1)-th last history item."""

    def __init__(self, table: np.ndarray, num_interest: int) -> None:
        self.item_embeddings = table
        self.num_interest = num_interest

    def interests(self, hist: np.ndarray, mask: np.ndarray) -> np.ndarray:
        lengths = mask.sum(axis=1).astype(int)
        picks = [[hist[row, max(lengths[row] - 1 - k, 0)] for k in range(self.num_interest)]
                 for row in range(len(hist))]
        return self.item_embeddings[np.array(picks)]


@pytest.mark.parametrize("block_queries", [4096, 8, 10])
def test_evaluate_matches_per_user_definitions_over_a_split(block_queries: int,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from recdoc.trainer.data.dataset import Split

    monkeypatch.setattr(ev, "SEARCH_BLOCK_QUERIES", block_queries)  # one search spans one or several batches

    rng = np.random.default_rng(3)
    items = 40
    table = rng.normal(size=(items, 8)).astype(np.float32)
    sequences = [rng.integers(1, items, size=int(rng.integers(5, 15))).astype(np.int32) for _ in range(9)]
    split = Split(path=Path("valid.txt"), users=np.arange(9), sequences=sequences)
    config = RunConfig(batch_size=4, maxlen=5, topN=10, metrics_at=(5,))
    model = TableModel(table, num_interest=2)
    item_cate = {i: i % 3 for i in range(1, items)}
    result = ev.evaluate(model, split, config, item_cate=item_cate)

    expected: dict[str, list[float]] = {}
    for seq in sequences:
        cut = int(0.8 * len(seq))
        hist = seq[:cut][-5:]
        queries = table[[hist[-1], hist[-2] if len(hist) > 1 else hist[0]]]
        scores = queries @ table.T
        best = np.max(scores, axis=0)
        best[0] = -np.inf  # the merge drops item 0
        ranked = np.argsort(-best, kind="stable")[:10].tolist()
        targets = seq[cut:].tolist()
        for c in (5, 10):
            lst = ranked[:c]
            expected.setdefault(f"recall@{c}", []).append(metrics.recall(lst, targets, "paper"))
            expected.setdefault(f"hitrate@{c}", []).append(metrics.hit(lst, targets))
            for kind in metrics.NDCG_KINDS:
                expected.setdefault(f"ndcg_{kind}@{c}", []).append(metrics.ndcg(lst, targets, kind, n=c))
            expected.setdefault(f"diversity@{c}", []).append(metrics.diversity(lst, item_cate))
    for key, values in expected.items():
        assert result[key] == pytest.approx(float(np.mean(values)), abs=1e-9), key
