"""Rules about faults no hyper-parameter repairs: wrong data, broken evaluation, a mis-wired model."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from recdoc import reference
from recdoc.config import dataset_defaults
from recdoc.diagnose.curve import best_row
from recdoc.diagnose.evaluation_response import FrozenMetrics, LossMovement, Strength, printed_step
from recdoc.diagnose.findings import Evidence, Finding, Fix, NotACause
from recdoc.diagnose.observed_run import Event, Run, SourceRef
from recdoc.diagnose.rules.base import BaselineRun, Rule, RuleContext, clamp, proximity_phrase
from recdoc.diagnose.rules.interests import collapse_outcome, dead_outcome, probe_of
from recdoc.diagnose.rules.loss import LossAssessment, assess_loss, decisive_check
from recdoc.thresholds import Confidence, Thresholds

# Words of a traceback that place the crash in evaluation (faiss index, diversity KeyError #29, --coef TypeError).
EVAL_CRASH_MARKS = ("faiss", "evaluat", "diversity", "gpuindex", "coef", "keyerror: 0", "item_cate")
# Checkpoint --deep facts (CheckpointInfo.tensors) that show interests which carry no signal.
DEAD_INTEREST_KEYS = ("dead_interests", "collapsed_interests")


class DatasetMismatch(Rule):
    """The data is not the dataset the run's name claims (item count or split differ from the original's).

    What it checks:
        For a run on book/taobao: the item count read from a checkpoint or declared by the run against the
        original's constant (book 367983, taobao 1708531); and a validation recall that is identical at every
        evaluation from the first one.

    Why it matters:
        Different preprocessing or another split (issue #34: users/items differ from the paper's table; issue #16:
        a leave-last-out split gave recall stuck at 0.000007) makes the comparison with the paper meaningless, and
        no training setting repairs it.

    Evidence it cites:
        item_count with its source and the reference value; the constant recall and its first line, and whether
        it is near zero (below 1% of the paper's recall), which makes a broken split or evaluation near certain.

    Fix:
        Not a setting: re-prepare the data with the original's rules (recdoc data prepare) and check item_count and
        the user split before training again.
    """

    id = "dataset-mismatch"
    statement = "The data differs from the dataset the run claims (item count or split)."
    family = "integrity"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        evidence: list[Evidence] = []
        confidence = 0.0
        items = ctx.config.get("item_count")
        if ctx.dataset in reference.load()["paper"]["table3"] and items is not None and not items.is_default:
            from recdoc.diagnose.identity import count_match

            expected = dataset_defaults(ctx.dataset)["item_count"]
            # The same rule that identifies the data: a count within a filter's reach of the original's (the items a
            # split-wise print misses) is the original's data, not other data.
            if expected is not None and count_match(items.value, ctx.dataset, "item_count") is False:
                evidence.append(ctx.setting_evidence("item_count"))
                evidence.append(Evidence(f"the original's {ctx.dataset} has item_count {expected}",
                                         values={"reference": expected}))
                confidence = Confidence.ITEM_COUNT_DIFFERS
        name = ctx.value("dataset")
        if name in reference.load()["paper"]["table3"]:
            from recdoc.diagnose.identity import identify_dataset

            # The metrics' magnitude fits another paper dataset and not the named one (identity.py).
            identity = identify_dataset(ctx.run, name, ctx.model_type, ctx.value("topN"),
                                        items.value if items is not None and not items.is_default else None)
            for text, ref in identity.contradictions:
                evidence.append(Evidence(f"the run is named {name!r} but {text}", ref))
                confidence = max(confidence, Confidence.CURVE_SHAPE)
        s = ctx.summary
        if s.constant_recall:
            evidence.append(Evidence(f"valid recall is {s.best_recall} at all {s.evaluations} evaluations from the "
                                     f"first (iter {s.first_iter})", _first_row_ref(ctx),
                                     values={"recall": s.best_recall, "evaluations": s.evaluations}))
            confidence = max(confidence, Confidence.CONSTANT_RECALL)
            line, reference_text = ctx.near_zero_line()
            if (s.best_recall or 0.0) <= line:
                evidence.append(Evidence(f"a recall of {s.best_recall} is below {reference_text}: the evaluation "
                                         "(almost) never hits a target, as with a leave-last-out split (issue #16)",
                                         values={"near_zero_line": line}))
                confidence = max(confidence, Confidence.CONSTANT_NEAR_ZERO)
        if not evidence:
            return None
        return Finding(
            id=self.id, title="the data does not match the original's " + (ctx.dataset or "dataset") + (
                f" (or its split is broken): valid recall stuck at {s.best_recall} from the first evaluation"
                if s.constant_recall else ""),
            severity="high", confidence=confidence, basis="evidence", evidence=tuple(evidence),
            fix=Fix({}, "a run on the same data as the paper", applicable=False,
                    how="re-prepare the data with the original's rules (recdoc data prepare), check item_count and "
                        "that valid/test users never appear in training, then train again"),
            explanation="Numbers on other data or another split cannot be compared with the paper.")


class EvalBroken(Rule):
    """Evaluation did not run, crashed, or measures nothing: iterations without metrics, an evaluation traceback,
    metrics that do not respond to training.

    What it checks:
        Evaluations the code printed and then stopped printing (a trailing run of evaluations without metrics
        after ones with them), the original's `iter:` lines printed without the `valid ...` part in a run that
        then crashed (its faiss GPU index failed: nothing is saved, the restore fails), tracebacks in evaluation
        (e.g. KeyError on item 0 in diversity, issue #29; `--coef` TypeError), and the `Invalid model_type`
        message. Metrics never read (an unknown shape, lines with metric-like names not understood, damage such
        as NUL bytes or a truncated file) are not evidence: they are named in the notes.
        And an evaluation that measures nothing: every printed metric identical, to its last digit, at every
        evaluation shown (at least 2) while the training loss moves, at a level a ranking that learned anything
        does not give (recall at most 1% of the paper's, or 0.001 without a paper number: the targets are
        (almost) never hit); or, at an ordinary level, frozen over at least 5 evaluations whose printed digits
        are fine enough to show a plateau's moves (one digit at most 1% of the value) while the loss changes
        beyond its own noise. A plateau is not this: it follows a climb and still moves in its last digits. A loss
        frozen too is a model that does not train, not an evaluation blind to it; without a loss read, that
        training moved the model is not shown and nothing is claimed.

    Why it matters:
        Without evaluation there is no best model and no metric to compare; the run's numbers, if any, are not the
        original's protocol. An evaluation that does not respond to training measures something other than the
        model: its "best" model is chosen by chance and its numbers say nothing about the run (issue #16: recall,
        NDCG and hit rate all 0.000007 through a run on the poster's own leave-last-out split).

    Evidence it cites:
        The lines with missing metrics or the traceback, counted and located; a traceback counts when its exception
        line or its innermost frames name the evaluation (faiss, diversity, coef, item categories). For frozen
        metrics: the first and last evaluation, the loss's movement (against its own noise where five or more
        evaluations show it), the level against the near-zero line, recall = NDCG = hit rate where all three
        agree, and the final lines that repeat the value. Fewer than five evaluations (an excerpt) cannot tell the
        loss's moves from its noise: weaker evidence than a whole run, and the confidence says so.

    Fix:
        Not a setting: install a working faiss (GPU, or use a CPU index), fix the crash, then evaluate again; for
        frozen metrics, check that the evaluation ranks the trained model's current output over the item table
        and that the valid/test targets are items the model can rank.
    """

    id = "eval-broken"
    statement = "Evaluation did not run, crashed, or measures nothing (metrics that do not respond to training)."
    family = "integrity"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        symptoms = [symptom for symptom in (_stopped_printing_symptom(ctx), *_crash_symptoms(ctx),
                                            _unresponsive_symptom(ctx)) if symptom is not None]
        if not symptoms:
            return None
        titles = list(dict.fromkeys(s.title for s in symptoms))
        only_unresponsive = all(s.kind == "unresponsive" for s in symptoms)
        title = titles[0] if only_unresponsive else "evaluation did not run or crashed: " + "; ".join(titles)
        checks = list(dict.fromkeys(s.check for s in symptoms))
        return Finding(
            id=self.id, title=title, severity="high", confidence=max(s.confidence for s in symptoms),
            basis="evidence", evidence=tuple(e for s in symptoms for e in s.evidence),
            fix=Fix({}, "metrics that move with the model as it trains" if only_unresponsive else
                    "metrics at every evaluation, a saved best model and working early stopping",
                    applicable=False, how="; ".join(checks)),
            explanation=" ".join(dict.fromkeys(s.explanation for s in symptoms)))


@dataclass(frozen=True)
class Symptom:
    """One sign that evaluation failed, as `EvalBroken` reports it: its evidence, a phrase for the title, how sure
    it makes recdoc, what to check, and why it matters."""

    kind: str
    evidence: tuple[Evidence, ...]
    title: str
    confidence: float
    check: str
    explanation: str


_CRASH_CHECK = ("check faiss (the original needs GpuIndexFlatIP; use a CPU index otherwise), the diversity KeyError on "
                "item 0 (#29), a --coef TypeError and the model_type spelling")
_CRASH_EXPLANATION = "Without evaluation the run has no best model and no comparable number."


def _stopped_printing_symptom(ctx: RuleContext) -> Symptom | None:
    missing = _stopped_printing(ctx)
    if missing is None:
        return None
    first, count, total, printed_before = missing
    iteration = int(first["iter"])
    if printed_before:
        evidence = Evidence(f"the last {count} of {total} evaluations printed no metrics (first at iter {iteration}) "
                            f"after {total - count} that did", _row_ref(first), {"missing": count})
        title = f"evaluations stopped printing metrics after iter {iteration - 1}"
    else:
        evidence = Evidence(f"{count} of {total} evaluations have no valid metrics (first at iter {iteration}): the "
                            "code's evaluation line printed without them", _row_ref(first), {"missing": count})
        title = f"{count} of {total} evaluations printed no metrics"
    # Not one evaluation ran: every later symptom (no saved model, a failed restore) follows.
    confidence = Confidence.NO_EVALUATION_AT_ALL if count == total else Confidence.OBSERVED_FAULT
    return Symptom("missing", (evidence,), title, confidence, _CRASH_CHECK, _CRASH_EXPLANATION)


def _crash_symptoms(ctx: RuleContext) -> list[Symptom]:
    """Tracebacks in evaluation (a crash elsewhere, e.g. out of memory, is the interrupted rule's finding) and a
    rejected model_type; `eval_missing` events count only through `_stopped_printing`."""
    out: list[Symptom] = []
    for kind in ("traceback", "invalid_model_type"):
        for event in ctx.run.events_of(kind)[:3]:
            if kind == "traceback" and not _in_evaluation(event):
                continue
            values = {k: v for k, v in event.values.items() if k != "frames"}
            frames = event.values.get("frames") or ()
            text = event.text + (f" (in: {frames[-1]})" if kind == "traceback" and frames else "")
            title = (event.text.strip()[:80] if kind == "traceback" else
                     "the model_type was rejected, so nothing was trained or evaluated")
            out.append(Symptom(kind, (Evidence(text, event.ref, values),), title, Confidence.OBSERVED_FAULT,
                               _CRASH_CHECK, _CRASH_EXPLANATION))
    return out


def _unresponsive_symptom(ctx: RuleContext) -> Symptom | None:
    """Metrics frozen at every evaluation shown while the training loss moves (`EvalBroken`'s last check)."""
    found = ctx.unresponsive
    if found is None:
        return None
    frozen, loss = found.frozen, found.loss
    line, line_text = ctx.near_zero_line()
    confidence = UNRESPONSIVE_CONFIDENCE[found.strength]
    evidence = [Evidence(f"valid {_named_values(frozen.values)} at each of the {frozen.evaluations} evaluations "
                         f"shown (iter {frozen.first_iter} to {frozen.last_iter})", frozen.first,
                         {**frozen.values, "evaluations": frozen.evaluations})]
    if frozen.last != frozen.first:
        evidence.append(Evidence(f"the same at iter {frozen.last_iter}, the last evaluation shown", frozen.last))
    evidence.append(_loss_evidence(loss, frozen))
    if found.near_zero:
        evidence.append(Evidence(f"a recall of {_printed(frozen.level)} is at or below {line_text}: the evaluation "
                                 "(almost) never hits a target", values={"near_zero_line": line}))
    else:
        evidence.append(Evidence(f"one printed digit is at most {Thresholds.FROZEN_PRINT_STEP:.0%} of each value, "
                                 "finer than a plateau's moves between evaluations, yet no digit moved",
                                 values={"print_step_share": Thresholds.FROZEN_PRINT_STEP}))
    if frozen.all_equal:
        evidence.append(Evidence(f"recall = ndcg = hitrate = {_printed(frozen.level)}: all three reduce to the share "
                                 "of users with a hit (one target each, every hit scoring 1), a count, not a "
                                 "ranking's quality"))
    evidence.extend(Evidence(f"the restored best model's {split} recall is the same {_printed(final.recall)}",
                             final.ref) for split, final in ctx.run.finals.items()
                    if final.recall == frozen.values["recall"])
    excerpt = (f" Only {frozen.evaluations} evaluations are shown, too few to tell the loss's moves from its "
               "noise: weaker evidence than a whole run." if loss.beyond_noise is None else "")
    return Symptom(
        "unresponsive", tuple(evidence),
        f"the evaluation measures nothing: valid metrics frozen at {_printed(frozen.level)} over "
        f"{frozen.evaluations} evaluations while the training loss moves", confidence,
        "check that the evaluation ranks the trained model's current output (not a fixed or restored model) over "
        "the item table, and that the valid/test targets are items the model can rank (ids inside the table, a "
        "split like the original's)",
        "Metrics that do not move while the model trains measure something else: the best model is picked by "
        "chance and no number of this run says anything about the model." + excerpt)


# How sure each kind of showing (`evaluation_response.Strength`) makes recdoc that the evaluation measures nothing.
UNRESPONSIVE_CONFIDENCE: dict[Strength, float] = {
    "loss beyond noise": Confidence.UNRESPONSIVE_EVALUATION,
    "loss noise unknown": Confidence.UNRESPONSIVE_EXCERPT,
    # The loss is flat within its noise: training may have stalled, and the near-zero level alone speaks.
    "loss within noise": Confidence.CONSTANT_RECALL,
    "fine digits": Confidence.FROZEN_AT_LEVEL,
}


def _loss_evidence(loss: LossMovement, frozen: FrozenMetrics) -> Evidence:
    text = (f"train loss {_printed(loss.first)} -> {_printed(loss.last)} ({loss.change:+.1%}) over the same "
            f"{loss.count} evaluations")
    if loss.beyond_noise is None:
        text += ": too few evaluations to measure its own noise"
    elif loss.beyond_noise:
        text += (f": a fitted change of {loss.trend:+.1%} of its level, beyond its own noise "
                 f"({loss.noise:.2%} per evaluation)")
    else:
        text += f": within its own noise ({loss.noise:.2%} per evaluation)"
    return Evidence(text, frozen.last, {"loss_first": loss.first, "loss_last": loss.last, "loss_trend": loss.trend})


def _named_values(values: dict[str, float]) -> str:
    return ", ".join(f"{metric} {_printed(value)}" for metric, value in values.items())


def _printed(value: float | None) -> str:
    """The value with the digits it was printed with (as far as the float shows them)."""
    if value is None:
        return "n/a"
    step = printed_step(value)
    decimals = max(0, round(-math.log10(step))) if 0 < step < 1 else 0
    return f"{value:.{decimals}f}"


class WiringSuspect(Rule):
    """The model's wiring is suspect: below a single-interest run, dead interests, or a loss the original never shows.

    What it checks:
        Given a baseline run of a single-interest model (YouTube DNN, GRU4Rec) on the same data: is this
        multi-interest run's recall below it? With --deep, do the checkpoint's variables belong to another
        model family, or does it (or the interest probe, `recdoc probe`) show dead or collapsed interests? And,
        from the log alone, for any paper model whose logged loss is the original's sampled-softmax loss (see
        `loss-level`): does the training loss stay at the chance level ln(neg_num x batch + 1) while valid recall
        rises, or sit far (>= 1.5x) above the original code's loss at the same setting and iteration?

    Why it matters:
        On Book and Taobao the paper ranks ComiRec above YouTube DNN; a port whose DR falls below its own DNN
        usually has a wiring fault (readout fed a dummy target such as item 0, routing softmax over positions,
        full instead of sampled softmax, a learning rate hard-coded in the code), which no hyper-parameter repairs.
        On small dense data (MovieLens) the original itself can rank a single-interest model first, so the
        comparison alone is weak there; checkpoint evidence of dead interests is strong anywhere. The loss is
        evidence too: the same model at the same setting logs the same loss (recdoc's trainer tracks the
        original's within 0.2-1.4%), and a loss at chance with rising recall is not what the original's model
        logs (the incident: 7.35 at iter 284000, above ln 1281 = 7.16, where the original is near 3.5). The loss
        alone is weaker than a checkpoint (confidence at most 0.75), and not every wiring fault shows in it (a
        normal loss clears nothing), so the finding names the check that decides.

    Evidence it cites:
        Both runs' recall with their sources, the data proximity, the checkpoint's interest statistics, the
        probe's interest-collapse / dead-interest outcome (probe.json); the loss against the chance level and
        against the original's loss at equal iterations (file:line, values, the reference's source), and the
        decisive check: `recdoc analyze RUN --deep` with the best checkpoint's tensors (for a recdoc run folder
        also `recdoc probe RUN --data_dir DIR` on its data), or `recdoc analyze RUN --baseline DNN_RUN` with a
        single-interest run of the same code on the same data.

    Fix:
        Not a setting: check the readout receives the true target, the routing softmax is over interests, the
        loss is sampled softmax with the item table, the learning-rate flag is used; compare a forward pass with
        the original's.
    """

    id = "wiring-suspect"
    statement = "The model's wiring is suspect (below a single-interest run, dead interests, or a loss at chance)."
    family = "integrity"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        multi = reference.is_multi_interest(ctx.model_type)
        loss = assess_loss(ctx)
        if not multi and not loss.anomalous:
            return None
        evidence, confidence, cleared = _below_single_interest(ctx) if multi else ([], 0.0, None)
        if cleared is not None and not evidence and not loss.anomalous:
            return cleared
        probe_ref: SourceRef | None = None
        if multi:
            inside, inside_confidence, probe_ref = _inside_the_model(ctx)
            evidence += inside
            confidence = max(confidence, inside_confidence)
        if loss.anomalous:
            loss_confidence = loss.confidence
            if cleared is not None and not evidence:
                # The run's own code's single-interest model is not above it: the loss says one thing, the
                # baseline another; keep the loss's evidence but halve what it is worth.
                loss_confidence *= 0.5
                evidence.append(Evidence("but " + cleared.reason, values={"baseline_clears": True}))
            evidence.extend(loss.evidence)
            confidence = max(confidence, loss_confidence)
        if not evidence:
            return None
        return _wiring_finding(ctx, evidence, confidence, loss, probe_ref)


def _below_single_interest(ctx: RuleContext) -> tuple[list[Evidence], float, NotACause | None]:
    """This multi-interest run against the single-interest baselines on the same data: evidence where it falls
    below one, else a `NotACause` from the first it is not below."""
    evidence: list[Evidence] = []
    confidence = 0.0
    cleared: NotACause | None = None
    own = headline_recall(ctx.run)
    for baseline in ctx.baselines:
        if not _same_data(ctx, baseline) or reference.is_multi_interest(_model(baseline)):
            continue
        theirs = headline_recall(baseline.run)
        if own is None or theirs is None:
            continue
        if own[0] < theirs[0] * (1 - Thresholds.BELOW_SINGLE_INTEREST):
            evidence.append(Evidence(f"{ctx.model_type} {own[1]} recall {own[0]:.6f}", own[2], {"run": own[0]}))
            evidence.append(Evidence(
                f"< {_model(baseline)} {theirs[1]} recall {theirs[0]:.6f} on the same data ({ctx.dataset})",
                theirs[2], {"baseline": theirs[0]}))
            confidence = max(confidence, Confidence.BELOW_SINGLE_INTEREST * ctx.proximity)
        elif cleared is None:
            cleared = NotACause("wiring-suspect", f"{ctx.model_type} vs {_model(baseline)} on the same data",
                                f"the multi-interest run ({own[0]:.6f}) is not below the single-interest run "
                                f"({theirs[0]:.6f})")
    return evidence, confidence, cleared


def _inside_the_model(ctx: RuleContext) -> tuple[list[Evidence], float, SourceRef | None]:
    """What the checkpoints (--deep) and the interest probe show: another model family, dead or collapsed
    interests; with the probe's file."""
    evidence: list[Evidence] = []
    confidence = 0.0
    for checkpoint in ctx.run.checkpoints:
        tensors = checkpoint.tensors or {}
        family = reference.canonical_model_type(tensors.get("family"))
        if family is not None and family != ctx.model_type:
            evidence.append(Evidence(f"the checkpoint's variables are those of {family}, not {ctx.model_type}",
                                     checkpoint.ref, {"checkpoint_family": family}))
            confidence = max(confidence, Confidence.OTHER_FAMILY)
        dead = next((tensors[k] for k in DEAD_INTEREST_KEYS if tensors.get(k)), None)
        if dead:
            evidence.append(Evidence(f"checkpoint shows {dead} dead/collapsed interest(s) of "
                                     f"{tensors.get('K', ctx.value('num_interest'))}", checkpoint.ref,
                                     {"dead_interests": dead}))
            confidence = max(confidence, Confidence.DEAD_INTERESTS)
    probe, probe_ref = probe_of(ctx)
    if probe is not None:
        for outcome in (collapse_outcome(probe, probe_ref), dead_outcome(probe, probe_ref)):
            if isinstance(outcome, Finding) and outcome.severity in ("high", "medium"):
                # The probe looked inside the best checkpoint: interests that collapse or die are what a readout
                # fed a dummy target produces (bench/probe_proof.py), whatever the data.
                evidence.append(Evidence(f"the interest probe: {outcome.title} ({outcome.id})", probe_ref,
                                         {"probe_finding": outcome.id}))
                confidence = max(confidence, Confidence.DEAD_INTERESTS * outcome.confidence)
    return evidence, confidence, probe_ref


def _wiring_finding(ctx: RuleContext, evidence: list[Evidence], confidence: float, loss: LossAssessment,
                    probe_ref: SourceRef | None) -> Finding:
    strong = confidence >= Confidence.OTHER_FAMILY
    checkpoint_refs = {c.ref for c in ctx.run.checkpoints} | ({probe_ref} if probe_ref is not None else set())
    from_loss = loss.anomalous
    only_loss = from_loss and all(e in loss.evidence or e.values.get("baseline_clears") for e in evidence)
    explanation = f"No hyper-parameter repairs a wiring fault; {proximity_phrase(ctx)}."
    if from_loss:
        explanation += (" The logged loss is the original's sampled-softmax loss (format "
                        f"{ctx.run.format}), so its level compares with the original's at the same setting; "
                        "the loss alone is weaker than a look inside the checkpoint: the evidence names the "
                        "check that decides.")
    return Finding(
        id="wiring-suspect", title=f"{ctx.model_type}'s wiring is suspect" + (f": {loss.reason}" if only_loss else ""),
        severity="high" if strong else "low", confidence=clamp(confidence),
        basis="both" if any(e.ref in checkpoint_refs for e in evidence) else "evidence", evidence=tuple(evidence),
        fix=Fix({}, "the loss and recall of the original's model at this setting" if only_loss else
                "a multi-interest model above its single-interest baseline, as in the paper",
                applicable=False,
                how="check the readout receives the true target (not item 0), the routing softmax is over "
                    "interests, the loss is sampled softmax over the item table, the lr flag reaches the "
                    "optimizer; compare one forward pass with the original's" + (
                        "; " + decisive_check(ctx) if from_loss else "")),
        explanation=explanation)


def headline_recall(run: Run) -> tuple[float, str, SourceRef | None] | None:
    """The run's test recall, else valid recall, else its best validation recall, with a label and its line."""
    for split in ("test", "valid"):
        final = run.finals.get(split)
        if final is not None and final.recall is not None:
            return final.recall, split, final.ref
    best = best_row(run.curve) if run.has_curve else None
    if best is not None:
        return float(best["recall"]), "best valid", _row_ref(best)
    return None


def _model(baseline: BaselineRun) -> Any:
    setting = baseline.config.get("model_type")
    return None if setting is None else setting.value


def _same_data(ctx: RuleContext, baseline: BaselineRun) -> bool:
    theirs = baseline.config.get("dataset")
    return theirs is not None and ctx.dataset is not None and theirs.value == ctx.dataset


def _stopped_printing(ctx: RuleContext) -> tuple[Any, int, int, bool] | None:
    """Evaluations the code printed and then stopped printing: (first missing row, how many, of how many rows,
    whether evaluations with metrics came before), or None.

    Absence is not evidence: a row without metrics counts only in a trailing run of at least
    `Thresholds.MIN_STOPPED_EVALS` rows (metrics missing here and there amid printed ones are lines not read, or
    damage), and only when the code printed metrics before, or when the reader knows the code's evaluation line
    (`eval_missing` events: the original prints `iter: N, train loss: L` with its metrics at every evaluation) and
    the run crashed (a traceback).
    Lines the readers saw with metric-like names and could not understand (`Run.coverage`) are not missing
    metrics: no count then.
    """
    run = ctx.run
    curve = run.curve
    if curve.empty or run.extra_metrics.get("evaluation_unseen"):
        return None
    rows = curve.sort_values("iter", kind="stable").reset_index(drop=True)
    has = rows["recall"].notna().to_numpy()
    tail = 0
    while tail < len(has) and not has[len(has) - 1 - tail]:
        tail += 1
    if tail < Thresholds.MIN_STOPPED_EVALS:
        return None
    printed_before = bool(has.any())
    declared = {e.ref for e in run.events_of("eval_missing")}
    first = rows.iloc[len(rows) - tail]
    if not printed_before and (_row_ref(first) not in declared or not run.events_of("traceback")):
        # Not one evaluation printed metrics: only the code's own bare evaluation line together with a crash
        # (the original's faiss failure, then the restore of a best model that was never saved) says it failed.
        return None
    if run.coverage.unread_metric_count:
        # Metric-like lines were seen and not understood: the "missing" metrics may be those.
        if not printed_before:
            return None
        unread = {ref for ref, _ in run.coverage.unread_metric_lines}
        tail_rows = rows.iloc[len(rows) - tail:]
        near = {SourceRef(r.path, (r.line or 0) + d) for r in (_row_ref(row) for _, row in tail_rows.iterrows())
                if r is not None for d in (0, 1)}
        if not unread or near & unread:
            return None
    return first, tail, len(rows), printed_before


def _in_evaluation(event: Event) -> bool:
    """Did this traceback happen in evaluation? Its exception line or its innermost frames name it."""
    text = " ".join([event.text, *map(str, event.values.get("frames") or ())]).lower()
    return any(mark in text for mark in EVAL_CRASH_MARKS)


def _first_row_ref(ctx: RuleContext) -> SourceRef | None:
    rows = ctx.run.curve[ctx.run.curve["recall"].notna()] if ctx.run.has_curve else None
    return None if rows is None or rows.empty else _row_ref(rows.iloc[0])


def _row_ref(row: Any) -> SourceRef | None:
    file = row["file"]
    if not isinstance(file, str):
        return None
    line = row["line"]
    return SourceRef(file, None if line != line else int(line))


def _split_facts(ctx: RuleContext) -> dict[str, Any]:
    facts = ctx.run.extra_metrics.get("split_facts")
    return facts if isinstance(facts, dict) else {}


def _split_file_ref(facts: dict[str, Any], split: str) -> SourceRef | None:
    path = (facts.get("files") or {}).get(split)
    return SourceRef(str(path)) if path else None


REPREPARE = ("re-prepare the data with the original's rules (recdoc data prepare: ids 1..N by descending "
             "frequency, users split into train/valid/test), then train again")


class IdsNotByFrequency(Rule):
    """Item ids are not numbered by frequency, which the log-uniform negative sampler assumes.

    What it checks:
        For runs whose split files can be read (recdoc run folders name them in run.json): the Spearman
        correlation between item id and the item's count in the training split. The original's preparation gives
        ids 1..N by descending count, so the correlation is close to -1; above -0.5 the ids are not by frequency.

    Why it matters:
        The sampled softmax draws candidates with a log-uniform (Zipf) distribution over ids: small ids most
        often, as if they were the popular items. With ids in another order the negatives are no longer the
        popular items, the log-Q correction corrects for the wrong probabilities, and the run is not like for like
        with the original (nor with the paper).

    Evidence it cites:
        The correlation and the training split file it was measured on.

    Fix:
        Not a setting: re-prepare the data (recdoc data prepare) so that ids follow descending frequency.
    """

    id = "ids-not-by-frequency"
    statement = "Item ids are not ordered by frequency, as the log-uniform negative sampler assumes."
    family = "integrity"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        facts = _split_facts(ctx)
        rho = facts.get("id_frequency_spearman")
        if rho is None:
            return None
        evidence = (Evidence(f"Spearman correlation between item id and training count: {rho:+.2f} over "
                             f"{facts.get('train_items', 0):,} items (ids by frequency: about -1)",
                             _split_file_ref(facts, "train"), {"spearman": rho}),)
        if rho <= Thresholds.ID_FREQUENCY_MAX_SPEARMAN:
            return NotACause(self.id, "item ids not ordered by frequency",
                             f"ids follow descending frequency (Spearman {rho:+.2f}), as the sampler assumes",
                             evidence)
        return Finding(
            id=self.id, title=f"item ids are not ordered by frequency (Spearman {rho:+.2f}): the log-uniform "
                              "sampler's negatives are not the popular items",
            severity="medium", confidence=Confidence.DATA_MEASURED, basis="evidence", evidence=evidence,
            fix=Fix({}, "negatives drawn by popularity, as in the original", applicable=False, how=REPREPARE),
            explanation="The sampler's assumption is a property of the data, which no training setting repairs.")


class SplitLeak(Rule):
    """Validation or test users also appear in the training split.

    What it checks:
        For runs whose split files can be read (recdoc run folders name them in run.json): the share of the valid
        and of the test users who also have training sequences (the original splits users; the share is 0).

    Why it matters:
        A model evaluated on users it trained on is not measured on unseen users: validation recall is inflated,
        early stopping and the restored best model follow the leak, and the numbers do not compare with the
        original's protocol (issue #16: a per-user leave-last-out split behaves differently again).

    Evidence it cites:
        The number of valid/test users also in training, and the split files.

    Fix:
        Not a setting: re-prepare the data (recdoc data prepare) with users split into train/valid/test.
    """

    id = "split-leak"
    statement = "Validation or test users also appear in the training split."
    family = "integrity"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        facts = _split_facts(ctx)
        evidence: list[Evidence] = []
        leaking: list[str] = []
        for split in ("valid", "test"):
            users, shared = facts.get(f"{split}_users"), facts.get(f"{split}_users_in_train")
            if not users or shared is None:
                continue
            share = shared / users
            evidence.append(Evidence(f"{shared:,} of {users:,} {split} users ({share:.0%}) also in the training split",
                                     _split_file_ref(facts, split), {f"{split}_share_in_train": share}))
            if share > Thresholds.SPLIT_LEAK_SHARE:
                leaking.append(f"{share:.0%} of the {split} users")
        if not evidence:
            return None
        if not leaking:
            return NotACause(self.id, "valid/test users seen in training",
                             "the splits hold disjoint users, as the original's", tuple(evidence))
        return Finding(
            id=self.id, title=f"{' and '.join(leaking)} also appear in training: the evaluation is not on unseen "
                              "users",
            severity="high", confidence=Confidence.DATA_MEASURED, basis="evidence", evidence=tuple(evidence),
            fix=Fix({}, "validation and test numbers on unseen users, as in the original", applicable=False,
                    how=REPREPARE),
            explanation="A leaking split inflates validation recall and steers early stopping; no setting repairs it.")


RULES = (DatasetMismatch, IdsNotByFrequency, SplitLeak, EvalBroken, WiringSuspect)
