"""Full-catalogue evaluation as the original's `evaluate_full` (reference section 5), vectorised.

Exact inner product over the whole item table, row 0 included (faiss `IndexFlatIP` on the CPU); each interest
retrieves its top-N, the K lists are merged (`recdoc.metrics.merge_interests`). One search at the largest cut-off
serves every cut-off c: each interest's top-c is the prefix of its deeper list, and the merge at c uses only those
prefixes, as the original run with `--topN c` would (the deeper pool differs when item 0 or a category penalty
lets a lower-ranked item in). Models with one user vector (DNN, GRU4REC: `merges_interests = False`) keep the raw
top-N, item 0 included, as the original does (`set(I[i])`); every other model's output is merged, item 0 dropped,
even with K = 1 (the original branches on the embedding's rank, not on K). With `coef` set, merged lists come
from controllable aggregation instead (paper Algorithm 2; the original never applies it to one user vector).

Searches are pooled into blocks of about `SEARCH_BLOCK_QUERIES` queries, and the block is the unit that scales out:
`Shard(index, count)` evaluates blocks `index, index + count, ...` only; each block contributes one sum per metric
(`BlockTotals`) and `merge_block_totals` adds them in block order, exactly as one process does, so shards run in
several processes or workers give the same floats as one process (faiss's distances depend on the block a query
is searched in, so shards follow the one-process block boundaries rather than cutting the users anew).

Returned keys, for every cut-off c: `recall@c` (paper recall: duplicate targets each count), `recall_master@c`,
`hitrate@c`, `ndcg_paper@c`, `ndcg_master@c`, `ndcg_standard@c`, and `diversity@c` when categories are given.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from recdoc import metrics
from recdoc.config import RunConfig

if TYPE_CHECKING:
    from recdoc.trainer.data.dataset import Split

InterestBatch = tuple[np.ndarray, Sequence[np.ndarray]]  # interests [B, K, d], one target array per user
# faiss searches a block of a few thousand queries several times faster per query than the 128 users x K of one
# model batch (measured 3-4x at 100k items, d 64, top-50 on 2 cores: its batched path starts near 2,000 queries),
# so queries are pooled across model batches up to this many (users x interests) before one search.
SEARCH_BLOCK_QUERIES = 4096


def cutoffs_for(config: RunConfig) -> tuple[int, ...]:
    """Every cut-off to report: `metrics_at` plus `topN`, ascending."""
    return tuple(sorted({int(config.topN), *(int(c) for c in config.metrics_at)}))


def _faiss() -> Any:
    # OpenMP threads that spin after a search steal the CPU from the numpy merge that follows (about a third
    # of the evaluation time on a 2-core machine); passive waiting must be chosen before faiss loads OpenMP.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import faiss

    return faiss


def gpu_search_available() -> bool:
    """Whether faiss can search on a GPU here (a faiss-gpu build and a visible GPU; `RECDOC_FAISS_GPU=0` opts out)."""
    if os.environ.get("RECDOC_FAISS_GPU", "1") == "0":
        return False
    faiss = _faiss()
    try:
        return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0
    except Exception:  # a GPU build without a usable driver
        return False


def search_backend() -> str:
    """Which exact search evaluation uses here (run.json records it)."""
    if gpu_search_available():
        return f"faiss GpuIndexFlatIP (exact, {_faiss().get_num_gpus()} GPU(s))"
    return "faiss knn on the CPU (exact, the table searched in place)"


class ItemIndex:
    """Exact maximum-inner-product search over an item table (faiss is imported here, not at module import).

    On the CPU, `faiss.knn` searches the table where it lies (the same code and floats as `IndexFlatIP.search`,
    without the index's copy of the table: 417 MiB at 1.7M items). With a faiss GPU build and a visible GPU, a
    `GpuIndexFlatIP` (exact, as the original's evaluation; the table is copied to the GPU once per evaluation).
    Never an approximate index: reported metrics come from exact search only."""

    def __init__(self, item_table: np.ndarray, use_gpu: bool | None = None) -> None:
        faiss = _faiss()
        table = np.ascontiguousarray(item_table, dtype=np.float32)  # a view when it already is float32 C-order
        if table.ndim != 2 or table.shape[0] == 0:
            raise ValueError(f"item table must be a non-empty [items, d] matrix, got shape {table.shape}")
        self.size = table.shape[0]
        self._table = table
        self._gpu_index: Any = None
        if gpu_search_available() if use_gpu is None else use_gpu:
            self._gpu_resources = faiss.StandardGpuResources()
            self._gpu_index = faiss.GpuIndexFlatIP(self._gpu_resources, table.shape[1])
            self._gpu_index.add(table)

    def search(self, queries: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-`depth` (ids, float32 scores) per query; ids past the catalogue's size are -1 with score -inf."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        reachable = min(depth, self.size)
        if self._gpu_index is not None:
            scores, ids = self._gpu_index.search(queries, reachable)
        else:
            faiss = _faiss()
            scores, ids = faiss.knn(queries, self._table, reachable, metric=faiss.METRIC_INNER_PRODUCT)
        scores = np.where(ids >= 0, scores, np.float32(-np.inf))
        if reachable < depth:
            pad = depth - reachable
            ids = np.concatenate([ids, np.full((len(ids), pad), -1, ids.dtype)], axis=1)
            scores = np.concatenate([scores, np.full((len(scores), pad), -np.inf, np.float32)], axis=1)
        return ids.astype(np.int64), scores


def rank_items(index: ItemIndex, interests: np.ndarray, depth: int, coef: float | None = None,
               cate_lookup: np.ndarray | None = None, merge: bool | None = None) -> np.ndarray:
    """Ranked lists [B, depth] for interest vectors [B, K, d] (see the module note for `merge` and `coef`).

    `merge`: whether the lists are merged as K interests; None means K > 1 (a [B, 1, d] input is one user vector).
    """
    return rank_items_at(index, interests, (depth,), coef, cate_lookup, merge)[depth]


def rank_items_at(index: ItemIndex, interests: np.ndarray, cutoffs: Sequence[int], coef: float | None = None,
                  cate_lookup: np.ndarray | None = None, merge: bool | None = None) -> dict[int, np.ndarray]:
    """The ranked list [B, c] at every cut-off c from one search at the largest: what the original would rank
    with `--topN c` (merges use each interest's top-c only)."""
    interests = np.asarray(interests)
    if interests.ndim == 2:
        interests = interests[:, None, :]
    batch, num_interest, dim = interests.shape
    depth = max(int(c) for c in cutoffs)
    ids, scores = index.search(interests.reshape(batch * num_interest, dim), depth)
    if not (num_interest > 1 if merge is None else merge):
        if num_interest != 1:
            raise ValueError(f"one user vector per user expected without a merge, got K = {num_interest}")
        return {int(c): ids[:, :c] for c in cutoffs}
    if coef is not None and cate_lookup is None:
        raise ValueError("controllable aggregation (coef) needs item categories")
    ids = ids.reshape(batch, num_interest, depth)
    scores = scores.reshape(batch, num_interest, depth)
    ranked: dict[int, np.ndarray] = {}
    for cutoff in sorted({int(c) for c in cutoffs}):
        top_ids, top_scores = ids[:, :, :cutoff], scores[:, :, :cutoff]
        if coef is not None:
            assert cate_lookup is not None
            ranked[cutoff] = metrics.controllable_aggregation(top_ids, top_scores, cate_lookup, cutoff, coef)
        else:
            ranked[cutoff] = metrics.merge_interests(top_ids, top_scores, cutoff)
    return ranked


class Scoreboard:
    """Accumulates every metric at every cut-off over the batches of one evaluation."""

    def __init__(self, cutoffs: Sequence[int], cate_lookup: np.ndarray | None = None) -> None:
        self.cutoffs = tuple(cutoffs)
        self.cate_lookup = cate_lookup
        self._totals = metrics.MetricTotals()

    @property
    def users(self) -> int:
        return self._totals.users

    def add(self, ranked: np.ndarray | Mapping[int, np.ndarray], targets: Sequence[np.ndarray]) -> None:
        """`ranked`: one list [B, >= max cut-off] whose prefixes serve every cut-off, or a list per cut-off."""
        lists = ranked if isinstance(ranked, Mapping) else {c: np.asarray(ranked)[:, :c] for c in self.cutoffs}
        deepest = lists[max(self.cutoffs)]
        # Lists that are prefixes of the deepest one (the usual case) share one matching pass.
        shared = [c for c in self.cutoffs if np.array_equal(lists[c], deepest[:, :c])]
        per_cutoff = metrics.batch_user_metrics_at(deepest, targets, shared)
        for cutoff in self.cutoffs:
            if cutoff not in per_cutoff:
                per_cutoff[cutoff] = metrics.batch_user_metrics_at(lists[cutoff], targets, (cutoff,))[cutoff]
            self._totals.add(per_cutoff[cutoff], suffix=f"@{cutoff}")
            if self.cate_lookup is not None:
                diversity = metrics.batch_diversity(lists[cutoff], self.cate_lookup, cutoff=cutoff)
                self._totals.add({"diversity": diversity}, suffix=f"@{cutoff}")
        self._totals.count(len(targets))

    def result(self) -> dict[str, float]:
        return self._totals.means()

    def sums(self) -> dict[str, float]:
        return self._totals.sums()


@dataclass(frozen=True)
class Shard:
    """The blocks one process evaluates: `index, index + count, ...` of the one-process block sequence."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard index must be in [0, count), got {self.index} of {self.count}")

    def owns(self, block: int) -> bool:
        return block % self.count == self.index


ONE_PROCESS = Shard(0, 1)


@dataclass(frozen=True)
class BlockTotals:
    """One search block's contribution: the sum of every metric over its users, and how many users it holds."""

    block: int
    sums: dict[str, float]
    users: int


def metric_keys(cutoffs: Sequence[int], cate_lookup: np.ndarray | None) -> list[str]:
    """The metric keys an evaluation returns, in its order (every shard must agree, even one with no block)."""
    board = Scoreboard(cutoffs, cate_lookup)
    board.add(np.zeros((1, max(cutoffs)), dtype=np.int64), [np.array([1], dtype=np.int64)])
    return list(board.sums())


def merge_block_totals(blocks: Iterable[BlockTotals], keys: Sequence[str] | None = None) -> dict[str, float]:
    """Means over all users, adding the blocks' sums in block order: the same floats as one process."""
    ordered = sorted(blocks, key=lambda b: b.block)
    totals = metrics.MetricTotals()
    for block in ordered:
        totals.add_sums(block.sums if keys is None else {k: block.sums[k] for k in keys})
        totals.count(block.users)
    return totals.means()


def blocks_to_matrix(blocks: Iterable[BlockTotals], block_count: int, keys: Sequence[str]) -> np.ndarray:
    """float64 [blocks, keys + 1] (last column: users), zero rows for blocks this shard did not evaluate.

    Summing such matrices across shards (an all-reduce) adds each block's row to zeros only: exact."""
    matrix = np.zeros((block_count, len(keys) + 1), dtype=np.float64)
    for block in blocks:
        matrix[block.block, :-1] = [block.sums[k] for k in keys]
        matrix[block.block, -1] = block.users
    return matrix


def matrix_to_blocks(matrix: np.ndarray, keys: Sequence[str]) -> list[BlockTotals]:
    return [BlockTotals(row, {k: float(v) for k, v in zip(keys, matrix[row, :-1])}, int(matrix[row, -1]))
            for row in range(len(matrix)) if matrix[row, -1] > 0]


def pool_blocks(batches: Iterable[InterestBatch]) -> Iterator[list[InterestBatch]]:
    """Consecutive batches pooled until they hold at least `SEARCH_BLOCK_QUERIES` queries (users x interests)."""
    pending: list[InterestBatch] = []
    pending_queries = 0
    for interests, targets in batches:
        pending.append((interests, targets))
        pending_queries += int(np.prod(np.shape(interests)[:-1]))
        if pending_queries >= SEARCH_BLOCK_QUERIES:
            yield pending
            pending, pending_queries = [], 0
    if pending:
        yield pending


def plan_blocks(batch_users: Sequence[int], queries_per_user: int) -> list[list[int]]:
    """The batch indices of each block, as `pool_blocks` groups them, known before any interest is computed."""
    blocks: list[list[int]] = []
    current: list[int] = []
    queries = 0
    for index, users in enumerate(batch_users):
        current.append(index)
        queries += users * queries_per_user
        if queries >= SEARCH_BLOCK_QUERIES:
            blocks.append(current)
            current, queries = [], 0
    if current:
        blocks.append(current)
    return blocks


def score_block(index: ItemIndex, block: int, pending: Sequence[InterestBatch], cutoffs: Sequence[int],
                cate_lookup: np.ndarray | None, coef: float | None, merge: bool | None) -> BlockTotals:
    """One exact search over a block's queries, the merge, and the block's metric sums."""
    interests = np.concatenate([np.asarray(i).reshape(len(i), -1, np.asarray(i).shape[-1]) for i, _ in pending])
    targets = [t for _, batch_targets in pending for t in batch_targets]
    board = Scoreboard(cutoffs, cate_lookup)
    board.add(rank_items_at(index, interests, board.cutoffs, coef, cate_lookup, merge), targets)
    return BlockTotals(block, board.sums(), board.users)


def evaluate_interests(item_table: np.ndarray, batches: Iterable[InterestBatch], cutoffs: Sequence[int],
                       item_cate: Mapping[int, int] | None = None, coef: float | None = None,
                       merge: bool | None = None) -> dict[str, float]:
    """Metrics over all users of `batches` against the full `item_table` (no TensorFlow needed).

    `merge`: the model's `merges_interests`; None means "merge when K > 1"."""
    blocks = evaluate_interest_blocks(item_table, batches, cutoffs, item_cate, coef, merge)
    return merge_block_totals(blocks)


def evaluate_interest_blocks(item_table: np.ndarray, batches: Iterable[InterestBatch], cutoffs: Sequence[int],
                             item_cate: Mapping[int, int] | None = None, coef: float | None = None,
                             merge: bool | None = None, shard: Shard = ONE_PROCESS) -> list[BlockTotals]:
    """The `BlockTotals` of the blocks `shard` owns (all of them for one process)."""
    index = ItemIndex(item_table)
    cate_lookup = metrics.category_lookup(item_cate, index.size) if item_cate else None
    cutoffs = tuple(cutoffs)
    return [score_block(index, number, pending, cutoffs, cate_lookup, coef, merge)
            for number, pending in enumerate(pool_blocks(batches)) if shard.owns(number)]


# Sums the float64 matrix of `blocks_to_matrix` across shards (an all-reduce); identity for one process.
Exchange = Callable[[np.ndarray], np.ndarray]


def evaluate(model: Any, split: "Split", config: RunConfig, item_cate: Mapping[int, int] | None = None,
             shard: Shard = ONE_PROCESS, exchange: Exchange | None = None) -> dict[str, float]:
    """Evaluate `model` (`.item_embeddings`, `.interests(hist, mask)`) on every user of `split`.

    With `shard`, only its blocks are computed (interests included); `exchange` sums every shard's block matrix
    so that each shard returns the merged metrics of all users, equal to one process's."""
    from recdoc.trainer.data.sampling import eval_batches

    batches = list(eval_batches(split, config.batch_size, config.maxlen))  # host-side views, cheap
    # np.asarray over the read tensor is a view; `.numpy()` would add a full copy of the table (417 MiB at 1.7M
    # items) (bench/scale.py).
    table = np.asarray(model.item_embeddings.read_value() if hasattr(model.item_embeddings, "read_value")
                       else model.item_embeddings)
    index = ItemIndex(table)
    cate_lookup = metrics.category_lookup(item_cate, index.size) if item_cate else None
    cutoffs = cutoffs_for(config)
    merge = getattr(model, "merges_interests", None)
    results: list[BlockTotals] = []
    if batches:
        # Queries per user (K) decide the block boundaries; the first batch's interests tell it.
        first = np.asarray(model.interests(batches[0][0], batches[0][1]))
        queries_per_user = int(np.prod(first.shape[1:-1])) if first.ndim > 2 else 1
        plan = plan_blocks([len(targets) for _, _, targets in batches], queries_per_user)
        for number, members in enumerate(plan):
            if not shard.owns(number):
                continue
            pending = [(first if i == 0 else np.asarray(model.interests(batches[i][0], batches[i][1])),
                        batches[i][2]) for i in members]
            results.append(score_block(index, number, pending, cutoffs, cate_lookup, config.coef, merge))
    else:
        plan = []
    if exchange is None:
        return merge_block_totals(results)
    keys = metric_keys(cutoffs, cate_lookup)
    merged = exchange(blocks_to_matrix(results, len(plan), keys))
    return merge_block_totals(matrix_to_blocks(merged, keys), keys)


def subset_split(split: "Split", users: int, seed: int) -> "Split":
    """A fixed, seeded subset of `users` users of `split`, kept in file order (`--eval_users`)."""
    from recdoc.trainer.data.dataset import Split

    if users >= len(split):
        return split
    rows = np.sort(np.random.default_rng(seed).choice(len(split), size=users, replace=False))
    return Split(path=split.path, users=split.users[rows], sequences=[split.sequences[r] for r in rows])


# ---------------------------------------------------------------- MostPopular
def most_popular_items(sequences: Iterable[np.ndarray], n: int) -> np.ndarray:
    """The `n` most frequent items (every occurrence counts); ties keep first appearance, as the original's
    stable sort over an insertion-ordered dict."""
    seqs = [np.asarray(s, dtype=np.int64) for s in sequences]
    if not seqs:
        return np.zeros(0, dtype=np.int64)
    items, first_seen, counts = np.unique(np.concatenate(seqs), return_index=True, return_counts=True)
    order = np.lexsort((first_seen, -counts))
    return items[order][:n]


def evaluation_targets(sequences: Iterable[np.ndarray]) -> list[np.ndarray]:
    """Each user's targets: the items from position int(0.8 * len) on (reference section 2)."""
    return [np.asarray(s)[int(0.8 * len(s)):] for s in sequences]


def evaluate_most_popular(train: "Split", split: "Split", cutoffs: Sequence[int],
                          item_cate: Mapping[int, int] | None = None, batch_size: int = 1024) -> dict[str, float]:
    """MostPopular (the original's src/mostpop.py): the same top-N list for every user, same metrics."""
    depth = max(cutoffs)
    popular = most_popular_items(train.sequences, depth)
    ranked_row = np.full(depth, metrics.EMPTY_SLOT, dtype=np.int64)
    ranked_row[: len(popular)] = popular
    cate_lookup = metrics.category_lookup(item_cate) if item_cate else None
    board = Scoreboard(cutoffs, cate_lookup)
    targets = evaluation_targets(split.sequences)
    for start in range(0, len(targets), batch_size):
        chunk = targets[start:start + batch_size]
        board.add(np.tile(ranked_row, (len(chunk), 1)), chunk)
    return board.result()
