"""Writing report files: atomically (never a half-written file) and without replacing one that exists."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from recdoc.errors import UsageError


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


def free_set_number(folder: Path, names_of: Callable[[int], dict[str, str]], limit: int, what: str) -> int:
    """The smallest n (1..limit) for which none of the files `names_of(n)` exists in `folder`.

    A numbered set (report.md, report-2.md, ... with their plots) is taken whole, so one analysis never mixes
    its files with another's and nothing existing is replaced.
    """
    for number in range(1, limit + 1):
        if not any((folder / name).exists() for name in names_of(number).values()):
            return number
    raise UsageError(f"{folder} already holds {limit} {what}; pass --out to write elsewhere")
