"""Retrieval metrics exactly as ComiRec defines them (reference section 5), plus the K-interest merge.

One definition of each metric for the whole project: the trainer's evaluation and the doctor's checks both import
this module. Pure numpy; importing it must never pull in TensorFlow or faiss.

Two layers:
- per-user functions over plain Python sequences (`recall`, `hit`, `ndcg`, `diversity`): the readable definitions;
- batch functions over `[B, N]` ranked arrays (`batch_user_metrics`, `batch_diversity`, `merge_interests`,
  `controllable_aggregation`): the same numbers, vectorised, used by the evaluation.

Conventions:
- A ranked list holds item ids; `-1` is an empty slot (fewer than N items could be retrieved) and never matches.
- Targets may hold duplicates (Taobao re-clicks); they are never item 0.
- NDCG kinds: `paper` (branch `paper`, every number in the paper), `master` (current `master` code), `standard`
  (textbook rank-based NDCG with binary relevance).
- Items without a category (item 0, or ids missing from the item-category file): for diversity, pairs that involve
  such an item are left out of both the count and the number of pairs (the original raises KeyError, issue #29);
  a list with no pair of categorised items has diversity 0. Controllable aggregation drops them, as the original.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from recdoc.config import NDCG_KINDS

NdcgKind = Literal["paper", "master", "standard"]
RecallKind = Literal["paper", "master"]
# The per-user averages the original logs at every evaluation and after training (diversity only after training).
LOGGED_METRICS: tuple[str, ...] = ("recall", "ndcg", "hitrate")
EMPTY_SLOT = -1


def is_possible(value: float) -> bool:
    """Whether a logged recall, NDCG or hit rate could be one: each is an average of per-user fractions, so finite
    and in [0, 1]."""
    return math.isfinite(value) and 0.0 <= value <= 1.0


def _discount(positions: np.ndarray | int) -> np.ndarray | float:
    return 1.0 / np.log2(np.asarray(positions, dtype=np.float64) + 2.0)


def _ideal_dcg(count: int) -> float:
    """Sum of 1/log2(r+2) over r < count."""
    return float(np.sum(_discount(np.arange(count)))) if count > 0 else 0.0


# ---------------------------------------------------------------- per-user definitions
def recall(ranked: Sequence[int], targets: Sequence[int], kind: RecallKind = "paper") -> float:
    """`paper`: every target found in the list counts (duplicates each count); `master`: distinct list items found
    among the targets. Both divide by len(targets), duplicates included."""
    if len(targets) == 0:
        return 0.0
    return _hits(ranked, targets, kind) / len(targets)


def hit(ranked: Sequence[int], targets: Sequence[int]) -> float:
    """1.0 when at least one target is in the list (identical in both branches of the original)."""
    return 1.0 if set(ranked) & set(targets) else 0.0


def ndcg(ranked: Sequence[int], targets: Sequence[int], kind: NdcgKind = "paper", n: int | None = None) -> float:
    """NDCG of one user's list. `n` (the cut-off, default len(ranked)) only matters for `standard`.

    - paper: DCG over positions p of the *targets* with targets[p] in the list, 1/log2(p+2); IDCG over the hits.
    - master: DCG over ranks r of the list with ranked[r] in the targets, 1/log2(r+2); IDCG over the hits.
    - standard: the master DCG (each relevant item once, by rank); IDCG over min(|set(targets)|, n) ranks.
    """
    ranked_set = {item for item in ranked if item != EMPTY_SLOT}
    target_set = set(targets)
    if kind == "paper":
        dcg = sum(float(_discount(p)) for p, item in enumerate(targets) if item in ranked_set)
        ideal = _ideal_dcg(_hits(ranked, targets, "paper"))
    elif kind in ("master", "standard"):
        seen: set[int] = set()
        dcg = 0.0
        for r, item in enumerate(ranked):
            if item in target_set and item not in seen:
                seen.add(item)
                dcg += float(_discount(r))
        cutoff = len(ranked) if n is None else n
        ideal = _ideal_dcg(len(seen) if kind == "master" else min(len(target_set), cutoff))
    else:
        raise ValueError(f"unknown NDCG kind {kind!r}; expected one of {NDCG_KINDS}")
    return dcg / ideal if ideal > 0 and dcg > 0 else 0.0


def _hits(ranked: Sequence[int], targets: Sequence[int], kind: RecallKind) -> int:
    ranked_set = {item for item in ranked if item != EMPTY_SLOT}
    if kind == "paper":
        return sum(1 for item in targets if item in ranked_set)
    if kind == "master":
        return len(ranked_set & set(targets))
    raise ValueError(f"unknown recall kind {kind!r}; expected 'paper' or 'master'")


def diversity(ranked: Sequence[int], item_cate: Mapping[int, int]) -> float:
    """Share of pairs of categorised items in the list whose categories differ (see the module note)."""
    cates = [item_cate[item] for item in ranked if item in item_cate]
    pairs = len(cates) * (len(cates) - 1) // 2
    if pairs == 0:
        return 0.0
    differing = sum(1 for i in range(len(cates)) for j in range(i + 1, len(cates)) if cates[i] != cates[j])
    return differing / pairs


# ---------------------------------------------------------------- batch versions
def _flatten_targets(targets: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Concatenated targets with their row index and their position within their row; plus row lengths."""
    lengths = np.fromiter((len(t) for t in targets), dtype=np.int64, count=len(targets))
    flat = np.concatenate([np.asarray(t, dtype=np.int64) for t in targets]) if len(targets) else np.zeros(0, np.int64)
    rows = np.repeat(np.arange(len(targets), dtype=np.int64), lengths)
    starts = np.cumsum(lengths) - lengths
    positions = np.arange(len(flat), dtype=np.int64) - np.repeat(starts, lengths)
    return flat, rows, positions, lengths


