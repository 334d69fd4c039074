"""Finding a checkpoint on disk and reading its tensors, whatever wrote it; read only, never written.

`locate(path)` accepts a run folder (the original's or a port's, holding `best_model/<exp>/`; recdoc's, holding
`run.json` and `ckpt/best`), a checkpoint folder (with its `checkpoint` state file, or only `.index` files), a
checkpoint prefix (`.../model.ckpt`, `.../ckpt-130`) or a PyTorch file (`model.pt`). Plain files only, no TensorFlow.
`read_tensors(located)` reads the weights: TF1 Saver and TF2 object-graph checkpoints through
`tf.train.load_checkpoint` (which needs no `.meta` file and no model), PyTorch files through `torch.load` when torch
is installed (an optional extra; a one-line message otherwise).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recdoc.checkpoint_state import STATE_FILE, TORCH_SUFFIXES, has_index, state_prefix
from recdoc.config import ExpName, parse_exp_name
from recdoc.errors import InputError, RecdocError
from recdoc.files import path_problem
from recdoc.instruments.checkpoints.mapping import Stored, clean_name, is_bookkeeping
from recdoc.trainer.log.records import RunRecord

_MANAGER_RE = re.compile(r"^ckpt-(\d+)$")
LOG_SUFFIXES = (".log", ".txt", ".out")
# How deep below a run folder a checkpoint is looked for (run/best_model/<exp>/keras_ckpt/ckpt-N: 3 levels).
SEARCH_DEPTH = 4


@dataclass(frozen=True)
class Located:
    """A checkpoint found on disk: `target` is a TF prefix or a PyTorch file; `run_root` the folder of its run
    (where its log is, if anywhere); `exp_name` the experiment name its folders carry, if any."""

    target: Path
    format: str  # "tf" (TF1 Saver or TF2 object graph: told apart when read) or "torch"
    run_root: Path | None
    exp_name: str | None
    recdoc_run: bool = False

    @property
    def exp(self) -> ExpName | None:
        return parse_exp_name(self.exp_name) if self.exp_name else None


@dataclass
class TensorSource:
    """The weights of one checkpoint: cleaned name -> array, the layout, and the stored name of each."""

    located: Located
    layout: str  # "tf1" | "tf2" | "recdoc" | "torch"
    arrays: dict[str, np.ndarray]
    stored_names: dict[str, str]
    skipped: int  # optimizer slots and bookkeeping not read

    def stored(self) -> list[Stored]:
        return [Stored(name, tuple(a.shape), a.dtype.kind) for name, a in self.arrays.items()]


def locate(path: str | Path) -> Located:
    given = _prefix_of_file(Path(path))
    named = _named_checkpoint(given, path)
    if named is not None:
        return named
    folder = given.parent if given.is_file() and given.name == STATE_FILE else given
    if not folder.is_dir():
        raise InputError("no such checkpoint, checkpoint folder or run folder", str(path))
    if (folder / "run.json").is_file():
        prefix = best_checkpoint(folder / "ckpt" / "best")
        return Located(prefix, "tf", folder, _recdoc_exp_name(folder), recdoc_run=True)
    return _checkpoint_in(folder) or _the_one_below(folder, path)


def _prefix_of_file(given: Path) -> Path:
    """A checkpoint's `.index` or data file stands for its prefix."""
    if given.is_file() and (given.suffix == ".index" or given.name.endswith(".data-00000-of-00001")):
        return given.with_name(given.name.split(".index")[0].split(".data-")[0])
    return given


def _named_checkpoint(given: Path, path: str | Path) -> Located | None:
    """The checkpoint `given` names itself (a PyTorch file, a TF prefix), else None; a `checkpoint` state file that
    is not a regular file is refused, never opened."""
    if given.is_file() and given.suffix in TORCH_SUFFIXES:
        return Located(given, "torch", _run_root(given.parent), _exp_name(given))
    if not given.exists() and has_index(given):
        return Located(given, "tf", _run_root(given.parent), _exp_name(given))
    if given.name == STATE_FILE and os.path.lexists(given) and path_problem(given) is not None:
        raise InputError(f"not read: {path_problem(given)}", str(path))
    return None


def _the_one_below(folder: Path, path: str | Path) -> Located:
    found = [c for c in _search(folder, SEARCH_DEPTH) if c is not None]
    if not found:
        raise InputError("no checkpoint found (looked for a `checkpoint` file, *.index or *.pt/*.pth up to "
                         f"{SEARCH_DEPTH} folders down)", str(path))
    if len(found) > 1:
        listed = ", ".join(str(c.target) for c in found[:4])
        raise InputError(f"{len(found)} checkpoints found ({listed}); pass the one to read", str(path))
    return found[0]


def best_checkpoint(best_dir: Path) -> Path:
    """The prefix named by `ckpt/best/checkpoint`."""
    if not (best_dir / STATE_FILE).is_file():
        raise InputError("no best checkpoint (the run never improved, or ckpt/best was removed)", str(best_dir))
    return state_prefix(best_dir / STATE_FILE)


