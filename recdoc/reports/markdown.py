"""report.md: the doctor's written diagnosis, verdict first, every claim with its evidence (`file:line`)."""

from __future__ import annotations

from typing import Any

from recdoc.diagnose.config_inference import MAX_ITER_UNIT
from recdoc.diagnose.findings import Comparison, Diagnosis, Evidence, Finding, NotACause, Setting
from recdoc.diagnose.fixes import split_code_edits
from recdoc.diagnose.observed_run import CheckpointInfo
from recdoc.reports.facts import (
    RunFacts,
    checkpoint_meaning,
    gap_phrase,
    headline_comparison,
    metric_label,
    percent,
    placement_groups,
    placement_sentence,
    points,
    run_facts,
    signed_percent,
    verdict_sentence,
)
from recdoc.thresholds import Confidence, Thresholds

TOOL_NAMES = {"recdoc": "recdoc", "original": "the original (its TF2 and PyTorch ports take the same flags)"}
BASIS_TEXT = {
    "prior": "a prior (published advice or reproductions), not this run's own curve",
    "evidence": "this run's own evidence",
    "both": "a prior confirmed by this run's own evidence",
}


def render_markdown(diagnosis: Diagnosis, images: dict[str, str] | None = None) -> str:
    """The full report. `images` maps a plot's caption to its path relative to the report."""
    facts = run_facts(diagnosis)
    parts: list[str] = [_title(diagnosis), _verdict(diagnosis), _metrics(diagnosis), _findings(diagnosis),
                        _not_causes(diagnosis), _config(diagnosis.config), _run(diagnosis, facts),
                        _coverage(diagnosis), _plots(images), _rerun(diagnosis.rerun), _notes(diagnosis)]
    return "\n\n".join(p.rstrip() for p in parts if p) + "\n"


def _title(diagnosis: Diagnosis) -> str:
    exp = diagnosis.run.exp_name.value if diagnosis.run.exp_name else None
    subject = f"`{exp}`" if exp else ", ".join(f"`{p}`" for p in diagnosis.run.paths[:3]) or "a run"
    return f"# recdoc diagnosis of {subject}"


def _verdict(diagnosis: Diagnosis) -> str:
    return f"## Verdict\n\n**{_escape(verdict_sentence(diagnosis))}.**"


def _metrics(diagnosis: Diagnosis) -> str:
    lines = ["## Metrics against the paper", ""]
    if not diagnosis.comparisons:
        lines.append("No metric could be compared with the paper (no dataset/model pair the paper reports, or no "
                     "final metrics in the run).")
        return "\n".join(lines)
    placements = placement_groups(diagnosis)
    if placements:
        lines += _placement_lines(diagnosis, placements)
        if all(c.model_unknown for c in diagnosis.comparisons):
            return "\n".join(lines)
        lines.append("")
    if all(c.paper_value is None for c in diagnosis.comparisons):
        # Data or a model the paper never reported: one sentence says why, not a table of n/a.
        reasons = list(dict.fromkeys(c.note for c in diagnosis.comparisons if c.note))
        lines.append("Nothing here can be compared with the paper: " + "; ".join(reasons[:2]) + ".")
        return "\n".join(lines)
    lines += _comparison_table(diagnosis)
    headline = headline_comparison(diagnosis)
    if headline is not None:
        lines += ["", f"Headline gap: {_escape(gap_phrase(headline))}, {points(headline.abs_gap)} absolute."]
    return "\n".join(lines)


def _placement_lines(diagnosis: Diagnosis, placements: list[list[Comparison]]) -> list[str]:
    """A run whose model is not stated, placed among the paper's models on its data, one sentence a metric."""
    dataset = diagnosis.config["paper_dataset"].value if "paper_dataset" in diagnosis.config else \
        diagnosis.config["dataset"].value if "dataset" in diagnosis.config else None
    return ["The run's model is not stated, so its numbers are placed among the paper's models on the data (every "
            "model's row is in diagnosis.json `comparisons`, marked `model_unknown`); no row's gap is this run's "
            "gap.", "", *(f"- {_escape(placement_sentence(rows, dataset))}." for rows in placements)]


