"""What a newcomer meets on the command line: quiet TensorFlow start-up, a train that says where its run went and
what to type next, the README's learning-rate advice, and progress that does not sit silent."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from recdoc.cli import lr_note
from recdoc.tfimport import is_notice
from recdoc.trainer.log.progress import COMPILING_STATUS, Console
from support.paths import REPO, TEST79

STARTUP = [  # what TensorFlow 2.21 printed on `recdoc train` on this CPU machine
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796246102.867135    9594 port.cc:153] oneDNN custom operations are on. You may see slightly",
    "I0000 00:00:1796246102.872908    9594 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU "
    "will not be used.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
    "appropriate compiler flags.",
    "E0000 00:00:1796246116.785695    9594 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
    "Failed call to cuInit: UNKNOWN ERROR (303)",
]


def test_tensorflow_startup_notices_are_dropped_and_real_errors_kept() -> None:
    assert all(is_notice(line, has_gpu=False) for line in STARTUP)
    assert not is_notice(STARTUP[-1], has_gpu=True)  # with an NVIDIA device, a failing cuInit is a real error
    assert not is_notice("E0000 00:00:1.0 1 op_kernel.cc:1] OUT_OF_RANGE: something failed", has_gpu=False)
    assert not is_notice("Traceback (most recent call last):", has_gpu=False)


def test_no_module_imports_tensorflow_but_through_tfimport() -> None:
    """One plain `import tensorflow` on any command's path brings every start-up line back (it happened to
    probe, rescore and analyze --deep through the checkpoint loaders): recdoc takes TensorFlow from tfimport."""
    import re

    plain = re.compile(r"^\s*(import tensorflow|from tensorflow[\w.]* import)", re.M)
    offenders = [str(path.relative_to(REPO)) for path in sorted((REPO / "recdoc").rglob("*.py"))
                 if path.name != "tfimport.py" and plain.search(path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_comirec_dr_at_the_original_default_gets_the_readme_advice() -> None:
    note = lr_note("ComiRec-DR", 0.001)
    assert note is not None and "--learning_rate 0.005" in note and "lr-model-mismatch" in note
    assert lr_note("ComiRec-DR", 0.005) is None and lr_note("ComiRec-SA", 0.001) is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_rate_and_eta_start_after_compilation() -> None:
    """Compilation takes seconds before the first step: the rate and the ETA count from the first trained step,
    and show nothing until a second of training has passed (not 100,000 it/s over a millisecond)."""
    out, clock = io.StringIO(), FakeClock()
    with Console(1000, stream=out, fancy=True, clock=clock) as console:
        console.progress(0)
        assert console._progress.tasks[0].fields["status"] == COMPILING_STATUS
        clock.now = 9.0  # compiled
        console.progress(10)
        fields = console._progress.tasks[0].fields
        assert (fields["rate"], fields["eta"], fields["status"]) == ("--it/s", "eta --:--", "")
        clock.now = 11.0
        console.progress(110)  # 100 iterations in the 2 s since the first step
        fields = console._progress.tasks[0].fields
        assert (fields["rate"], fields["eta"]) == ("50.0it/s", "eta 00:18")
    last = out.getvalue().strip().splitlines()[-1]
    assert "110/1000" in last and "50.0it/s" in last and "eta 00:18" in last


def test_progress_bar_fits_80_columns_keeps_long_lines_whole_and_says_why_it_ended_early() -> None:
    out, clock = io.StringIO(), FakeClock()
    with Console(2_000_000, stream=out, fancy=True, clock=clock) as console:
        console._progress.console.width = 80
        console.progress(0)
        console.print("model restored from /a/very/long/run/folder/name/that/is/wider/than/the/terminal/ckpt/best/ckpt-800")
        clock.now = 5.0
        console.progress(10)
        clock.now = 25.0
        console.progress(1000, "valid recall 0.2456")
        clock.now = 32.8  # (1400 - 10) iterations in 27.8 s since the first step
        console.finish(1400, "early stop")
    lines = out.getvalue().splitlines()
    assert any(line.endswith("/ckpt/best/ckpt-800") and line.startswith("model restored") for line in lines)
    last = lines[-1].rstrip()
    # The point reached out of the whole budget, the rate measured, why it ended, and no ETA.
    assert "1400/2000000" in last and "50.0it/s" in last and "early stop" in last and "eta" not in last
    assert "…" not in last and len(last) <= 80


@pytest.mark.slow
def test_train_is_quiet_and_ends_with_the_run_folder_and_the_next_command(tmp_path: Path) -> None:
    from recdoc.trainer.data.synth import synthesize

    synthesize("tiny", items=300, users=200, seed=1, data_dir=str(tmp_path / "data"))
    result = subprocess.run([sys.executable, "-m", "recdoc", "train", "--dataset", "tiny", "--data_dir",
                             str(tmp_path / "data"), "--runs_dir", str(tmp_path / "runs"), "--max_iter", "1",
                             "--test_iter", "500", "--batch_size", "32", "--neg_num", "2", "--exp", "w"],
                            capture_output=True, text=True, cwd=REPO, check=False)
    assert result.returncode == 0, result.stderr
    for noise in ("absl::InitializeLog", "cuInit", "cpu_feature_guard", "oneDNN", "cudart_stub"):
        assert noise not in result.stderr
    lines = result.stdout.splitlines()
    folder = tmp_path / "runs" / "tiny_ComiRec-DR_b32_lr0.001_d64_len20_w"
    assert lines[0].startswith("note: ComiRec-DR at learning rate 0.001")
    assert lines[-2:] == [f"Run folder: {folder}", f"Next: recdoc analyze {folder}"]

    # After a crash the user types the folder alone; run.json supplies the rest (a longer budget here).
    resumed = subprocess.run([sys.executable, "-m", "recdoc", "train", "--resume", str(folder), "--max_iter", "2"],
                             capture_output=True, text=True, cwd=REPO, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert any(line.startswith("training resumed from") for line in resumed.stdout.splitlines())
    assert resumed.stdout.splitlines()[-2] == f"Run folder: {folder}"


def test_resume_takes_the_run_folder_alone_and_refuses_settings_it_would_ignore(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from recdoc.cli import main
    from recdoc.config import RunConfig

    config = RunConfig.for_dataset("tiny", exp="w", runs_dir=str(tmp_path / "elsewhere"))
    folder = tmp_path / "runs" / config.exp_name
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"config": config.to_dict()}))

    def refused(*args: str) -> str:
        with pytest.raises(SystemExit) as stopped:
            main(["train", *args])
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        return err

    assert "--learning_rate cannot change on resume" in refused("--resume", str(folder), "--learning_rate", "0.1")
    assert "no run.json there" in refused("--resume", str(tmp_path / "runs"))
    renamed = folder.rename(tmp_path / "runs" / "renamed")
    assert "rename the folder back" in refused("--resume", str(renamed))


def test_analyze_says_where_it_wrote_and_force_replaces_the_last_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from recdoc.cli import main

    run = tmp_path / "test79"
    shutil.copytree(TEST79, run)

    def analyze(*args: str) -> str:
        with pytest.raises(SystemExit):
            main(["analyze", str(run), "--no-plots", *args])
        return capsys.readouterr().out

    assert f"Report written in the run folder {run} (--out DIR writes elsewhere)" in analyze()
    second = analyze()
    assert "earlier reports are kept; --force replaces the last one instead" in second
    assert "it replaced the last report" in analyze("--force")
    assert (run / "report-2.md").is_file() and not (run / "report-3.md").exists()
    # A report the user changed is theirs: --force refuses to replace it, naming it, and writes nothing.
    (run / "report-2.md").write_text("my notes")
    with pytest.raises(SystemExit) as refused:
        main(["analyze", str(run), "--no-plots", "--force"])
    assert refused.value.code == 2 and f"{run / 'report-2.md'} was not written by recdoc" in capsys.readouterr().err
    assert (run / "report-2.md").read_text() == "my notes" and not (run / "report-3.md").exists()


def test_version_and_grouped_help(capsys: pytest.CaptureFixture[str]) -> None:
    from recdoc.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0 and capsys.readouterr().out.strip() == "recdoc 0.1.0"
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for panel in ("Data and run folder", "Model", "Optimisation", "Schedule and evaluation"):
        assert panel in out
    assert "ComiRec-DR" in out and "GRU4REC" in out  # the choices are in the help, not only in an error


def test_the_cli_choices_are_the_owners_values() -> None:
    """--help lists the choices from enums; they must not drift from the lists the code checks against. (Model
    types, NDCG kinds and strategies are built from their owners' lists; these three are spelled out in the CLI
    to keep its import light, so they are checked here.)"""
    from recdoc.cli import Level, Source, Split
    from recdoc.config import EVAL_SPLITS
    from recdoc.reports.console import LEVELS
    from recdoc.trainer.data.prepare import SOURCES

    assert tuple(s.value for s in Source) == SOURCES
    assert tuple(s.value for s in Split) == EVAL_SPLITS
    assert tuple(level.value for level in Level) == LEVELS


@pytest.mark.parametrize("spelling", [["--no_plots", "--fail_on", "high"], ["--no-plots", "--fail-on", "high"]])
def test_either_spelling_of_an_option_works(spelling: list[str], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Options are declared snake_case (the original's style); the kebab-case spelling of any option works too."""
    from recdoc.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["analyze", str(TEST79), "--out", str(tmp_path), *spelling])
    assert stopped.value.code == 1, capsys.readouterr().err  # lr-model-mismatch is high: fails at --fail-on high
    assert sorted(p.suffix for p in tmp_path.iterdir() if not p.name.startswith(".")) == [".json", ".md"]
    with pytest.raises(SystemExit):
        main(["analyze", "-h"])
    shown = capsys.readouterr().out
    assert "--no_plots" in shown and "--fail_on" in shown and "<bool>" not in shown.split("--force")[0]
