"""Batches exactly as the original's `DataIterator` (reference section 2), with the Python loops cut to the RNG calls.

Training: each step `rng.sample(users, batch_size)` (distinct users), then per user
`k = rng.choice(range(4, len(seq)))`; target `seq[k]`; history `seq[k-maxlen:k]` when `k >= maxlen`, else
`seq[:k]` right-padded with 0 (mask 1/0). The original keeps its users as `list(set(user ids))`, so the list order
is CPython's set order for those ints; we build the same set in file order so that, seeded alike, the same
`random.Random` stream picks the same users. Only the draws run in Python; the history gather is one numpy
fancy-index per batch.

Evaluation: users in file order, `k = int(0.8 * len)`, targets `seq[k:]` (duplicates kept), same history rule.
"""

from __future__ import annotations

import random
from typing import Iterator

import numpy as np

from recdoc.errors import InputError, UsageError
from recdoc.trainer.data.dataset import MIN_SEQUENCE, Split

FIRST_TARGET = 4  # the first four items are never training targets


def _gather_history(split: Split, rows: np.ndarray, cut: np.ndarray, maxlen: int) -> tuple[np.ndarray, np.ndarray]:
    """History before position `cut` of each row's sequence: the last <= maxlen items, left-aligned, 0-padded."""
    assert split.flat is not None and split.offsets is not None
    hist_len = np.minimum(cut, maxlen)
    first = split.offsets[rows] + cut - hist_len
    columns = np.arange(maxlen, dtype=np.int64)
    valid = columns[None, :] < hist_len[:, None]
    positions = np.where(valid, first[:, None] + columns[None, :], 0)
    hist = np.where(valid, split.flat[positions], 0).astype(np.int32)
    return hist, valid.astype(np.float32)


class TrainSampler:
    """Infinite training batches: `next_batch() -> (hist int32 [B,T], mask float32 [B,T], target int32 [B])`."""

    def __init__(self, split: Split, batch_size: int, maxlen: int, seed: int) -> None:
        if batch_size < 1 or maxlen < 1:
            raise UsageError(f"batch_size and maxlen must be positive, got {batch_size} and {maxlen}")
        if batch_size > len(split.users):
            raise UsageError(f"batch_size {batch_size} exceeds the {len(split.users)} users of {split.path}; "
                             "each batch draws distinct users")
        lengths = split.lengths
        short = np.flatnonzero(lengths < MIN_SEQUENCE)
        if len(short):
            raise InputError(f"user {int(split.users[short[0]])} has {int(lengths[short[0]])} interactions; "
                             f"training needs at least {MIN_SEQUENCE}", str(split.path))
        self.split = split
        self.batch_size = batch_size
        self.maxlen = maxlen
        self.rng = random.Random(seed)
        row_of_user = {user: row for row, user in enumerate(split.users.tolist())}
        # The original's user list: list(set(...)) filled in file order; its order decides who `sample` picks.
        self._rows_in_set_order = np.asarray([row_of_user[u] for u in list(set(split.users.tolist()))],
                                             dtype=np.int64)
        self._target_ranges = [range(FIRST_TARGET, int(n)) for n in lengths.tolist()]
        self._population = range(len(self._rows_in_set_order))

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        while True:
            yield self.next_batch()

    def next_batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # sample() over range(n) draws the same indices as over the user list itself (it only uses n and k).
        picks = self.rng.sample(self._population, self.batch_size)
        rows = self._rows_in_set_order[picks]
        choice = self.rng.choice
        ranges = self._target_ranges
        cut = np.fromiter((choice(ranges[row]) for row in rows.tolist()), dtype=np.int64, count=self.batch_size)
        hist, mask = _gather_history(self.split, rows, cut, self.maxlen)
        assert self.split.flat is not None and self.split.offsets is not None
        target = self.split.flat[self.split.offsets[rows] + cut].astype(np.int32)
        return hist, mask, target


def eval_batches(split: Split, batch_size: int, maxlen: int
                 ) -> Iterator[tuple[np.ndarray, np.ndarray, list[np.ndarray]]]:
    """`(hist, mask, targets)` per batch of users in file order; targets = the last 20% (`seq[int(0.8*len):]`)."""
    if batch_size < 1 or maxlen < 1:
        raise UsageError(f"batch_size and maxlen must be positive, got {batch_size} and {maxlen}")
    assert split.flat is not None and split.offsets is not None
    lengths = split.lengths
    cuts = (lengths * 0.8).astype(np.int64)  # numpy's float product equals Python's int(len * 0.8)
    for lo in range(0, len(lengths), batch_size):
        rows = np.arange(lo, min(lo + batch_size, len(lengths)), dtype=np.int64)
        hist, mask = _gather_history(split, rows, cuts[rows], maxlen)
        targets = [split.flat[split.offsets[row] + cuts[row]:split.offsets[row + 1]] for row in rows.tolist()]
        yield hist, mask, targets
