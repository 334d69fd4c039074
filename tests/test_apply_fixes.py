"""`recdoc rerun --apply-fixes`: the printed plan, the exits without training, and a real (tiny) corrected run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.paths import REPO, TEST79


def recdoc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "recdoc", *args], capture_output=True, text=True, cwd=REPO,
                          check=False)


def test_dry_run_on_the_incident_prints_the_diff_and_both_commands(tmp_path: Path) -> None:
    result = recdoc("rerun", str(TEST79), "--apply-fixes", "--dry-run", "--runs_dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "  learning_rate: 0.001 -> 0.005  (lr-model-mismatch)" in lines
    assert f"New run: {tmp_path / 'book_ComiRec-DR_b128_lr0.005_d64_len20_test79_fix1'}" in lines
    assert ("  recdoc train --dataset book --model_type ComiRec-DR --learning_rate 0.005 --ndcg paper "
            f"--exp test79_fix1 --runs_dir {tmp_path}") in lines
    assert "Corrected command for the tool that made this run (tf2-port):" in lines
    assert "  python src/train.py --dataset book --model_type ComiRec-DR --learning_rate 0.005" in lines
    assert lines[-1] == "Dry run: nothing trained."
    assert list(tmp_path.iterdir()) == []
    assert "tensorflow" not in result.stderr.lower()


def test_missing_data_exits_2_with_one_line_saying_what_to_prepare(tmp_path: Path) -> None:
    result = recdoc("rerun", str(TEST79), "--apply-fixes", "--data_dir", str(tmp_path / "data"),
                    "--runs_dir", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"recdoc: the prepared data is missing: {tmp_path / 'data' / 'book_data'}/ is "
                                    "not on this machine: get the Amazon Books 5-core reviews")
    assert "then run `recdoc data prepare --source amazon" in result.stderr and "synth" not in result.stderr
    assert "python src/train.py" in result.stdout  # the corrected commands come first
    assert not (tmp_path / "runs").exists()


def test_no_applicable_fix_exits_0_without_training(tmp_path: Path) -> None:
    result = recdoc("rerun", str(TEST79), "--apply-fixes", "--skip", "lr-model-mismatch,ndcg-definition",
                    "--runs_dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "  not applied: lr-model-mismatch (left out by --skip)" in result.stdout.splitlines()
    assert result.stdout.splitlines()[-1].startswith("No applicable fix")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    ((), "rerun needs --apply-fixes"),
    (("--apply-fixes", "--resume-best"), "--resume-best continues a recdoc run"),
    (("--apply-fixes", "--finetune_lr", "0.001"), "--finetune_lr needs --resume-best"),
    (("--apply-fixes", "--only", "no-such-rule"), "no finding no-such-rule in this diagnosis"),
])
def test_flag_mistakes_are_one_line_usage_errors(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    result = recdoc("rerun", str(TEST79), *args, "--runs_dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("recdoc: ") and message in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- real training on tiny synthetic data
@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A recdoc run with one fault the doctor flags on any dataset: neg_num 2 instead of 10."""
    from recdoc.config import RunConfig
    from recdoc.trainer.data.synth import synthesize
    from recdoc.trainer.loop import train

    base = tmp_path_factory.mktemp("rerun")
    synthesize("syn", items=1000, users=600, interests=4, seed=3, data_dir=str(base / "data"))
    config = RunConfig.for_dataset("syn", model_type="ComiRec-DR", learning_rate=0.005, batch_size=64, maxlen=20,
                                   test_iter=25, max_iter=1, patience=1, neg_num=2, exp="t",
                                   data_dir=str(base / "data"), runs_dir=str(base / "runs"))
    return train(config), base


@pytest.mark.slow
def test_rerun_trains_the_corrected_run_and_writes_report_and_comparison(faulty_run: tuple[Path, Path]) -> None:
    from recdoc.apply_fixes import rerun

    old, base = faulty_run
    said: list[str] = []
    outcome = rerun([str(old)], only=["neg-samples"], max_iter=1, echo=said.append)
    assert outcome.exit_code == 0 and outcome.new_run is not None
    assert "  neg_num: 2 -> 10  (neg-samples)" in said
    assert outcome.new_run == base / "runs" / "syn_ComiRec-DR_b64_lr0.005_d64_len20_t_fix1"
    stored = json.loads((outcome.new_run / "run.json").read_text())["config"]
    assert stored["neg_num"] == 10 and stored["patience"] == 1 and stored["data_dir"] == str(base / "data")
    assert outcome.report == outcome.new_run / "report.md" and outcome.report.is_file()
    assert outcome.comparison == outcome.new_run / "compare.md"
    text = outcome.comparison.read_text()
    assert "`neg-samples`" in text.split("- Cleared:")[1].splitlines()[0]
    assert (outcome.new_run / "compare_recall.png").is_file() and (outcome.new_run / "compare_loss.png").is_file()
    assert f"Comparison: {outcome.comparison}" in said


@pytest.mark.slow
def test_resume_best_continues_from_the_old_best_checkpoint(faulty_run: tuple[Path, Path]) -> None:
    from recdoc.apply_fixes import rerun

    old, base = faulty_run
    old_record = json.loads((old / "run.json").read_text())
    outcome = rerun([str(old)], only=["neg-samples"], resume_best=True, finetune_lr=0.001, max_iter=1,
                    echo=lambda line: None)
    assert outcome.new_run is not None and outcome.new_run.name.endswith("_t_fix2")  # fix1 is taken
    record = json.loads((outcome.new_run / "run.json").read_text())
    assert record["initialized_from"].endswith(f"ckpt/best/ckpt-{old_record['best_iter']}")
    assert record["config"]["finetune_lr"] == 0.001 and record["config"]["neg_num"] == 10
    log = (outcome.new_run / "train.log").read_text().splitlines()
    assert log[0].endswith(f"at iteration {old_record['best_iter']}") and log[0].startswith("training resumed from")
    first_iter = next(line for line in log if line.startswith("iter: "))
    assert first_iter.startswith(f"iter: {old_record['best_iter'] + 25},")


def test_report_command_is_the_dry_run_command_with_the_run_folders_shell_quoted(tmp_path: Path) -> None:
    """Pasting report.md's command must train where the run read and wrote, even with spaces in the paths."""
    from recdoc.config import RunConfig
    from support.builders import write_run_folder

    data_dir, runs_dir = tmp_path / "my data", tmp_path / "my runs"
    config = RunConfig.for_dataset("book", neg_num=2, exp="run1", data_dir=str(data_dir), runs_dir=str(runs_dir))
    folder = write_run_folder(config, [0.01 * i for i in range(1, 21)])
    analyzed = recdoc("analyze", str(folder), "--no-plots", "--out", str(tmp_path / "out"))
    assert analyzed.returncode in (0, 1), analyzed.stderr
    report = (tmp_path / "out" / "report.md").read_text()
    block = report.split("With recdoc:")[1].split("```bash\n")[1].split("\n```")[0]
    assert f"--data_dir '{data_dir}'" in block and f"--runs_dir '{runs_dir}'" in block
    # The data is not on this machine: the command says what it needs first (never synthetic data under its name).
    command, needs = block.split("\n")
    assert needs.startswith("# needs first: ") and "recdoc data prepare --source amazon" in needs
    dry = recdoc("rerun", str(folder), "--apply-fixes", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"  {command}" in dry.stdout.splitlines() and f"  {needs}" in dry.stdout.splitlines()
