"""TensorBoard event files (`events.out.tfevents.*`) read without TensorFlow or the tensorboard package.

An event file is a TFRecord stream: `uint64 length | uint32 masked crc32c(length) | data | uint32 masked crc32c(data)`,
each `data` an `Event` protobuf. Only the few fields a ComiRec run writes are decoded by hand:
Event{wall_time=1 double, step=2 int64, summary=5} -> Summary{value=1 repeated} -> Value{tag=1, simple_value=2 float
(tensorboardX, TF1 summaries), tensor=8 TensorProto (TF2 `tf.summary.scalar`)} -> TensorProto{dtype=1,
tensor_content=4 bytes, float_val=5, double_val=6, int_val=7, int64_val=10}.

The length CRC is verified (it is 8 bytes, so cheap in pure Python, and it catches a misaligned or foreign file); the
data CRC is not, because computing CRC-32C over every record in Python would cost more than the rest of the analysis.
A truncated last record (a run killed mid-write) ends the file cleanly with a note in `Run.unreadable`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recdoc.diagnose.run import Run, curve_from_rows
from recdoc.errors import InputError

FORMAT = "tensorboard"
FILE_MARKER = "tfevents"
# Scalars of a ComiRec run: the original's tags and common spellings -> curve column.
TAG_COLUMNS = {"train/loss": "train_loss", "train_loss": "train_loss", "loss": "train_loss",
               "eval/recall": "recall", "eval/ndcg": "ndcg", "eval/hitrate": "hitrate", "eval/hit_rate": "hitrate",
               "valid/recall": "recall", "valid/ndcg": "ndcg", "valid/hitrate": "hitrate"}
# A summary record of scalars is a few hundred bytes; anything this large is corruption, not an event.
MAX_RECORD_BYTES = 64 * 1024 * 1024
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_INT64 = 1, 2, 3, 9


def _float32(raw: bytes) -> float:
    """A float32 as the shortest decimal that round-trips (0.0125 logged is 0.0125 read, not 0.012500000186)."""
    return float(str(np.frombuffer(raw[:4], dtype="<f4")[0]))


class ProtoError(ValueError):
    """Bytes that are not the protobuf they should be."""


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ---------------------------------------------------------------- protobuf wire format
def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtoError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def iter_fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """Yield `(field_number, wire_type, value)`: ints for varints, bytes for fixed and length-delimited fields."""
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        if pos > end:
            raise ProtoError("field runs past the end of the message")
        yield number, wire, value


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _tensor_scalar(data: bytes) -> float | None:
    """The first value of a TensorProto (a scalar summary holds exactly one)."""
    dtype = _DT_FLOAT
    content: bytes | None = None
    for number, wire, value in iter_fields(data):
        if number == 1 and wire == 0:
            dtype = value
        elif number == 4 and wire == 2:
            content = value
        elif number == 5:  # float_val: packed (wire 2) or one value (wire 5)
            if len(value) >= 4:
                return _float32(value)
        elif number == 6:  # double_val
            if len(value) >= 8:
                return struct.unpack_from("<d", value)[0]
        elif number in (7, 10):  # int_val / int64_val
            if wire == 0:
                return float(_signed64(value))
            if wire == 2 and value:
                return float(_signed64(_varint(value, 0)[0]))
    if content:
        formats = {_DT_FLOAT: ("<f", 4), _DT_DOUBLE: ("<d", 8), _DT_INT32: ("<i", 4), _DT_INT64: ("<q", 8)}
        fmt, size = formats.get(dtype, ("", 0))
        if fmt and len(content) >= size:
            return _float32(content) if dtype == _DT_FLOAT else float(struct.unpack_from(fmt, content)[0])
    return None


@dataclass(frozen=True)
class Scalar:
    step: int
    wall_time: float | None
    tag: str
    value: float
    record: int  # 1-based record number in the file


def decode_event(data: bytes, record: int) -> list[Scalar]:
    """The scalars of one `Event` record (empty for file-version, graph and other events)."""
    step, wall_time, summaries = 0, None, []
    for number, wire, value in iter_fields(data):
        if number == 1 and wire == 1:
            wall_time = struct.unpack("<d", value)[0]
        elif number == 2 and wire == 0:
            step = _signed64(value)
        elif number == 5 and wire == 2:
            summaries.append(value)
    out: list[Scalar] = []
    for summary in summaries:
        for number, wire, value in iter_fields(summary):
            if number != 1 or wire != 2:
                continue
            tag, scalar = None, None
            for v_number, v_wire, v_value in iter_fields(value):
                if v_number == 1 and v_wire == 2:
                    tag = v_value.decode("utf-8", errors="replace")
                elif v_number == 2 and v_wire == 5:
                    scalar = _float32(v_value)
                elif v_number == 8 and v_wire == 2:
                    scalar = _tensor_scalar(v_value)
            if tag is not None and scalar is not None:
                out.append(Scalar(step=step, wall_time=wall_time, tag=tag, value=float(scalar), record=record))
    return out


def iter_records(path: str | Path, problems: list[str]) -> Iterator[tuple[int, bytes]]:
    """Yield `(record_number, data)`; stop at the first truncated or corrupt frame and say why in `problems`."""
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror or exc}", str(path)) from None
    with handle:
        number, offset = 0, 0
        while True:
            try:
                header = handle.read(12)
            except OSError as exc:
                raise InputError(f"read failed at byte {offset}: {exc.strerror or exc}", str(path)) from None
            if not header:
                return
            number += 1
            if len(header) < 12:
                problems.append(f"{path}: record {number} at byte {offset} is truncated (a run stopped mid-write)")
                return
            length, length_crc = struct.unpack("<QI", header)
            if masked_crc32c(header[:8]) != length_crc:
                problems.append(f"{path}: record {number} at byte {offset}: bad length checksum; not read further")
                return
            if length > MAX_RECORD_BYTES:
                problems.append(f"{path}: record {number} at byte {offset}: implausible length {length}")
                return
            try:
                body = handle.read(length + 4)
            except OSError as exc:
                raise InputError(f"read failed at byte {offset}: {exc.strerror or exc}", str(path)) from None
            if len(body) < length + 4:
                problems.append(f"{path}: record {number} at byte {offset} is truncated (a run stopped mid-write)")
                return
            offset += 12 + length + 4
            yield number, body[:length]


def sniff(head: str) -> float:
    # Every event file starts with a file_version event whose string is `brain.Event:N`.
    return 0.95 if "brain.Event:" in head[:200] else 0.0


def read(path: str | Path) -> Run:
    run = Run(format=FORMAT, paths=[str(path)])
    scalars: list[Scalar] = []
    undecodable = 0
    for number, data in iter_records(path, run.unreadable):
        try:
            scalars.extend(decode_event(data, number))
        except (ProtoError, struct.error, IndexError, TypeError):
            undecodable += 1
            if undecodable == 1:
                run.unreadable.append(f"{path}: record {number} is not a readable Event")
    if undecodable > 1:
        run.unreadable.append(f"{path}: {undecodable} records in all are not readable Events")
    run.curve = curve_from_scalars(scalars, str(path))
    others = sorted({s.tag for s in scalars if s.tag not in TAG_COLUMNS})
    if others:
        run.extra_metrics["tensorboard_tags"] = others
        run.extra_metrics["tensorboard_scalars"] = [(s.step, s.tag, s.value) for s in scalars if s.tag not in TAG_COLUMNS]
    if not scalars and not run.unreadable:
        run.unreadable.append(f"{path}: no scalar summaries")
    return run


def curve_from_scalars(scalars: list[Scalar], path: str) -> Any:
    by_step: dict[int, dict[str, Any]] = {}
    for scalar in scalars:
        column = TAG_COLUMNS.get(scalar.tag)
        if column is None:
            continue
        row = by_step.setdefault(scalar.step, {"iter": scalar.step, "file": path, "line": scalar.record})
        row[column] = scalar.value
    return curve_from_rows([by_step[step] for step in sorted(by_step)])
