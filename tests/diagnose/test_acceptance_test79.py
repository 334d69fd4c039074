"""Acceptance: `recdoc analyze` on the reconstructed incident run (fixtures/runs/test79) gets right what the
incident write-up got wrong (reference section 9), through the real command line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.paths import REPO, TEST79
from support.schema_check import validate


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("test79-report")
    result = subprocess.run([sys.executable, "-m", "recdoc", "analyze", str(TEST79), "--out", str(out)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    return result, out


@pytest.fixture(scope="module")
def report(analysis: tuple[subprocess.CompletedProcess[str], Path]) -> str:
    result, out = analysis
    assert (out / "report.md").exists(), result.stderr
    return (out / "report.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def document(analysis: tuple[subprocess.CompletedProcess[str], Path]) -> dict:
    result, out = analysis
    assert (out / "diagnosis.json").exists(), result.stderr
    return json.loads((out / "diagnosis.json").read_text(encoding="utf-8"))


def section(report: str, title: str) -> str:
    return report.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_exits_1_with_findings(analysis: tuple[subprocess.CompletedProcess[str], Path], document: dict) -> None:
    result, _ = analysis
    assert result.returncode == 1, result.stderr
    assert document["verdict"] == "findings"
    assert "Traceback" not in result.stderr


def test_names_the_learning_rate_for_dr(report: str, document: dict) -> None:
    assert "lr-model-mismatch" in [f["id"] for f in document["findings"]]
    assert "`lr-model-mismatch`" in section(report, "Findings")


def test_ndcg_gap_is_not_comparable_because_of_the_definition(report: str, document: dict) -> None:
    ndcg = [c for c in document["comparisons"] if c["metric"] == "ndcg" and c["cutoff"] == 50]
    assert ndcg and not any(c["comparable"] for c in ndcg)
    ids = {f["id"] for f in document["findings"]} | {n["id"] for n in document["not_causes"]}
    assert "ndcg-definition" in ids or any("ndcg-definition" in c["note"] for c in ndcg)
    rows = [line for line in section(report, "Metrics against the paper").splitlines() if line.startswith("| NDCG@50")]
    assert rows and all("**no**" in row for row in rows)
    assert "ndcg-definition" in report


def test_ckpt_130_is_130_improvements_and_best_iteration_233000(report: str) -> None:
    facts = section(report, "The run")
    assert "130 improvements" in facts
    assert "Best iteration: 233000" in facts


def test_1280_negatives_are_not_a_finding(report: str, document: dict) -> None:
    for finding in document["findings"]:
        text = json.dumps(finding)
        assert "1280" not in text and "neg_num" not in json.dumps(finding.get("fix") or {}), finding["id"]
    assert "1280" in json.dumps(document["not_causes"])
    assert "1280" in section(report, "Checked and not a cause")
    assert "1280" not in section(report, "Findings")


def test_paper_hit_rate_is_17_58_not_30(report: str, document: dict) -> None:
    rows = [c for c in document["comparisons"] if c["metric"] == "hitrate" and c["cutoff"] == 50]
    assert rows and all(c["paper_value"] == pytest.approx(0.17583) for c in rows)
    table = section(report, "Metrics against the paper")
    assert "17.58%" in table and not re.search(r"\b30(\.0+)?%", table)


def test_plots_are_embedded(report: str, analysis: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, out = analysis
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert sorted(images) == ["report_loss.png", "report_recall.png"]
    assert all((out / image).stat().st_size > 1000 for image in images)


def test_json_validates(document: dict) -> None:
    assert validate(document) == []


def test_dr_below_the_ports_own_dnn_points_at_wiring(tmp_path: Path) -> None:
    baseline = REPO / "fixtures" / "runs" / "test79-dnn"
    result = subprocess.run([sys.executable, "-m", "recdoc", "analyze", str(TEST79), "--baseline", str(baseline),
                             "--out", str(tmp_path), "--no-plots", "--format", "json"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    document = json.loads((tmp_path / "diagnosis.json").read_text(encoding="utf-8"))
    wiring = [f for f in document["findings"] if f["id"] == "wiring-suspect"]
    assert wiring and wiring[0]["fix"]["applicable"] is False
    assert "0.082013" in json.dumps(wiring[0]["evidence"])
    assert validate(document) == []


def test_the_loss_is_wiring_evidence_and_the_report_names_the_decisive_check(report: str, document: dict) -> None:
    """Issue 9.4: the log's loss (7.35 at iter 284000, above ln 1281 = 7.16, where the original's DR at lr 0.001 on
    Book is near 3.5) says the port's model is not the original's; the findings keep the learning rate first."""
    ids = [f["id"] for f in document["findings"]]
    assert ids[0] == "lr-model-mismatch" and {"ndcg-definition", "wiring-suspect"} <= set(ids)
    wiring = next(f for f in document["findings"] if f["id"] == "wiring-suspect")
    assert wiring["fix"]["applicable"] is False and 0.6 <= wiring["confidence"] < 0.9
    chance = next(e for e in wiring["evidence"] if "chance_level" in e["values"])
    assert chance["ref"].endswith("train.log:992") and chance["values"]["chance_level"] == pytest.approx(7.1554, 1e-4)
    assert "ln(1281)" in chance["text"]
    original = next(e for e in wiring["evidence"] if "reference_loss" in e["values"])
    assert original["values"]["loss"] == pytest.approx(7.3458) and 3.4 < original["values"]["reference_loss"] < 3.6
    assert "luqy-dr-book-lr0001" in json.dumps(original)
    findings = section(report, "Findings")
    assert "`wiring-suspect`" in findings and "decisive check" in findings
    assert "recdoc analyze RUN --deep" in findings and "recdoc analyze RUN --baseline DNN_RUN" in findings
    assert "ckpt-130" in findings  # the tensor files the --deep check needs are missing from this folder


def test_the_learning_rate_finding_splits_the_gap(document: dict) -> None:
    """The original itself reaches test recall 6.69% at lr 0.001 (a real log): of the 1.92 points to the paper's
    8.11%, about 1.41 are the learning rate and 0.51 this code's."""
    finding = next(f for f in document["findings"] if f["id"] == "lr-model-mismatch")
    split = next(e for e in finding["evidence"] if "original_at_setting" in e["values"])
    assert split["values"]["original_at_setting"] == pytest.approx(0.066922)
    assert "1.41 points are the setting's" in split["text"] and "0.51 this code's" in split["text"]
    assert finding["confidence"] == pytest.approx(0.85)
