"""The doctor on real third-party runs (../shared/real-runs), judged by the labels a careful expert wrote.

The logs are read where they are (never copied into the project); without ../shared this test skips. The whole
corpus runs through `recdoc analyze` as a user runs it, via bench/real_runs.py, whose judging rules are those of
../shared/tools/score_cases.py.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from support.paths import BENCH as BENCH_DIR
from support.paths import REAL_RUNS
from support.shared_data import needs

BENCH = BENCH_DIR / "real_runs.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("real_runs_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


CASES = sorted(p.stem for p in (REAL_RUNS / "labels").glob("*.json")) if REAL_RUNS.exists() else []


@needs(REAL_RUNS / "labels")
@pytest.mark.parametrize("case", CASES)
def test_real_run_is_diagnosed_as_an_expert_would(case: str, tmp_path: Path) -> None:
    bench = load_bench()
    label = json.loads((REAL_RUNS / "labels" / f"{case}.json").read_text(encoding="utf-8"))
    result = bench.run_case(case, label, REAL_RUNS, tmp_path)
    assert result.ok, f"{case}: {result.reasons} (findings {result.findings})"


def test_the_judge_applies_each_rule() -> None:
    bench = load_bench()
    diagnosis = {"findings": [{"id": "divergence", "severity": "high", "confidence": 0.85},
                              {"id": "interrupted", "severity": "medium", "confidence": 0.95}],
                 "comparisons": [{"metric": "recall", "cutoff": 50, "split": "test", "comparable": True,
                                  "paper_value": 0.08106}]}
    assert bench.judge({"top": ["divergence"], "must": ["divergence"]}, diagnosis, "", "", 1) == []
    assert bench.judge({"top": ["interrupted"]}, diagnosis, "", "", 1) == ["top ['divergence'] not in ['interrupted']"]
    assert bench.judge({"allowed": ["divergence"]}, diagnosis, "", "", 1) == ["not allowed ['interrupted']"]
    assert bench.judge({"min_conf": {"divergence": 0.9}}, diagnosis, "", "", 1) == ["divergence confidence 0.85 < 0.9"]
    assert bench.judge({"compare": [{"metric": "recall", "cutoff": 50, "comparable": True, "paper": 0.0811}]},
                       diagnosis, "", "", 1) == []
    assert bench.judge({"none_comparable": True}, diagnosis, "", "", 1) != []
    assert bench.judge({"mentions": ["(?i)relu"]}, diagnosis, "no such word", "", 1) == ["report never says /(?i)relu/"]
    assert bench.judge({}, diagnosis, "", "Traceback (most recent call last)", 1) == ["traceback"]
