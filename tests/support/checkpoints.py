"""Checkpoint folders as plain files (names and a `checkpoint` state file, no tensors) for the readers."""

from __future__ import annotations

from pathlib import Path


def make_checkpoint(folder: Path, prefix: str, state: str | None = None, data: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    name = Path(prefix).name
    (folder / f"{name}.index").write_bytes(b"\x00index")
    if data:
        (folder / f"{name}.data-00000-of-00001").write_bytes(b"\x00data")
    text = state if state is not None else (f'model_checkpoint_path: "{prefix}"\n'
                                             f'all_model_checkpoint_paths: "{prefix}"\n')
    (folder / "checkpoint").write_text(text)
    return folder
