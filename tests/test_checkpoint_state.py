"""recdoc.checkpoint_state: the prefix a TensorFlow `checkpoint` state file names, found on this machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from recdoc.checkpoint_state import state_prefix
from recdoc.errors import InputError


def _checkpoint_files(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.index").write_bytes(b"")
    (folder / f"{name}.data-00000-of-00001").write_bytes(b"")


def _state(folder: Path, named: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / "checkpoint"
    state.write_text(f'model_checkpoint_path: "{named}"\nall_model_checkpoint_paths: "{named}"\n', encoding="utf-8")
    return state


def test_a_relative_name_is_found_beside_the_state_file(tmp_path: Path) -> None:
    _checkpoint_files(tmp_path / "best", "ckpt-40")
    assert state_prefix(_state(tmp_path / "best", "ckpt-40")) == tmp_path / "best" / "ckpt-40"


def test_an_absolute_path_from_another_machine_is_found_by_its_basename(tmp_path: Path) -> None:
    _checkpoint_files(tmp_path / "best_model", "model.ckpt")
    state = _state(tmp_path / "best_model", "/home/someone/else/best_model/model.ckpt")
    assert state_prefix(state) == tmp_path / "best_model" / "model.ckpt"


def test_an_absolute_path_that_exists_wins_over_the_basename(tmp_path: Path) -> None:
    _checkpoint_files(tmp_path / "elsewhere", "model.ckpt")
    _checkpoint_files(tmp_path / "here", "model.ckpt")
    state = _state(tmp_path / "here", str(tmp_path / "elsewhere" / "model.ckpt"))
    assert state_prefix(state) == tmp_path / "elsewhere" / "model.ckpt"


def test_a_missing_index_is_named_with_its_line(tmp_path: Path) -> None:
    state = _state(tmp_path, "ckpt-7")
    with pytest.raises(InputError, match=r"ckpt-7\.index is missing") as raised:
        state_prefix(state)
    assert raised.value.line == 1


def test_a_state_file_naming_no_checkpoint_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "checkpoint"
    state.write_text("last_preserved_timestamp: 1.5\n", encoding="utf-8")
    with pytest.raises(InputError, match="names no model_checkpoint_path"):
        state_prefix(state)


def test_a_missing_state_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        state_prefix(tmp_path / "checkpoint")
