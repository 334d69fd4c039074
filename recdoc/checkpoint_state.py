"""A TensorFlow `checkpoint` state file, read as text: the checkpoint prefix it names, found on this machine.

TensorFlow writes `model_checkpoint_path: "ckpt-130"` (relative to the file's folder for a CheckpointManager, often
absolute for a TF1 Saver). A run folder copied from another machine keeps the name, so an absolute path that is
not here is looked for by its basename beside the state file.
"""

from __future__ import annotations

import re
from pathlib import Path

from recdoc.errors import InputError
from recdoc.files import read_regular_bytes

STATE_FILE = "checkpoint"
# A PyTorch port's checkpoint files (one file, no state file): recognised so that they are named, never read as TF's.
TORCH_SUFFIXES = (".pt", ".pth")
_PATH_LINE_RE = re.compile(r'^\s*model_checkpoint_path\s*:\s*"(.*)"\s*$')
_STATE_FILE_LIMIT = 1 << 20  # a state file is a few lines; never read a stray huge file whole


def prefix_candidates(folder: Path, named: str) -> list[Path]:
    """Where a prefix a state file in `folder` names may be, in order: as named (absolute, or relative to the
    folder), then its basename in the folder."""
    given = Path(named)
    return [given if given.is_absolute() else folder / given, folder / given.name]


def has_index(prefix: Path) -> bool:
    return (prefix.parent / (prefix.name + ".index")).is_file()


def state_prefix(state: Path) -> Path:
    """The prefix `state` names, where its `.index` file is; InputError (naming the line) when its `.index` is
    missing or the file names none. Never opens a FIFO or a device."""
    text = read_regular_bytes(state, _STATE_FILE_LIMIT).decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        match = _PATH_LINE_RE.match(line)
        if match:
            named = match.group(1)
            found = next((prefix for prefix in prefix_candidates(state.parent, named) if has_index(prefix)), None)
            if found is None:
                raise InputError(f"{Path(named).name}.index is missing", str(state), number)
            return found
    raise InputError("names no model_checkpoint_path", str(state))
