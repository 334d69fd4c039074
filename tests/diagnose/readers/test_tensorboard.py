"""TensorBoard event files decoded by hand: tensorboardX simple_value and TF2 tensor scalars, framing faults."""

from __future__ import annotations

import math
from pathlib import Path

from recdoc.diagnose.readers import tensorboard
from recdoc.diagnose.readers.tensorboard import crc32c
from support.tensorboard import event, file_version_event, record, simple_value, tensor_value, write_events


def ten_scalars(step: int, loss: float, recall: float, simple: bool, style: str = "content") -> list[bytes]:
    make = (lambda t, v: simple_value(t, v)) if simple else (lambda t, v: tensor_value(t, v, style))
    return [make("train/loss", loss), make("eval/recall", recall), make("eval/ndcg", recall / 2),
            make("eval/hitrate", recall * 2)]


# ---------------------------------------------------------------- tests
def test_crc32c_known_vector() -> None:
    # RFC 3720 test vector: CRC-32C of "123456789" is 0xE3069283.
    assert crc32c(b"123456789") == 0xE3069283


def test_simple_value_events(tmp_path: Path) -> None:
    path = write_events(tmp_path / "events.out.tfevents.1700000000.host",
                        [event(1000, ten_scalars(1000, 8.0, 0.0125, simple=True)),
                         event(2000, ten_scalars(2000, 7.5, 0.025, simple=True))])
    run = tensorboard.read(path)
    assert run.format == "tensorboard"
    assert run.curve["iter"].tolist() == [1000, 2000]
    assert run.curve["train_loss"].tolist() == [8.0, 7.5]
    assert run.curve["recall"].tolist() == [0.0125, 0.025]  # exact in float32
    assert run.curve["ndcg"].tolist() == [0.00625, 0.0125]
    assert run.curve["hitrate"].tolist() == [0.025, 0.05]
    assert run.curve["line"].tolist() == [2, 3]  # record numbers; record 1 is the file-version event
    assert run.unreadable == []


def test_tf2_tensor_scalars_every_encoding(tmp_path: Path) -> None:
    events = [event(1000 * (i + 1), ten_scalars(1000 * (i + 1), 8.0 - i, 0.25 * (i + 1), simple=False, style=s))
              for i, s in enumerate(["content", "double_val", "float_val"])]
    run = tensorboard.read(write_events(tmp_path / "events.out.tfevents.1", events))
    assert run.curve["iter"].tolist() == [1000, 2000, 3000]
    assert run.curve["train_loss"].tolist() == [8.0, 7.0, 6.0]
    assert run.curve["recall"].tolist() == [0.25, 0.5, 0.75]


def test_unknown_tags_are_kept_aside(tmp_path: Path) -> None:
    path = write_events(tmp_path / "events.out.tfevents.1",
                        [event(5, [simple_value("lr", 0.001), simple_value("train/loss", 2.0)])])
    run = tensorboard.read(path)
    assert run.curve["iter"].tolist() == [5]
    assert run.extra_metrics["tensorboard_tags"] == ["lr"]
    assert run.extra_metrics["tensorboard_scalars"][0][:2] == (5, "lr")


def test_truncated_last_record_stops_cleanly(tmp_path: Path) -> None:
    path = write_events(tmp_path / "events.out.tfevents.1",
                        [event(1000, ten_scalars(1000, 8.0, 0.5, simple=True)),
                         event(2000, ten_scalars(2000, 7.0, 0.75, simple=True))])
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    run = tensorboard.read(path)
    assert run.curve["iter"].tolist() == [1000]
    assert len(run.unreadable) == 1 and "record 3" in run.unreadable[0] and "truncated" in run.unreadable[0]


def test_bad_length_checksum_stops_with_a_note(tmp_path: Path) -> None:
    good = record(event(1000, ten_scalars(1000, 8.0, 0.5, simple=True)))
    bad = bytearray(record(event(2000, ten_scalars(2000, 7.0, 0.75, simple=True))))
    bad[8] ^= 0xFF
    path = tmp_path / "events.out.tfevents.2"
    path.write_bytes(record(file_version_event()) + good + bytes(bad))
    run = tensorboard.read(path)
    assert run.curve["iter"].tolist() == [1000]
    assert "bad length checksum" in run.unreadable[0]


def test_nan_loss_is_kept(tmp_path: Path) -> None:
    path = write_events(tmp_path / "events.out.tfevents.3", [event(7, [simple_value("train/loss", math.nan)])])
    run = tensorboard.read(path)
    assert math.isnan(run.curve["train_loss"].iloc[0])


def test_sniff_recognises_the_file_version_event(tmp_path: Path) -> None:
    path = write_events(tmp_path / "x", [])
    head = path.read_bytes().decode("latin-1")
    assert tensorboard.sniff(head) > 0.9
    assert tensorboard.sniff("iter: 1000, train loss: 1.0") == 0.0


def test_event_protobufs_come_from_tensorboard_without_tensorflow() -> None:
    import subprocess
    import sys

    code = ("import sys, recdoc.diagnose.readers.tensorboard as t; t._event_class(); "
            "assert 'tensorboard.compat.proto.event_pb2' in sys.modules; print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