def _member(keys: np.ndarray, sorted_pool: np.ndarray) -> np.ndarray:
    if len(sorted_pool) == 0:
        return np.zeros(len(keys), dtype=bool)
    where = np.minimum(np.searchsorted(sorted_pool, keys), len(sorted_pool) - 1)
    return sorted_pool[where] == keys


def batch_user_metrics(ranked: np.ndarray, targets: Sequence[np.ndarray], cutoff: int | None = None
                       ) -> dict[str, np.ndarray]:
    """Per-user metrics for a batch, vectorised: `ranked` [B, N] (unique ids per row, -1 for empty slots),
    `targets` one array per row. Evaluates the first `cutoff` columns (default N).

    Returns per-user arrays: `recall` (paper), `recall_master`, `hitrate`, `ndcg_paper`, `ndcg_master`,
    `ndcg_standard`. Each equals the per-user function of the same name on the same row.
    """
    ranked = np.asarray(ranked, dtype=np.int64)
    width = ranked.shape[1] if ranked.ndim == 2 else 0
    n = width if cutoff is None else min(cutoff, width)
    return batch_user_metrics_at(ranked, targets, (n,))[n]


def batch_user_metrics_at(ranked: np.ndarray, targets: Sequence[np.ndarray], cutoffs: Sequence[int]
                          ) -> dict[int, dict[str, np.ndarray]]:
    """`batch_user_metrics` at several cut-offs, matching lists and targets once (prefixes of one list)."""
    ranked = np.asarray(ranked, dtype=np.int64)
    if ranked.ndim != 2 or ranked.shape[0] != len(targets):
        raise ValueError(f"ranked must be [B, N] with B = len(targets); got {ranked.shape} and {len(targets)}")
    batch, width = ranked.shape
    flat, rows, positions, lengths = _flatten_targets(targets)
    # One key per (row, item) lets a single sorted array answer membership for the whole batch.
    span = int(max(ranked.max(initial=0), flat.max(initial=0))) + 2
    ranked_keys = np.where(ranked >= 0, np.arange(batch, dtype=np.int64)[:, None] * span + ranked + 1, -1)
    target_keys = rows * span + flat + 1
    sorted_targets = np.unique(target_keys)
    list_in_targets = (ranked_keys >= 0) & _member(ranked_keys.ravel(), sorted_targets).reshape(ranked.shape)
    # Each target's rank in its user's list (width when absent): a target is found at cut-off c iff rank < c.
    flat_keys = ranked_keys.ravel()
    index_bits = max(len(flat_keys) - 1, 1).bit_length()
    packed = np.sort(((flat_keys + 1) << index_bits) | np.arange(len(flat_keys), dtype=np.int64))
    by_key = packed & ((1 << index_bits) - 1)
    sorted_keys = (packed >> index_bits) - 1
    where = np.minimum(np.searchsorted(sorted_keys, target_keys), max(len(sorted_keys) - 1, 0))
    found = sorted_keys[where] == target_keys if len(sorted_keys) else np.zeros(len(target_keys), dtype=bool)
    target_rank = np.where(found, by_key[where] % max(width, 1), width)
    distinct_targets = np.bincount(sorted_targets // span, minlength=batch)
    safe_lengths = np.maximum(lengths, 1)
    rank_discount = _discount(np.arange(width))
    target_discount = _discount(positions)

    def ratio(dcg: np.ndarray, ideal_dcg: np.ndarray) -> np.ndarray:
        return np.divide(dcg, ideal_dcg, out=np.zeros(batch), where=(ideal_dcg > 0) & (dcg > 0))

    out: dict[int, dict[str, np.ndarray]] = {}
    for cutoff in cutoffs:
        n = min(int(cutoff), width)
        in_list = list_in_targets[:, :n]
        target_in_list = target_rank < n
        master_hits = in_list.sum(axis=1)
        paper_hits = np.bincount(rows, weights=target_in_list, minlength=batch).astype(np.int64)
        ideal = np.concatenate([[0.0], np.cumsum(_discount(np.arange(max(int(paper_hits.max(initial=0)), n))))])
        rank_dcg = in_list @ rank_discount[:n]
        paper_dcg = np.bincount(rows, weights=target_in_list * target_discount, minlength=batch)
        out[int(cutoff)] = {
            "recall": np.where(lengths > 0, paper_hits / safe_lengths, 0.0),
            "recall_master": np.where(lengths > 0, master_hits / safe_lengths, 0.0),
            "hitrate": (master_hits > 0).astype(np.float64),
            "ndcg_paper": ratio(paper_dcg, ideal[paper_hits]),
            "ndcg_master": ratio(rank_dcg, ideal[master_hits]),
            "ndcg_standard": ratio(rank_dcg, ideal[np.minimum(distinct_targets, n)]),
        }
    return out


def category_lookup(item_cate: Mapping[int, int], size: int | None = None) -> np.ndarray:
    """Dense item -> category array; -1 for items without a category."""
    if hasattr(item_cate, "lookup_array"):  # the trainer's ItemCategories already is one
        return item_cate.lookup_array(size)  # type: ignore[attr-defined]
    top = max(item_cate, default=-1) + 1
    lookup = np.full(max(top, size or 0), -1, dtype=np.int64)
    if item_cate:
        lookup[np.fromiter(item_cate.keys(), np.int64)] = np.fromiter(item_cate.values(), np.int64)
    return lookup


def batch_diversity(ranked: np.ndarray, cate_lookup: np.ndarray, cutoff: int | None = None) -> np.ndarray:
    """Per-user diversity of the first `cutoff` columns; equals `diversity` row by row."""
    ranked = np.asarray(ranked, dtype=np.int64)
    n = ranked.shape[1] if cutoff is None else min(cutoff, ranked.shape[1])
    ranked = ranked[:, :n]
    inside = (ranked >= 0) & (ranked < len(cate_lookup))
    cates = np.where(inside, cate_lookup[np.where(inside, ranked, 0)], -1)
    known = cates >= 0
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)[None]
    both_known = known[:, :, None] & known[:, None, :] & upper
    differing = ((cates[:, :, None] != cates[:, None, :]) & both_known).sum(axis=(1, 2))
    pairs = both_known.sum(axis=(1, 2))
    return np.divide(differing, pairs, out=np.zeros(len(ranked)), where=pairs > 0)


