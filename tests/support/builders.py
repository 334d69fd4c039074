"""Tiny model configs and batches, a minimal original-format log, a recdoc run folder, a config for training.

Richer generators live beside these: `support.diagnose_factory` (hand-built `Run`s for the rules), the readers'
inputs (`support.logs`, `support.checkpoints`, `support.tensorboard`, `support.run_folders`) and
`support.diagnoses` (hand-built `Diagnosis`es for the reports); `test_doctor_unseen.original_log` (logs of every
ending and port) stays with its only user.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recdoc.config import RunConfig

# A model small enough to check by hand: 3 users, histories of at most 6 items, 3 interests of size 4, 40 items.
BATCH, MAXLEN, K, DIM, ITEMS = 3, 6, 3, 4, 40


def tiny_config(**overrides: object) -> RunConfig:
    values: dict[str, object] = dict(dataset="syn", batch_size=BATCH, maxlen=MAXLEN, num_interest=K,
                                     embedding_dim=DIM, hidden_size=DIM, random_seed=7)
    values.update(overrides)
    return RunConfig(**values)  # type: ignore[arg-type]


def tiny_batch(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded histories of lengths 6, 4 and 2 (item ids 1..ITEMS-1, 0 for padding) and their mask."""
    rng = np.random.default_rng(seed)
    lengths = np.array([MAXLEN, 4, 2])
    mask = (np.arange(MAXLEN)[None, :] < lengths[:, None]).astype(np.float32)
    hist = (rng.integers(1, ITEMS, size=(BATCH, MAXLEN)) * mask).astype(np.int32)
    return hist, mask


def simple_original_log(evaluations: int, exp: str = "book_ComiRec-DR_b128_lr0.005_d64_len20") -> str:
    """The original src/train.py's stdout for a run still climbing after `evaluations` evaluations, 1000 apart (the
    master code's NDCG: NDCG/HitRate 0.35, inside the master band on Book)."""
    lines = ["['src/train.py', '--dataset', 'book', '--model_type', 'ComiRec-DR']", "training begin"]
    for step in range(1, evaluations + 1):
        recall = 0.02 + 0.01 * step
        lines += [exp,
                  f"iter: {step * 1000}, train loss: {8 - 0.1 * step:.4f}, valid recall: {recall:.6f}, "
                  f"valid ndcg: {recall * 1.05:.6f}, valid hitrate: {recall * 3:.6f}",
                  f"time interval: {step * 1.5:.4f} min"]
    return "\n".join(lines) + "\n"


def write_run_folder(config: RunConfig, recalls: Sequence[float], stop_reason: str = "max_iter") -> Path:
    """`<config.runs_dir>/<exp name>/` with the run.json and metrics.jsonl recdoc train writes (no checkpoints),
    one evaluation per `config.test_iter` iterations."""
    folder = Path(config.runs_dir) / config.exp_name
    folder.mkdir(parents=True)
    rows = [{"iter": config.test_iter * i, "train_loss": 8.0 - i / 10, f"recall@{config.topN}": recall,
             f"ndcg_paper@{config.topN}": 1.5 * recall, f"hitrate@{config.topN}": 2 * recall}
            for i, recall in enumerate(recalls, start=1)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    best = max(range(len(recalls)), key=lambda i: recalls[i]) + 1 if recalls else None
    (folder / "run.json").write_text(json.dumps({
        "exp_name": config.exp_name, "config": config.to_dict(), "stop_reason": stop_reason,
        "best_iter": best * config.test_iter if best else None}))
    return folder


def synthetic_config(data_dir: Path, runs_dir: Path, **overrides: object) -> RunConfig:
    """ComiRec-DR on the `synthetic_data` fixture (conftest.py) for one thousand iterations; each test sets its
    evaluation schedule."""
    values: dict[str, object] = dict(model_type="ComiRec-DR", learning_rate=0.01, batch_size=128, maxlen=20,
                                     max_iter=1, data_dir=str(data_dir), runs_dir=str(runs_dir), exp="t")
    values.update(overrides)
    return RunConfig.for_dataset("syn", **values)
