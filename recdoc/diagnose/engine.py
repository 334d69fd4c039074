"""The doctor's pipeline: read -> infer the configuration -> compare with the paper -> apply the rules -> diagnose.

`analyze_paths` is what the CLI calls; `analyze_run` is the pure part (a `Run` in, a `Diagnosis` out).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from recdoc import reference
from recdoc.config import RunConfig
from recdoc.diagnose.config_inference import infer_config
from recdoc.diagnose.curve import CurveSummary, best_row, summarize
from recdoc.diagnose.findings import LEVELS, Diagnosis, Finding, NotACause, Setting, Verdict
from recdoc.diagnose.fixes import (
    compose,
    disagreement_notes,
    proposed_exp,
    run_folders,
    source_tool_of,
    taken_run_names,
)
from recdoc.diagnose.observed_run import FinalMetrics, Run
from recdoc.diagnose.paper_comparison import compare_with_paper
from recdoc.diagnose.readers.checkpoint import number_meaning
from recdoc.diagnose.readers.detect import read_paths, read_runs
from recdoc.diagnose.rules import RULE_CLASSES, all_rules
from recdoc.diagnose.rules.base import BaselineRun, RuleContext, printed_nonfinite, trend_window
from recdoc.errors import InputError, UsageError
from recdoc.instruments.probe.measure import probe_for_doctor
from recdoc.numbers import finite_number
from recdoc.thresholds import Confidence, Thresholds

# Findings about how long training ran. A run with a setting that deviates from the reference is also short of
# where it would converge; lengthening it first would spend the longer run on the wrong setting, so these rank
# below every settings finding above info (`rank_findings`).
BUDGET_FINDINGS = frozenset({"undertrained", "early-stop-too-soon"})
SETTING_FINDINGS = frozenset(rule.id for rule in RULE_CLASSES if rule.family == "settings")

def analyze_paths(paths: list[str], overrides: dict[str, str] | None = None, deep: bool = False,
                  baselines: list[str] | None = None, data_dir: str | None = None) -> Diagnosis:
    """Read the run at `paths` (and each baseline run) and diagnose it; the last run when `paths` hold several."""
    return analyze_all(paths, overrides, deep, baselines, data_dir)[-1]


def analyze_all(paths: list[str], overrides: dict[str, str] | None = None, deep: bool = False,
                baselines: list[str] | None = None, data_dir: str | None = None) -> list[Diagnosis]:
    """One diagnosis per run found at `paths` (a file or folder may hold several), oldest first.

    Runs that repeat one configuration (the same code, data and settings) are diagnosed together, on the mean of
    their final metrics, with their spread (`metrics.repeats`): a repeat is a sample of the same experiment, not a
    different run.
    """
    runs = read_runs(list(paths), deep=deep)
    if deep:
        from recdoc.diagnose.deep_checks import attach_checkpoint_checks

        for run in runs:
            attach_interest_probe(run)
            attach_checkpoint_checks(run, list(paths), data_dir)
    baseline_runs = [_read_baseline(path, deep) for path in baselines or []]
    diagnoses: list[Diagnosis] = []
    proposed: list[str] = []  # new run names already proposed in this analysis: each run gets its own
    for group in group_repeats(runs, overrides or {}):
        run = combine_repeats(group) if len(group) > 1 else group[0]
        taken = taken_run_names(run_folders(run).get("runs_dir", RunConfig().runs_dir)) + proposed
        diagnosis = analyze_run(run, overrides or {}, baseline_runs, taken_names=taken)
        name = proposed_exp(diagnosis.rerun.get("recdoc", ""))
        if name is not None:
            proposed.append(name)
        diagnoses.append(diagnosis)
    return diagnoses


# Settings that make two runs the same experiment when equal (a seed or an exp name's free part may differ).
REPEAT_KEYS = ("dataset", "model_type", "learning_rate", "batch_size", "topN", "num_interest", "embedding_dim",
               "maxlen", "neg_num", "patience", "max_iter")


def group_repeats(runs: list[Run], overrides: dict[str, str]) -> list[list[Run]]:
    """Consecutive groups of runs with the same format and the same stated settings."""
    groups: list[list[Run]] = []
    signatures: list[tuple] = []
    for run in runs:
        config = infer_config(run, overrides)
        signature = (run.format, tuple(None if k not in config or config[k].is_default else config[k].value
                                       for k in REPEAT_KEYS))
        if groups and signatures[-1] == signature and _repeatable(run) and _repeatable(groups[-1][0]):
            groups[-1].append(run)
        else:
            groups.append([run])
            signatures.append(signature)
    return groups


def _repeatable(run: Run) -> bool:
    """Only finished runs with final metrics are repeats whose numbers can be pooled."""
    return bool(run.finals)


def combine_repeats(runs: list[Run]) -> Run:
    """One Run standing for several repeats: the first run's facts, the mean of their final metrics, and the spread
    of each final metric in `extra_metrics["repeats"]`."""
    import statistics

    base = runs[0]
    combined = Run(format=base.format, paths=list(dict.fromkeys(p for r in runs for p in r.paths)),
                   exp_name=base.exp_name, argv=base.argv, declared=dict(base.declared), curve=base.curve,
                   checkpoints=list(base.checkpoints), events=list(base.events), stop_reason=base.stop_reason,
                   stop_ref=base.stop_ref, extra_metrics=dict(base.extra_metrics),
                   unreadable=list(dict.fromkeys(n for r in runs for n in r.unreadable)))
    combined.extra_metrics.pop("segment", None)
    spread: dict[str, Any] = {"count": len(runs), "splits": {}}
    for split in ("valid", "test"):
        finals = [r.finals[split] for r in runs if split in r.finals]
        if len(finals) != len(runs):
            continue
        means: dict[str, float | None] = {}
        for metric in ("recall", "ndcg", "hitrate", "diversity"):
            values = [getattr(f, metric) for f in finals if getattr(f, metric) is not None]
            if len(values) != len(finals):
                means[metric] = None
                continue
            means[metric] = statistics.fmean(values)
            spread["splits"].setdefault(split, {})[metric] = {
                "values": values, "mean": means[metric], "min": min(values), "max": max(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0}
        first = finals[0]
        combined.finals[split] = FinalMetrics(split=first.split, recall=means["recall"], ndcg=means["ndcg"],
                                              hitrate=means["hitrate"], diversity=means["diversity"], ref=first.ref,
                                              text=f"mean of {len(finals)} repeated runs", cutoff=first.cutoff)
    spread["refs"] = [str(r.finals["test"].ref if "test" in r.finals else r.paths[0]) for r in runs]
    combined.extra_metrics["repeats"] = spread
    return combined


def attach_interest_probe(run: Run) -> None:
    """--deep on a recdoc run folder: its interest probe (rules/interests.py) into `run.extra_metrics["probe"]`.

    The folder's latest probe*.json when there is one, else a probe computed now: the instruments' probe restores the
    best checkpoint, which imports TensorFlow, as --deep's tensor reading already does (never without --deep).
    """
    from pathlib import Path

    folders = [Path(p).parent for p in run.paths if Path(p).name == "run.json"]
    model_type = run.declared.get("model_type")
    if not folders or "probe" in run.extra_metrics or (
            model_type is not None and not reference.is_multi_interest(model_type.value)):
        return

    try:
        probe, source = probe_for_doctor(folders[0])
    except Exception as error:  # noqa: BLE001 (a probe that cannot run must not cost the user the diagnosis)
        first_line = (str(error).splitlines() or [type(error).__name__])[0][:200]
        run.unreadable.append(f"{folders[0]}: interest probe not run ({first_line})")
        return
    run.extra_metrics["probe"] = probe
    run.extra_metrics["probe_ref"] = str(source) if source is not None else f"{folders[0]} (probed by --deep)"


def analyze_run(run: Run, overrides: dict[str, str] | None = None,
                baseline_runs: list[Run] | None = None, taken_names: Collection[str] = ()) -> Diagnosis:
    """Diagnose one run already read; pure (no file access). `taken_names`: run names the rerun command must
    avoid (the folders under its runs folder, and names proposed for other runs of the same analysis)."""
    config = infer_config(run, overrides or {})
    notes = list(run.unreadable) + [problem for checkpoint in run.checkpoints for problem in checkpoint.problems
                                    if problem not in run.unreadable] + _assumption_notes(config)
    summary = summarize(run.curve, trend_window(config), evaluation_users(run, config))
    comparisons = compare_with_paper(run, config)
    metrics = summarize_metrics(run, config, summary)
    usable = summary.has_evaluations or any(_final_has_values(f) for f in run.finals.values())
    if not usable:
        notes.append("no evaluation metrics could be read: the run cannot be judged against the paper")
    baselines = [_baseline(b) for b in baseline_runs or []]
    context = RuleContext(run=run, config=config, comparisons=comparisons, summary=summary, baselines=baselines)
    if isinstance(metrics.get("stop"), dict) and context.stop_reason != run.stop_reason:
        # The stop the evidence supports (a `nan` stop without a printed nan/inf is a loss not read; an unknown
        # code's end without a stop line is an unknown stop), as the rules judge it.
        metrics["stop"]["reason"] = context.stop_reason
    findings: list[Finding] = []
    not_causes: list[NotACause] = []
    for rule in all_rules():
        try:
            outcome = rule.check(context)
        except (ArithmeticError, KeyError, LookupError, TypeError, ValueError) as error:
            # One rule meeting input it cannot read must not cost the user the whole diagnosis.
            notes.append(f"rule {rule.id} could not run: {type(error).__name__}: {error}")
            continue
        if isinstance(outcome, Finding):
            findings.append(outcome)
        elif isinstance(outcome, NotACause):
            not_causes.append(outcome)
    notes.extend(not_read_notes(run, findings))
    findings = cap_on_low_coverage(run, findings, notes)
    findings = rank_findings(findings)
    verdict: Verdict = ("unusable" if not usable else
                        "findings" if any(f.severity != "info" for f in findings) else "healthy")
    rerun = rerun_commands(run, config, findings, notes, taken_names) if usable else {}
    return Diagnosis(verdict, run, config, metrics, comparisons, findings, not_causes, rerun, notes)


def not_read_notes(run: Run, findings: list[Finding]) -> list[str]:
    """What was not read, said as such: absence is not evidence, so it lowers what can be judged, never raises a
    fault (cells of the curve never read, a reader's nan event on a line that prints no nan/inf)."""
    notes: list[str] = []
    found = {f.id for f in findings}
    if run.has_curve:
        curve = run.curve
        no_loss = int(curve["train_loss"].isna().sum())
        if no_loss and "divergence" not in found:
            notes.append(f"the training loss was not read at {no_loss} of {len(curve)} step(s): not read, not a "
                         "non-finite loss; nothing is judged from it")
        no_metrics = int(curve["recall"].isna().sum())
        if no_metrics and "eval-broken" not in found and not run.extra_metrics.get("training_prints_skipped"):
            first = curve[curve["recall"].isna()].iloc[0]
            where = f" (first at iter {int(first['iter'])})" if first["iter"] == first["iter"] else ""
            notes.append(f"no validation metrics were read at {no_metrics} of {len(curve)} step(s){where}: not "
                         "read, which is not evidence that evaluation failed")
    unprinted = [e for e in run.events_of("nan") if not printed_nonfinite(e.text)]
    if unprinted:
        notes.append(f"{unprinted[0].ref}: a value the reader took for a non-finite loss prints no nan/inf (a value "
                     "not read): not judged as a divergence")
    return notes


# Findings that say something is broken or went wrong in the run (not a setting, not comparability).
FAULT_FINDINGS = frozenset({"divergence", "eval-broken", "interrupted", "impossible-metrics", "oscillation",
                            "wiring-suspect", "undertrained", "early-stop-too-soon", "overfitting"})


def cap_on_low_coverage(run: Run, findings: list[Finding], notes: list[str]) -> list[Finding]:
    """With most of the input's numbered lines not understood (`Thresholds.LOW_COVERAGE`), fault findings'
    confidence is capped at `Confidence.LOW_COVERAGE_CAP`, and a note says why."""
    from dataclasses import replace

    coverage = run.coverage
    share = coverage.fraction_used
    if share is None or coverage.lines_with_numbers < Thresholds.LOW_COVERAGE_MIN_LINES \
            or share >= Thresholds.LOW_COVERAGE:
        return findings
    capped = [f.id for f in findings if f.id in FAULT_FINDINGS and f.confidence > Confidence.LOW_COVERAGE_CAP]
    if capped:
        notes.append(f"only {coverage.lines_used} of {coverage.lines_with_numbers} lines with numbers were used "
                     f"({share:.0%}, below {Thresholds.LOW_COVERAGE:.0%}): the confidence of "
                     f"{', '.join(capped)} is capped at {Confidence.LOW_COVERAGE_CAP}, since what was not read may "
                     "contradict it")
    return [replace(f, confidence=min(f.confidence, Confidence.LOW_COVERAGE_CAP)) if f.id in capped else f
            for f in findings]


def rank_findings(findings: list[Finding]) -> list[Finding]:
    """By level (`Finding.level`: the lower of severity and confidence), then severity x confidence, with three
    orderings a reader relies on between findings of the same level:
    - a finding that explains others outranks them (divergence explains an interruption, a curve that still rose
      or oscillated: `Rule.explains`);
    - a budget finding ranks below every settings finding above info, however weak (lengthen a run after fixing
      its settings: a longer run at a wrong setting spends the budget on the wrong model);
    - a comparability finding (the run's number is not the paper's kind of number) ranks below every cause of a
      shortfall above info: it explains an apparent gap, it is not a fault to fix first.
    """

    def score(finding: Finding) -> float:
        return Thresholds.SEVERITY_WEIGHT[finding.severity] * finding.confidence

    explains = {rule.id: rule.explains for rule in RULE_CLASSES}
    families = {rule.id: rule.family for rule in RULE_CLASSES}
    deviations = [score(f) for f in findings if f.id in SETTING_FINDINGS and f.severity != "info"]
    causes = [score(f) for f in findings if families.get(f.id) != "comparability" and f.severity != "info"]
    floor = min(deviations) if deviations else None
    cause_floor = min(causes) if causes else None
    ceilings: dict[str, float] = {}
    level_ceilings: dict[str, int] = {}
    for finding in findings:
        for explained in explains.get(finding.id, ()):
            ceilings[explained] = min(ceilings.get(explained, math.inf), score(finding))
            level_ceilings[explained] = min(level_ceilings.get(explained, len(LEVELS)), LEVELS.index(finding.level))

    def key(finding: Finding) -> tuple[int, float, int]:
        effective = score(finding)
        budget = finding.id in BUDGET_FINDINGS
        if budget and floor is not None:
            effective = min(effective, floor)
        if families.get(finding.id) == "comparability" and cause_floor is not None:
            effective = min(effective, cause_floor)
        if finding.id in ceilings:
            effective = min(effective, ceilings[finding.id])
        tie = 0 if budget or finding.id in ceilings or families.get(finding.id) == "comparability" else 1
        # The headline is the strongest finding the evidence supports: by level first (a low-level prior never
        # heads a medium finding); the orderings above apply between findings of the same level. An explaining
        # finding keeps its place above what it explains (its own level bounds theirs).
        level = LEVELS.index(finding.level)
        if finding.id in level_ceilings:
            level = min(level, level_ceilings[finding.id])
        return level, effective, tie  # at equal scores the explaining finding or the deviation comes first

    return sorted(findings, key=key, reverse=True)


def _read_baseline(path: str, deep: bool) -> Run:
    try:
        return read_paths([path], deep=deep)
    except InputError as error:  # say which argument it was: the run itself was readable
        raise InputError(error.message, f"--baseline {error.path}" if error.path else "--baseline",
                         error.line) from None


def _final_has_values(final: Any) -> bool:
    return any(v is not None for v in (final.recall, final.ndcg, final.hitrate))


def _baseline(run: Run) -> BaselineRun:
    config = infer_config(run, {})
    return BaselineRun(run=run, config=config,
                       summary=summarize(run.curve, trend_window(config), evaluation_users(run, config)))


def evaluation_users(run: Run, config: dict[str, Setting]) -> int | None:
    """How many users each periodic evaluation averages over, where known: recdoc's validation subset
    (`eval_users`), else the validation split's users (split files read), else a count the run declares."""
    candidates: list[Any] = []
    if "eval_users" in config and not config["eval_users"].is_default:
        candidates.append(config["eval_users"].value)
    facts = run.extra_metrics.get("split_facts")
    if isinstance(facts, dict):
        candidates.append(facts.get("valid_users"))
    for key in ("eval_users", "valid_users"):
        fact = run.declared.get(key)
        if fact is not None:
            candidates.append(fact.value)
    for value in candidates:
        try:
            count = int(value)
        except (TypeError, ValueError):
            continue
        if count > 0:
            return count
    return None


def _assumption_notes(config: dict[str, Setting]) -> list[str]:
    notes: list[str] = []
    if "dataset" not in config:
        notes.append("the dataset is not stated anywhere; set it with --set dataset=NAME")
    assumed = [f"{k}={s.value} ({s.source})" for k, s in config.items()
               if s.is_default and k in {"learning_rate", "patience", "topN", "batch_size", "test_iter", "neg_num",
                                         "num_interest", "maxlen"}]
    if assumed:
        notes.append("assumed from defaults (not stated by the run): " + ", ".join(assumed))
    for key, setting in config.items():
        if setting.source.startswith("inferred"):
            notes.append(f"{key} = {setting.value} is inferred, not stated: {setting.source}")
        if setting.conflicts:
            others = ", ".join(f"{v} ({s})" for v, s in setting.conflicts)
            notes.append(f"sources disagree on {key}: used {setting.value} ({setting.source}); also seen {others}")
    return notes


def summarize_metrics(run: Run, config: dict[str, Setting], summary: CurveSummary) -> dict[str, Any]:
    """Best valid recall and iteration, evaluation counts, stop, finals, and what the checkpoints mean."""
    out: dict[str, Any] = {"evaluations": summary.evaluations, "improvements": summary.improvements,
                           "evaluations_since_best": summary.evals_since_best,
                           "stop": {"iter": summary.last_iter, "reason": run.stop_reason,
                                    "ref": str(run.stop_ref) if run.stop_ref else None}}
    best = best_row(run.curve) if run.has_curve else None
    if best is not None:
        out["best_valid"] = {"iter": int(best["iter"]), **{m: finite_number(best[m]) for m in ("recall", "ndcg", "hitrate")},
                             "ref": f"{best['file']}:{int(best['line'])}" if isinstance(best["file"], str)
                             and best["line"] == best["line"] else None}
    out["final"] = {split: {"recall": f.recall, "ndcg": f.ndcg, "hitrate": f.hitrate, "diversity": f.diversity,
                            "ref": str(f.ref)} for split, f in run.finals.items()}
    patience, test_iter = _value(config, "patience"), _value(config, "test_iter")
    facts: list[str] = []
    if run.stop_reason == "early_stop" and summary.last_iter and patience is not None and test_iter:
        estimate = summary.last_iter - (patience + 1) * test_iter
        out["last_improvement_estimate"] = estimate
        assumed = [key for key in ("patience", "test_iter") if config[key].is_default and not config[key].known_default]
        facts.append(f"with patience {patience} and test_iter {test_iter} the last improvement was at about "
                     f"{summary.last_iter} - {patience + 1}*{test_iter} = {estimate}" + (
                         f" (assuming the default {' and '.join(assumed)}: the run does not print "
                         f"{'them' if len(assumed) > 1 else 'it'})" if assumed else ""))
    repeats = run.extra_metrics.get("repeats")
    if isinstance(repeats, dict):
        out["repeats"] = repeats
        for split, metrics in repeats.get("splits", {}).items():
            recall = metrics.get("recall")
            if recall:
                facts.append(f"{repeats['count']} repeated runs of one configuration: {split} recall mean "
                             f"{recall['mean']:.6f} (min {recall['min']:.6f}, max {recall['max']:.6f}, "
                             f"sd {recall['std']:.6f}); the comparisons use the mean")
    out["checkpoints"] = []
    for checkpoint in run.checkpoints:
        entry: dict[str, Any] = {"path": checkpoint.path, "kind": checkpoint.kind, "latest": checkpoint.latest,
                                 "save_counter": checkpoint.save_counter, "iteration": checkpoint.iteration,
                                 "files_ok": checkpoint.files_ok}
        meaning = number_meaning(checkpoint, summary.improvements if summary.has_evaluations else None,
                                 summary.best_iter)
        if meaning is not None:
            entry["meaning"] = meaning
            if checkpoint.save_counter is not None:
                facts.insert(0, meaning)
        out["checkpoints"].append(entry)
    out["facts"] = facts
    return out


def _value(config: dict[str, Setting], key: str) -> Any:
    return config[key].value if key in config else None


def rerun_commands(run: Run, config: dict[str, Setting], findings: list[Finding], notes: list[str],
                   taken_names: Collection[str] = ()) -> dict[str, str]:
    """The corrected command for recdoc and for the tool that produced the run, with every applicable fix.

    Composed by `fixes.compose`, the one owner of the rerun command, with the run's own data and runs folders,
    so that report.md shows what `recdoc rerun --dry-run` prints.
    """
    if _value(config, "dataset") is None:
        notes.append("no re-run command: the dataset is unknown")
        return {}
    try:
        plan = compose(config, findings, source_tool_of(run.format), taken_names=taken_names, **run_folders(run))
    except (UsageError, TypeError, ValueError) as error:  # settings RunConfig refuses: keep the diagnosis
        notes.append(f"no re-run command: {error}")
        return {}
    notes.extend(disagreement_notes(plan))
    if not plan.has_fix:  # the command would train the same run again; `recdoc rerun` refuses it too
        notes.append("no re-run command: no finding proposes a setting to change")
        return {}
    out = {"recdoc": plan.recdoc_command}
    if plan.tool_command is not None:
        out["original"] = plan.tool_command
    return out
