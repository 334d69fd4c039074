"""Writing report files: atomically (never a half-written file) and without replacing one that exists."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_new_file(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write `path` through a temporary file in the same folder, then publish it only if `path` does not exist.

    A hard link publishes without replacing (it fails if the name exists, even if another process created it a
    moment ago); where the file system has no hard links the rename falls back to a checked `os.replace`.
    """
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        try:
            os.link(temp, path)
        except FileExistsError:
            raise
        except OSError:
            if path.exists():
                raise FileExistsError(path) from None
            os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)


def write_new_text(path: Path, text: str) -> None:
    write_new_file(path, lambda stream: stream.write(text.encode("utf-8")))
