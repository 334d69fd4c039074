"""recdoc's compiled kernels: the build cache, and the fallbacks when a kernel cannot be built.

These tests build into a temporary cache but never load what they build: the process already holds the kernel
from the default cache (the optimizer tests use it), and a second copy of the same op would break it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from recdoc.trainer.kernels import build

KERNEL_SOURCE = Path(build.__file__).with_name("tf1_sparse_adam.cc")


@pytest.fixture()
def fresh_builds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(build, "_loaded", {})
    monkeypatch.setenv(build.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(build.DISABLE_ENV, raising=False)
    return tmp_path


def test_disabled_by_the_environment(fresh_builds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(build.DISABLE_ENV, "1")
    loaded = build.load("tf1_sparse_adam.cc")
    assert loaded.module is None and build.DISABLE_ENV in loaded.detail


def test_no_compiler_means_no_kernel_and_says_so(fresh_builds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXX", "no-such-compiler-here")
    loaded = build.load("tf1_sparse_adam.cc")
    assert loaded.module is None and "no C++ compiler (no-such-compiler-here)" in loaded.detail


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_a_source_that_does_not_compile_leaves_no_library_and_is_not_retried(fresh_builds: Path) -> None:
    broken = fresh_builds / "broken.cc"
    broken.write_text("this is not C++\n")
    with pytest.raises(build.KernelUnavailable, match="^could not compile broken.cc: g\\+\\+ exited with"):
        build.library_for(broken)
    left = list((fresh_builds / "cache").iterdir())
    assert [p.suffix for p in left] == [".failed"]  # the failure is remembered; no library, no partial file
    # The next run falls back at once, saying why and how to retry, without compiling again.
    with pytest.raises(build.KernelUnavailable, match="g\\+\\+ exited with .*remembered in .*delete it to retry"):
        build.library_for(broken)


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_built_once_then_taken_from_the_cache(fresh_builds: Path) -> None:
    library = build.library_for(KERNEL_SOURCE)
    built_at = library.stat().st_mtime_ns
    assert build.library_for(KERNEL_SOURCE) == library and library.stat().st_mtime_ns == built_at
    assert [p.name for p in library.parent.iterdir()] == [library.name]
    changed = fresh_builds / KERNEL_SOURCE.name
    changed.write_text(KERNEL_SOURCE.read_text() + "\n// a change\n")
    assert build.library_for(changed) != library  # a changed source gets its own build


def test_an_unusable_cache_home_falls_back_to_a_temporary_folder(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.delenv(build.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(not_a_folder))  # mkdir under a file fails, even for root
    folder = build._cache_dir()
    assert folder.name.startswith("recdoc-kernels-") and folder.parent == Path(tempfile.gettempdir())
