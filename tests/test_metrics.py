"""Metrics: hand-computed values for every definition, and the vectorised versions against the per-user ones."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from math import log2

import numpy as np
import pytest

from recdoc import metrics

# Item 0 is retrieved at rank 1 and the targets hold a duplicate (3 twice).
RANKED = [5, 0, 3, 7]
TARGETS = [3, 9, 3, 5]


def test_recall_counts_duplicate_targets_only_in_paper_kind() -> None:
    assert metrics.recall(RANKED, TARGETS, "paper") == pytest.approx(3 / 4)  # 3, 3 and 5 found
    assert metrics.recall(RANKED, TARGETS, "master") == pytest.approx(2 / 4)  # distinct list items 5 and 3
    assert metrics.hit(RANKED, TARGETS) == 1.0
    assert metrics.hit(RANKED, [8, 9]) == 0.0


def test_paper_ndcg_discounts_by_position_in_the_target_list() -> None:
    dcg = 1 / log2(2) + 1 / log2(4) + 1 / log2(5)  # target positions 0, 2, 3
    idcg = 1 / log2(2) + 1 / log2(3) + 1 / log2(4)  # three hits
    assert metrics.ndcg(RANKED, TARGETS, "paper") == pytest.approx(dcg / idcg)
    assert dcg / idcg == pytest.approx(0.906025, abs=1e-6)


def test_master_ndcg_discounts_by_rank_with_ideal_over_hits() -> None:
    dcg = 1 / log2(2) + 1 / log2(4)  # ranks 0 (item 5) and 2 (item 3)
    idcg = 1 / log2(2) + 1 / log2(3)
    assert metrics.ndcg(RANKED, TARGETS, "master") == pytest.approx(dcg / idcg)
    assert dcg / idcg == pytest.approx(0.919721, abs=1e-6)


def test_standard_ndcg_ideal_covers_distinct_targets_up_to_the_cutoff() -> None:
    dcg = 1 / log2(2) + 1 / log2(4)
    idcg = 1 / log2(2) + 1 / log2(3) + 1 / log2(4)  # |{3, 9, 5}| = 3 <= N = 4
    assert metrics.ndcg(RANKED, TARGETS, "standard") == pytest.approx(dcg / idcg)
    # With a cut-off of 2 the ideal list has only two relevant slots.
    assert metrics.ndcg(RANKED[:2], TARGETS, "standard", n=2) == pytest.approx(1.0 / (1 + 1 / log2(3)))


def test_every_metric_is_zero_without_a_hit() -> None:
    for kind in metrics.NDCG_KINDS:
        assert metrics.ndcg([1, 2, 0], [4, 4], kind) == 0.0
    assert metrics.recall([1, 2, 0], [4, 4]) == 0.0


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        metrics.ndcg(RANKED, TARGETS, "mean")  # type: ignore[arg-type]


def test_diversity_leaves_out_items_without_category() -> None:
    item_cate = {1: 10, 2: 10, 3: 20}
    # Pairs among 1, 2, 3: (1,2) same, (1,3) and (2,3) differ; item 0 has no category (issue #29's KeyError).
    assert metrics.diversity([1, 2, 3, 0], item_cate) == pytest.approx(2 / 3)
    assert metrics.diversity([0, 1], item_cate) == 0.0
    lookup = metrics.category_lookup(item_cate)
    got = metrics.batch_diversity(np.array([[1, 2, 3, 0], [0, 1, -1, -1], [3, 1, 2, 99]]), lookup)
    assert got == pytest.approx([2 / 3, 0.0, 2 / 3])


def test_batch_metrics_match_hand_computed_case() -> None:
    ranked = np.array([RANKED, [8, 6, -1, -1]])
    got = metrics.batch_user_metrics(ranked, [np.array(TARGETS), np.array([6, 6, 6])])
    assert got["recall"] == pytest.approx([0.75, 1.0])
    assert got["recall_master"] == pytest.approx([0.5, 1 / 3])
    assert got["hitrate"] == pytest.approx([1.0, 1.0])
    assert got["ndcg_paper"][0] == pytest.approx(0.906025, abs=1e-6)
    assert got["ndcg_master"][0] == pytest.approx(0.919721, abs=1e-6)
    # Second user: item 6 at rank 1; paper counts the three targets at positions 0, 1, 2 -> NDCG 1.
    assert got["ndcg_paper"][1] == pytest.approx(1.0)
    # Master: one distinct hit at rank 1 against an ideal hit at rank 0.
    assert got["ndcg_master"][1] == pytest.approx(1 / log2(3))
    assert got["ndcg_standard"][1] == pytest.approx(1 / log2(3))  # one distinct target


def _random_case(rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    batch, width, items = int(rng.integers(1, 12)), int(rng.integers(1, 30)), int(rng.integers(5, 60))
    ranked = np.stack([rng.permutation(items)[:width] if width <= items else
                       np.concatenate([rng.permutation(items), np.full(width - items, -1)]) for _ in range(batch)])
    targets = [rng.integers(1, items, size=int(rng.integers(1, 25))) for _ in range(batch)]
    return ranked, targets


@pytest.mark.parametrize("seed", range(30))
def test_batch_metrics_equal_per_user_definitions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ranked, targets = _random_case(rng)
    cutoff = int(rng.integers(1, ranked.shape[1] + 1))
    got = metrics.batch_user_metrics(ranked, targets, cutoff=cutoff)
    for row, (lst, tgt) in enumerate(zip(ranked[:, :cutoff].tolist(), targets)):
        tgt_list = tgt.tolist()
        assert got["recall"][row] == pytest.approx(metrics.recall(lst, tgt_list, "paper"))
        assert got["recall_master"][row] == pytest.approx(metrics.recall(lst, tgt_list, "master"))
        assert got["hitrate"][row] == metrics.hit(lst, tgt_list)
        for kind in metrics.NDCG_KINDS:
            assert got[f"ndcg_{kind}"][row] == pytest.approx(metrics.ndcg(lst, tgt_list, kind, n=cutoff))
    cates = {i: int(rng.integers(0, 4)) for i in range(1, 60) if rng.random() < 0.8}
    div = metrics.batch_diversity(ranked, metrics.category_lookup(cates), cutoff=cutoff)
    for row, lst in enumerate(ranked[:, :cutoff].tolist()):
        assert div[row] == pytest.approx(metrics.diversity(lst, cates))


def reference_merge(ids: np.ndarray, scores: np.ndarray, n: int) -> list[int]:
    """The original's per-user merge, written the way src/train.py does it."""
    pairs = sorted(zip(ids.ravel().tolist(), scores.ravel().tolist()), key=lambda pair: pair[1], reverse=True)
    kept: list[int] = []
    for item, _ in pairs:
        if item not in kept and item != 0:
            kept.append(item)
            if len(kept) >= n:
                break
    return kept + [-1] * (n - len(kept))


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_merge_equals_brute_force_and_max_score_ranking(seed: int, dtype: type) -> None:
    rng = np.random.default_rng(seed)
    batch, k, m, items = int(rng.integers(1, 9)), int(rng.integers(1, 6)), int(rng.integers(1, 12)), 20
    ids = np.stack([np.stack([rng.permutation(items)[:m] for _ in range(k)]) for _ in range(batch)])
    scores = rng.normal(size=(batch, k, m)).astype(dtype)
    n = int(rng.integers(1, k * m + 2))
    merged = metrics.merge_interests(ids, scores, n)
    for row in range(batch):
        assert merged[row].tolist() == reference_merge(ids[row], scores[row], n)
        best: dict[int, float] = defaultdict(lambda: -np.inf)
        for item, score in zip(ids[row].ravel().tolist(), scores[row].ravel().tolist()):
            best[item] = max(best[item], score)
        by_max = [item for item, _ in sorted(best.items(), key=lambda kv: -kv[1]) if item != 0][:n]
        assert merged[row].tolist()[: len(by_max)] == by_max


