"""Training and evaluation batches: the original's rules, its random stream, and speed."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from recdoc.errors import InputError, UsageError
from recdoc.trainer.data.dataset import Split
from recdoc.trainer.data.sampling import TrainSampler, eval_batches


def _split(lengths: list[int], first_user: int = 0, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    sequences = [rng.integers(1, 500, size=n).astype(np.int32) for n in lengths]
    return Split(Path("toy_train.txt"), np.arange(first_user, first_user + len(lengths), dtype=np.int64), sequences)


def _expected_history(sequence: list[int], k: int, maxlen: int) -> tuple[list[int], list[float]]:
    if k >= maxlen:
        return sequence[k - maxlen:k], [1.0] * maxlen
    return sequence[:k] + [0] * (maxlen - k), [1.0] * k + [0.0] * (maxlen - k)


def _original_batch(rng: random.Random, users: list[int], graph: dict[int, list[int]], batch_size: int,
                    maxlen: int) -> tuple[list[list[int]], list[list[float]], list[int]]:
    """The original DataIterator's training draw, restated: sample users, then k per user, then the history."""
    hist, mask, target = [], [], []
    for user in rng.sample(users, batch_size):
        items = graph[user]
        k = rng.choice(range(4, len(items)))
        target.append(items[k])
        h, m = _expected_history(items, k, maxlen)
        hist.append(h)
        mask.append(m)
    return hist, mask, target


def test_reproduces_the_original_random_stream() -> None:
    # User ids from a shuffled, sparse range so that CPython's set order differs from file order.
    lengths = [5 + (i * 7) % 40 for i in range(300)]
    split = _split(lengths)
    ids = random.Random(3).sample(range(100_000, 900_000), len(lengths))
    split = Split(split.path, np.asarray(ids, dtype=np.int64), split.sequences)
    graph = {u: s.tolist() for u, s in zip(ids, split.sequences)}
    users_seen_by_original = list(set(ids))
    assert users_seen_by_original != ids
    sampler = TrainSampler(split, batch_size=32, maxlen=20, seed=19)
    original_rng = random.Random(19)
    for _ in range(20):
        hist, mask, target = sampler.next_batch()
        want_hist, want_mask, want_target = _original_batch(original_rng, users_seen_by_original, graph, 32, 20)
        assert hist.tolist() == want_hist
        assert mask.tolist() == want_mask
        assert target.tolist() == want_target


def test_batch_shapes_padding_and_target_range() -> None:
    split = _split([5, 6, 9, 30, 12, 7, 5, 60])
    sampler = TrainSampler(split, batch_size=8, maxlen=10, seed=1)
    rows = {tuple(s.tolist()) for s in split.sequences}
    for _ in range(50):
        hist, mask, target = sampler.next_batch()
        assert hist.shape == mask.shape == (8, 10) and target.shape == (8,)
        assert (hist.dtype, mask.dtype, target.dtype) == (np.int32, np.float32, np.int32)
        assert np.array_equal(hist == 0, mask == 0)  # item ids are >= 1, so padding is exactly the masked part
        for h, m, t in zip(hist.tolist(), mask.tolist(), target.tolist()):
            k_len = int(sum(m))
            assert 4 <= k_len <= 10 and m == [1.0] * k_len + [0.0] * (10 - k_len)
            # The history is a contiguous run of some sequence ending right before a target at position >= 4.
            assert any(list(seq[max(0, k - 10):k]) == h[:k_len] and seq[k] == t
                       for seq in rows for k in range(4, len(seq)))


def test_users_in_a_batch_are_distinct() -> None:
    split = Split(Path("x"), np.arange(40), [np.full(6, user + 1, np.int32) for user in range(40)])
    sampler = TrainSampler(split, batch_size=40, maxlen=5, seed=0)
    for _ in range(5):
        _, _, target = sampler.next_batch()
        assert sorted(target.tolist()) == list(range(1, 41))  # each user's items equal its id + 1


def test_determinism_by_seed() -> None:
    split = _split([5 + i % 30 for i in range(200)])
    first = [TrainSampler(split, 16, 20, seed=5).next_batch() for _ in range(1)][0]
    again = TrainSampler(split, 16, 20, seed=5).next_batch()
    other = TrainSampler(split, 16, 20, seed=6).next_batch()
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])


def test_short_users_and_oversized_batch_are_refused() -> None:
    with pytest.raises(InputError, match="at least 5"):
        TrainSampler(_split([5, 4, 9]), batch_size=2, maxlen=5, seed=0)
    with pytest.raises(UsageError, match="exceeds"):
        TrainSampler(_split([5, 6]), batch_size=3, maxlen=5, seed=0)


def test_eval_batches_follow_file_order_and_last_fifth() -> None:
    lengths = [5, 10, 11, 26, 7]
    split = _split(lengths, first_user=40)
    batches = list(eval_batches(split, batch_size=2, maxlen=8))
    assert [len(targets) for _, _, targets in batches] == [2, 2, 1]
    flat_targets = [t.tolist() for _, _, targets in batches for t in targets]
    flat_hist = np.concatenate([h for h, _, _ in batches]).tolist()
    flat_mask = np.concatenate([m for _, m, _ in batches]).tolist()
    for row, n in enumerate(lengths):
        sequence = split.sequences[row].tolist()
        k = int(0.8 * n)
        assert flat_targets[row] == sequence[k:]
        assert (flat_hist[row], flat_mask[row]) == _expected_history(sequence, k, 8)
    assert [int(0.8 * n) for n in lengths] == [4, 8, 8, 20, 5]
