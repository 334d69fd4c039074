"""read_paths: what a run folder holds, read and merged; never TensorFlow at import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recdoc.diagnose.readers.detect import looks_like_log, read_paths
from recdoc.errors import InputError
from support.checkpoints import make_checkpoint
from support.logs import PYTORCH_LINES, RESTORE, TEST, TF2_LINES, VALID, header
from support.run_folders import make_run_folder
from support.tensorboard import event, simple_value, write_events

EXP = "book_ComiRec-DR_b128_lr0.001_d64_len20_test79"


def test_original_layout_log_events_and_tf1_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "train.log").write_text("\n".join(header() + [RESTORE, VALID, TEST]) + "\n")
    write_events(tmp_path / "runs" / EXP / "events.out.tfevents.1700000000.host",
                 [event(1000, [simple_value("train/loss", 8.0), simple_value("eval/recall", 0.5)]),
                  event(2000, [simple_value("train/loss", 7.0)]),
                  event(3000, [simple_value("train/loss", 6.0)])])
    make_checkpoint(tmp_path / "best_model" / EXP, "model.ckpt")
    (tmp_path / "train.py").write_text("print('iter: %d, train loss: %.4f' % (1, 2))\n")  # source, not a log
    run = read_paths([str(tmp_path)])
    assert run.format == "original+tensorboard+checkpoint"
    assert run.curve["iter"].tolist() == [1000, 2000]  # the log's rows; TensorBoard only fills gaps
    assert run.curve["train_loss"].tolist() == [8.1234, 7.5]
    assert run.stop_reason == "early_stop"
    assert [c.kind for c in run.checkpoints] == ["tf1-saver"]
    assert len(run.paths) == 3 and run.unreadable == []


def test_tf2_port_folder_with_keras_ckpt(tmp_path: Path) -> None:
    (tmp_path / "nohup.out").write_text("\n".join(TF2_LINES) + "\n", encoding="utf-8")
    make_checkpoint(tmp_path / "best_model" / EXP / "keras_ckpt", "ckpt-130")
    run = read_paths([str(tmp_path)])
    assert run.format == "tf2-port+checkpoint"
    assert run.checkpoints[0].save_counter == 130 and run.checkpoints[0].kind == "tf2-manager"
    assert len(run.events_of("saved_best")) == 1


def test_pytorch_port_folder(tmp_path: Path) -> None:
    (tmp_path / "stdout.txt").write_text("\n".join(PYTORCH_LINES) + "\n")
    (tmp_path / "best_model").mkdir()
    (tmp_path / "best_model" / "model.pt").write_bytes(b"PK")
    run = read_paths([str(tmp_path)])
    assert run.format == "pytorch-port+checkpoint"
    assert run.declared["num_interest"].value == 4 and run.checkpoints[0].kind == "torch"


def test_recdoc_folder_run_json_wins_and_log_fills(tmp_path: Path) -> None:
    folder = make_run_folder(tmp_path / EXP)
    (folder / "train.log").write_text("\n".join(header() + [RESTORE, VALID, TEST]) + "\n")
    write_events(folder / "events.out.tfevents.1", [event(1000, [simple_value("train/loss", 99.0)])])
    make_checkpoint(folder / "ckpt" / "best", "ckpt-2")
    run = read_paths([str(folder)])
    assert run.format == "recdoc+original+tensorboard+checkpoint"
    assert run.finals["test"].recall == 0.071  # run.json, not the log's 0.061821
    assert run.curve["train_loss"].tolist() == [8.0, 7.0]  # metrics.jsonl first
    assert run.argv is not None  # only the log has it
    assert run.checkpoints[0].kind == "recdoc"


def test_several_event_files_are_one_curve(tmp_path: Path) -> None:
    write_events(tmp_path / "events.out.tfevents.1", [event(1000, [simple_value("train/loss", 8.0)]),
                                                       event(2000, [simple_value("train/loss", 7.0)])])
    write_events(tmp_path / "events.out.tfevents.2", [event(2000, [simple_value("train/loss", 6.5)]),
                                                       event(3000, [simple_value("train/loss", 6.0)])])
    run = read_paths([str(tmp_path)])
    assert run.format == "tensorboard"
    assert run.curve["train_loss"].tolist() == [8.0, 6.5, 6.0]


def test_explicit_files_and_partial_problems(tmp_path: Path) -> None:
    log = tmp_path / "my run output"  # a name no rule would guess: given explicitly, it is sniffed anyway
    log.write_text("\n".join(header()) + "\n")
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    run = read_paths([str(log), str(empty), str(tmp_path / "missing.log")])
    assert run.curve["iter"].tolist() == [1000, 2000]
    assert f"{empty}: an empty file" in run.unreadable
    assert f"{tmp_path / 'missing.log'}: no such file or folder" in run.unreadable


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02 binary", "训练 中文\r\n".encode("gbk")])
def test_nothing_readable_is_one_input_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "train.log"
    path.write_bytes(content)
    with pytest.raises(InputError) as error:
        read_paths([str(path)])
    message = str(error.value)
    assert "\n" not in message and str(path) in message and "nothing readable" in message


def test_empty_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing readable"):
        read_paths([str(tmp_path)])


def test_log_name_rules() -> None:
    assert all(looks_like_log(n) for n in ("train.log", "nohup.out", "stdout", "train.log.1", "run.txt"))
    assert not any(looks_like_log(n) for n in ("train.py", "run.json", "README.md", "trainer.yaml"))


def test_doctor_readers_never_import_tensorflow(tmp_path: Path) -> None:
    (tmp_path / "train.log").write_text("\n".join(header()) + "\n")
    make_checkpoint(tmp_path / "best_model" / EXP, "model.ckpt")
    code = ("import sys, json; from recdoc.diagnose.readers.detect import read_paths; "
            f"run = read_paths([{str(tmp_path)!r}]); "
            "print(json.dumps([m for m in ('tensorflow', 'tensorboard', 'torch') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_same_log_saved_twice_is_read_once(tmp_path: Path) -> None:
    text = "\n".join(header() + ["-" * 89, "Exiting from training early", RESTORE, VALID, TEST]) + "\n"
    (tmp_path / "train.log").write_text(text)
    (tmp_path / "nohup.out").write_text(text)
    run = read_paths([str(tmp_path)])
    assert len(run.events_of("interrupted")) == 1
    assert any("read once" in note for note in run.unreadable)