def test_merge_can_keep_item_zero_for_single_interest_lists() -> None:
    ids = np.array([[[4, 0, 2]]])
    scores = np.array([[[0.9, 0.8, 0.1]]])
    assert metrics.merge_interests(ids, scores, 3, drop_item_zero=False).tolist() == [[4, 0, 2]]
    assert metrics.merge_interests(ids, scores, 3).tolist() == [[4, 2, -1]]


def reference_aggregation(ids: np.ndarray, scores: np.ndarray, item_cate: dict[int, int], n: int,
                          coef: float) -> list[int]:
    """Paper Algorithm 2 as the original's evaluate_full (coef branch), one user at a time."""
    pairs = sorted(zip(ids.ravel().tolist(), scores.ravel().tolist()), key=lambda pair: pair[1], reverse=True)
    candidates: list[tuple[int, float, int]] = []
    seen: set[int] = set()
    for item, score in pairs:
        if item not in seen and item in item_cate:
            candidates.append((item, score, item_cate[item]))
            seen.add(item)
    picked: list[int] = []
    per_cate: dict[int, int] = defaultdict(int)
    for _ in range(n):
        if not candidates:
            break
        best_index = max(range(len(candidates)),
                         key=lambda j: (candidates[j][1] - coef * per_cate[candidates[j][2]], -j))
        item, _, cate = candidates.pop(best_index)
        picked.append(item)
        per_cate[cate] += 1
    return picked + [-1] * (n - len(picked))