# ---------------------------------------------------------------- merging K interests
def _descending_order(vals: np.ndarray, shift: int) -> np.ndarray:
    """Per row, the column order by descending score, ties in column order (a stable sort).

    float32 scores (what faiss returns) take a fast path: the float's bits mapped to an order-preserving integer,
    packed with the column into one int64, value-sorted.
    """
    if vals.dtype != np.float32 or shift > 31:
        return np.argsort(-vals, axis=1, kind="stable")
    bits = vals.view(np.int32).astype(np.int64)
    ascending = np.where(bits < 0, bits ^ 0x7FFFFFFF, bits)  # negative floats: flip the magnitude bits
    descending = (2**31 - 1) - ascending  # in [0, 2**32)
    packed = np.sort((descending << shift) | np.arange(vals.shape[1], dtype=np.int64), axis=1)
    return packed & ((1 << shift) - 1)


def _best_first_pairs(item_ids: np.ndarray, scores: np.ndarray, with_scores: bool = False
                      ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """A row's (item, score) pairs sorted by score, descending (ties keep their order, as Python's stable sort in
    the original), and a mask that is False on repeats of an item already seen at a better position and on -1.
    Scores come back (sorted) only when asked for."""
    ids = np.asarray(item_ids, dtype=np.int64).reshape(len(item_ids), -1)
    vals = np.asarray(scores).reshape(len(scores), -1)
    if ids.shape != vals.shape:
        raise ValueError(f"item_ids and scores differ in shape: {ids.shape} vs {vals.shape}")
    width = ids.shape[1]
    shift = max(width - 1, 1).bit_length()
    order = _descending_order(vals, shift)
    ids = np.take_along_axis(ids, order, axis=1)
    sorted_vals = np.take_along_axis(vals, order, axis=1).astype(np.float64) if with_scores else None
    # Sorting the values (id + 1, position) packed in one int64 groups equal ids with the best position first;
    # a value sort is several times faster than a stable argsort on ids.
    grouped = np.sort(((ids + 1) << shift) | np.arange(width, dtype=np.int64), axis=1)
    first = np.ones(grouped.shape, dtype=bool)
    first[:, 1:] = (grouped[:, 1:] >> shift) != (grouped[:, :-1] >> shift)
    keep = np.zeros(grouped.shape, dtype=bool)
    np.put_along_axis(keep, grouped & ((1 << shift) - 1), first, axis=1)
    return ids, sorted_vals, keep & (ids >= 0)


def merge_interests(item_ids: np.ndarray, scores: np.ndarray, n: int, drop_item_zero: bool = True) -> np.ndarray:
    """The original's K-interest merge, vectorised over a batch.

    `item_ids`, `scores`: [B, K, M] (each interest's top-M) or [B, K*M]. The pairs of a row are sorted by score,
    duplicates keep their best score, item 0 is dropped (unless `drop_item_zero` is False), and the first `n` are
    kept: the same as ranking items by max_k score without item 0. Rows with fewer than `n` distinct items are
    filled with -1. Returns [B, n] int64.
    """
    ids, _, keep = _best_first_pairs(item_ids, scores)
    if drop_item_zero:
        keep &= ids != 0
    # A stable sort on "not kept" moves the kept pairs to the front, still in score order.
    front = np.argsort(~keep, axis=1, kind="stable")[:, :n]
    merged = np.where(np.take_along_axis(keep, front, axis=1), np.take_along_axis(ids, front, axis=1), EMPTY_SLOT)
    if merged.shape[1] < n:
        merged = np.concatenate([merged, np.full((len(ids), n - merged.shape[1]), EMPTY_SLOT, np.int64)], axis=1)
    return merged


def controllable_aggregation(item_ids: np.ndarray, scores: np.ndarray, cate_lookup: np.ndarray, n: int,
                             coef: float) -> np.ndarray:
    """Paper Algorithm 2, vectorised over a batch: greedily pick `n` items maximising
    `score - coef * (number of already picked items of the same category)`.

    Candidates are the retrieved pairs ([B, K, M] or [B, K*M]), de-duplicated (best score kept); as in the
    original, items without a category (item 0 included) are not candidates, and a tie goes to the higher raw
    score. Returns [B, n]; -1 where a row runs out of candidates (where the original raises IndexError).
    """
    ids, vals, available = _best_first_pairs(item_ids, scores, with_scores=True)
    assert vals is not None
    inside = (ids >= 0) & (ids < len(cate_lookup))
    cates = np.where(inside, cate_lookup[np.where(inside, ids, 0)], -1)
    available &= cates >= 0
    cates = np.maximum(cates, 0)
    batch = len(ids)
    rows = np.arange(batch)
    picked_per_cate = np.zeros((batch, int(cates.max(initial=0)) + 1), dtype=np.float64)
    chosen = np.full((batch, n), EMPTY_SLOT, dtype=np.int64)
    for slot in range(n):
        penalty = coef * np.take_along_axis(picked_per_cate, cates, axis=1)
        adjusted = np.where(available, vals - penalty, -np.inf)
        best = np.argmax(adjusted, axis=1)  # the first maximum: pairs are in score order
        live = rows[available[rows, best]]
        chosen[live, slot] = ids[live, best[live]]
        picked_per_cate[live, cates[live, best[live]]] += 1.0
        available[live, best[live]] = False
    return chosen


# ---------------------------------------------------------------- accumulation over users
class MetricTotals:
    """Sums per-user metrics over batches; `means()` averages over all evaluated users."""

    def __init__(self) -> None:
        self._sums: dict[str, float] = {}
        self.users = 0

    def add(self, per_user: Mapping[str, np.ndarray], suffix: str = "") -> None:
        for name, values in per_user.items():
            key = f"{name}{suffix}"
            self._sums[key] = self._sums.get(key, 0.0) + float(np.sum(values))

    def add_sums(self, sums: Mapping[str, float]) -> None:
        """Add sums computed elsewhere (another block or shard), in the same float order as `add`."""
        for key, value in sums.items():
            self._sums[key] = self._sums.get(key, 0.0) + float(value)

    def sums(self) -> dict[str, float]:
        return dict(self._sums)

    def count(self, users: int) -> None:
        self.users += users

    def means(self) -> dict[str, float]:
        return {key: (total / self.users if self.users else 0.0) for key, total in self._sums.items()}
