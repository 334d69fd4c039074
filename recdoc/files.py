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

from recdoc.errors import InputError, UsageError

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
                # A path from a folder whose name is not UTF-8 holds surrogate escapes: written as `\\udcff`, not a crash.
                stream.write(content.encode("utf-8", errors="backslashreplace") if isinstance(content, str)
                             else content)
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


# ---------------------------------------------------------------- reading: only regular files
# A FIFO named train.log blocks `open()` until a writer appears, /dev/zero never ends, a symlink loop reads as "no
# such file": recdoc opens only regular files, and says what anything else is. The doctor's readers
# (diagnose/readers/lines.py) and the checkpoint loaders both read through here.

def path_problem(path: str | Path) -> str | None:
    """None when `path` is a regular file or a folder (symlinks followed); else why it is not read, in words:
    'no such file or folder', 'a symlink loop', 'a broken symlink (to X)', 'a FIFO (named pipe)', 'a character
    device', 'a block device', 'a socket', 'permission denied'."""
    import errno
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symlink loop"
        if error.errno == errno.ENOENT and os.path.islink(path):
            try:
                return f"a broken symlink (to {os.readlink(path)})"
            except OSError:
                return "a broken symlink"
        if error.errno == errno.ENOENT:
            return "no such file or folder"
        if error.errno in (errno.EACCES, errno.EPERM):
            return "permission denied"
        if error.errno == errno.ENAMETOOLONG:
            return "a name too long for the file system"
        return f"cannot be read ({error.strerror or error})"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return _kind_of(mode)


def _kind_of(mode: int) -> str:
    import stat

    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def open_regular(path: str | Path) -> BinaryIO:
    """Open `path` for binary reading if it is a regular file; else InputError saying what it is.

    The open itself cannot block (O_NONBLOCK: a FIFO with no writer would otherwise hang it), and the check is
    made on the opened descriptor, so a file swapped for a FIFO in between is still refused.
    """
    import errno
    import fcntl
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        problem = path_problem(path) if error.errno != errno.EACCES else "permission denied"
        if problem is None:
            problem = f"cannot open ({error.strerror or error})"
        raise InputError(f"not read: {problem}", str(path)) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(f"not read: {_kind_of(mode)}, not a regular file", str(path))
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular_bytes(path: str | Path, limit: int | None = None) -> bytes:
    """The bytes of a regular file (at most `limit`); InputError naming the file and what it is otherwise."""
    with open_regular(path) as handle:
        try:
            return handle.read() if limit is None else handle.read(limit)
        except OSError as error:
            raise InputError(f"read failed ({error.strerror or error})", str(path)) from None


# ---------------------------------------------------------------- what recdoc wrote, and sets written whole
# `--force` may replace only files recdoc wrote. The folder's manifest (MANIFEST) records the name and the SHA-256
# of every report file recdoc published there; a file absent from it, or changed since (the user edited it), is
# the user's, and is never replaced.
MANIFEST = ".recdoc-written.json"


def _digest(path: Path) -> str | None:
    import hashlib

    try:
        with open_regular(path) as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except Exception:  # noqa: BLE001 - unreadable: not provably ours
        return None


def _manifest(folder: Path) -> dict[str, str]:
    import json

    try:
        data = json.loads(read_regular_bytes(folder / MANIFEST, 4 * 2**20).decode("utf-8"))
    except Exception:  # noqa: BLE001 - absent or damaged: nothing is known to be ours
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def written_by_recdoc(path: Path) -> bool:
    """Whether `path` is a file recdoc published (its manifest names it with this very content)."""
    known = _manifest(path.parent).get(_name_key(path.name))
    return known is not None and known == _digest(path)


def _name_key(name: str) -> str:
    return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def _record_written(folder: Path, paths: list[Path], removed: list[Path]) -> None:
    import json

    files = _manifest(folder)
    for path in removed:
        files.pop(_name_key(path.name), None)
    for path in paths:
        digest = _digest(path)
        if digest is not None:
            files[_name_key(path.name)] = digest
    present = {_name_key(name) for name in os.listdir(folder)}
    files = {name: digest for name, digest in files.items() if name in present}
    text = json.dumps({"about": "files recdoc wrote here (name: sha256); recdoc --force replaces only these",
                       "files": dict(sorted(files.items()))}, indent=1) + "\n"
    write_file(folder / MANIFEST, text, replace=True)


def refuse_foreign(paths: list[Path], flag: str = "--force") -> None:
    """UsageError naming the first of `paths` that recdoc did not write (or that was changed since)."""
    for path in paths:
        if not written_by_recdoc(path):
            raise UsageError(f"{flag} replaces only files recdoc wrote; {path} was not written by recdoc (or was "
                             "changed since), so it is kept; move it away or write elsewhere with --out DIR")


class StagedSet:
    """Files written aside (a hidden folder beside their targets) and moved into place together by `publish`.

    Nothing appears under a target name until every file is written; if one target name is taken when publishing,
    the files already published are removed again and FileExistsError is raised: all or nothing.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.aside = Path(tempfile.mkdtemp(dir=folder, prefix=".recdoc-staging-"))
        self.names: list[str] = []

    def path(self, name: str) -> Path:
        """Where to write the file that will be published as `folder/name`."""
        if name not in self.names:
            self.names.append(name)
        return self.aside / name

    def publish(self, replacing: list[Path] = ()) -> list[Path]:  # type: ignore[assignment]
        """Move every staged file to its name in the folder; return the published paths in staging order.

        `replacing`: files recdoc wrote that this set replaces (`--force`, after `refuse_foreign`): a staged file
        of the same name replaces it atomically, and the rest of them (a stale plot) are removed once the whole set
        is in place. Every other name must be free: if one is taken, the files published so far are removed again.
        """
        others = sorted(name for name in os.listdir(self.aside) if name not in self.names)
        staged = [self.aside / name for name in [*self.names, *others] if (self.aside / name).exists()]
        replaced = {path.name for path in replacing}
        published: list[Path] = []
        try:
            for source in staged:
                target = self.folder / source.name
                if source.name in replaced:
                    os.replace(source, target)
                else:
                    _publish_new(source, target)
                    published.append(target)
        except BaseException:
            for target in published:
                target.unlink(missing_ok=True)
            raise
        published = [self.folder / source.name for source in staged]
        for old in replacing:
            if old.name not in {path.name for path in published}:
                old.unlink(missing_ok=True)
        try:
            _record_written(self.folder, published, list(replacing))
        except OSError:
            pass  # the reports are written; only a later --force will refuse to replace them
        return published

    def discard(self) -> None:
        import shutil

        shutil.rmtree(self.aside, ignore_errors=True)

    def __enter__(self) -> StagedSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()
