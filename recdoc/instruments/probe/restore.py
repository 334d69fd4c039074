"""What a probe reads in a recdoc run folder (configuration, best checkpoint, data folder), and its model restored."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recdoc.config import RunConfig
from recdoc.errors import InputError
from recdoc.instruments.checkpoints.sources import best_checkpoint
from recdoc.trainer.data.dataset import dataset_folder
from recdoc.trainer.log.folder import stated_path_candidates
from recdoc.trainer.log.records import RunRecord
from recdoc.trainer.models import build_model


@dataclass(frozen=True)
class ProbeTarget:
    """What a probe reads: the run's configuration, its best checkpoint prefix and its data folder."""

    run_dir: Path
    exp_name: str
    config: RunConfig
    checkpoint: Path
    data_dir: Path


def locate(run_dir: str | Path, data_dir: str | None = None) -> ProbeTarget:
    """Read `run.json`, find `ckpt/best`'s latest checkpoint and the data folder; no TensorFlow needed."""
    root = Path(run_dir)
    run_json = root / "run.json"
    if not run_json.is_file():
        raise InputError("not a recdoc run folder (no run.json)", str(root))
    record = RunRecord.load(run_json)
    config = record.config()
    checkpoint = best_checkpoint(root / "ckpt" / "best")
    folder = find_data_dir(root, data_dir if data_dir is not None else config.data_dir, config.dataset)
    return ProbeTarget(root, str(record.data.get("exp_name") or root.name), config, checkpoint, folder)


def find_data_dir(run_dir: Path, data_dir: str, dataset: str) -> Path:
    """`data_dir` as run.json states it, where `stated_path_candidates` looks for it."""
    for candidate in stated_path_candidates(run_dir, data_dir):
        if dataset_folder(candidate, dataset).is_dir():
            return candidate
    raise InputError(f"cannot find {dataset}_data/ under data_dir {data_dir!r} (tried the working folder, the run "
                     "folder and the folders above it); pass --data_dir", str(run_dir))


def restore_model(target: ProbeTarget, item_count: int) -> Any:
    """Build the run's model and restore its weights from the best checkpoint (the optimizer's are skipped)."""
    from recdoc.tfimport import tf

    model = build_model(target.config, item_count)
    try:
        status = tf.train.Checkpoint(model=model).restore(str(target.checkpoint)).expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InputError(f"checkpoint does not match a {target.config.model_type} model with "
                         f"item_count {item_count} ({first})", str(target.checkpoint)) from None
    return model
