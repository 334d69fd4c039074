"""Rules about the course of training, read from the run's own validation curve and loss."""

from __future__ import annotations

import math

from recdoc import reference
from recdoc.config import advised_learning_rate
from recdoc.diagnose.findings import Evidence, Finding, Fix, NotACause
from recdoc.diagnose.observed_run import SourceRef
from recdoc.diagnose.rules.base import Rule, RuleContext, clamp
from recdoc.diagnose.rules.loss import loss_format_problem
from recdoc.thresholds import Confidence, Thresholds


def iteration_budget(dataset: str | None) -> int | None:
    """The iterations the maintainer says a model needs on this dataset to match the paper (Book: 350k)."""
    seen = reference.load()["paper"]["iterations_seen"].get(dataset or "", {})
    return seen.get("SA_min_to_match")


UNFINISHED = frozenset({"interrupted", "crashed", "unfinished"})


def _stop_evidence(ctx: RuleContext) -> Evidence:
    s = ctx.summary
    ref = ctx.run.stop_ref
    return Evidence(f"stopped at iter {s.last_iter} ({ctx.run.stop_reason}) after {s.evaluations} evaluations, "
                    f"{s.improvements} improvements, {s.evals_since_best} since the best", ref,
                    {"stop_iter": s.last_iter, "evaluations": s.evaluations, "improvements": s.improvements})


def _trend_evidence(ctx: RuleContext, after_best: bool = False) -> Evidence:
    s = ctx.summary
    rising = s.rising_window
    if not after_best and rising is not None and rising[1] != s.window:
        trend, count = rising
        return Evidence(f"valid recall trend over the last {count} evaluations (the run's last tenth): "
                        f"{trend:+.1%} of the best, still rising over the last {count // 2} "
                        f"({s.trend_late_recent:+.1%}); one evaluation's noise {s.noise:.2%}",
                        values={"trend_late": trend, "window": count, "noise": s.noise})
    if after_best:
        return Evidence(f"valid recall trend over the {s.evals_since_best + 1} evaluations from the best on: "
                        f"{s.trend_after_best:+.1%} of the best", values={"trend_after_best": s.trend_after_best})
    return Evidence(f"valid recall trend over the last {s.window} evaluations: {s.trend_last_window:+.1%} of the best",
                    values={"trend_last_window": s.trend_last_window, "window": s.window})


def _lower_rate_fix(ctx: RuleContext, expected: str) -> Fix:
    """A lower learning rate: the model's reference rate when the run's is above it, else half the run's; none
    when the run's is already below the reference.

    Above the reference, the rate the original was tuned with is the known-good lower value. Below it, a lower rate
    moves further from that setting; the symptom then has another cause, and combining this fix with a finding
    that raises the rate would pull both ways.
    """
    lr = ctx.value("learning_rate")
    if not lr:
        return Fix({}, expected, how="lower the learning rate")
    reference_lr = advised_learning_rate(ctx.model_type)
    if float(lr) > reference_lr * (1 + 1e-9):
        return Fix({"learning_rate": reference_lr}, expected)
    if float(lr) < reference_lr * (1 - 1e-9):
        return Fix({}, expected, how=f"not a lower learning rate: {lr} is already below the {reference_lr} "
                                     f"recommended for {ctx.model_type}; look for another cause (batch size, data)")
    return Fix({"learning_rate": lr / 2}, expected)


def uniform_guess_loss(ctx: RuleContext) -> float | None:
    """The sampled-softmax loss of a uniform guess: ln(candidates), neg_num x batch_size sampled + the target.

    A run whose loss goes far above it does worse than guessing: its weights blew up. A full softmax over the
    item table (some ports) guesses among item_count items, so the larger of the two counts is used.
    """
    neg_num, batch, items = ctx.value("neg_num"), ctx.value("batch_size"), ctx.value("item_count")
    candidates = max(int(neg_num) * int(batch) + 1 if neg_num and batch else 0, int(items) if items else 0)
    return math.log(candidates) if candidates > 1 else None


