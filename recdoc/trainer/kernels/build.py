"""Compile recdoc's TensorFlow kernels on first use and load them.

A kernel is built once per (source, TensorFlow version, compiler, CPU) into a cache folder
(`$RECDOC_KERNEL_CACHE`, else `$XDG_CACHE_HOME/recdoc/kernels`, else `~/.cache/recdoc/kernels`) and loaded with
`tf.load_op_library`. Without a working C++ compiler, or with `RECDOC_NO_KERNELS=1`, `load` returns None and the
caller uses its TensorFlow-ops path, which computes the same numbers more slowly.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from recdoc.files import staged_file

DISABLE_ENV = "RECDOC_NO_KERNELS"
CACHE_ENV = "RECDOC_KERNEL_CACHE"
COMPILE_TIMEOUT_S = 600
# -ffp-contract=off: no fused multiply-add, so every float32 operation rounds as TensorFlow's own kernels do.
# -fno-math-errno lets sqrt vectorise; it changes no result.
CXX_FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fno-math-errno", "-fPIC", "-shared", "-w")


@dataclass(frozen=True)
class KernelLoad:
    """What `load` did: the loaded module, or None and why."""

    module: ModuleType | None
    detail: str  # the library's path, or the reason it is not used


_loaded: dict[str, KernelLoad] = {}


def load(source_name: str) -> KernelLoad:
    """The op library compiled from `source_name` (a .cc file in this folder); memoised per process."""
    if source_name not in _loaded:
        _loaded[source_name] = _load_uncached(Path(__file__).with_name(source_name))
    return _loaded[source_name]


class KernelUnavailable(Exception):
    """Why a kernel cannot be built here (disabled, no compiler, a failed compile)."""


def library_for(source: Path) -> Path:
    """The compiled library for `source`, built into the cache first if it is not there yet.

    Building does not load it: a process must load one library per op (a second copy of the same op, from another
    path, makes every later use of the op fail), which `load` ensures. A failed build is remembered beside the
    library (`.failed`, with the compiler's last line) so later runs fall back at once instead of compiling again;
    deleting that file retries."""
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        raise KernelUnavailable(f"disabled by {DISABLE_ENV}")
    compiler = shutil.which(os.environ.get("CXX", "g++"))
    if compiler is None:
        raise KernelUnavailable(f"no C++ compiler ({os.environ.get('CXX', 'g++')}) on PATH")
    try:
        from recdoc.tfimport import tf

        flags = [*CXX_FLAGS, *_cpu_workarounds(), *tf.sysconfig.get_compile_flags()]
        link_flags = list(tf.sysconfig.get_link_flags())
        library = _cache_dir() / f"{source.stem}-{_build_key(source, compiler, flags + link_flags)}.so"
        failed = library.with_suffix(".failed")
        if library.exists():
            return library
        if failed.exists():
            raise KernelUnavailable(f"{failed.read_text(encoding='utf-8').strip()} (remembered in {failed}; "
                                    "delete it to retry)")
        print(f"recdoc: compiling {source.name} once into {library.parent} ...", file=sys.stderr, flush=True)
        try:
            try:
                _compile(compiler, source, library, flags, link_flags)
            except RuntimeError:
                # A backstop for `_cpu_workarounds`: a CPU whose flags it does not recognise may still get AVX512-FP16
                # from -march=native, which TF's bundled Eigen cannot compile. Any other error fails again here.
                _compile(compiler, source, library, [*flags, "-mno-avx512fp16"], link_flags)
        except (OSError, subprocess.SubprocessError, RuntimeError) as error:
            reason = f"could not compile {source.name}: {error}"
            with contextlib.suppress(OSError):
                failed.write_text(reason + "\n", encoding="utf-8")
            raise KernelUnavailable(reason) from error
        return library
    except KernelUnavailable:
        raise
    except Exception as error:  # noqa: BLE001 - any failure here means "no kernel", never a failed run
        raise KernelUnavailable(f"could not prepare {source.name}: {type(error).__name__}: {error}") from error


def _load_uncached(source: Path) -> KernelLoad:
    try:
        library = library_for(source)
    except KernelUnavailable as why:
        return KernelLoad(None, str(why))
    from recdoc.tfimport import tf

    try:
        return KernelLoad(tf.load_op_library(str(library)), str(library))
    except (OSError, tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as error:
        return KernelLoad(None, f"could not load {library}: {error}")


def _cache_dir() -> Path:
    """The configured or per-user cache folder; a private temporary one when that cannot be created."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        folder = base / "recdoc" / "kernels"
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except (OSError, RuntimeError):  # no home, or a read-only one
        pass
    return Path(tempfile.gettempdir()) / f"recdoc-kernels-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def _build_key(source: Path, compiler: str, flags: list[str]) -> str:
    """Changes with the source, TensorFlow (its headers and flags), the compiler and the CPU (-march=native)."""
    from recdoc.tfimport import tf

    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60).stdout
    parts = [source.read_bytes().hex(), tf.__version__, " ".join(flags), version, platform.machine(), _cpu_flags()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _cpu_workarounds() -> list[str]:
    """Flags -march=native needs on some CPUs: TensorFlow's bundled Eigen does not compile with AVX512-FP16
    enabled (Sapphire Rapids and later: "expected initializer before '<'" in PacketMathFP16.h); the kernel uses
    no half floats, so that extension is turned off."""
    return ["-mno-avx512fp16"] if "avx512_fp16" in _cpu_flags().split() else []


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _compile(compiler: str, source: Path, library: Path, flags: list[str], link_flags: list[str]) -> None:
    """Build into a temporary file beside `library`, then rename: a concurrent or killed build leaves no
    half-written library under the final name."""
    # Its own process group, so a timeout stops the compiler proper (cc1plus) too, not only the driver. The
    # library is executable and readable by all (recdoc.files): other users of a shared cache must load it.
    with staged_file(library, replace=True, executable=True) as partial:
        with subprocess.Popen([compiler, *flags, str(source), "-o", str(partial), *link_flags],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True) as process:
            try:
                _, stderr = process.communicate(timeout=COMPILE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise
        if process.returncode != 0:
            last = (stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"{Path(compiler).name} exited with {process.returncode}: {last}")
