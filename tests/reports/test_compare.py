"""`recdoc compare`: findings cleared/appeared/remained, metrics side by side, PNGs, nothing overwritten."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from recdoc.diagnose.engine import analyze_run
from recdoc.diagnose.findings import Diagnosis, Evidence, Finding, Fix
from recdoc.errors import UsageError
from recdoc.reports.compare import finding_changes, render_comparison, write_comparison
from support.diagnose_factory import healthy_run, incident_run
from support.paths import TEST79

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def oscillation() -> Finding:
    return Finding(id="oscillation", title="valid recall jumps", severity="medium", confidence=0.5,
                   basis="evidence", evidence=(Evidence("jumps"),), fix=Fix({"learning_rate": 0.0025}, "smoother"))


@pytest.fixture(scope="module")
def before_after() -> tuple[Diagnosis, Diagnosis]:
    """A: the incident (lr-model-mismatch, wiring-suspect from its loss, ndcg-definition); B: a healthy DR run given
    ndcg-definition (kept from A) and a new oscillation finding."""
    before = analyze_run(incident_run())
    after = analyze_run(healthy_run())
    kept = before.finding("ndcg-definition")
    assert kept is not None
    return before, dataclasses.replace(after, findings=[oscillation(), kept], verdict="findings")


def test_finding_changes_by_id(before_after: tuple[Diagnosis, Diagnosis]) -> None:
    changes = finding_changes(*before_after)
    assert changes.cleared == ("lr-model-mismatch", "wiring-suspect")
    assert changes.appeared == ("oscillation",)
    assert changes.remained == ("ndcg-definition",)


def test_markdown_sets_metrics_beside_the_paper_with_deltas(before_after: tuple[Diagnosis, Diagnosis]) -> None:
    text = render_comparison(list(before_after))
    assert ("- Cleared: `lr-model-mismatch`, `wiring-suspect`\n- Appeared: `oscillation`\n- Remained: "
            "`ndcg-definition`") in text
    # incident test recall 0.061821, healthy 0.0815, paper DR book R@50 8.106%
    assert "| Recall@50 | 8.11% | 6.18% | 8.15% | +1.97 pts | -1.92 pts | +0.04 pts |" in text
    assert "| learning_rate | 0.001 | 0.005 |" in text
    assert "different NDCG definitions (master, paper)" in text
    assert "| `oscillation` | — | medium (0.50) |" in text


def test_writes_pngs_and_never_overwrites(before_after: tuple[Diagnosis, Diagnosis], tmp_path: Path) -> None:
    first = write_comparison(list(before_after), tmp_path)
    assert [p.name for p in first] == ["compare.md", "compare_recall.png", "compare_loss.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in first[1:])
    assert "![Validation recall by iteration](compare_recall.png)" in first[0].read_text()
    kept = {p: p.read_bytes() for p in first}
    second = write_comparison(list(before_after), tmp_path)
    assert [p.name for p in second] == ["compare-2.md", "compare-2_recall.png", "compare-2_loss.png"]
    assert all(p.read_bytes() == content for p, content in kept.items())
    assert "(compare-2_recall.png)" in second[0].read_text()
    assert not list(tmp_path.glob(".*.tmp"))


def test_one_run_is_a_usage_error(before_after: tuple[Diagnosis, Diagnosis], tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="at least two runs"):
        write_comparison([before_after[0]], tmp_path)


def test_compare_command_does_not_import_tensorflow(tmp_path: Path) -> None:
    import subprocess
    import sys

    fixture = TEST79
    code = ("import sys\nfrom recdoc.cli import app\n"
            f"try:\n    app([\"compare\", {str(fixture)!r}, {str(fixture)!r}, \"--out\", {str(tmp_path)!r}])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'tensorflow' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert f"Comparison: {tmp_path / 'compare.md'}" in result.stdout
    text = (tmp_path / "compare.md").read_text()
    assert ("- Cleared: none\n- Appeared: none\n- Remained: `lr-model-mismatch`, `wiring-suspect`, "
            "`ndcg-definition`") in text