def _is_early_stop(ctx: RuleContext) -> bool:
    if ctx.stop_reason == "early_stop":
        return True
    patience = ctx.value("patience")
    return ctx.stop_reason == "unknown" and patience is not None and ctx.summary.evals_since_best == patience + 1


class Undertrained(Rule):
    """Training stopped while validation recall was still rising.

    What it checks:
        The fitted trend of valid recall over the last patience + 1 evaluations (at most the original's 51) at the
        stop (max_iter reached, an iteration or epoch cap, or a stop the log does not name, whatever the format),
        rising beyond the curve's own evaluation-to-evaluation noise (two standard errors; the noise estimated
        from the curve, bounded below by one user's hit where the split's size is known) over the window and over
        its later half, and not flat since a best several evaluations before the end; and the stop iteration
        against the Book budget (the maintainer: >= 350k iterations to match the paper). Runs stopped by a printed
        non-finite loss are left to the divergence rule, unfinished runs to the interrupted rule.

    Why it matters:
        A run stopped on a rising curve reports a model that had not converged. The budget alone is a prior: a run
        whose curve had plateaued at the stop would not gain from more iterations at the same settings, and is
        cleared.

    Evidence it cites:
        Stop iteration and reason, the last-window trend, the best iteration.

    Fix:
        Raise max_iter (and patience when it stopped early) so training runs until the curve plateaus.
    """

    id = "undertrained"
    statement = "Training stopped while validation recall was still rising."
    family = "training"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        s = ctx.summary
        if s.evaluations < Thresholds.MIN_EVALS_FOR_SHAPE or ctx.stop_reason in UNFINISHED:
            return None  # an unfinished run is the interrupted rule's finding
        if ctx.loss_nonfinite:
            return None  # a run stopped by a NaN loss needs stability (divergence), not more iterations
        budget = iteration_budget(ctx.dataset)
        below_budget = budget is not None and s.last_iter is not None and s.last_iter < budget
        rising = s.rising_at_end
        if not rising:
            if below_budget:
                return NotACause(self.id, f"too few iterations ({s.last_iter} < the {budget} seen to match the paper)",
                                 f"the curve had plateaued at the stop (trend {s.trend_last_window:+.1%} over the last "
                                 f"{s.window} evaluations, {s.trend_recent:+.1%} over the last {s.recent_window}; "
                                 f"one evaluation's noise {s.noise:.1%}): more iterations at these settings would "
                                 "not help", (_stop_evidence(ctx), _trend_evidence(ctx)))
            return None
        if _is_early_stop(ctx):
            return None  # a rising curve cut by early stopping is early-stop-too-soon's finding
        trend, count = s.rising_window or (s.trend_last_window, s.window)
        below = ctx.below_paper()
        evidence = [_stop_evidence(ctx), _trend_evidence(ctx)]
        if below_budget:
            evidence.append(Evidence(f"{s.last_iter} iterations < {budget} the maintainer says {ctx.dataset} needs",
                                     values={"budget": budget}))
        elif budget is not None and s.last_iter is not None:
            evidence.append(Evidence(f"{s.last_iter} iterations >= the {budget} the maintainer says {ctx.dataset} "
                                     "needs: the budget was met, the curve still rose", values={"budget": budget}))
        changes: dict[str, int] = {}
        max_iter = ctx.value("max_iter")
        stopped_thousands = -(-(s.last_iter or 0) // 1000)  # ceil: max_iter counts thousands
        if max_iter is not None and 2 * stopped_thousands > int(max_iter):
            changes["max_iter"] = 2 * stopped_thousands
        return Finding(
            id=self.id, title=f"stopped at iter {s.last_iter} with valid recall still rising "
                              f"({trend:+.1%} over the last {count} evaluations)",
            # Unfinished business whatever the gap: a rising curve means the model that ran is not the converged one
            # (a run at the paper's level still rising would end above it).
            severity="high" if below else "medium",
            confidence=clamp(Confidence.RISING_AT_STOP + (Confidence.BELOW_BUDGET if below_budget else 0.0)
                             + min(Confidence.CURVE_SUPPORTS, trend)),
            basis="both" if below_budget else "evidence", evidence=tuple(evidence),
            fix=Fix(changes, "training continues until the curve plateaus; recall rises by at least the trend seen",
                    how="" if changes else "train longer: nothing in the settings stopped this run early"),
            explanation="The curve, not a prior, shows the model had not converged.")


class EarlyStopTooSoon(Rule):
    """Early stopping ended a run whose curve was still improving in trend.

    What it checks:
        For an early-stopped run: the trend of valid recall over the evaluations from the best to the stop (the
        patience window) and over the last patience + 1 evaluations. Rising in trend beyond the curve's own noise
        (a patience window of 6 noisy evaluations shows a few percent by chance): patience cut off noise around a
        rising curve. A patience window shorter than 5 evaluations cannot show a
        plateau at all; then the trend over the last 51 evaluations (the original's window) decides. Flat or
        falling: the patience was long enough, and "patience too small" is listed as not a cause.

    Why it matters:
        The original stops at the (patience+1)-th evaluation in a row without a strict improvement; on a noisy but
        rising curve a small patience stops too soon (issue #22: the maintainer suggests raising patience).

    Evidence it cites:
        patience and test_iter, the stop iteration, evaluations since the best, the trend after the best.

    Fix:
        Raise patience to the original's default (50), like for like; a patience already at or above it is doubled.
    """

    id = "early-stop-too-soon"
    statement = "Early stopping ended training while recall was still improving in trend."
    family = "training"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        s = ctx.summary
        patience = ctx.value("patience")
        if not _is_early_stop(ctx) or s.evaluations < Thresholds.MIN_EVALS_FOR_SHAPE or patience is None:
            return None
        evidence = (ctx.setting_evidence("patience"), _stop_evidence(ctx), _trend_evidence(ctx, after_best=True),
                    _trend_evidence(ctx))
        # A short patience window starts at a (noisy) best and can look flat; the trailing window shows whether
        # the curve as a whole was still climbing.
        # Each window's trend counts only beyond the curve's own noise (a patience window of 6 noisy evaluations
        # shows a few percent "trend" by chance).
        candidates = [(s.trend_after_best, s.evals_since_best + 1), (s.trend_last_window, s.window)]
        # Fewer non-improving evaluations than it takes to show a plateau: the stop itself proves nothing, and the
        # original's own window (51 evaluations) says whether the run was still in its climb.
        short_window = int(patience) + 1 < Thresholds.MIN_EVALS_FOR_SHAPE
        if short_window:
            candidates.append((s.trend_long_window, min(s.evaluations, 51)))
        beyond = [t for t, n in candidates if s.rising(t, n)]
        trend = max(beyond) if beyond else max(t for t, _ in candidates[:2])
        default_patience = int(reference.load()["original_defaults"]["common"]["patience"])
        new_patience = default_patience if int(patience) < default_patience else 2 * int(patience)
        if beyond:
            budget = iteration_budget(ctx.dataset)
            below_budget = budget is not None and s.last_iter is not None and s.last_iter < budget
            return Finding(
                id=self.id, title=f"early stop at iter {s.last_iter} (patience {patience}) while recall was still "
                                  f"rising in trend ({trend:+.1%})",
                severity="medium", basis="evidence",
                confidence=clamp((Confidence.SHORT_PATIENCE_WINDOW if short_window and trend == s.trend_long_window
                                  else Confidence.RISING_IN_PATIENCE_WINDOW)
                                 + (Confidence.BELOW_BUDGET if below_budget else 0.0)),
                evidence=evidence,
                fix=Fix({"patience": new_patience}, "training continues past the noise to a later, higher best"),
                explanation=(f"A patience of {patience} stops after {int(patience) + 1} evaluations without a new "
                             "best, too few to tell a plateau from noise, on a curve still climbing."
                             if short_window else
                             "The evaluations after the best trend upwards: the stop came from noise, not a "
                             "plateau."))
        shape = ("falling" if trend <= -Thresholds.FLAT else
                 "flat within its noise" if trend >= Thresholds.FLAT else "flat")
        return NotACause(self.id, f"patience too small (patience {patience})",
                         f"{s.evals_since_best} evaluations without improvement on a {shape} curve (trend "
                         f"{s.trend_after_best:+.1%} of the best, one evaluation's noise {s.noise:.1%}): more "
                         "patience would not have found a better model", evidence)


class Divergence(Rule):
    """Training diverged: non-finite loss, or loss rising while recall collapses.

    What it checks:
        A non-finite training loss the run printed (a nan/inf token on a cited line; a run record that states a
        `nan` stop), or NaN/Inf values in the checkpoint read with --deep, never a loss that was not read; a
        training loss above twice the loss of a uniform guess (ln of neg_num x batch_size + 1 sampled candidates,
        or of item_count for a full softmax): worse than guessing, the weights blew up even where Adam's bounded
        steps keep the loss finite; and a final loss well above its minimum together with valid recall far below
        its peak.

    Why it matters:
        A diverged run's later evaluations are meaningless; the learning rate is too high for this model and data
        (or the loss is computed wrongly).

    Evidence it cites:
        The loss values (first, minimum, last), the first non-finite loss, the recall decay from its peak.

    Fix:
        The model's recommended learning rate (README; ComiRec-DR 0.005, others the flag default 0.001) when the
        run's is above it, else half the run's.
    """

    id = "divergence"
    statement = "The training loss diverged (non-finite, far above a uniform guess, or rising as recall collapsed)."
    # A diverged run's curve says nothing about its budget or its patience, and a person stops such a run.
    explains = frozenset({"interrupted", "undertrained", "early-stop-too-soon", "oscillation", "overfitting"})
    family = "training"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        s = ctx.summary
        bad_checkpoints = [c for c in ctx.run.checkpoints
                           if (c.tensors or {}).get("nan_count") or (c.tensors or {}).get("inf_count")]
        nonfinite = ctx.loss_nonfinite or bool(bad_checkpoints)
        rising = (s.loss_min is not None and s.loss_last is not None and s.loss_min > 0
                  and s.loss_last > s.loss_min * (1 + Thresholds.LOSS_RISE))
        collapsed = s.decay_from_peak >= Thresholds.DIVERGENCE_DECAY
        guess = uniform_guess_loss(ctx) if logs_sampled_softmax(ctx) else None
        above_guess = guess is not None and s.loss_max is not None and s.loss_max > Thresholds.LOSS_ABOVE_GUESS * guess
        if not nonfinite and not (rising and collapsed) and not above_guess:
            return None
        evidence: list[Evidence] = []
        evidence.extend(ctx.nonfinite_evidence()[:3])  # the printed nan/inf tokens that prove it
        for checkpoint in bad_checkpoints:
            tensors = checkpoint.tensors or {}
            evidence.append(Evidence(f"the checkpoint holds {tensors.get('nan_count', 0)} NaN and "
                                     f"{tensors.get('inf_count', 0)} Inf values", checkpoint.ref,
                                     {"nan_count": tensors.get("nan_count"), "inf_count": tensors.get("inf_count")}))
        if s.loss_last is not None:
            evidence.append(Evidence(f"train loss first {s.loss_first:.4f}, minimum {s.loss_min:.4f}, maximum "
                                     f"{s.loss_max:.4f}, last {s.loss_last:.4f}; valid recall "
                                     f"{s.decay_from_peak:.0%} below its peak",
                                     values={"loss_min": s.loss_min, "loss_max": s.loss_max,
                                             "loss_last": s.loss_last, "decay_from_peak": s.decay_from_peak}))
        if above_guess and guess is not None:
            evidence.append(Evidence(f"train loss up to {s.loss_max:.4f}, {s.loss_max / guess:.1f}x the "
                                     f"{guess:.4f} of a uniform guess among the sampled candidates: worse than "
                                     "guessing", values={"uniform_guess_loss": guess}))
        lr = ctx.value("learning_rate")
        reference_lr = advised_learning_rate(ctx.model_type)
        new_lr = None if not lr else (reference_lr if float(lr) > reference_lr * (1 + 1e-9) else lr / 2)
        kind = ("non-finite loss" if nonfinite else "loss far above a uniform guess" if above_guess
                else "loss rising, recall collapsing")
        confidence = (Confidence.OBSERVED_FAULT if nonfinite else
                      Confidence.LOSS_ABOVE_GUESS if above_guess else Confidence.LOSS_AND_RECALL)
        return Finding(
            id=self.id, title=f"training diverged ({kind})",
            severity="high", confidence=confidence, basis="evidence", evidence=tuple(evidence),
            fix=Fix({"learning_rate": new_lr} if new_lr else {}, "a stable, decreasing loss",
                    how="" if new_lr else "lower the learning rate"),
            explanation="Diverged weights produce meaningless evaluations after the divergence.")


def logs_sampled_softmax(ctx: RuleContext) -> bool:
    """Whether the run's logged loss is the original's sampled-softmax loss, whose level a uniform guess bounds.
    Other codes log sums of terms, pairwise or full-softmax losses: their level means something else."""
    return loss_format_problem(ctx.run.format) is None


def loss_diverged(ctx: RuleContext) -> bool:
    """A non-finite loss, or a loss worse than a uniform guess among the sampled candidates (Divergence's tests)."""
    guess = uniform_guess_loss(ctx) if logs_sampled_softmax(ctx) else None
    s = ctx.summary
    return ctx.loss_nonfinite or (guess is not None and s.loss_max is not None
                                  and s.loss_max > Thresholds.LOSS_ABOVE_GUESS * guess)


class Oscillation(Rule):
    """Validation recall oscillates strongly between evaluations.

    What it checks:
        Over the last ~51 evaluations: the median step between evaluations relative to the best recall (>= 8%) and
        how often the direction reverses (most steps).

    Why it matters:
        A healthy curve moves ~1-2% of its level per evaluation. Large zig-zags mean the optimisation bounces (a
        learning rate too high for the data) and that the "best" model is partly luck of the evaluation.

    Evidence it cites:
        The jitter and the share of reversals in the window.

    Fix:
        Lower the learning rate: to the model's recommended rate (README; others the flag default 0.001) when the
        run's is above it, else halve it; no rate change when it is already below the recommended rate (a lower
        rate would move further from the reference).
    """

    id = "oscillation"
    statement = "Validation recall oscillates strongly between evaluations."
    family = "training"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        s = ctx.summary
        if (s.window < Thresholds.MIN_EVALS_FOR_SHAPE or not s.best_recall or s.constant_recall
                or s.jitter_last_window < Thresholds.OSCILLATION_JITTER
                or s.direction_changes_last_window < Thresholds.OSCILLATION_REVERSALS):
            return None
        return Finding(
            id=self.id, title=f"valid recall jumps {s.jitter_last_window:.0%} of its level between evaluations",
            severity="medium", confidence=clamp(Confidence.CURVE_SHAPE + s.jitter_last_window), basis="evidence",
            evidence=(Evidence(f"median step {s.jitter_last_window:.1%} of the best recall, direction reversing on "
                               f"{s.direction_changes_last_window:.0%} of steps over the last {s.window} evaluations",
                               _window_start_ref(ctx, s.window), values={"jitter": s.jitter_last_window,
                                       "reversals": s.direction_changes_last_window}),),
            fix=_lower_rate_fix(ctx, "a smoother curve and a best model less due to luck"),
            explanation="Zig-zags of this size are not evaluation noise.")


def _window_start_ref(ctx: RuleContext, window: int) -> SourceRef | None:
    """The line of the first evaluation of the trailing `window` evaluations (where the cited values start)."""
    from recdoc.diagnose.curve import evaluated

    rows = evaluated(ctx.run.curve)
    if rows.empty:
        return None
    row = rows.iloc[max(0, len(rows) - window)]
    if not isinstance(row["file"], str):
        return None
    return SourceRef(row["file"], None if row["line"] != row["line"] else int(row["line"]))


class Overfitting(Rule):
    """Validation recall peaked and then decayed while the training loss kept falling.

    What it checks:
        The last valid recall against the peak (>= 10% below), a decline that continues over the evaluations
        after the peak beyond the curve's own noise (one lucky evaluation above a flat curve is noise), and the
        training loss not rising or turning non-finite (that is divergence).

    Why it matters:
        The model memorises training users; the original restores the best model, so reported numbers come from
        the peak, but the rest of the run was wasted and the peak may be early and low.

    Evidence it cites:
        Peak recall and iteration, the last recall, the loss trend.

    Fix:
        Keep early stopping with the best model restored; to reach a higher peak lower the learning rate as the
        oscillation rule does (to the recommended rate when above it; never below it when already under it).
    """

    id = "overfitting"
    statement = "Validation recall peaked early and decayed while the training loss kept falling."
    family = "training"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        s = ctx.summary
        if s.evaluations < Thresholds.MIN_EVALS_FOR_SHAPE or s.decay_from_peak < Thresholds.OVERFIT_DECAY:
            return None
        # Memorisation shows as a decline that continues after the peak; one lucky evaluation followed by a flat
        # curve below it is noise, not overfitting.
        if s.evals_since_best < Thresholds.MIN_EVALS_FOR_SHAPE or s.trend_since_best > -Thresholds.FLAT:
            return None
        # ...and beyond the curve's own noise: the decline after the peak, and the peak's height above the end.
        if not s.beyond_noise(s.trend_since_best, s.evals_since_best) \
                or s.decay_from_peak < Thresholds.NOISE_Z * s.noise:
            return None
        loss_stable = (s.loss_last is not None and s.loss_min is not None
                       and s.loss_last <= s.loss_min * (1 + Thresholds.LOSS_RISE))
        if not loss_stable or ctx.loss_nonfinite:
            return None  # a loss that went NaN/inf is divergence, not memorisation
        best = ctx.best_evidence()
        evidence = [Evidence(f"valid recall fell {s.decay_from_peak:.0%} from its peak to {s.last_recall:.6f} at iter "
                             f"{s.last_iter}, trending {s.trend_since_best:+.1%} of the peak over the "
                             f"{s.evals_since_best} evaluations after it; train loss {s.loss_first:.4f} -> "
                             f"{s.loss_last:.4f}",
                             values={"decay_from_peak": s.decay_from_peak, "trend_since_best": s.trend_since_best,
                                     "loss_last": s.loss_last})]
        if best is not None:
            evidence.insert(0, best)
        lowered = _lower_rate_fix(ctx, "a later, higher peak; the restored best model is unaffected by the decay")
        return Finding(
            id=self.id, title=f"valid recall peaked at iter {s.best_iter} and decayed {s.decay_from_peak:.0%} "
                              "while the loss kept falling",
            severity="low", confidence=clamp(Confidence.CURVE_SHAPE + s.decay_from_peak), basis="evidence",
            evidence=tuple(evidence),
            fix=Fix(lowered.changes, lowered.expected_effect,
                    how=lowered.how or "keep the best-model restore (the original does it)"),
            explanation="The reported numbers come from the restored peak; the decay shows memorisation.")


class Interrupted(Rule):
    """The run did not finish: interrupted (Ctrl-C), crashed, or still running.

    What it checks:
        A kill (`Exiting from training early`), a traceback, or a log of a code known to print its stop and final
        lines (the original, its ports, recdoc) that ends without them; and whether final test metrics of the
        restored best model exist. A log of any other code whose end is unfamiliar is not evidence it was cut
        short: its stop is unknown.

    Why it matters:
        An unfinished run has no restored-best evaluation on the test set; its last validation numbers are not the
        run's result, and the curve may still have been rising.

    Evidence it cites:
        The interruption line or traceback, the last iteration, whether the test line is missing, and, when the
        curve was still rising at the stop, the trend and the iterations against the dataset's budget (such a run
        is also undertrained; it is reported once, here).

    Fix:
        Resume the run from its checkpoint (recdoc train --resume) or re-run it to completion.
    """

    id = "interrupted"
    statement = "The run did not finish (interrupted, crashed or unfinished)."
    family = "training"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        events = ctx.run.events_of("interrupted")
        stop = ctx.stop_reason
        if stop not in UNFINISHED and not events:
            return None  # an end the code's format does not explain is not evidence it was cut short
        ref: SourceRef | None = events[0].ref if events else ctx.run.stop_ref
        tracebacks = ctx.run.events_of("traceback")
        if not events and stop == "crashed" and tracebacks:
            ref = tracebacks[-1].ref
        if events:
            text = events[0].text
        elif stop == "unfinished":
            text = (f"the log ends without the stop or final lines the {ctx.run.format.split('+')[0]} code prints "
                    "when it finishes")
        else:
            text = f"stop reason: {stop}"
        where = ("before its first evaluation" if ctx.summary.last_iter is None
                 else f"at iter {ctx.summary.last_iter}")
        evidence = [Evidence(f"{text} {where}", ref, {"stop_reason": stop})]
        evidence.extend(Evidence(e.text.strip().splitlines()[-1] if e.text.strip() else "traceback", e.ref)
                        for e in ctx.run.events_of("traceback")[:2])
        s = ctx.summary
        # An unfinished run on a rising curve is also undertrained; reported here, once, with the same evidence the
        # undertrained rule would cite (the trend, and the iterations against the dataset's budget).
        rising = (s.evaluations >= Thresholds.MIN_EVALS_FOR_SHAPE and s.rising_at_end
                  and not loss_diverged(ctx))  # a diverged run's recall wanders; more steps would not train it
        if rising:
            evidence.append(_trend_evidence(ctx))
            budget = iteration_budget(ctx.dataset)
            if budget is not None and s.last_iter is not None and s.last_iter < budget:
                evidence.append(Evidence(f"{s.last_iter} iterations < {budget} the maintainer says {ctx.dataset} "
                                         "needs", values={"budget": budget}))
        has_test = "test" in ctx.run.finals
        if not has_test:
            evidence.append(Evidence("no final test line: the best model was never evaluated on the test set"))
        title = f"the run did not finish ({stop}) {where}"
        if rising:
            trend, count = s.rising_window or (s.trend_last_window, s.window)
            title += (f" with valid recall still rising ({trend:+.1%} over the last {count} "
                      "evaluations): undertrained")
        return Finding(
            id=self.id, title=title,
            severity="medium" if has_test else "high", confidence=Confidence.OBSERVED_STOP, basis="evidence",
            evidence=tuple(evidence),
            fix=Fix({}, "final test metrics of the restored best model, and a curve that reaches its plateau",
                    how="resume from the last checkpoint (recdoc train --resume) or re-run to completion"),
            explanation="Numbers from an unfinished run are not its result.")


RULES = (Undertrained, EarlyStopTooSoon, Divergence, Oscillation, Overfitting, Interrupted)