@pytest.mark.parametrize("seed", range(25))
def test_controllable_aggregation_equals_greedy_reference(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    batch, k, m, items = 4, 3, 6, 15
    ids = np.stack([np.stack([rng.permutation(items)[:m] for _ in range(k)]) for _ in range(batch)])
    scores = rng.normal(size=(batch, k, m))
    item_cate = {i: int(rng.integers(0, 3)) for i in range(1, items) if rng.random() < 0.9}
    coef = float(rng.choice([0.0, 0.05, 0.5, 5.0]))
    n = int(rng.integers(1, 12))
    got = metrics.controllable_aggregation(ids, scores, metrics.category_lookup(item_cate), n, coef)
    for row in range(batch):
        assert got[row].tolist() == reference_aggregation(ids[row], scores[row], item_cate, n, coef)


def test_aggregation_with_zero_coef_is_the_plain_merge_over_categorised_items() -> None:
    ids = np.array([[[3, 1, 2], [2, 4, 0]]])
    scores = np.array([[[0.9, 0.5, 0.1], [0.8, 0.7, 0.95]]])
    lookup = metrics.category_lookup({1: 0, 2: 0, 3: 1, 4: 1})
    assert metrics.controllable_aggregation(ids, scores, lookup, 3, 0.0).tolist() == [[3, 2, 4]]
    # A large coef forces alternation between the two categories.
    assert metrics.controllable_aggregation(ids, scores, lookup, 4, 10.0).tolist() == [[3, 2, 4, 1]]


def test_metric_totals_average_over_all_users() -> None:
    totals = metrics.MetricTotals()
    totals.add({"recall": np.array([1.0, 0.0])}, suffix="@50")
    totals.count(2)
    totals.add({"recall": np.array([0.5])}, suffix="@50")
    totals.count(1)
    assert totals.means() == {"recall@50": pytest.approx(0.5)}


def test_metrics_module_imports_neither_tensorflow_nor_faiss() -> None:
    code = "import sys, recdoc.metrics; print(sorted(m for m in ('tensorflow', 'faiss') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("seed", range(10))
def test_metrics_at_several_cutoffs_equal_separate_evaluations(seed: int) -> None:
    rng = np.random.default_rng(500 + seed)
    ranked, targets = _random_case(rng)
    cutoffs = sorted({1, int(rng.integers(1, ranked.shape[1] + 1)), ranked.shape[1]})
    together = metrics.batch_user_metrics_at(ranked, targets, cutoffs)
    for cutoff in cutoffs:
        alone = metrics.batch_user_metrics(ranked[:, :cutoff].copy(), targets)
        for name, values in alone.items():
            assert together[cutoff][name] == pytest.approx(values), (cutoff, name)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_merge_breaks_score_ties_like_pythons_stable_sort(seed: int, dtype: type) -> None:
    rng = np.random.default_rng(900 + seed)
    batch, k, m = 3, 4, 6
    ids = np.stack([np.stack([rng.permutation(12)[:m] for _ in range(k)]) for _ in range(batch)])
    # Few distinct values, negative ones and -inf (an empty faiss slot): many exact ties.
    scores = rng.choice([-np.inf, -1.5, -0.25, 0.0, 0.25, 2.0], size=(batch, k, m)).astype(dtype)
    ids = np.where(np.isneginf(scores), -1, ids)
    merged = metrics.merge_interests(ids, scores, 8)
    for row in range(batch):
        expected = [item for item in reference_merge(ids[row], scores[row], 40) if item != -1][:8]
        assert merged[row].tolist() == expected + [-1] * (8 - len(expected))
