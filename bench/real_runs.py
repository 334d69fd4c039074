"""Score `recdoc analyze` on real third-party runs against what a careful expert concludes of each.

    python bench/real_runs.py                       # ../shared/real-runs with its labels
    python bench/real_runs.py --cases DIR [--labels DIR] [--keep DIR] [--json]

Each label file (`labels/<case>.json`) names the input paths (relative to the cases folder), extra `analyze`
arguments and what the diagnosis must show, in the schema of `../shared/tools/score_cases.py` (must, must_not,
any_of, top, capped, min_conf, allowed, verdict, compare, no_cutoff, none_comparable, mentions, readable); this
script applies the same rules. `recdoc analyze` runs as a user runs it (a subprocess of this interpreter's
`python -m recdoc`), one case at a time. Prints one line per case, then `N/M cases right`; exits 0 when every case
is right. The cases are read where they are, never copied.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CASES = ROOT.parent / "shared" / "real-runs"
CONFIDENCE_LEVELS = {"low": 0.3, "medium": 0.6, "high": 0.9}


@dataclass
class CaseResult:
    name: str
    ok: bool
    findings: list[str]
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False


def _confidence(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else CONFIDENCE_LEVELS.get(str(value).lower(), 1.0)


def judge(label: dict[str, Any], diagnosis: dict[str, Any], report: str, output: str, exit_code: int) -> list[str]:
    """Why a diagnosis does not meet its label (empty: it does). The rules of score_cases.py, one by one."""
    found = diagnosis.get("findings", [])
    why = _run_problems(label, diagnosis, output, exit_code)
    why += _named_problems(label, found)
    why += _confidence_problems(label, found)
    why += _ranking_problems(label, found)
    if label.get("verdict") and diagnosis.get("verdict") != label["verdict"]:
        why.append(f"verdict {diagnosis.get('verdict')}")
    why += _comparison_problems(label, diagnosis.get("comparisons", []))
    why += [f"report never says /{pattern}/" for pattern in label.get("mentions", []) if not re.search(pattern, report)]
    return why


def _run_problems(label: dict[str, Any], diagnosis: dict[str, Any], output: str, exit_code: int) -> list[str]:
    """The command itself failing: a traceback, a readable input refused, no diagnosis written."""
    why: list[str] = []
    if "Traceback" in output:
        why.append("traceback")
    if label.get("readable", True) and exit_code == 2:
        why.append("unreadable (exit 2): " + (output.strip().splitlines() or [""])[-1][:120])
    if not diagnosis and not why:
        why.append(f"no diagnosis.json (exit {exit_code})")
    return why


def _named_problems(label: dict[str, Any], found: list[dict[str, Any]]) -> list[str]:
    """Findings the label wants missing, or ones it rules out present."""
    ids = [f.get("id") for f in found]
    why = [f"missing {m}" for m in label.get("must", []) if m not in ids]
    why += [f"false {m}" for m in label.get("must_not", []) if m in ids]
    why += [f"none of {group}" for group in label.get("any_of", []) if not set(group) & set(ids)]
    return why


def _ranking_problems(label: dict[str, Any], found: list[dict[str, Any]]) -> list[str]:
    """Findings above info the label does not allow, or a top finding it does not want."""
    ids = [f.get("id") for f in found]
    why: list[str] = []
    if "allowed" in label:
        extra = [f.get("id") for f in found if f.get("severity") != "info" and f.get("id") not in label["allowed"]]
        if extra:
            why.append(f"not allowed {extra}")
    if label.get("top") and (not ids or ids[0] not in label["top"]):
        why.append(f"top {ids[:1]} not in {label['top']}")
    return why


def _confidence_problems(label: dict[str, Any], found: list[dict[str, Any]]) -> list[str]:
    """Findings surer than their cap, or less sure than their floor."""
    why: list[str] = []
    for rule, cap in label.get("capped", {}).items():
        why += [f"{rule} confidence {f.get('confidence')} > {cap}" for f in found
                if f.get("id") == rule and _confidence(f.get("confidence", 1)) > cap]
    for rule, low in label.get("min_conf", {}).items():
        why += [f"{rule} confidence {f.get('confidence')} < {low}" for f in found
                if f.get("id") == rule and _confidence(f.get("confidence", 0)) < low]
    return why


def _comparison_problems(label: dict[str, Any], comparisons: list[dict[str, Any]]) -> list[str]:
    """Comparisons with the paper missing, marked comparable on data the paper never used, or at a cut-off the
    run never evaluated."""
    why = [f"no comparison {wanted}" for wanted in label.get("compare", [])
           if not any(_matches(c, wanted) for c in comparisons)]
    if label.get("none_comparable") and any(c.get("comparable") for c in comparisons):
        why.append("a comparison with the paper is marked comparable on data the paper never used")
    why += [f"labels values @{cutoff}" for cutoff in label.get("no_cutoff", [])
            if any(c.get("cutoff") == cutoff for c in comparisons)]
    return why


def _matches(comparison: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return (comparison.get("metric") == wanted["metric"] and comparison.get("cutoff") == wanted["cutoff"]
            and ("split" not in wanted or comparison.get("split") == wanted["split"])
            and bool(comparison.get("comparable")) == wanted["comparable"]
            and ("paper" not in wanted or (comparison.get("paper_value") is not None
                                           and abs(comparison["paper_value"] / wanted["paper"] - 1) < 0.02)))


def run_case(name: str, label: dict[str, Any], cases: Path, work: Path, ml100k: str = "") -> CaseResult:
    paths = [cases / p for p in label["paths"]]
    if not all(p.exists() for p in paths):
        return CaseResult(name, False, [], ["input missing"], skipped=True)
    out = work / name
    args = [a.replace("{ml100k}", ml100k) for a in label.get("args", [])]
    command = [sys.executable, "-m", "recdoc", "analyze", *map(str, paths), *args, "--out", str(out),
               "--format", "md,json", "--no-plots"]
    started = time.perf_counter()
    try:
        process = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
        output, code = process.stdout + process.stderr, process.returncode
    except subprocess.TimeoutExpired:
        output, code = "timeout", -1
    seconds = time.perf_counter() - started
    try:
        diagnosis = json.loads((out / "diagnosis.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        diagnosis = {}
    try:
        report = (out / "report.md").read_text(encoding="utf-8")
    except OSError:
        report = ""
    why = judge(label, diagnosis, report, output, code)
    ids = [f.get("id") for f in diagnosis.get("findings", [])]
    return CaseResult(name, not why, ids, why, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="folder of cases (default: ../shared/real-runs)")
    parser.add_argument("--labels", type=Path, default=None, help="folder of <case>.json labels (default: CASES/labels)")
    parser.add_argument("--keep", type=Path, default=None, help="write each case's report here (default: a temp dir)")
    parser.add_argument("--ml100k", default="", help="replaces {ml100k} in a label's args")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    options = parser.parse_args(argv)
    labels_dir = options.labels or options.cases / "labels"
    label_files = sorted(labels_dir.glob("*.json"))
    if not label_files:
        print(f"no labels in {labels_dir} (cases: {options.cases})")
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        work = options.keep or Path(scratch)
        results = [run_case(f.stem, json.loads(f.read_text(encoding="utf-8")), options.cases, work, options.ml100k)
                   for f in label_files]
    scored = [r for r in results if not r.skipped]
    for r in results:
        status = "SKIP" if r.skipped else "ok  " if r.ok else "FAIL"
        print(f"{status} {r.name} ({r.seconds:.1f} s): {r.findings[:4]} {'; '.join(r.reasons)}".rstrip())
    right = sum(r.ok for r in scored)
    print(f"{right}/{len(scored)} cases right")
    if options.json:
        print(json.dumps([r.__dict__ for r in results], indent=2))
    return 0 if scored and right == len(scored) else 1


if __name__ == "__main__":
    sys.exit(main())
