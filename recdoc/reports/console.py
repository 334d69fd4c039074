"""The terminal summary of `recdoc analyze`: verdict, top findings, metric gaps, where the report is.

Styled with rich on a terminal; plain lines otherwise (pipes, CI logs, tests), so that nothing depends on colour.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from recdoc.diagnose.findings import Comparison, Diagnosis
from recdoc.reports.facts import headline_comparison, metric_label, percent, points, signed_percent, verdict_sentence

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
    return [c for c in diagnosis.comparisons if c.split == split]


def _comparison_line(c: Comparison) -> str:
    paper = percent(c.paper_value) + ("" if c.paper_confirmed or c.paper_value is None else "*")
    flag = "" if c.comparable else "  [not comparable]"
    return (f"{c.split} {metric_label(c.metric, c.cutoff)}: {percent(c.run_value)} vs {paper}, "
            f"{points(c.abs_gap)} ({signed_percent(c.rel_gap)}){flag}")


def summary_lines(diagnosis: Diagnosis, written: list[Path]) -> list[str]:
    """The summary as plain lines."""
    lines = [verdict_sentence(diagnosis)]
    if diagnosis.findings:
        lines.append("Findings:")
        for finding in diagnosis.findings[:TOP_FINDINGS]:
            lines.append(f"  {finding.id} [{finding.severity}, confidence {finding.confidence:.2f}]: {finding.title}")
        if len(diagnosis.findings) > TOP_FINDINGS:
            lines.append(f"  ... and {len(diagnosis.findings) - TOP_FINDINGS} more in the report")
    rows = summary_comparisons(diagnosis)
    if rows:
        lines.append("Against the paper (* unconfirmed paper value):")
        lines += [f"  {_comparison_line(c)}" for c in rows]
    if written:
        lines.append("Written: " + ", ".join(str(p) for p in written))
    return lines


def print_summary(diagnosis: Diagnosis, written: list[Path], stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    if not stream.isatty():
        stream.write("\n".join(summary_lines(diagnosis, written)) + "\n")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=stream, highlight=False)
    console.print(Text(verdict_sentence(diagnosis), style=VERDICT_STYLE.get(diagnosis.verdict, "bold")))
    for finding in diagnosis.findings[:TOP_FINDINGS]:
        line = Text("  ")
        line.append(finding.id, style=f"bold {SEVERITY_STYLE.get(finding.severity, '')}")
        line.append(f" [{finding.severity}, confidence {finding.confidence:.2f}] ", style="dim")
        line.append(finding.title)
        console.print(line)
    if len(diagnosis.findings) > TOP_FINDINGS:
        console.print(f"  ... and {len(diagnosis.findings) - TOP_FINDINGS} more in the report", style="dim")
    rows = summary_comparisons(diagnosis)
    if rows:
        table = Table(title="Against the paper", title_justify="left", box=None, pad_edge=False)
        for column in ("metric", "run", "paper", "gap", "rel", "comparable"):
            table.add_column(column, justify="left" if column in ("metric", "comparable") else "right")
        for c in rows:
            paper = percent(c.paper_value) + ("" if c.paper_confirmed or c.paper_value is None else "*")
            table.add_row(f"{c.split} {metric_label(c.metric, c.cutoff)}", percent(c.run_value), paper,
                          points(c.abs_gap), signed_percent(c.rel_gap),
                          "yes" if c.comparable else Text("no", style="bold red"))
        console.print(table)
    if written:
        console.print(Text("Report: " + str(written[0]), style="bold"))
        if len(written) > 1:
            console.print(Text("Also: " + ", ".join(str(p) for p in written[1:]), style="dim"))
