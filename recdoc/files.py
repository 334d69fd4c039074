"""The one way recdoc writes a file: atomically, with ordinary permissions, and without replacing what exists.

Every output (train.log's companions run.json and metrics.jsonl, report.md, diagnosis.json, the PNGs,
probe.json, compare.md, the compiled kernel) goes through here, so that:
- a reader never sees half a file: the content goes to a temporary file beside the target, then is published;
- a report, plot or probe never replaces an existing one (`replace=False`, the default: publishing is a hard link,
  which fails if the name exists, even if another process took it a moment ago); the trainer's own records, which
  it updates in place, pass `replace=True`;
- the file gets the permissions an ordinary `open()` would give (0644 under the usual umask 022, 0755 for an
  executable), not mkstemp's private 0600: colleagues on a shared machine read reports as they read train.log.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from recdoc.errors import UsageError

Content = bytes | str | Callable[[BinaryIO], None]


def ordinary_mode(executable: bool = False) -> int:
    """0666 (0777 for an executable) less the process umask: what `open()` (or a compiler) would create."""
    umask = os.umask(0)  # reading the umask means setting it; restore it at once
    os.umask(umask)
    return (0o777 if executable else 0o666) & ~umask


@contextmanager
def staged_file(path: Path, *, replace: bool = False, executable: bool = False) -> Iterator[Path]:
    """A temporary path beside `path` for the caller (or a subprocess) to fill; published to `path` on success.

    On an exception nothing is published and the temporary file is removed. With `replace=False` an existing
    `path` raises FileExistsError and is left untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temp = Path(temp_name)
    try:
        yield temp
        os.chmod(temp, ordinary_mode(executable))
        if replace:
            os.replace(temp, path)
        else:
            _publish_new(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _publish_new(temp: Path, path: Path) -> None:
    try:
        os.link(temp, path)
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: a checked rename (a race window, but no silent loss)
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(temp, path)


def write_file(path: Path, content: Content, *, replace: bool = False, fsync: bool = False) -> Path:
    """Write `content` (text as UTF-8, bytes, or a function writing to a binary stream) to `path` atomically."""
    with staged_file(path, replace=replace) as temp:
        with open(temp, "wb") as stream:
            if callable(content):
                content(stream)
            else:
                stream.write(content.encode("utf-8") if isinstance(content, str) else content)
            if fsync:
                stream.flush()
                os.fsync(stream.fileno())
    return path


def rewrite_file(path: Path, content: Content) -> Path:
    """Replace `path` atomically and durably: the trainer's own records (run.json, metrics.jsonl, loop state),
    which it updates in place and which must survive a kill at any moment."""
    return write_file(path, content, replace=True, fsync=True)


def write_numbered(folder: Path, name_of: Callable[[int], str], content: Content, limit: int = 1000) -> Path:
    """Write `content` to the first free name `name_of(1)`, `name_of(2)`, ... in `folder`; return the path."""
    for number in range(1, limit + 1):
        path = folder / name_of(number)
        if path.exists():
            continue
        try:
            return write_file(path, content)
        except FileExistsError:  # taken between the check and the link by another process: try the next one
            continue
    raise UsageError(f"{folder} already holds {limit} files named like {name_of(1)}; pass --out to write elsewhere")


def free_set_number(folder: Path, names_of: Callable[[int], dict[str, str]], limit: int, what: str) -> int:
    """The smallest n (1..limit) for which none of the files `names_of(n)` exists in `folder`.

    A numbered set (report.md, report-2.md, ... with their plots) is taken whole, so one analysis never mixes
    its files with another's and nothing existing is replaced.
    """
    for number in range(1, limit + 1):
        if not any((folder / name).exists() for name in names_of(number).values()):
            return number
    raise UsageError(f"{folder} already holds {limit} {what}; pass --out to write elsewhere")
