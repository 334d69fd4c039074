"""Stdout logs of the original, the TF2/Keras port and the PyTorch port: every line kind and every stop reason."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from recdoc.diagnose.readers import original, pytorch_port, tf2_port
from recdoc.diagnose.readers.detect import sniff_scores
from support.logs import ARGV, EXP, ITER1, ITER2, PYTORCH_EXP, PYTORCH_LINES, RESTORE, TEST, TF2_LINES, VALID, header
from support.paths import LOG_SAMPLES
from support.shared_data import needs

SAMPLE = LOG_SAMPLES / "tf2-port_book_DNN_test12.log"


def write(tmp_path: Path, lines: list[str], name: str = "train.log", newline: str = "\n",
          encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(newline.join(lines).encode(encoding) + newline.encode())
    return path


def test_early_stop_log_every_field(tmp_path: Path) -> None:
    # Early stop: the last iter line is followed directly by the restore (no `time interval`).
    path = write(tmp_path, header() + [RESTORE, VALID, TEST])
    run = original.read(path)
    assert run.format == "original"
    assert run.argv is not None and run.argv.value == ["src/train.py", "--dataset", "book", "--model_type", "ComiRec-DR"]
    assert run.argv.ref.line == 1
    assert run.exp_name is not None and run.exp_name.value == EXP and run.exp_name.ref.line == 3
    assert run.curve["iter"].tolist() == [1000, 2000]
    assert run.curve["train_loss"].tolist() == [8.1234, 7.5]
    assert run.curve["recall"].tolist() == [0.012345, 0.02]
    assert run.curve["ndcg"].tolist() == [0.01, 0.015]
    assert run.curve["hitrate"].tolist() == [0.03, 0.04]
    assert run.curve["time_min"].iloc[0] == 0.336 and math.isnan(run.curve["time_min"].iloc[1])
    assert run.curve["line"].tolist() == [4, 8]
    assert run.stop_reason == "early_stop"
    assert run.stop_ref is not None and run.stop_ref.line == 8
    valid, test = run.finals["valid"], run.finals["test"]
    assert (valid.recall, valid.ndcg, valid.hitrate, valid.diversity) == (0.06205, 0.046, 0.134, 0.220184)
    assert (test.recall, test.ndcg, test.hitrate, test.diversity) == (0.061821, 0.045488, 0.1332, 0.221127)
    assert test.ref.line == 11 and test.text == TEST
    restored = run.events_of("restored")
    assert len(restored) == 1 and restored[0].values["path"] == f"best_model/{EXP}/" and restored[0].ref.line == 9
    assert run.unreadable == []


def test_max_iter_cap_is_iter_then_time_then_restore(tmp_path: Path) -> None:
    path = write(tmp_path, header() + ["time interval: 0.6000 min", RESTORE, VALID, TEST])
    run = original.read(path)
    assert run.stop_reason == "max_iter"
    assert run.stop_ref is not None and run.stop_ref.line == 9
    assert run.curve["time_min"].tolist() == [0.336, 0.6]


def test_ctrl_c_marker_means_interrupted_even_with_final_lines(tmp_path: Path) -> None:
    lines = header() + ["time interval: 0.6000 min", "-" * 89, "Exiting from training early", RESTORE, VALID, TEST]
    run = original.read(write(tmp_path, lines))
    assert run.stop_reason == "interrupted"
    assert run.stop_ref is not None and run.stop_ref.line == 10  # the dashes line
    assert [e.kind for e in run.events].count("interrupted") == 1
    assert set(run.finals) == {"valid", "test"}


def test_traceback_means_crashed_with_the_exception_line(tmp_path: Path) -> None:
    lines = header() + ["time interval: 0.6000 min", "Traceback (most recent call last):",
                        '  File "src/train.py", line 300, in <module>', "    train(...)",
                        "2024-01-01 10:00:00.000 W tensorflow/core/framework/op_kernel.cc:1745] OP_REQUIRES failed",
                        '  File "src/train.py", line 200, in evaluate', "    item_cate_map[x]", "KeyError: 0"]
    run = original.read(write(tmp_path, lines))
    assert run.stop_reason == "crashed"
    tracebacks = run.events_of("traceback")
    assert len(tracebacks) == 1
    assert tracebacks[0].text == "KeyError: 0" and tracebacks[0].values["exception"] == "KeyError"
    assert tracebacks[0].ref.line == 16 and tracebacks[0].values["traceback_line"] == 10
    assert run.stop_ref is not None and run.stop_ref.line == 16


def test_uncaught_keyboard_interrupt_is_interrupted(tmp_path: Path) -> None:
    lines = header() + ["Traceback (most recent call last):", '  File "src/train.py", line 250, in evaluate_full',
                        "KeyboardInterrupt"]
    run = original.read(write(tmp_path, lines))
    assert run.stop_reason == "interrupted" and run.stop_ref is not None and run.stop_ref.line == 11
    assert run.events_of("traceback")[0].values["exception"] == "KeyboardInterrupt"


def test_traceback_cut_off_by_end_of_file_is_still_a_crash(tmp_path: Path) -> None:
    lines = header() + ["Traceback (most recent call last):", '  File "src/train.py", line 300, in <module>']
    run = original.read(write(tmp_path, lines))
    assert run.stop_reason == "crashed"
    assert run.events_of("traceback")[0].ref.line == 9


def test_no_final_lines_is_unfinished(tmp_path: Path) -> None:
    run = original.read(write(tmp_path, header() + ["time interval: 0.6000 min"]))
    assert run.stop_reason == "unfinished"
    assert run.stop_ref is not None and run.stop_ref.line == 9
    assert run.finals == {}


def test_nan_loss_at_the_end_is_nan(tmp_path: Path) -> None:
    lines = header() + ["time interval: 0.6 min", EXP, "iter: 3000, train loss: nan, valid recall: 0.000000"]
    run = original.read(write(tmp_path, lines))
    assert run.stop_reason == "nan"
    assert math.isnan(run.curve["train_loss"].iloc[-1]) and run.curve["recall"].iloc[-1] == 0.0
    assert [e.values["iter"] for e in run.events_of("nan")] == [3000]


def test_iter_line_without_metrics_is_eval_missing(tmp_path: Path) -> None:
    lines = [EXP, "iter: 1000, train loss: 8.1234", "time interval: 0.3 min",
             EXP, "iter: 2000, train loss: 7.9000", "time interval: 0.6 min"]
    run = original.read(write(tmp_path, lines))
    assert [e.values["iter"] for e in run.events_of("eval_missing")] == [1000, 2000]
    assert run.curve["train_loss"].tolist() == [8.1234, 7.9]
    assert run.curve["recall"].isna().all()


def test_final_lines_any_subset_any_order(tmp_path: Path) -> None:
    lines = [EXP, ITER1, RESTORE, "valid hitrate: 0.2, valid recall: 0.1",
             "test ndcg: 0.05, test recall@20: 0.07"]
    run = original.read(write(tmp_path, lines))
    valid, test = run.finals["valid"], run.finals["test"]
    assert (valid.recall, valid.ndcg, valid.hitrate, valid.diversity) == (0.1, None, 0.2, None)
    assert (test.recall, test.ndcg, test.cutoff) == (0.07, 0.05, None)


def test_invalid_model_type_prints_literal_percent_s(tmp_path: Path) -> None:
    run = original.read(write(tmp_path, [ARGV, "Invalid model_type : %s ComiRec-XX"]))
    events = run.events_of("invalid_model_type")
    assert len(events) == 1 and events[0].values["model_type"] == "ComiRec-XX" and events[0].ref.line == 2
    assert run.stop_reason == "unknown"


def test_prompt_glued_to_the_exp_name(tmp_path: Path) -> None:
    run = original.read(write(tmp_path, [ARGV, f"Please input the experiment name: {EXP}", ITER1]))
    assert run.exp_name is not None and run.exp_name.value == EXP and run.exp_name.ref.line == 2


def test_crlf_and_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    path.write_bytes(("\r\n".join(header()) + "\r\ntime interval: 0.6 min\r\n" + EXP + "\r\niter: 30").encode())
    run = original.read(path)
    assert run.curve["iter"].tolist() == [1000, 2000]
    assert run.exp_name is not None and run.exp_name.value == EXP  # no trailing \r
    assert any("train.log:11" in note for note in run.unreadable)  # the cut `iter: 30` line is named


@needs(SAMPLE)
def test_real_tf2_port_log_sample() -> None:
    run = tf2_port.read(SAMPLE)
    assert run.format == "tf2-port"
    assert run.curve["iter"].tolist() == [1000, 2000, 3000, 4000, 5000]
    assert run.curve["recall"].tolist() == [0.025741, 0.031097, 0.03327, 0.036275, 0.035999]
    assert run.curve["time_min"].iloc[-1] == 1.5479
    assert run.exp_name is not None and run.exp_name.value == "book_DNN_b128_lr0.001_d64_len20_test12"
    assert run.stop_reason == "unfinished" and run.finals == {}
    assert run.events_of("info")[0].values == {"training_begin": True, "keras": False}


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_tf2_port_lines(tmp_path: Path, encoding: str) -> None:
    lines = TF2_LINES if encoding == "utf-8" else [line.replace("⚠️", "").replace("✅", "").replace("💾", "")
                                                   for line in TF2_LINES]
    path = write(tmp_path, lines, encoding=encoding)
    run = tf2_port.read(path)
    assert run.events_of("info")[0].values["keras"] is True
    assert [e.ref.line for e in run.events_of("warning")] == [2]
    resumed = run.events_of("resumed")
    assert len(resumed) == 1 and resumed[0].values["path"] == f"best_model/{EXP}/keras_ckpt/ckpt-130"
    saved = run.events_of("saved_best")
    assert len(saved) == 1 and saved[0].values == {"recall": 0.012345, "iter": 1000}
    restored = run.events_of("restored")
    assert restored[0].values["path"] == f"best_model/{EXP}/keras_ckpt/ckpt-131"
    assert run.stop_reason == "early_stop" and run.stop_ref is not None and run.stop_ref.line == 9
    assert run.finals["test"].recall == 0.061821
    scores = sniff_scores("\n".join(lines))
    assert scores["tf2-port"] > scores["original"] and scores["tf2-port"] > scores["pytorch-port"]


def test_pytorch_port_lines(tmp_path: Path) -> None:
    run = pytorch_port.read(write(tmp_path, PYTORCH_LINES, newline="\r\n"))
    assert run.format == "pytorch-port"
    assert {k: (f.value, f.ref.line) for k, f in run.declared.items()} == {"hidden_size": (64, 4), "num_interest": (4, 5),
                                                                          "user_count": (603668, 6)}
    infos = [e.values for e in run.events_of("info")]
    assert {"pid": 12345} in infos and {"device": "cuda:0"} in infos and {"total_users": 603668} in infos
    assert run.exp_name is not None and run.exp_name.value == PYTORCH_EXP
    assert run.stop_reason == "early_stop" and run.stop_ref is not None and run.stop_ref.line == 12
    assert run.events_of("early_stop_message")[0].ref.line == 13
    assert run.events_of("restored")[0].values["path"] == f"best_model/{PYTORCH_EXP}/model.pt"
    assert run.finals["test"].hitrate == 0.11
    scores = sniff_scores("\n".join(PYTORCH_LINES))
    assert max(scores, key=lambda k: scores[k]) == "pytorch-port"


def test_use_cpu_and_sniff_of_plain_original(tmp_path: Path) -> None:
    run = pytorch_port.read(write(tmp_path, ["use cpu", EXP, ITER1]))
    assert {"device": "cpu"} in [e.values for e in run.events_of("info")]
    scores = sniff_scores("\n".join(header()))
    assert max(scores, key=lambda k: scores[k]) == "original"


def test_resumed_run_in_one_file_takes_the_last_segment(tmp_path: Path) -> None:
    # Run 1 interrupted, run 2 (same file, resumed) ends by early stop: the stop reason is run 2's.
    lines = header() + ["time interval: 0.6 min", "-" * 89, "Exiting from training early", RESTORE, VALID, TEST,
                        EXP, "iter: 3000, train loss: 7.1000, valid recall: 0.030000", RESTORE, VALID, TEST]
    run = original.read(write(tmp_path, lines))
    assert run.stop_reason == "early_stop"
    assert run.curve["iter"].tolist() == [1000, 2000, 3000]
    assert run.finals["test"].ref.line == 19


def test_other_exp_name_is_reported_once(tmp_path: Path) -> None:
    other = EXP.replace("test79", "test80")
    run = original.read(write(tmp_path, [EXP, ITER1, other, ITER2, other]))
    assert run.exp_name is not None and run.exp_name.value == EXP
    changes = [e for e in run.events_of("info") if "exp_name_changed_to" in e.values]
    assert len(changes) == 1 and changes[0].values["exp_name_changed_to"] == other and changes[0].ref.line == 3


def test_empty_and_foreign_files_say_so(tmp_path: Path) -> None:
    empty = original.read(write(tmp_path, [], name="empty.log", newline=""))
    assert empty.unreadable == [f"{tmp_path / 'empty.log'}: an empty file"] and not empty.has_curve
    foreign = original.read(write(tmp_path, ["hello", "world"], name="other.log"))
    assert foreign.unreadable == [f"{tmp_path / 'other.log'}: 2 lines, none of them a ComiRec log line"]


def test_exp_name_with_spaces_in_the_typed_part(tmp_path: Path) -> None:
    name = "book_ComiRec-SA_b128_lr0.001_d64_len20_my test"
    run = original.read(write(tmp_path, [name, ITER1, "WARNING: some_lr thing _len x"]))
    assert run.exp_name is not None and run.exp_name.value == name


def test_many_damaged_iter_lines_are_counted_not_listed(tmp_path: Path) -> None:
    run = original.read(write(tmp_path, [f"iter: {n}" for n in range(50)]))
    assert len(run.unreadable) == 22  # 20 named, one count, one "nothing recognised"
    assert "50 `iter:` lines without `train loss` in all" in run.unreadable[20]


def test_far_away_dash_line_is_not_the_marker_and_huge_iter_is_a_note(tmp_path: Path) -> None:
    lines = ["-" * 40, EXP, ITER1, "iter: 123456789012345678901234, train loss: 1.0", "time interval: 0.3 min",
             "Exiting from training early"]
    run = original.read(write(tmp_path, lines))
    assert run.stop_reason == "interrupted" and run.stop_ref is not None and run.stop_ref.line == 6
    assert run.curve["iter"].tolist() == [1000]
    assert any(":4: an implausible iteration number" in note for note in run.unreadable)


def test_time_stamped_lines_from_a_logging_wrapper(tmp_path: Path) -> None:
    lines = [f"2024-05-01 10:00:0{i} | INFO | {line}" for i, line in enumerate(header() + [RESTORE, TEST])]
    lines.append("Our valid recall is low, see test recall below")  # prose, not a metrics line
    run = original.read(write(tmp_path, lines))
    assert run.curve["iter"].tolist() == [1000, 2000]
    assert run.stop_reason == "early_stop"
    assert run.finals["test"].recall == 0.061821 and "valid" not in run.finals
    assert run.exp_name is not None and run.exp_name.value == EXP and run.exp_name.ref.line == 3