def _checkpoint_in(folder: Path) -> Located | None:
    """The checkpoint a folder holds directly: its `checkpoint` state file's prefix, a lone prefix, a .pt file."""
    state = folder / STATE_FILE
    problem = path_problem(state) if os.path.lexists(state) else None
    if problem is not None or (os.path.lexists(state) and not state.is_file()):
        raise InputError(f"not read: {problem or 'not a regular file'} (a checkpoint's `checkpoint` file must be "
                         "a regular file)", str(state))
    if state.is_file():
        prefix = state_prefix(state)
        return Located(prefix, "tf", _run_root(folder), _exp_name(folder))
    indexes = sorted(folder.glob("*.index"))
    if indexes:
        numbered = [(int(m.group(1)), p) for p in indexes if (m := _MANAGER_RE.match(p.stem))]
        if len(indexes) > 1 and len(numbered) != len(indexes):
            raise InputError(f"several checkpoints and no `checkpoint` file naming one: "
                             f"{', '.join(p.stem for p in indexes)}", str(folder))
        prefix = (max(numbered)[1] if numbered else indexes[0]).with_suffix("")
        return Located(prefix, "tf", _run_root(folder), _exp_name(folder))
    torch_files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in TORCH_SUFFIXES)
    if len(torch_files) == 1:
        return Located(torch_files[0], "torch", _run_root(folder), _exp_name(folder))
    if len(torch_files) > 1:
        raise InputError(f"several PyTorch files: {', '.join(p.name for p in torch_files)}; pass one", str(folder))
    return None


def _search(folder: Path, depth: int) -> list[Located | None]:
    if depth == 0:
        return []
    out: list[Located | None] = []
    try:
        children = sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:
        return []
    for child in children:
        if child.name in ("runs", "logs", "__pycache__", "data") or child.name.startswith("."):
            continue  # TensorBoard event folders and data hold no weights
        found = _checkpoint_in(child)
        out.extend([found] if found is not None else _search(child, depth - 1))
    return out


def _run_root(folder: Path) -> Path | None:
    """The run folder: the one above `best_model/` (the original and its ports), else the nearest folder above
    with a log or run.json."""
    parts = folder.resolve().parts
    if "best_model" in parts:
        return Path(*parts[: len(parts) - 1 - parts[::-1].index("best_model")])
    for candidate in [folder, *folder.resolve().parents][:4]:
        if (candidate / "run.json").is_file() or any(p.suffix in LOG_SUFFIXES for p in _files(candidate)):
            return candidate
    return None


def _files(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_file()]
    except OSError:
        return []


def _exp_name(path: Path) -> str | None:
    """The experiment name a folder on the path carries (`best_model/<exp>/...`)."""
    for part in reversed(path.resolve().parts):
        if parse_exp_name(part) is not None:
            return part
    return None


def _recdoc_exp_name(run_dir: Path) -> str | None:
    try:
        name = RunRecord.load(run_dir / "run.json").data.get("exp_name")
    except RecdocError:
        return None
    return str(name) if name else run_dir.name


# ---------------------------------------------------------------- reading tensors
def read_tensors(located: Located) -> TensorSource:
    if located.format == "torch":
        return _read_torch(located)
    from recdoc.tfimport import tf

    try:
        reader = tf.train.load_checkpoint(str(located.target))
        listed = tf.train.list_variables(str(located.target))
    except Exception as exc:  # noqa: BLE001 (any TensorFlow failure is an unreadable checkpoint to the user)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InputError(f"cannot read checkpoint ({first})", str(located.target)) from None
    names = [name for name, _ in listed]
    object_graph = any("_CHECKPOINTABLE_OBJECT_GRAPH" in n or n.endswith("/.ATTRIBUTES/VARIABLE_VALUE") for n in names)
    layout = "recdoc" if located.recdoc_run else ("tf2" if object_graph else "tf1")
    arrays: dict[str, np.ndarray] = {}
    stored_names: dict[str, str] = {}
    skipped = 0
    for name in names:
        if is_bookkeeping(name):
            skipped += 1
            continue
        clean = clean_name(name)
        try:
            arrays[clean] = np.asarray(reader.get_tensor(name))
        except Exception:  # noqa: BLE001
            raise InputError(f"tensor {name} cannot be read", str(located.target)) from None
        stored_names[clean] = name
    return TensorSource(located, layout, arrays, stored_names, skipped)


TORCH_MISSING = "reading a PyTorch checkpoint needs torch (pip install torch); recdoc does not depend on it"


def _read_torch(located: Located) -> TensorSource:
    try:
        import torch
    except ImportError:
        raise InputError(TORCH_MISSING, str(located.target)) from None
    try:
        loaded: Any = torch.load(str(located.target), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InputError(f"cannot read PyTorch checkpoint ({first})", str(located.target)) from None
    state = loaded
    if isinstance(loaded, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(loaded.get(key), dict):
                state = loaded[key]
                break
    if not isinstance(state, dict) or not any(hasattr(v, "detach") for v in state.values()):
        raise InputError("not a state dict (save model.state_dict(), not the model object)", str(located.target))
    arrays: dict[str, np.ndarray] = {}
    skipped = 0
    for name, value in state.items():
        if not hasattr(value, "detach") or is_bookkeeping(str(name)):
            skipped += 1
            continue
        # A DataParallel model's names start with `module.`.
        clean = str(name)[len("module."):] if str(name).startswith("module.") else str(name)
        arrays[clean] = value.detach().cpu().numpy()
    return TensorSource(located, "torch", arrays, {n: n for n in arrays}, skipped)
