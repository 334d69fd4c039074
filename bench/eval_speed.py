"""Evaluation throughput: recdoc's vectorised merge + metrics against the original's per-user Python loop.

Both paths share one exact faiss search (100k items, K = 4 interests, top-50), then:
- original: per user, sort the K*N (item, score) pairs, de-duplicate with a set, drop item 0, loop over the
  targets for recall / paper NDCG / hit rate (as `evaluate_full` in src/train.py);
- recdoc: `metrics.merge_interests` + `metrics.batch_user_metrics` over the whole batch.
The search runs once for all users; each path then runs over the same results (best of `--repeat` passes).
Prints users/s for the post-search stage and end to end, and checks that both paths give the same numbers.

Usage: .venv/bin/python bench/eval_speed.py [--items 100000] [--users 8192] [--batch 128] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from recdoc import metrics
from recdoc.trainer.evaluate import ItemIndex


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


def recdoc_merge_and_metrics(ids: np.ndarray, scores: np.ndarray, targets: list[np.ndarray], top_n: int
                             ) -> tuple[float, float, float]:
    ranked = metrics.merge_interests(ids, scores, top_n)
    per_user = metrics.batch_user_metrics(ranked, targets)
    return float(per_user["recall"].sum()), float(per_user["ndcg_paper"].sum()), float(per_user["hitrate"].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=8192)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--interests", type=int, default=4)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--top_n", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="passes per path; the fastest is reported")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    table = rng.normal(size=(args.items, args.dim)).astype(np.float32)
    users = rng.normal(size=(args.users, args.interests, args.dim)).astype(np.float32)
    # Targets: 1..12 items per user, drawn from the best-scoring region so that hits actually occur.
    targets = [rng.integers(1, args.items, size=int(rng.integers(1, 13))) for _ in range(args.users)]
    index = ItemIndex(table)

    batches = []
    t0 = time.perf_counter()
    for start in range(0, args.users, args.batch):
        batch = users[start:start + args.batch]
        ids, scores = index.search(batch.reshape(-1, args.dim), args.top_n)
        ids = ids.reshape(len(batch), args.interests, args.top_n)
        scores = scores.reshape(len(batch), args.interests, args.top_n)
        batch_targets = targets[start:start + args.batch]
        # Plant some hits: every fourth user's first target is its first interest's best item.
        for row in range(0, len(batch), 4):
            if ids[row, 0, 0] > 0:
                batch_targets[row][0] = ids[row, 0, 0]
        batches.append((ids, scores, batch_targets))
    search_s = time.perf_counter() - t0

    def timed(path) -> tuple[float, np.ndarray]:
        """Best of `--repeat` passes over all batches (the machine may be shared), and the metric sums."""
        best = math.inf
        for _ in range(args.repeat):
            totals = np.zeros(3)
            t_start = time.perf_counter()
            for ids, scores, batch_targets in batches:
                totals += path(ids, scores, batch_targets, args.top_n)
            best = min(best, time.perf_counter() - t_start)
        return best, totals

    original_s, original_totals = timed(original_merge_and_metrics)
    recdoc_s, recdoc_totals = timed(recdoc_merge_and_metrics)

    n = args.users
    print(f"items {args.items:,}  users {n:,}  K {args.interests}  top-{args.top_n}  batch {args.batch}")
    print(f"faiss search (shared):        {search_s:7.2f} s   {n / search_s:10,.0f} users/s")
    print(f"original merge + metrics:     {original_s:7.2f} s   {n / original_s:10,.0f} users/s")
    print(f"recdoc merge + metrics:       {recdoc_s:7.2f} s   {n / recdoc_s:10,.0f} users/s")
    print(f"speed-up, merge + metrics:    {original_s / recdoc_s:7.1f}x")
    print(f"end to end (search included): original {n / (search_s + original_s):,.0f} users/s, "
          f"recdoc {n / (search_s + recdoc_s):,.0f} users/s, "
          f"speed-up {(search_s + original_s) / (search_s + recdoc_s):.2f}x")
    same = np.allclose(original_totals / n, recdoc_totals / n)
    print(f"same metrics: {same}  (recall {recdoc_totals[0] / n:.6f}, ndcg {recdoc_totals[1] / n:.6f}, "
          f"hitrate {recdoc_totals[2] / n:.6f})")
    if not same:
        raise SystemExit("the two paths disagree")


if __name__ == "__main__":
    main()
