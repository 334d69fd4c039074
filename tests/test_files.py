"""Every file recdoc writes is readable by colleagues (like train.log), atomic, and never replaces a user's file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from recdoc.files import rewrite_file, write_file, write_numbered
from recdoc.instruments.probe.files import write_probe
from support.paths import TEST79


@pytest.fixture()
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_reports_plots_and_json_are_world_readable_like_train_log(tmp_path: Path, umask_022: None) -> None:
    from recdoc.diagnose.engine import analyze_paths
    from recdoc.reports import write_reports

    written = write_reports(analyze_paths([str(TEST79)]), out_dir=tmp_path, plots=True)
    assert {p.suffix for p in written} == {".md", ".json", ".png"}
    (tmp_path / "train.log").write_text("x")  # what an ordinary open() gives under the same umask
    assert {mode(p) for p in written} == {mode(tmp_path / "train.log")} == {0o644}


def test_probe_and_rescore_json_and_run_records_are_0644_and_never_replace(tmp_path: Path, umask_022: None) -> None:
    from recdoc.instruments.rescore import write_rescore

    first = write_probe({"schema": "x"}, tmp_path)
    second = write_probe({"schema": "y"}, tmp_path)
    assert (first.name, second.name) == ("probe.json", "probe-2.json")
    assert '"x"' in first.read_text()
    rescores = [write_rescore({"n": n}, tmp_path) for n in (1, 2)]
    assert [p.name for p in rescores] == ["rescore.json", "rescore-2.json"] and '"n": 1' in rescores[0].read_text()
    rewrite_file(tmp_path / "run.json", "{}\n")
    assert {mode(first), mode(second), *map(mode, rescores), mode(tmp_path / "run.json")} == {0o644}


def test_a_private_umask_is_respected(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        path = write_file(tmp_path / "r.md", "x")
    finally:
        os.umask(previous)
    assert mode(path) == 0o600


def test_write_file_never_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("the user's")
    with pytest.raises(FileExistsError):
        write_file(target, "new")
    assert target.read_text() == "the user's"

    def fail(stream: object) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_file(tmp_path / "half.png", fail)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]
    assert write_numbered(tmp_path, lambda n: "report.md" if n == 1 else f"report-{n}.md", "b").name == "report-2.md"


def test_write_file_replace_updates_in_place(tmp_path: Path) -> None:
    target = write_file(tmp_path / "run.json", "1", replace=True)
    write_file(target, "2", replace=True)
    assert target.read_text() == "2"