def _comparison_table(diagnosis: Diagnosis) -> list[str]:
    """The run's own rows against the paper's, with the footnote for paper values not confirmed."""
    lines = ["| Metric | Split | Run | Paper | Gap (abs) | Gap (rel) | Comparable | Note |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [_comparison_row(c) for c in diagnosis.comparisons if not c.model_unknown]
    if any(c.paper_value is not None and not c.paper_confirmed for c in diagnosis.comparisons):
        lines += ["", "\\* paper value recalled from the paper but not confirmed by a second source; check the paper "
                  "before relying on it."]
    return lines


def _comparison_row(c: Comparison) -> str:
    paper = percent(c.paper_value)
    if c.paper_value is not None and not c.paper_confirmed:
        paper += " *"
    comparable = "n/a" if c.paper_value is None else "yes" if c.comparable else "**no**"
    note = c.note
    if c.ndcg_definition and c.ndcg_definition not in note:
        note = f"run's NDCG: {c.ndcg_definition}. {note}".strip()
    return (f"| {metric_label(c.metric, c.cutoff)} | {c.split} | {percent(c.run_value)} | {paper} | "
            f"{points(c.abs_gap)} | {signed_percent(c.rel_gap)} | {comparable} | {_cell(note)} |")


def _findings(diagnosis: Diagnosis) -> str:
    lines = ["## Findings", ""]
    if not diagnosis.findings:
        lines.append("None: no rule found a cause of a shortfall in this run.")
        return "\n".join(lines)
    lines.append("Ranked, most important first: by severity × confidence, except that a finding comes before those "
                 "it explains, a budget finding after every setting fix (fix the setting before training longer), "
                 "and a comparability finding after the causes.")
    for rank, finding in enumerate(diagnosis.findings, start=1):
        lines += ["", *_finding(rank, finding)]
    return "\n".join(lines)


def _finding(rank: int, finding: Finding) -> list[str]:
    lines = [f"### {rank}. `{finding.id}`: {_escape(finding.title)}", "",
             f"- Severity: **{finding.severity}**; confidence: **{finding.confidence:.2f}** "
             f"({finding.confidence_label}); basis: {finding.basis} ({BASIS_TEXT.get(finding.basis, finding.basis)})"]
    if finding.explanation:
        lines.append(f"- Why it matters: {_escape(finding.explanation)}")
    if finding.evidence:
        lines.append("- Evidence:")
        lines += [f"  - {_evidence(e)}" for e in finding.evidence]
    fix = finding.fix
    if fix is None:
        lines.append("- Fix: none proposed.")
    elif fix.applicable and fix.changes:
        # One unit for iterations wherever a number is shown: the original's max_iter counts thousands.
        changes = ", ".join(f"`{key} = {_value(value)}`" + (f" ({MAX_ITER_UNIT})" if key == "max_iter" else "")
                            for key, value in fix.changes.items())
        lines.append(f"- Fix: set {changes}. Expected effect: {_escape(fix.expected_effect)}")
        if fix.how:
            lines.append(f"  - How: {_escape(fix.how)}")
    elif fix.applicable and fix.how:
        # Something to do that is not a setting (resume the run, train to completion).
        lines.append(f"- Fix: {_escape(fix.how)}. Expected effect: {_escape(fix.expected_effect)}")
    else:
        lines.append(f"- Fix: no configuration change repairs this. What to check: {_escape(fix.how or 'see above')}")
        if fix.expected_effect:
            lines.append(f"  - Expected effect once repaired: {_escape(fix.expected_effect)}")
    return lines


def _evidence(evidence: Evidence) -> str:
    where = f"`{evidence.ref}`: " if evidence.ref else ""
    # A value the sentence already states ("learning_rate = 0.001 (exp name)") is not repeated after it.
    pairs = [f"{k} = {_value(v)}" for k, v in evidence.values.items()]
    values = ", ".join(pair for pair in pairs if pair not in evidence.text)
    return f"{where}{_escape(evidence.text)}" + (f" ({values})" if values else "")


def _not_causes(diagnosis: Diagnosis) -> str:
    lines = ["## Checked and not a cause", ""]
    if not diagnosis.not_causes:
        lines.append("Nothing was ruled out explicitly.")
        return "\n".join(lines)
    for item in diagnosis.not_causes:
        lines += _not_cause(item)
    return "\n".join(lines)


def _not_cause(item: NotACause) -> list[str]:
    lines = [f"- `{item.id}`: {_escape(item.title)}. Why not a cause: {_escape(item.reason)}"]
    lines += [f"  - {_evidence(e)}" for e in item.evidence]
    return lines


def _config(config: dict[str, Setting]) -> str:
    lines = ["## Inferred configuration", ""]
    if not config:
        lines.append("No configuration could be inferred.")
        return "\n".join(lines)
    # Most settings of a run come from one file (run.json, the log's argv line): name it once above the table
    # rather than in every row; the Where column then shows only the refs that differ from it.
    refs = [str(s.ref) for s in config.values() if s.ref]
    common = max(set(refs), key=refs.count) if refs else None
    if common is not None and refs.count(common) < 2:
        common = None
    if common is not None:
        lines += [f"Read from `{common}` unless the Where column says otherwise.", ""]
    lines += ["| Setting | Value | Source | Where | Conflicts |", "|---|---|---|---|---|"]
    for key, setting in config.items():
        conflicts = "; ".join(f"{_value(v)} ({s})" for v, s in setting.conflicts)
        where = f"`{setting.ref}`" if setting.ref and str(setting.ref) != common else ""
        lines.append(f"| {key} | {_cell(_value(setting.value))} | {_cell(setting.source)} | {where} | "
                     f"{_cell(conflicts) or ''} |")
    if any(s.conflicts for s in config.values()):
        lines += ["", "A value with conflicts was taken from the first source listed; the others disagree with it."]
    return "\n".join(lines)


def _run(diagnosis: Diagnosis, facts: RunFacts) -> str:
    run = diagnosis.run
    lines = ["## The run", ""]
    lines.append(f"- Format: {run.format}; files read: " + (", ".join(f"`{p}`" for p in run.paths) or "none"))
    if run.exp_name:
        lines.append(f"- Experiment name: `{run.exp_name.value}` (`{run.exp_name.ref}`)")
    if facts.evaluations:
        span = f" (iterations {facts.first_iter} to {facts.last_iter})" if facts.first_iter is not None else ""
        lines.append(f"- Evaluations: {facts.evaluations}{span}")
        lines.append(f"- Improvements of the validation recall (saves of a new best model): {facts.improvements}")
    else:
        lines.append("- Evaluations: none with a validation recall")
    if facts.best_iter is not None:
        where = f" (`{facts.best_ref}`)" if facts.best_ref else ""
        best = f"{facts.best_recall:.6f}" if facts.best_recall is not None else "n/a"
        lines.append(f"- Best iteration: {facts.best_iter}, valid recall {best}{where}")
    stop = facts.stop_reason.replace("_", " ")
    at = f" at iteration {facts.last_iter}" if facts.last_iter is not None else ""
    lines.append(f"- Stop: {stop}{at}" + (f" (`{facts.stop_ref}`)" if facts.stop_ref else ""))
    for split in ("valid", "test"):
        final = run.finals.get(split)
        if final is not None:
            names = [name for name in ("recall", "ndcg", "hitrate", "diversity") if getattr(final, name) is not None]
            values = ", ".join(f"{name} {getattr(final, name):.6f}" for name in names)
            lines.append(f"- Final {split} (best model restored): {values} (`{final.ref}`)")
    stated: set[str] = set()
    for checkpoint in run.checkpoints:
        meaning = checkpoint_meaning(diagnosis, checkpoint.path)
        lines += _checkpoint(checkpoint, facts, meaning)
        stated.add(meaning or "")
    engine_facts = [f for f in diagnosis.metrics.get("facts") or [] if f not in stated]
    if engine_facts:
        lines.append("- Established from the above:")
        lines += [f"  - {_escape(fact)}" for fact in engine_facts]
    return "\n".join(lines)


def _checkpoint(checkpoint: CheckpointInfo, facts: RunFacts, meaning: str | None) -> list[str]:
    name = checkpoint.latest or "no checkpoint named"
    lines = [f"- Checkpoint `{checkpoint.path}` ({checkpoint.kind}): latest `{name}` (`{checkpoint.ref}`)"]
    if meaning is None:
        from recdoc.diagnose.readers.checkpoint import number_meaning

        meaning = number_meaning(checkpoint, facts.improvements or None, facts.best_iter)
    if meaning:
        lines.append(f"  - {_escape(meaning)}")
    if not checkpoint.files_ok and not checkpoint.problems:
        lines.append("  - The index/data files the `checkpoint` file names are absent: tensors cannot be inspected.")
    lines += [f"  - {_escape(problem)}" for problem in checkpoint.problems]
    return lines


def _plots(images: dict[str, str] | None) -> str:
    if not images:
        return ""
    lines = ["## Plots", ""]
    for caption, path in images.items():
        lines += [f"![{caption}]({path})", ""]
    return "\n".join(lines)


def _rerun(rerun: dict[str, str]) -> str:
    if not rerun:
        return ""

    lines = ["## Rerun", "", "The run with the proposed fixes applied:"]
    for tool, text in rerun.items():
        command, edits = split_code_edits(text)
        lines += ["", f"With {TOOL_NAMES.get(tool, tool)}:", "", "```bash", command, "```"]
        if edits:
            lines += ["", "Code edits it needs first (no command-line flag in the original):", ""]
            lines += [f"- {_escape(edit)}" for edit in edits]
    return "\n".join(lines)


def _coverage(diagnosis: Diagnosis) -> str:
    """What the readers understood: N of M lines with numbers used, and the first metric-like lines not understood."""
    coverage = diagnosis.run.coverage
    if coverage.lines_with_numbers == 0 and not coverage.unread_metric_count:
        return ""  # not measured (a reader that does not count lines, or an input without any)
    share = coverage.fraction_used
    lines = ["## Read coverage", "",
             f"{coverage.lines_used} of {coverage.lines_with_numbers} lines with numbers were used"
             + (f" ({share:.0%})." if share is not None else ".")]
    if share is not None and coverage.lines_with_numbers >= Thresholds.LOW_COVERAGE_MIN_LINES \
            and share < Thresholds.LOW_COVERAGE:
        lines[-1] += (f" That is below {Thresholds.LOW_COVERAGE:.0%}: most of what the run printed was not "
                      f"understood, so fault findings are capped at confidence {Confidence.LOW_COVERAGE_CAP}.")
    if coverage.unread_metric_count:
        lines += ["", f"{coverage.unread_metric_count} line(s) with metric-like names were not understood"
                      + (f"; the first {len(coverage.unread_metric_lines)}:" if coverage.unread_metric_lines else
                         "."), ""]
        lines += [f"- `{ref}`: `{_cell(text).replace(chr(96), chr(39))[:160]}`" for ref, text in coverage.unread_metric_lines]
    return "\n".join(lines)


def _notes(diagnosis: Diagnosis) -> str:
    # The engine already copies the run's unreadable parts into its notes; a hand-built diagnosis may not have.
    notes = list(diagnosis.notes) + [f"Unreadable: {u}" for u in diagnosis.run.unreadable if u not in diagnosis.notes]
    # A checkpoint's problems are stated under the checkpoint in "The run"; they are not repeated here.
    stated = {problem for checkpoint in diagnosis.run.checkpoints for problem in checkpoint.problems}
    notes = [note for note in notes if note not in stated]
    notes.append("recdoc reads logs and checkpoint metadata; a finding's confidence is its judgement, not a "
                 "measurement. Rerun with the fix to confirm it.")
    return "\n".join(["## Notes and limits", ""] + [f"- {_escape(n)}" for n in notes])


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(v) for v in value)
    return str(value)


def _cell(text: str) -> str:
    return _escape(text).replace("|", "\\|").replace("\n", " ")


def _escape(text: str) -> str:
    # Log text such as '<path>' would be swallowed as an HTML tag by Markdown renderers.
    return str(text).replace("<", "&lt;").replace(">", "&gt;")
