"""recdoc's own run folder (run.json and metrics.jsonl) as the readers see it, every cut-off filled in."""

from __future__ import annotations

import json
from pathlib import Path

from recdoc.config import RunConfig

EXP = "book_ComiRec-DR_b128_lr0.001_d64_len20_run1"


def metrics_record(iteration: int, loss: float, recall50: float) -> dict:
    return {"iter": iteration, "train_loss": loss, "recall@20": recall50 / 2, "recall@50": recall50,
            "recall_master@50": recall50 * 0.9, "ndcg_paper@50": recall50 * 1.5, "ndcg_master@50": recall50 * 0.7,
            "ndcg_standard@50": recall50 * 0.8, "hitrate@50": recall50 * 2, "time_min": iteration / 1000 * 0.3,
            "improved": True, "trials": 0}


def make_run_folder(root: Path, ndcg: str = "paper", stop_reason: str = "early_stop") -> Path:
    root.mkdir(parents=True)
    config = RunConfig.for_dataset("book", ndcg=ndcg, exp="run1")
    final = {"valid": {"recall@50": 0.07, "ndcg_paper@50": 0.11, "ndcg_master@50": 0.05, "hitrate@50": 0.15,
                       "diversity@50": 0.2, "recall_master@50": 0.069},
             "test": {"recall@50": 0.071, "ndcg_paper@50": 0.12, "ndcg_master@50": 0.051, "hitrate@50": 0.152,
                      "diversity@50": 0.21, "recall_master@50": 0.070}}
    (root / "run.json").write_text(json.dumps({"exp_name": EXP, "config": config.to_dict(), "stop_reason": stop_reason,
                                               "best_iter": 2000, "final": final}))
    lines = [json.dumps(metrics_record(1000, 8.0, 0.02)), json.dumps(metrics_record(2000, 7.0, 0.04))]
    (root / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return root
