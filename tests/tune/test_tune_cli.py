"""`recdoc tune`'s refusals, before any training (and `recdoc analyze` still never imports optuna)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from recdoc.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out + captured.err


def test_tune_needs_a_run_or_a_dataset_and_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(["tune", "--out", str(tmp_path)], capsys)
    assert code == 2 and "RUN" in out and "--dataset" in out


def test_tune_says_what_data_to_prepare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(["tune", "--dataset", "nope", "--model_type", "ComiRec-DR", "--data_dir", str(tmp_path),
                         "--out", str(tmp_path / "t")], capsys)
    assert code == 2 and "prepare" in out


def test_an_existing_study_folder_is_never_reused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s").mkdir()
    code, out = run_cli(["tune", "--dataset", "x", "--model_type", "DNN", "--out", str(tmp_path), "--study", "s"],
                        capsys)
    assert code == 2 and "--resume" in out


def test_resume_needs_a_study_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(["tune", "--resume", str(tmp_path / "missing")], capsys)
    assert code == 2 and "study.db" in out


def test_bad_space_and_sampler_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(["tune", "--dataset", "x", "--model_type", "DNN", "--space", "dropout", "--out",
                         str(tmp_path)], capsys)
    assert code == 2 and "dropout" in out
    code, out = run_cli(["tune", "--dataset", "x", "--model_type", "DNN", "--sampler", "grid", "--out",
                         str(tmp_path)], capsys)
    assert code == 2 and "tpe or random" in out


def test_analyze_never_imports_optuna() -> None:
    code = ("import sys; from recdoc.cli import main\n"
            "try:\n    main(['analyze', 'fixtures/runs/test79', '--format', 'json', '--out', sys.argv[1]])\n"
            "except SystemExit: pass\n"
            "assert 'optuna' not in sys.modules and 'tensorflow' not in sys.modules, 'imported'\n")
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, "-c", code, out], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
