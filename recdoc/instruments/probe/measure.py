"""A model's interests run over a split's users into the tally: a recdoc run, or any checkpoint recdoc can load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recdoc import reference
from recdoc.config import EVAL_SPLITS, RunConfig
from recdoc.errors import UsageError
from recdoc.instruments.checkpoints import open_with_data
from recdoc.instruments.probe.files import PROBE_SCHEMA, latest_probe_file, read_probe
from recdoc.instruments.probe.restore import locate, restore_model
from recdoc.instruments.probe.tally import InterestTally
from recdoc.thresholds import InterestThresholds
from recdoc.trainer.data.dataset import Split, load_dataset
from recdoc.trainer.data.sampling import eval_batches
from recdoc.trainer.evaluate import ItemIndex


def probe_run(run_dir: str | Path, split: str = "valid", data_dir: str | None = None,
              max_users: int | None = None) -> dict[str, Any]:
    """Restore the run's best checkpoint and probe its interests on `split`'s users; the `probe.json` content."""
    if split not in EVAL_SPLITS:
        raise UsageError(f"--split must be one of {', '.join(EVAL_SPLITS)}, got {split!r}")
    if max_users is not None and max_users < 1:
        raise UsageError(f"--max_users must be positive, got {max_users}")
    target = locate(run_dir, data_dir)
    if not reference.is_multi_interest(target.config.model_type) or target.config.num_interest < 2:
        raise UsageError(f"{target.exp_name}: {target.config.model_type} with {target.config.num_interest} "
                         "interest(s) is not a multi-interest model: there is nothing to probe")

    dataset = load_dataset(str(target.data_dir), target.config.dataset, target.config.item_count)
    model = restore_model(target, dataset.item_count)
    all_users = dataset.valid if split == "valid" else dataset.test
    return {
        "schema": PROBE_SCHEMA,
        "run": str(target.run_dir),
        "exp_name": target.exp_name,
        "model_type": target.config.model_type,
        "dataset": target.config.dataset,
        "checkpoint": str(target.checkpoint),
        "split": split,
        "users_in_split": len(all_users),
        **probe_interests(model, all_users, target.config, max_users),
    }


def probe_interests(model: Any, users: Any, config: RunConfig, max_users: int | None = None) -> dict[str, Any]:
    """The tally of `model`'s interests over `users` (a `Split`; its first `max_users`), as evaluation sees them."""
    if max_users is not None and max_users < len(users):
        users = Split(users.path, users.users[:max_users], users.sequences[:max_users])
    table = np.asarray(model.item_embeddings.numpy())
    index = ItemIndex(table)
    tally = InterestTally(model.num_interest, config.topN)
    for hist, mask, targets in eval_batches(users, config.batch_size, config.maxlen):
        interests = np.asarray(model.interests(hist, mask))
        own_ids, own_scores = own_top_n(index, interests, config.topN)
        tally.add(interests, table, own_ids, own_scores, targets)
    return tally.result()


def probe_checkpoint(path: str | Path, data_dir: str | Path, dataset: str | None = None, split: str = "valid",
                     max_users: int | None = None) -> dict[str, Any]:
    """The probe of any ComiRec checkpoint (the original's, a TF2 or PyTorch port's, recdoc's), loaded by
    `recdoc.instruments.checkpoints`; the result also says what mapped to what (`loaded_as`)."""
    if split not in EVAL_SPLITS:
        raise UsageError(f"--split must be one of {', '.join(EVAL_SPLITS)}, got {split!r}")
    if max_users is not None and max_users < 1:
        raise UsageError(f"--max_users must be positive, got {max_users}")

    loaded, data = open_with_data(path, data_dir, dataset)
    return probe_loaded(loaded, data, split, max_users)


def probe_loaded(loaded: Any, data: Any, split: str = "valid", max_users: int | None = None) -> dict[str, Any]:
    """The probe of a checkpoint already loaded (`recdoc.instruments.checkpoints.Loaded`) on `data`'s users."""
    mapping = loaded.mapping
    if not reference.is_multi_interest(mapping.model_type) or mapping.num_interest < 2:
        raise UsageError(f"{loaded.located.target}: {mapping.model_type} with {mapping.num_interest} interest(s) is "
                         "not a multi-interest model: there is nothing to probe")
    all_users = data.valid if split == "valid" else data.test
    located = loaded.located
    return {
        "schema": PROBE_SCHEMA,
        "run": str(located.run_root) if located.run_root is not None else None,
        "exp_name": located.exp_name or located.target.parent.name,
        "model_type": mapping.model_type,
        "dataset": data.name,
        "checkpoint": str(located.target),
        "loaded_as": {"layout": loaded.source.layout, **mapping.to_dict()},
        "split": split,
        "users_in_split": len(all_users),
        **probe_interests(loaded.model, all_users, loaded.config, max_users),
    }


def probe_any(path: str | Path, split: str = "valid", data_dir: str | None = None, dataset: str | None = None,
              max_users: int | None = None) -> dict[str, Any]:
    """`recdoc probe PATH`: a recdoc run folder as before (its data folder from run.json unless given), any
    other checkpoint through the foreign loaders (which need the data folder)."""
    folder = Path(path)
    if folder.is_dir() and (folder / "run.json").is_file() and dataset is None:
        return probe_run(folder, split=split, data_dir=data_dir, max_users=max_users)
    if data_dir is None:
        raise UsageError("probing a checkpoint that is not a recdoc run folder needs --data_dir (the folder "
                         "holding <dataset>_data/ in ComiRec's format)")
    return probe_checkpoint(path, data_dir, dataset, split, max_users)


def own_top_n(index: Any, interests: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each interest's own exact top-`n` over the whole table (row 0 included), as evaluation searches:
    ids and scores `[B, K, n]`. `index` is a `recdoc.trainer.evaluate.ItemIndex`."""
    batch, k, dim = interests.shape
    ids, scores = index.search(interests.reshape(batch * k, dim), n)
    return ids.reshape(batch, k, n), scores.reshape(batch, k, n)


def probe_for_doctor(run_dir: Path) -> tuple[dict[str, Any], Path | None]:
    """For `recdoc analyze --deep`: the run's latest probe file, else a probe computed now (not written).

    Returns the probe and the file it came from (None when computed now).
    """
    existing = latest_probe_file(run_dir)
    if existing is not None:
        return read_probe(existing), existing
    return probe_run(run_dir, max_users=InterestThresholds.DOCTOR_MAX_USERS), None
