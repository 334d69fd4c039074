"""The terminal summary of `recdoc analyze`: verdict, top findings, metric gaps, where the report is; and the
`--fail-on` threshold that turns findings into an exit code.

One list of lines, styled with rich on a terminal and plain otherwise (pipes, CI logs, tests), so that nothing
depends on colour and the two never drift apart.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from recdoc.diagnose.findings import LEVELS, Comparison, Diagnosis, Finding
from recdoc.reports.facts import (
    headline_comparison,
    metric_label,
    percent,
    placement_groups,
    placement_sentence,
    points,
    signed_percent,
    verdict_sentence,
)

TOP_FINDINGS = 5
VERDICT_STYLE = {"healthy": "bold green", "findings": "bold yellow", "unusable": "bold red"}
SEVERITY_STYLE = {"high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def summary_comparisons(diagnosis: Diagnosis) -> list[Comparison]:
    """The rows worth a terminal line: one split (the headline's, test first); the report has the rest."""
    if not diagnosis.comparisons:
        return []
    headline = headline_comparison(diagnosis)
    splits = [c.split for c in diagnosis.comparisons]
    split = headline.split if headline else ("test" if "test" in splits else splits[0])
    # Rows placing a run of unstated model among the paper's models get one line per metric (placement_lines).
    return [c for c in diagnosis.comparisons if c.split == split and not c.model_unknown]


def placement_lines(diagnosis: Diagnosis) -> list[str]:
    """One line per metric placing a run of unstated model among the paper's models (one split, test first)."""
    groups = placement_groups(diagnosis)
    splits = [rows[0].split for rows in groups]
    split = "test" if "test" in splits else splits[0] if splits else None
    dataset = next((diagnosis.config[k].value for k in ("paper_dataset", "dataset") if k in diagnosis.config), None)
    return [placement_sentence(rows, dataset) for rows in groups if rows[0].split == split]


def _comparison_line(c: Comparison) -> str:
    paper = percent(c.paper_value) + ("" if c.paper_confirmed or c.paper_value is None else "*")
    flag = "" if c.comparable else "  [not comparable]"
    return (f"{c.split} {metric_label(c.metric, c.cutoff)}: {percent(c.run_value)} vs {paper}, "
            f"{points(c.abs_gap)} ({signed_percent(c.rel_gap)}){flag}")


# `--fail-on`: the exit code is 1 only for a finding at or above this level, as linters do.
DEFAULT_FAIL_ON = "medium"


def finding_level(finding: Finding) -> str:
    """A finding's level (`Finding.level`): reported always, failing `analyze && ...` only at `--fail-on` or above."""
    return finding.level


def failing(findings: Sequence[Finding], fail_on: str) -> list[Finding]:
    """The findings at or above `fail_on` (one of LEVELS)."""
    return [f for f in findings if LEVELS.index(finding_level(f)) >= LEVELS.index(fail_on)]


def analyze_exit_code(diagnosis: Diagnosis, fail_on: str) -> int:
    """0 healthy or nothing at `fail_on`, 1 a finding at or above it, 2 unusable input."""
    if diagnosis.verdict == "unusable":
        return 2
    return 1 if failing(diagnosis.findings, fail_on) else 0


def below_threshold_line(findings: Sequence[Finding], fail_on: str) -> str | None:
    """Which findings do not count for the exit code, and why; None when every finding counts."""
    below = [f for f in findings if f not in failing(findings, fail_on)]
    if not below:
        return None
    named = ", ".join(f"{f.id} ({finding_level(f)})" for f in below)
    return f"Below --fail-on {fail_on} (reported, not failing the exit code): {named}"


def summary_lines(diagnosis: Diagnosis, written: list[Path],
                  fail_on: str = DEFAULT_FAIL_ON) -> list[tuple[str, str]]:
    """The summary as (text, rich style) lines: written plain to a pipe, styled on a terminal."""
    lines = [(verdict_sentence(diagnosis), VERDICT_STYLE.get(diagnosis.verdict, "bold"))]
    if diagnosis.findings:
        lines.append(("Findings:", ""))
        for finding in diagnosis.findings[:TOP_FINDINGS]:
            lines.append((f"  {finding.id} [{finding.severity}, confidence {finding.confidence:.2f}]: "
                          f"{finding.title}", SEVERITY_STYLE.get(finding.severity, "")))
        if len(diagnosis.findings) > TOP_FINDINGS:
            lines.append((f"  ... and {len(diagnosis.findings) - TOP_FINDINGS} more in the report", "dim"))
        below = below_threshold_line(diagnosis.findings, fail_on)
        if below is not None and diagnosis.verdict != "unusable":
            lines.append((below, "dim"))
    rows = summary_comparisons(diagnosis)
    placements = placement_lines(diagnosis)
    if placements:
        lines.append(("Against the paper (the run's model is not stated: placed among the paper's models):", "bold"))
        lines += [(f"  {text}", "") for text in placements]
    if rows and all(c.paper_value is None for c in rows):
        # Data or a model the paper never reported: one line says why, not a column of n/a.
        lines.append((f"Against the paper: nothing comparable ({rows[0].note})", "dim"))
    elif rows:
        lines.append(("Against the paper (* unconfirmed paper value):", "bold"))
        lines += [(f"  {_comparison_line(c)}", "" if c.comparable else "red") for c in rows]
    coverage = diagnosis.run.coverage
    if coverage.unread_metric_count:
        lines.append((f"Read: {coverage.lines_used} of {coverage.lines_with_numbers} lines with numbers used; "
                       f"{coverage.unread_metric_count} line(s) with metric-like names not understood (first at "
                       f"{coverage.unread_metric_lines[0][0] if coverage.unread_metric_lines else '?'}; see the "
                       "report's Read coverage)", "dim"))
    if written:
        lines.append(("Written: " + ", ".join(str(p) for p in written), "bold"))
    return lines


def print_summary(diagnosis: Diagnosis, written: list[Path], stream: TextIO | None = None,
                  fail_on: str = DEFAULT_FAIL_ON) -> None:
    """One summary, styled with rich on a terminal and plain elsewhere (the same lines either way)."""
    stream = stream or sys.stdout
    lines = summary_lines(diagnosis, written, fail_on)
    if not stream.isatty():
        stream.write("\n".join(text for text, _ in lines) + "\n")
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(file=stream, highlight=False, soft_wrap=True)
    for text, style in lines:
        console.print(Text(text, style=style))
