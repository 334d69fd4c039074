"""Evaluation over shards of users in several processes equals one process's, to the last bit; --eval_users."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from recdoc.config import RunConfig
from recdoc.trainer import evaluate as ev

BLOCK_QUERIES = 256  # small blocks, so a few hundred users make many of them


class TableModel:
    """A model without TensorFlow: interest k of a user = a fixed mix of its last history items' embeddings."""

    merges_interests = True

    def __init__(self, table: np.ndarray, num_interest: int) -> None:
        self.item_embeddings = table
        self.num_interest = num_interest

    def interests(self, hist: np.ndarray, mask: np.ndarray) -> np.ndarray:
        lengths = mask.sum(axis=1).astype(int)
        picks = np.array([[hist[row, max(lengths[row] - 1 - k, 0)] for k in range(self.num_interest)]
                          for row in range(len(hist))])
        return self.item_embeddings[picks] * 1.5 + self.item_embeddings[hist[:, :1]]


def make_case(seed: int = 5):
    from recdoc.trainer.data.dataset import Split

    rng = np.random.default_rng(seed)
    items = 3000
    table = rng.normal(size=(items, 16)).astype(np.float32)
    sequences = [rng.integers(1, items, size=int(rng.integers(5, 30))).astype(np.int32) for _ in range(700)]
    split = Split(path=Path("valid.txt"), users=np.arange(700), sequences=sequences)
    config = RunConfig(batch_size=32, maxlen=10, topN=50, metrics_at=(20,))
    item_cate = {i: i % 7 for i in range(1, items)}
    return TableModel(table, num_interest=4), split, config, item_cate


def shard_matrix(index: int, count: int) -> tuple[np.ndarray, dict[str, float]]:
    """In a fresh process: this shard's block matrix, and its merged result with the matrix alone."""
    ev.SEARCH_BLOCK_QUERIES = BLOCK_QUERIES
    model, split, config, item_cate = make_case()
    captured: list[np.ndarray] = []

    def keep(matrix: np.ndarray) -> np.ndarray:
        captured.append(matrix)
        return matrix

    own = ev.evaluate(model, split, config, item_cate=item_cate, shard=ev.Shard(index, count), exchange=keep)
    return captured[0], own


def test_two_processes_merge_into_exactly_the_one_process_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ev, "SEARCH_BLOCK_QUERIES", BLOCK_QUERIES)
    model, split, config, item_cate = make_case()
    one_process = ev.evaluate(model, split, config, item_cate=item_cate)

    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as pool:
        parts = list(pool.map(shard_matrix, [0, 1], [2, 2]))
    matrices = [matrix for matrix, _ in parts]
    assert all(len(m) == len(matrices[0]) > 4 for m in matrices)  # several blocks, split between the two
    owned = [set(np.flatnonzero(m[:, -1] > 0)) for m in matrices]
    assert owned[0] and owned[1] and not owned[0] & owned[1]
    # Each shard alone covers only its users; summed (the all-reduce) they give one process's floats exactly.
    assert parts[0][1] != one_process
    total = matrices[0] + matrices[1]
    keys = ev.metric_keys(ev.cutoffs_for(config), ev.metrics.category_lookup(item_cate, 3000))
    merged = ev.merge_block_totals(ev.matrix_to_blocks(total, keys), keys)
    assert merged == one_process
    assert list(merged) == list(one_process)

    # Three shards in this process, exchanging through the same sum, agree as well.
    three = [ev.evaluate(model, split, config, item_cate=item_cate, shard=ev.Shard(i, 3),
                         exchange=lambda matrix: matrix) for i in range(3)]
    assert all(result != one_process for result in three)


def test_exchange_gives_every_shard_the_merged_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ev, "SEARCH_BLOCK_QUERIES", BLOCK_QUERIES)
    model, split, config, item_cate = make_case(seed=8)
    one_process = ev.evaluate(model, split, config, item_cate=item_cate)
    shards = [ev.Shard(i, 3) for i in range(3)]
    local = [ev.evaluate_interest_blocks(model.item_embeddings, [], (20, 50))]  # no users: no blocks
    assert local == [[]]
    matrices: dict[int, np.ndarray] = {}

    def capture(i: int):
        def keep(matrix: np.ndarray) -> np.ndarray:
            matrices[i] = matrix
            return matrix
        return keep

    for i, shard in enumerate(shards):
        ev.evaluate(model, split, config, item_cate=item_cate, shard=shard, exchange=capture(i))
    summed = sum(matrices.values())
    results = [ev.evaluate(model, split, config, item_cate=item_cate, shard=shard, exchange=lambda m: summed)
               for shard in shards]
    assert all(result == one_process for result in results)


def test_more_shards_than_blocks_still_agree() -> None:
    model, split, config, item_cate = make_case()
    one_process = ev.evaluate(model, split, config, item_cate=item_cate)  # 700 users x 4 < 4096: one block
    matrices = {}
    for i in range(2):
        ev.evaluate(model, split, config, item_cate=item_cate, shard=ev.Shard(i, 2),
                    exchange=lambda m, i=i: matrices.setdefault(i, m))
    assert matrices[1][:, -1].sum() == 0  # the second shard had nothing to do
    summed = matrices[0] + matrices[1]
    assert ev.evaluate(model, split, config, item_cate=item_cate, shard=ev.Shard(1, 2),
                       exchange=lambda m: summed) == one_process


def test_eval_users_subset_is_fixed_by_seed_in_file_order_and_whole_when_large() -> None:
    _, split, _, _ = make_case()
    first = ev.subset_split(split, 100, seed=19)
    again = ev.subset_split(split, 100, seed=19)
    other = ev.subset_split(split, 100, seed=20)
    assert len(first) == 100 and first.users.tolist() == again.users.tolist() != other.users.tolist()
    assert first.users.tolist() == sorted(first.users.tolist())
    row = int(first.users[3])
    assert np.array_equal(first.sequences[3], split.sequences[row])
    assert ev.subset_split(split, 700, seed=19) is split and ev.subset_split(split, 10_000, seed=19) is split
