"""Streaming access to text files of unknown encoding: one decoded line at a time, flat memory.

Logs of ComiRec runs come from many machines: UTF-8 with emoji (the TF2 port), GBK from a Chinese Windows console,
CRLF line ends, a last line cut off by a crash, binary garbage from a half-flushed disk. Each line is decoded on its
own (UTF-8, then GBK, then Latin-1, which never fails), so one bad line never spoils the rest of the file.

The file kinds and encodings are decided here, once, for every reader: only regular files are opened
(`recdoc.files.open_regular`: a FIFO, a device or a symlink loop is named, never read); a gzip-compressed log
(`train.log.gz`, or gzip bytes under any name) is read through gzip; a UTF-16 log with its byte-order mark (a
Windows console's redirect) is decoded to text; a UTF-8 byte-order mark is dropped. `binary_reason` says when a file
is binary data rather than text.
"""

from __future__ import annotations

import codecs
import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from recdoc.errors import InputError
from recdoc.files import open_regular

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


GZIP_MAGIC = b"\x1f\x8b"
UTF16_BOMS = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}


def encoding_of(head: bytes) -> str | None:
    """'gzip', 'utf-16-le', 'utf-16-be' or 'utf-8-sig' from a file's first bytes; None for plain bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    for bom, name in UTF16_BOMS.items():
        if head.startswith(bom):
            return name
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    return None


def _chunks(handle: BinaryIO, path: str | Path, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The file's content as byte chunks, decompressed or re-encoded to UTF-8 as its first bytes say."""
    head = handle.read(4)
    kind = encoding_of(head)
    if kind == "gzip":
        handle.seek(0)
        stream = gzip.GzipFile(fileobj=handle, mode="rb")
        yield from _read_all(stream, path, size, compressed=True)
        return
    if kind in ("utf-16-le", "utf-16-be"):
        decoder = codecs.getincrementaldecoder(kind)(errors="replace")
        rest = head[2:]
        for chunk in _read_all(handle, path, size, first=rest):
            yield decoder.decode(chunk).encode("utf-8")
        yield decoder.decode(b"", final=True).encode("utf-8")
        return
    yield from _read_all(handle, path, size, first=head[3:] if kind == "utf-8-sig" else head)


def _read_all(stream: BinaryIO, path: str | Path, size: int, first: bytes = b"",
              compressed: bool = False) -> Iterator[bytes]:
    if first:
        yield first
    while True:
        try:
            chunk = stream.read(size)
        except (EOFError, gzip.BadGzipFile, zlib.error):
            return  # a compressed log cut off (a copy interrupted): what came before it is read
        except OSError as exc:
            raise InputError(f"read failed: {exc.strerror or exc}", str(path)) from None
        if not chunk:
            return
        yield chunk


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield `(line_number, text)` with 1-based numbers and line ends (LF, CRLF) removed.

    Reads fixed-size chunks and splits them in C (several times faster than a readline loop); memory stays at
    about CHUNK_BYTES + MAX_LINE_BYTES whatever the file. Raises InputError only when the file cannot be read.
    """
    handle = open_regular(path)
    with handle:
        number = 0
        carry = b""
        skipping = False  # inside an overlong line whose head was already yielded
        for chunk in _chunks(handle, path):
            if not chunk:
                continue
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
    """The first `size` bytes (decompressed, decoded) line by line, for sniffing; '' when the file cannot be read."""
    data = read_head_bytes(path, size)
    return "\n".join(decode_line(raw.rstrip(b"\r")) for raw in data.split(b"\n"))


def read_head_bytes(path: str | Path, size: int = HEAD_BYTES) -> bytes:
    """The first `size` bytes of the file's text (gzip decompressed, UTF-16 as UTF-8); b'' when it cannot be read
    (not a regular file, no permission)."""
    try:
        with open_regular(path) as handle:
            out = b""
            for chunk in _chunks(handle, path, size):
                out += chunk
                if len(out) >= size:
                    break
            return out[:size]
    except (OSError, InputError):
        return b""


def raw_head_bytes(path: str | Path, size: int = 4096) -> bytes:
    """The file's first bytes as stored (no decompression); b'' when it cannot be read."""
    try:
        with open_regular(path) as handle:
            return handle.read(size)
    except (OSError, InputError):
        return b""


# Bytes that text logs do not hold (tab, line ends, form feed and ESC, for colours, excepted).
_CONTROL = bytes(set(range(32)) - {9, 10, 12, 13, 27}) + b"\x7f"


def binary_reason(head: bytes) -> str | None:
    """'binary data' when a file's (decoded) head is mostly not text: over a quarter of it control bytes or bytes
    that no text encoding recdoc reads makes of them (an image, an archive, a model file); else None. A log with
    some damaged lines (NUL bytes from a crash) stays text."""
    if not head:
        return None
    sample = head[:HEAD_BYTES]
    controls = sum(sample.count(bytes([c])) for c in _CONTROL)
    text = sample.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd")
    if controls + invalid > 0.25 * len(text):
        try:
            sample.decode("gbk")
        except UnicodeDecodeError:
            return "binary data, not a text log"
        if controls > 0.25 * len(text):
            return "binary data, not a text log"
    return None


def odd_file(path: str | Path) -> str | None:
    """What a name found in a run folder is when it is not something to read (a FIFO, a device, a socket, a symlink
    loop or a broken symlink, a file recdoc may not read); None for a regular file or a folder."""
    import os

    from recdoc.files import path_problem

    problem = path_problem(path)
    if problem is None and os.path.isfile(path) and not os.access(path, os.R_OK):
        return "permission denied"
    return problem
