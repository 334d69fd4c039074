"""Evaluation throughput: recdoc's evaluation against the original's way of evaluating, end to end.

- original (`evaluate_full` in src/train.py): one exact faiss search per model batch (`--batch` users x K
  interests), then per user: sort the K*N (item, score) pairs, de-duplicate with a set, drop item 0, loop over the
  targets for recall / paper NDCG / hit rate;
- recdoc: `recdoc.trainer.evaluate.evaluate_interests`, the function the trainer calls: queries pooled across
  batches into blocks of a few thousand for one search each, `metrics.merge_interests` and the vectorised metrics
  (every NDCG kind, recall and hit rate) over the whole block.
Both build their faiss index from the same table and see the same interests and targets. Prints users/s for each
(best of `--repeat` passes), the speed-up (target >= 3x) and checks that both give the same numbers.

Usage: .venv/bin/python bench/eval_speed.py [--items 100000] [--users 8192] [--batch 128] [--repeat 2]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable

import numpy as np

from recdoc.trainer import evaluate as ev

TARGET_SPEEDUP = 3.0


def original_merge_and_metrics(ids: np.ndarray, scores: np.ndarray, targets: list[np.ndarray], top_n: int
                               ) -> tuple[float, float, float]:
    """Sums of recall, paper NDCG and hits over a batch, one user at a time as the original does."""
    total_recall = total_ndcg = total_hits = 0.0
    for row, user_targets in enumerate(targets):
        pairs = list(zip(ids[row].reshape(-1), scores[row].reshape(-1)))
        pairs.sort(key=lambda pair: pair[1], reverse=True)
        chosen: set[int] = set()
        for item, _ in pairs:
            if item not in chosen and item != 0:
                chosen.add(item)
                if len(chosen) >= top_n:
                    break
        hits, dcg = 0, 0.0
        for position, item in enumerate(user_targets.tolist()):
            if item in chosen:
                hits += 1
                dcg += 1.0 / math.log(position + 2, 2)
        ideal = sum(1.0 / math.log(r + 2, 2) for r in range(hits))
        total_recall += hits / len(user_targets)
        if hits:
            total_ndcg += dcg / ideal
            total_hits += 1
    return total_recall, total_ndcg, total_hits


def original_evaluation(table: np.ndarray, users: np.ndarray, targets: list[np.ndarray], batch: int,
                        top_n: int) -> tuple[float, float, float]:
    """Mean recall, paper NDCG and hit rate, the original's way: a search per batch, a Python loop per user."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as recdoc's ItemIndex, so both see the same OpenMP
    import faiss

    index = faiss.IndexFlatIP(table.shape[1])
    index.add(table)
    totals = np.zeros(3)
    for start in range(0, len(users), batch):
        chunk = users[start:start + batch]
        scores, ids = index.search(chunk.reshape(-1, chunk.shape[-1]), top_n)
        totals += original_merge_and_metrics(ids.reshape(len(chunk), -1), scores.reshape(len(chunk), -1),
                                             targets[start:start + batch], top_n)
    return tuple(totals / len(users))  # type: ignore[return-value]


def recdoc_evaluation(table: np.ndarray, users: np.ndarray, targets: list[np.ndarray], batch: int,
                      top_n: int) -> tuple[float, float, float]:
    batches = ((users[s:s + batch], targets[s:s + batch]) for s in range(0, len(users), batch))
    result = ev.evaluate_interests(table, batches, cutoffs=(top_n,))
    return result[f"recall@{top_n}"], result[f"ndcg_paper@{top_n}"], result[f"hitrate@{top_n}"]


def best_time(path: Callable[[], tuple[float, float, float]], repeat: int) -> tuple[float, tuple[float, ...]]:
    """Best of `repeat` passes (the machine may be shared) and the metrics of the last."""
    best, result = math.inf, (0.0, 0.0, 0.0)
    for _ in range(repeat):
        start = time.perf_counter()
        result = path()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=8192)
    parser.add_argument("--batch", type=int, default=128, help="users per model batch (the original's batch_size)")
    parser.add_argument("--interests", type=int, default=4)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--top_n", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=2, help="passes per path; the fastest is reported")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    table = rng.normal(size=(args.items, args.dim)).astype(np.float32)
    users = rng.normal(size=(args.users, args.interests, args.dim)).astype(np.float32)
    targets = [rng.integers(1, args.items, size=int(rng.integers(1, 13))) for _ in range(args.users)]
    # Plant hits: every fourth user's first target is its first interest's best item (exact, in float64).
    planted = np.arange(0, args.users, 4)
    best_items = np.argmax(users[planted, 0, :].astype(np.float64) @ table[1:].T.astype(np.float64), axis=1) + 1
    for row, item in zip(planted, best_items):
        targets[row][0] = item

    print(f"items {args.items:,}  users {args.users:,}  K {args.interests}  top-{args.top_n}  batch {args.batch}  "
          f"cpus {os.cpu_count()}  load average {os.getloadavg()[0]:.2f}")
    original_s, original = best_time(
        lambda: original_evaluation(table, users, targets, args.batch, args.top_n), args.repeat)
    recdoc_s, recdoc = best_time(
        lambda: recdoc_evaluation(table, users, targets, args.batch, args.top_n), args.repeat)
    n = args.users
    speedup = original_s / recdoc_s
    print(f"original (search per batch + per-user loop): {original_s:7.2f} s  {n / original_s:9,.0f} users/s")
    print(f"recdoc (evaluate_interests):                 {recdoc_s:7.2f} s  {n / recdoc_s:9,.0f} users/s")
    verdict = "met" if speedup >= TARGET_SPEEDUP else "NOT met"
    print(f"speed-up: {speedup:.2f}x (target >= {TARGET_SPEEDUP:.0f}x: {verdict}); "
          f"load average after {os.getloadavg()[0]:.2f}")
    names = ("recall", "ndcg (paper)", "hitrate")
    for name, a, b in zip(names, original, recdoc):
        print(f"  {name:<13} original {a:.6f}  recdoc {b:.6f}")
    # Pooled and per-batch faiss searches may round near-tied scores differently; the metrics must still agree.
    if not np.allclose(original, recdoc, rtol=1e-6, atol=1e-9):
        raise SystemExit("the two evaluations disagree")
    print("same metrics: True")


if __name__ == "__main__":
    main()
