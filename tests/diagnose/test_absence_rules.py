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


FAULTS = {"divergence", "eval-broken", "interrupted", "impossible-metrics", "oscillation", "wiring-suspect",
          "undertrained", "early-stop-too-soon", "overfitting"}


def test_damage_is_not_a_fault_nul_bytes(tmp_path: Path) -> None:
    # 50 lines overwritten with NUL bytes in a sound log (issue 17 item 4): less is read, nothing is broken.
    sound = original_log(plateau(120, rise=30), ending="early_stop")
    before = ids(diagnose(tmp_path, sound)) & FAULTS
    lines = sound.splitlines(keepends=True)
    damaged = "".join("\0" * len(line.rstrip("\n")) + "\n" if 30 <= i < 80 else line for i, line in enumerate(lines))
    assert ids(diagnose(tmp_path, damaged)) & FAULTS <= before


def test_damage_is_not_a_fault_truncated_event_file(tmp_path: Path) -> None:
    from support.tensorboard import event, file_version_event, simple_value, write_events

    folder = tmp_path / "run"
    folder.mkdir()
    events = [file_version_event()] + [event(i * 100, [simple_value("train/loss", 8 - i * 0.1)]
                                             + ([simple_value("valid/recall@50", 0.01 * i)] if i % 3 == 0 else []))
                                       for i in range(1, 30)]
    path = write_events(folder / "events.out.tfevents.1.host", events)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 5 + 7])
    diagnosis = analyze_paths([str(folder)])
    assert not ids(diagnosis) & FAULTS
    assert any("truncated" in note for note in diagnosis.notes)
