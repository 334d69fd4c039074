"""A trial that `recdoc tune`'s pruner stopped is read as such: a known stop reason with a note, never an unknown
value, and never a fault of the run."""

from __future__ import annotations

from pathlib import Path

from recdoc.diagnose.engine import analyze_paths
from support.builders import synthetic_config, write_run_folder


def test_a_pruned_trial_is_a_search_decision(tmp_path: Path) -> None:
    config = synthetic_config(tmp_path / "data", tmp_path / "runs", test_iter=100, max_iter=1, patience=5)
    folder = write_run_folder(config, [0.01, 0.02, 0.025], stop_reason="pruned")
    diagnosis = analyze_paths([str(folder)])
    assert diagnosis.run.stop_reason == "pruned"
    assert not any("unknown stop_reason" in note for note in diagnosis.run.unreadable)
    assert any("pruner" in event.text for event in diagnosis.run.events_of("info"))
    faults = {"interrupted", "divergence", "eval-broken", "early-stop-too-soon"}
    assert not faults & {finding.id for finding in diagnosis.findings}
