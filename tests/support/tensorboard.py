"""A tiny protobuf/TFRecord encoder: TensorBoard event files written byte by byte, without TensorFlow."""

from __future__ import annotations

import struct
from pathlib import Path

from recdoc.diagnose.readers.tensorboard import masked_crc32c


# ---------------------------------------------------------------- a tiny protobuf/TFRecord encoder for the tests
def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, wire: int, payload: bytes | int) -> bytes:
    key = varint(number << 3 | wire)
    if wire == 0:
        return key + varint(int(payload))
    if wire == 2:
        assert isinstance(payload, bytes)
        return key + varint(len(payload)) + payload
    assert isinstance(payload, bytes)
    return key + payload


def simple_value(tag: str, value: float) -> bytes:
    return field(1, 2, tag.encode()) + field(2, 5, struct.pack("<f", value))


def tensor_value(tag: str, value: float, style: str) -> bytes:
    if style == "content":  # TF2 tf.summary.scalar: DT_FLOAT, empty shape, 4 bytes of content
        tensor = field(1, 0, 1) + field(2, 2, b"") + field(4, 2, struct.pack("<f", value))
    elif style == "double_val":
        tensor = field(1, 0, 2) + field(6, 2, struct.pack("<d", value))
    else:  # float_val, packed
        tensor = field(1, 0, 1) + field(5, 2, struct.pack("<f", value))
    metadata = field(1, 2, field(1, 2, b"scalars"))
    return field(1, 2, tag.encode()) + field(9, 2, metadata) + field(8, 2, tensor)


def event(step: int, values: list[bytes], wall_time: float = 1.7e9) -> bytes:
    summary = b"".join(field(1, 2, v) for v in values)
    return field(1, 1, struct.pack("<d", wall_time)) + field(2, 0, step) + field(5, 2, summary)


def file_version_event() -> bytes:
    return field(1, 1, struct.pack("<d", 1.7e9)) + field(3, 2, b"brain.Event:2")


def record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


def write_events(path: Path, events: list[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(record(e) for e in [file_version_event(), *events]))
    return path
