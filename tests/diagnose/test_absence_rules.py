"""The absence rules on generated logs (issue 16 item 2): what a log does not show is never a fault."""

from __future__ import annotations

from pathlib import Path

from recdoc.diagnose.engine import analyze_paths
from support.generated_logs import epoch_log, original_log, plateau, rising


def diagnose(tmp_path: Path, text: str):
    path = tmp_path / "train.log"
    path.write_text(text, encoding="utf-8")
    return analyze_paths([str(path)])


def ids(diagnosis) -> set[str]:
    return {f.id for f in diagnosis.findings if f.level != "info"}


def test_a_normal_early_stop_by_an_unknown_code_is_not_interrupted_or_undertrained(tmp_path: Path) -> None:
    # The best 16 evaluations before the end (that code's patience), then its own test block.
    curve = rising(24) + [0.075 - 0.0004 * i for i in range(16)]
    diagnosis = diagnose(tmp_path, epoch_log(curve))
    assert diagnosis.run.format not in ("original", "tf2-port", "pytorch-port", "recdoc")
    assert ids(diagnosis).isdisjoint({"interrupted", "undertrained", "eval-broken", "divergence"})


def test_an_unknown_code_at_its_cap_still_rising_is_undertrained(tmp_path: Path) -> None:
    # A fixed loop (a notebook's 20k iterations) rising at every evaluation to the last: undertrained, whatever
    # the format.
    diagnosis = diagnose(tmp_path, epoch_log(rising(25), with_test=False))
    assert "undertrained" in ids(diagnosis) and "interrupted" not in ids(diagnosis)


def test_step_lines_without_a_loss_are_not_a_divergence(tmp_path: Path) -> None:
    text = epoch_log(plateau(30, rise=10))
    text = "\n".join(line.split(": loss =")[0] + ":" if line.startswith("epoch:") else line
                     for line in text.splitlines()) + "\n"
    diagnosis = diagnose(tmp_path, text)
    assert "divergence" not in ids(diagnosis)


def test_an_original_log_without_its_loss_values_is_not_a_divergence(tmp_path: Path) -> None:
    import re

    text = re.sub(r"train loss: [0-9.]+, ", "", original_log(plateau(60, rise=20), ending="max_iter"))
    diagnosis = diagnose(tmp_path, text)
    assert "divergence" not in ids(diagnosis) and "interrupted" not in ids(diagnosis)
    assert any("not read" in note for note in diagnosis.notes)
