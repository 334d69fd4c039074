"""Load any ComiRec checkpoint into recdoc's models: the original's TF1 Saver files, TF2 ports' object-graph
checkpoints, recdoc's own, PyTorch ports' state dicts.

- `sources.py`: find the checkpoint under a path and read its tensors (read only);
- `mapping.py`: which tensor is which recdoc weight, from shapes and names (pure);
- `export.py`: write a recdoc model in the original's TF1 layout, a TF2 port's layout or a PyTorch state dict
  (tests and benches: proof that every loader sees the same model).

`load(path, dataset=None, hints_from_run=True) -> Loaded` builds the recdoc model the tensors determine and
assigns them; `Loaded.describe()` says what mapped to what. TensorFlow is imported by the loading functions only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from recdoc.config import RunConfig
from recdoc.errors import InputError
from recdoc.instruments.checkpoints.mapping import Hints, Mapping, MappingError, infer_mapping
from recdoc.instruments.checkpoints.sources import Located, TensorSource, locate, read_tensors
from recdoc.trainer.data.dataset import dataset_folder, dataset_name, load_dataset
from recdoc.trainer.log.records import RunRecord
from recdoc.trainer.models import build_model

__all__ = ["Loaded", "Located", "Mapping", "MappingError", "load", "locate", "run_hints", "find_dataset", "open_with_data"]


@dataclass
class Loaded:
    """A checkpoint loaded into a recdoc model, with the configuration that evaluates it as the run did."""

    source: TensorSource
    mapping: Mapping
    model: Any
    config: RunConfig

    @property
    def located(self) -> Located:
        return self.source.located

    def describe(self) -> list[str]:
        head = (f"{self.located.target} ({self.source.layout}; {len(self.source.arrays)} tensors read, "
                f"{self.source.skipped} optimizer/bookkeeping entries skipped)")
        return [head, *self.mapping.describe()]


def run_hints(located: Located, dataset: str | None = None) -> Hints:
    """What the run says about itself besides its tensors: recdoc's run.json, else the experiment name."""
    if located.recdoc_run and located.run_root is not None:
        try:
            config = locate_recdoc_config(located.run_root)
        except (InputError, OSError, ValueError, TypeError):
            config = None
        if config is not None:
            return Hints(config.model_type, config.maxlen, config.num_interest, dataset or config.dataset,
                         source="run.json")
    exp = located.exp
    if exp is not None:
        return Hints(exp.model_type, exp.maxlen, exp.num_interest, dataset or exp.dataset,
                     source=f"the experiment name {located.exp_name}")
    return Hints(dataset=dataset, source="--dataset" if dataset else "")


def locate_recdoc_config(run_dir: Path) -> RunConfig:
    """run.json's configuration, without looking for the data folder."""
    return RunRecord.load(run_dir / "run.json").config()


def load(path: str | Path, dataset: str | None = None, located: Located | None = None) -> Loaded:
    """Find, read, map and load the checkpoint at `path` into a fresh recdoc model (nothing is written)."""
    located = located or locate(path)
    source = read_tensors(located)
    hints = run_hints(located, dataset)
    mapping = infer_mapping(source.stored(), source.layout, hints)
    config = evaluation_config(mapping, hints, located)
    model = build_and_assign(mapping, source.arrays, config)
    return Loaded(source, mapping, model, config)


def evaluation_config(mapping: Mapping, hints: Hints, located: Located) -> RunConfig:
    """The configuration that evaluates the model as the run did: its sizes from the mapping, batch size and
    cut-off from the run when it states them (recdoc's run.json, the experiment name), else the defaults."""
    dataset = hints.dataset or "unknown"
    base = RunConfig.for_dataset(dataset)
    if located.recdoc_run and located.run_root is not None:
        try:
            base = locate_recdoc_config(located.run_root)
        except (InputError, OSError, ValueError, TypeError):
            pass
    exp = located.exp
    return replace(base, dataset=dataset, model_type=mapping.model_type, embedding_dim=mapping.embedding_dim,
                   hidden_size=mapping.embedding_dim, num_interest=mapping.num_interest, maxlen=mapping.maxlen,
                   item_count=mapping.item_count,
                   batch_size=exp.batch_size if exp is not None and not located.recdoc_run else base.batch_size,
                   topN=exp.topN if exp is not None and exp.topN else base.topN,
                   metrics_at=tuple(sorted({20, 50, *base.metrics_at})), coef=None)


def build_and_assign(mapping: Mapping, arrays: dict[str, np.ndarray], config: RunConfig) -> Any:
    """A recdoc model of `mapping`'s type with every mapped tensor assigned (shapes checked)."""
    model = build_model(config, mapping.item_count)
    for assignment in mapping.assignments:
        variable = model
        for part in assignment.slot.split("."):
            variable = getattr(variable, part, None)
            if variable is None:
                raise MappingError(f"{mapping.model_type} has no weight {assignment.slot} (a bug in the mapping)")
        if assignment.source is None:
            value = np.zeros(variable.shape, dtype=np.float32)
        else:
            value = np.asarray(arrays[assignment.source], dtype=np.float32)
            value = value.T if assignment.transpose else value
            if value.size == int(np.prod(variable.shape)) and value.shape != tuple(variable.shape):
                value = value.reshape(variable.shape)  # e.g. a DR map stored without its leading axis of 1
        if tuple(value.shape) != tuple(variable.shape):
            raise MappingError(f"{assignment.source} has shape {list(value.shape)}, {assignment.slot} needs "
                               f"{list(variable.shape)}")
        variable.assign(value)
    return model


def open_with_data(path: str | Path, data_dir: str | Path, dataset: str | None = None) -> tuple[Loaded, Any]:
    """The loaded checkpoint and its data (`recdoc.trainer.data.dataset.Dataset`): `dataset` as given, else the
    one the run names (experiment name, run.json) when `data_dir` has it, else `data_dir`'s only dataset."""
    located = locate(path)
    named = run_hints(located).dataset
    if dataset is None and named and dataset_folder(data_dir, named).is_dir():
        dataset = named
    name = find_dataset(data_dir, dataset)
    loaded = load(path, name, located)
    data = load_dataset(str(data_dir), name, loaded.mapping.item_count)
    return loaded, data


def find_dataset(data_dir: str | Path, dataset: str | None) -> str:
    """The dataset name to evaluate on: the given one, else the only `<name>_data/` folder in `data_dir`."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise InputError("no such data folder", str(folder))
    if dataset:
        if not dataset_folder(folder, dataset).is_dir():
            raise InputError(f"no {dataset}_data/ folder here (ComiRec's layout: <data_dir>/<name>_data/"
                             f"<name>_train.txt, ...)", str(folder))
        return dataset
    names = sorted(name for p in folder.iterdir() if p.is_dir() and (name := dataset_name(p)) is not None)
    if len(names) == 1:
        return names[0]
    if not names:
        raise InputError("holds no <name>_data/ folder (ComiRec's layout); pass the folder above it", str(folder))
    raise InputError(f"holds several datasets ({', '.join(names)}); pass --dataset", str(folder))
