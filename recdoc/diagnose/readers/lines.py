"""Streaming access to text files of unknown encoding: one decoded line at a time, flat memory.

Logs of ComiRec runs come from many machines: UTF-8 with emoji (the TF2 port), GBK from a Chinese Windows console,
CRLF line ends, a last line cut off by a crash, binary garbage from a half-flushed disk. Each line is decoded on its
own (UTF-8, then GBK, then Latin-1, which never fails), so one bad line never spoils the rest of the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from recdoc.errors import InputError

# A line longer than this is not a log line a reader could use; its first MAX_LINE_BYTES are kept and the rest is
# skipped, so a file without newlines cannot grow memory.
MAX_LINE_BYTES = 64 * 1024
HEAD_BYTES = 64 * 1024
CHUNK_BYTES = 1024 * 1024


def decode_line(raw: bytes) -> str:
    """Decode one line: UTF-8, then GBK, then Latin-1 (which accepts every byte)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gbk")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield `(line_number, text)` with 1-based numbers and line ends (LF, CRLF) removed.

    Reads fixed-size chunks and splits them in C (several times faster than a readline loop); memory stays at
    about CHUNK_BYTES + MAX_LINE_BYTES whatever the file. Raises InputError only when the file cannot be read.
    """
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror or exc}", str(path)) from None
    with handle:
        number = 0
        carry = b""
        skipping = False  # inside an overlong line whose head was already yielded
        while True:
            try:
                chunk = handle.read(CHUNK_BYTES)
            except OSError as exc:
                raise InputError(f"read failed after line {number}: {exc.strerror or exc}", str(path)) from None
            if not chunk:
                break
            if skipping:
                cut = chunk.find(b"\n")
                if cut < 0:
                    continue
                chunk, skipping = chunk[cut + 1:], False
            pieces = (carry + chunk).split(b"\n")
            carry = pieces.pop()
            for raw in pieces:
                number += 1
                yield number, decode_line(raw[:MAX_LINE_BYTES].rstrip(b"\r"))
            if len(carry) > MAX_LINE_BYTES:
                number += 1
                yield number, decode_line(carry[:MAX_LINE_BYTES])
                carry, skipping = b"", True
        if carry:
            yield number + 1, decode_line(carry.rstrip(b"\r"))


def read_head(path: str | Path, size: int = HEAD_BYTES) -> str:
    """The first `size` bytes decoded line by line (for sniffing); '' when the file cannot be read."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(size)
    except OSError:
        return ""
    return "\n".join(decode_line(raw.rstrip(b"\r")) for raw in data.split(b"\n"))


def read_head_bytes(path: str | Path, size: int = HEAD_BYTES) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""
