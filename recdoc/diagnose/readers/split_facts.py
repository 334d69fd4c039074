"""Facts about a run's data, read from its split files (`<name>_train.txt`, `_valid.txt`, `_test.txt`).

Two properties of the original's data preparation that no log shows (reference sections 3-4):
- item ids are assigned by descending frequency, which the log-uniform candidate sampler relies on (it draws
  small ids most often, as if they were the popular items);
- users are split into train / valid / test: a valid or test user is never seen in training.

Only recdoc run folders name their split files (run.json `data.files`, or `config.data_dir` + `config.dataset`);
the files are read with pandas' C parser, once, and only when they are small enough to keep `recdoc analyze` fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recdoc.config import SPLITS
from recdoc.trainer.data.dataset import split_file
from recdoc.trainer.log.folder import stated_path_candidates

# Larger split files are not read: pandas parses ~30 MB/s here, so 64 MiB costs about 2 s; Book's files
# (~150 MB) would make the data facts dominate an analysis that otherwise takes well under a second.
MAX_SPLIT_BYTES = 64 * 1024 * 1024


def split_files(record: dict[str, Any], run_json: Path) -> dict[str, Path]:
    """The split files a recdoc run.json names, keyed by split; relative paths are looked for where
    `stated_path_candidates` says."""
    data = record.get("data") if isinstance(record.get("data"), dict) else {}
    named = [Path(str(p)) for p in data.get("files", []) if isinstance(p, str)]
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    dataset, data_dir = config.get("dataset"), config.get("data_dir")
    if not named and isinstance(dataset, str) and isinstance(data_dir, str):
        named = [split_file(data_dir, dataset, split) for split in SPLITS]
    out: dict[str, Path] = {}
    for path in named:
        split = next((s for s in SPLITS if path.name.endswith(f"_{s}.txt")), None)
        if split is None:
            continue
        for candidate in stated_path_candidates(run_json.parent, path):
            if candidate.is_file():
                out[split] = candidate
                break
    return out


def read_split_facts(files: dict[str, Path]) -> dict[str, Any] | None:
    """Id/frequency correlation of the training split and the share of valid/test users also in training.

    None when the training split is missing, too large, or not `user,item,...` integer rows.
    """
    if "train" not in files or sum(p.stat().st_size for p in files.values()) > MAX_SPLIT_BYTES:
        return None
    tables: dict[str, np.ndarray] = {}
    for split, path in files.items():
        try:
            frame = pd.read_csv(path, header=None, usecols=[0, 1], dtype=np.int64, engine="c")
        except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
            return None
        tables[split] = frame.to_numpy(dtype=np.int64)
    train = tables["train"]
    if len(train) == 0:
        return None
    facts: dict[str, Any] = {"files": {split: str(path) for split, path in files.items()},
                             "train_items": int(len(np.unique(train[:, 1]))),
                             "id_frequency_spearman": id_frequency_spearman(train[:, 1])}
    train_users = np.unique(train[:, 0])
    for split in ("valid", "test"):
        if split in tables and len(tables[split]):
            users = np.unique(tables[split][:, 0])
            facts[f"{split}_users"] = int(len(users))
            facts[f"{split}_users_in_train"] = int(np.isin(users, train_users, assume_unique=True).sum())
    return facts


def id_frequency_spearman(items: np.ndarray) -> float | None:
    """Spearman correlation between item id and its count (items seen at least once); -1: ids by frequency.

    Ties share their average rank, as in the usual definition. None with fewer than 3 distinct items or no spread.
    """
    ids, counts = np.unique(np.asarray(items, dtype=np.int64), return_counts=True)
    if len(ids) < 3:
        return None
    id_rank = pd.Series(ids).rank(method="average").to_numpy()
    count_rank = pd.Series(counts).rank(method="average").to_numpy()
    if np.ptp(count_rank) == 0:
        return None
    return float(np.corrcoef(id_rank, count_rank)[0, 1])
