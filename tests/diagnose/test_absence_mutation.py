"""Absence is not evidence (issue 16 item 2): deleting parts of a log may only lower confidence or add a "not read"
note, never raise a fault finding the intact log did not have.

Generated logs (`support.generated_logs`: the original's stdout, an epoch-style script, a framework table) get
every deletion; every real case under ../shared/real-runs (skipped without it) gets the deletions the issue lists.
In-process (`engine.analyze_paths`), no subprocesses.

Two allowances, each a consequence of a documented rule rather than an exception for a case:
- the budget findings (`undertrained`, `early-stop-too-soon`, and `interrupted` on a rising curve) say one thing,
  "trained too short"; which of them is raised follows how the run is known to have stopped, so a deletion that
  hides the stop may turn one into another;
- a code known to print its stop and final lines (`STOP_LINE_FORMATS`) that ends without them did not finish: that
  inference is the interrupted rule's, and it is the one an ending may support (its evidence says so).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from recdoc.diagnose.engine import analyze_all
from recdoc.diagnose.findings import Finding
from support.generated_logs import MUTATIONS, generated_logs
from support.paths import REAL_RUNS
from support.shared_data import needs

FAULTS = frozenset({"divergence", "eval-broken", "interrupted", "impossible-metrics", "oscillation", "wiring-suspect",
                    "undertrained", "early-stop-too-soon", "overfitting"})
BUDGET = frozenset({"undertrained", "early-stop-too-soon", "interrupted"})
# The deletions the issue lists, applied to every corpus case (the generated logs get all of MUTATIONS).
CORPUS_MUTATIONS = ("no-loss", "no-stop-lines", "no-test-block", "no-metric-lines", "no-header", "step-word")


def faults(path: Path) -> dict[str, Finding]:
    out: dict[str, Finding] = {}
    for diagnosis in analyze_all([str(path)]):
        for finding in diagnosis.findings:
            if finding.id in FAULTS and finding.level != "info":
                out.setdefault(finding.id, finding)
    return out


def new_faults(before: dict[str, Finding], after: dict[str, Finding]) -> list[str]:
    """Fault findings after the deletion that the intact log did not have (allowances in the module docstring)."""
    new = []
    for rule_id, finding in after.items():
        if rule_id in before:
            continue
        if rule_id in BUDGET and BUDGET & set(before):
            continue
        if rule_id == "interrupted" and any("ends without the stop or final lines" in e.text
                                            for e in finding.evidence):
            continue
        evidence = "; ".join(f"{e.ref}: {e.text}" for e in finding.evidence[:2])
        new.append(f"{rule_id} ({finding.confidence:.2f}): {finding.title} [{evidence}]")
    return new


def check_mutations(source: Path, mutations: tuple[str, ...], tmp_path: Path) -> list[str]:
    text = source.read_text(encoding="utf-8", errors="replace")
    before = faults(source)
    problems = []
    for name in mutations:
        mutated = MUTATIONS[name](text)
        if mutated == text or not mutated.strip():
            continue
        path = tmp_path / f"{name}.log"
        path.write_text(mutated, encoding="utf-8")
        try:
            after = faults(path)
        except Exception as error:  # noqa: BLE001 (an input error is fine: nothing readable, nothing claimed)
            if type(error).__name__ in ("InputError", "UsageError"):
                continue
            raise
        problems += [f"{source.name}/{name}: {line}" for line in new_faults(before, after)]
    return problems


@pytest.mark.parametrize("log", generated_logs(), ids=lambda log: log.name)
def test_deleting_parts_of_a_generated_log_raises_no_new_fault(log, tmp_path: Path) -> None:
    source = tmp_path / f"{log.name}.log"
    source.write_text(log.text, encoding="utf-8")
    assert check_mutations(source, tuple(MUTATIONS), tmp_path) == []


CASES = sorted(p.parent.name for p in REAL_RUNS.glob("*/train.log")) if REAL_RUNS.exists() else []


@needs(REAL_RUNS)
@pytest.mark.parametrize("case", CASES or ["(no corpus)"])
def test_deleting_parts_of_a_real_log_raises_no_new_fault(case: str, tmp_path: Path) -> None:
    assert check_mutations(REAL_RUNS / case / "train.log", CORPUS_MUTATIONS, tmp_path) == []
