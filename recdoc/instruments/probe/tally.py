"""The probe's statistics over batches of users, pure numpy: shares, norms, pairwise cosine and top-N overlap."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recdoc import metrics
from recdoc.errors import UsageError
from recdoc.thresholds import InterestThresholds


@dataclass
class InterestTally:
    """Accumulates the probe's counts over batches of users; `result()` turns them into shares.

    `add(interests [B, K, d], item_table [items, d], own_ids [B, K, N], own_scores [B, K, N], targets)`: each
    interest's own top-N (item ids, -1 for an empty slot, best first, with their scores) as exact inner-product
    search returns them, and one array of target item ids per user. The merged list is computed here exactly as
    evaluation merges (`recdoc.metrics.merge_interests`).
    """

    num_interest: int
    top_n: int
    users: int = 0
    retrieved: np.ndarray = field(init=False)
    hits: np.ndarray = field(init=False)
    readout_wins: np.ndarray = field(init=False)
    near_zero: np.ndarray = field(init=False)
    norm_sum: np.ndarray = field(init=False)
    pair_cosine_sum: np.ndarray = field(init=False)
    pair_above: np.ndarray = field(init=False)
    pair_overlap_sum: np.ndarray = field(init=False)
    all_pairs_above: int = 0

    def __post_init__(self) -> None:
        k = self.num_interest
        if k < 2:
            raise UsageError(f"the probe looks inside multi-interest models; this one has {k} interest")
        self.retrieved = np.zeros(k, dtype=np.int64)
        self.hits = np.zeros(k, dtype=np.int64)
        self.readout_wins = np.zeros(k, dtype=np.int64)
        self.near_zero = np.zeros(k, dtype=np.int64)
        self.norm_sum = np.zeros(k, dtype=np.float64)
        self.pair_cosine_sum = np.zeros((k, k), dtype=np.float64)
        self.pair_above = np.zeros((k, k), dtype=np.int64)
        self.pair_overlap_sum = np.zeros((k, k), dtype=np.float64)

    def add(self, interests: np.ndarray, item_table: np.ndarray, own_ids: np.ndarray, own_scores: np.ndarray,
            targets: Sequence[np.ndarray]) -> None:
        vectors = np.asarray(interests, dtype=np.float64)
        table = np.asarray(item_table, dtype=np.float64)
        own_ids = np.asarray(own_ids, dtype=np.int64)
        if vectors.ndim != 3 or vectors.shape[1] != self.num_interest:
            raise ValueError(f"interests must be [B, {self.num_interest}, d], got {vectors.shape}")
        batch = len(vectors)
        if own_ids.shape[:2] != vectors.shape[:2] or np.shape(own_scores) != own_ids.shape or len(targets) != batch:
            raise ValueError(f"interests {vectors.shape}, own lists {own_ids.shape}, scores {np.shape(own_scores)} "
                             f"and {len(targets)} target lists do not match")
        self.users += batch
        ranked = metrics.merge_interests(own_ids, np.asarray(own_scores, dtype=np.float64), self.top_n)
        self._add_retrieval(vectors, table, ranked, targets)
        self._add_overlap(own_ids[:, :, :self.top_n])
        self._add_readout(vectors, table, targets)
        self._add_geometry(vectors)

    def _add_retrieval(self, vectors: np.ndarray, table: np.ndarray, ranked: np.ndarray,
                       targets: Sequence[np.ndarray]) -> None:
        filled = ranked >= 0
        items = table[np.where(filled, ranked, 0)]  # [B, N, d]
        # The interest that scores a retrieved item highest is the one whose own top-N brought it into the merge;
        # ties (identical interests) go to the lower index, so a duplicate interest is credited nothing.
        owner = np.argmax(np.einsum("bkd,bnd->bnk", vectors, items), axis=2)
        is_hit = np.stack([np.isin(row, np.asarray(user_targets)) for row, user_targets in zip(ranked, targets)]) \
            if len(ranked) else np.zeros_like(filled)
        is_hit &= filled
        self.retrieved += np.bincount(owner[filled], minlength=self.num_interest)
        self.hits += np.bincount(owner[is_hit], minlength=self.num_interest)

    def _add_overlap(self, own_ids: np.ndarray) -> None:
        """Per pair (i, j): the share of interest i's top-N that interest j's top-N holds too."""
        batch, k, n = own_ids.shape
        # One sorted pool per (user, interest), made disjoint across users by an offset, so membership for a whole
        # batch is one searchsorted per pair.
        span = int(own_ids.max(initial=0)) + 2
        keyed = own_ids + (np.arange(batch, dtype=np.int64) * span)[:, None, None]
        pools = np.sort(keyed, axis=2)
        filled = own_ids >= 0
        for i in range(k):
            for j in range(k):
                if i == j:
                    continue
                pool = pools[:, j, :].reshape(-1)
                position = np.minimum(np.searchsorted(pool, keyed[:, i, :].reshape(-1)), pool.size - 1)
                shared = (pool[position] == keyed[:, i, :].reshape(-1)).reshape(batch, n) & filled[:, i, :]
                self.pair_overlap_sum[i, j] += (shared.sum(axis=1) / n).sum()

    def _add_readout(self, vectors: np.ndarray, table: np.ndarray, targets: Sequence[np.ndarray]) -> None:
        lengths = np.fromiter((len(t) for t in targets), dtype=np.int64, count=len(targets))
        if lengths.sum() == 0:
            return
        flat = np.concatenate([np.asarray(t, dtype=np.int64) for t in targets])
        user_of_target = np.repeat(np.arange(len(targets)), lengths)
        scores = np.einsum("tkd,td->tk", vectors[user_of_target], table[flat])
        self.readout_wins += np.bincount(np.argmax(scores, axis=1), minlength=self.num_interest)

    def _add_geometry(self, vectors: np.ndarray) -> None:
        norms = np.linalg.norm(vectors, axis=2)  # [B, K]
        self.norm_sum += norms.sum(axis=0)
        strongest = norms.max(axis=1, keepdims=True)
        self.near_zero += (norms <= InterestThresholds.NEAR_ZERO_NORM_RATIO * strongest).sum(axis=0)
        # A zero vector has no direction: its cosine with anything counts as 0 (never "collapsed").
        unit = vectors / np.where(norms > 0, norms, 1.0)[:, :, None]
        cosine = np.einsum("bkd,bjd->bkj", unit, unit)
        self.pair_cosine_sum += cosine.sum(axis=0)
        above = cosine > InterestThresholds.COLLAPSE_COSINE
        self.pair_above += above.sum(axis=0)
        upper = np.triu_indices(self.num_interest, k=1)
        self.all_pairs_above += int(above[:, upper[0], upper[1]].all(axis=1).sum())

    def result(self) -> dict[str, Any]:
        """The statistics as plain data (the `probe.json` fields below `interests` and `cosine`)."""
        k = self.num_interest
        users = max(self.users, 1)
        upper = np.triu_indices(k, k=1)
        pair_mean = self.pair_cosine_sum / users
        pair_above_share = self.pair_above / users
        pair_overlap = self.pair_overlap_sum / users
        for matrix in (pair_mean, pair_above_share, pair_overlap):
            np.fill_diagonal(matrix, 1.0)  # an interest with itself; never read
        return {
            "users": self.users,
            "top_n": self.top_n,
            "num_interest": k,
            "retrieved_items": int(self.retrieved.sum()),
            "hits": int(self.hits.sum()),
            "targets": int(self.readout_wins.sum()),
            "interests": [{
                "index": i,
                "retrieved_share": _share(self.retrieved, i),
                "hit_share": _share(self.hits, i),
                "readout_win_share": _share(self.readout_wins, i),
                "norm_mean": float(self.norm_sum[i] / users),
                "near_zero_share": float(self.near_zero[i] / users),
            } for i in range(k)],
            "cosine": {
                "threshold": InterestThresholds.COLLAPSE_COSINE,
                "mean": float(pair_mean[upper].mean()),
                "all_pairs_above_share": self.all_pairs_above / users,
                "pair_mean": _rounded(pair_mean),
                "pair_above_share": _rounded(pair_above_share),
            },
            "overlap": {
                "mean": float(((pair_overlap + pair_overlap.T) / 2)[upper].mean()),
                "pair_mean": _rounded(pair_overlap),
            },
            "near_zero_norm_ratio": InterestThresholds.NEAR_ZERO_NORM_RATIO,
        }


def _share(counts: np.ndarray, index: int) -> float | None:
    total = int(counts.sum())
    return None if total == 0 else float(counts[index] / total)


def _rounded(matrix: np.ndarray) -> list[list[float]]:
    return [[round(float(v), 6) for v in row] for row in matrix]
