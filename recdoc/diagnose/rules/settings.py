"""Rules about hyper-parameters: is a setting different from the reference, and does the run show it mattered?"""

from __future__ import annotations

from recdoc import reference
from recdoc.config import dataset_defaults, recommended_learning_rate, sampling_that_fits
from recdoc.diagnose.findings import Evidence, Finding, Fix, NotACause
from recdoc.diagnose.rules.base import Rule, RuleContext, clamp, proximity_phrase
from recdoc.diagnose.rules.loss import gap_split
from recdoc.thresholds import Confidence, Thresholds


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


class LearningRateModelMismatch(Rule):
    """Learning rate differs from the one the original's README prescribes for this model.

    What it checks:
        The run's learning rate against the README's advice for the model (ComiRec-DR: 0.005, where the flag's
        default is 0.001), and the run's own curve: a slow climb with the best late in the run supports "too low";
        a curve that peaked early and decayed, or oscillates, contradicts it (and supports "too high", which a
        curve still rising at the stop contradicts). Off Book/Taobao, a prior the curve contradicts is only noted
        (info).

    Why it matters:
        The original README says "When training a ComiRec-DR model, you should set --learning_rate 0.005"; DR at
        0.001 climbs slowly and stops below the paper. The advice was established on Amazon Books and Taobao; on
        small dense data (MovieLens) another learning rate may be better, so confidence scales with data proximity.

    Evidence it cites:
        The learning-rate setting and its source (exp name `lr0.001`, argv, run.json), the best iteration against
        the stop iteration, the recall gap to the paper (the hit-rate gap where recall is not like for like, as on
        Taobao). A run whose recall never moved from the first evaluation is listed as not a cause: no learning
        rate explains it. Off Book/Taobao the finding is at most low severity.

    Fix:
        Re-run with the recommended learning rate (DR: --learning_rate 0.005), all else equal.
    """

    id = "lr-model-mismatch"
    statement = "The learning rate differs from the README's advice for this model."
    family = "settings"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        recommended = recommended_learning_rate(ctx.model_type)
        lr = ctx.value("learning_rate")
        if recommended is None or lr is None or _close(float(lr), recommended):
            return None
        evidence = [ctx.setting_evidence("learning_rate"),
                    Evidence(f"the original README recommends learning_rate {recommended} for {ctx.model_type}",
                             values={"recommended": recommended})]
        # Some ports warn about this themselves (the TF2 port: "ComiRec-DR 推荐使用 learning_rate=0.005").
        evidence.extend(Evidence(e.text.strip(), e.ref) for e in ctx.run.events_of("warning")
                        if "learning_rate" in e.text or "learning rate" in e.text.lower())
        if ctx.below_paper() is False:
            row = ctx.shortfall_comparison()
            assert row is not None  # below_paper() is not None only with a comparable row
            return NotACause(self.id, f"learning_rate {lr} (README: {recommended} for {ctx.model_type})",
                             f"the run reaches the paper's {row.metric}@{row.cutoff} at this learning rate ({row.split} "
                             f"{row.run_value:.4%} vs {row.paper_value:.3%}, like for like)", tuple(evidence))
        if ctx.learned_nothing:
            return NotACause(self.id, f"learning_rate {lr} (README: {recommended} for {ctx.model_type})",
                             f"valid recall is the same at all {ctx.summary.evaluations} evaluations from the first: "
                             "the model never learned anything measurable, which no learning rate explains: the data "
                             "or the evaluation does (see dataset-mismatch, eval-broken)", tuple(evidence))
        s = ctx.summary
        supports = contradicts = False
        if s.has_evaluations and s.evaluations >= Thresholds.MIN_EVALS_FOR_SHAPE and s.best_iter and s.last_iter:
            late_best = s.best_iter >= 0.5 * s.last_iter
            still_rising = s.trend_last_window >= Thresholds.STILL_RISING
            unstable = s.decay_from_peak >= Thresholds.OVERFIT_DECAY or (
                s.jitter_last_window >= Thresholds.OSCILLATION_JITTER)
            too_low = lr < recommended
            supports = (late_best or still_rising) if too_low else unstable
            # A rate too high peaks early and plateaus or decays; where the best falls inside an early-stopped run
            # says little about that, a curve still rising at the stop contradicts it.
            contradicts = (unstable and not late_best) if too_low else still_rising
            best = ctx.best_evidence()
            if best is not None:
                shape = ("slow climb: best at iter {b} of {e}" if late_best else "best at iter {b} of {e}").format(
                    b=s.best_iter, e=s.last_iter)
                evidence.append(Evidence(f"{best.text}; {shape}", best.ref, dict(best.values, stop_iter=s.last_iter)))
        below = ctx.below_paper()
        confidence = (Confidence.PRIOR + (Confidence.CURVE_SUPPORTS if supports else 0.0)
                      - (Confidence.CURVE_CONTRADICTS if contradicts else 0.0)
                      + (Confidence.BELOW_PAPER if below else 0.0))
        setting = ctx.config["learning_rate"]
        stated = not setting.is_default or setting.known_default
        # A learning rate only assumed from the flag's default is itself uncertain.
        # Scaled by what the prior is worth here: the data's proximity and the confidence of its identity.
        confidence = clamp(confidence * ctx.prior_weight * (1.0 if stated else Confidence.ASSUMED_SETTING))
        row = ctx.shortfall_comparison()
        if row is not None:
            evidence.append(Evidence(f"{row.split} {row.metric}@{row.cutoff} {row.run_value:.4%} vs paper "
                                     f"{row.paper_value:.3%} ({row.rel_gap:+.0%})",
                                     values={"run": row.run_value, "paper": row.paper_value}))
        # What the original reaches at this run's own setting splits the gap: the setting's part, this code's part.
        split = gap_split(ctx, row, f"learning_rate {lr}") if row is not None else None
        if split is not None:
            evidence.append(split[0])
        # Off the prior's data (proximity < 1) the advice is a suggestion to try, not the cause of a shortfall; a
        # prior the run's own curve contradicts there is no more than a note (it must not outrank evidence).
        severity = "high" if below and ctx.proximity >= 1.0 and not contradicts else (
            "medium" if ctx.proximity >= 1.0 else "info" if contradicts else "low")
        rests_on = "the README's advice and the run's own curve" if supports else "the README's advice alone"
        if not stated:
            rests_on += " (the learning rate itself is assumed from the flag's default: confirm it with --set)"
        return Finding(
            id=self.id, title=f"{ctx.model_type} trained at learning_rate {lr}; the README prescribes {recommended}",
            severity=severity, confidence=confidence, basis="both" if supports else "prior",
            evidence=tuple(evidence),
            fix=Fix({"learning_rate": recommended},
                    f"recall closer to the paper's for {ctx.model_type}" + (
                        f" ({row.paper_value:.3%} {row.metric}@{row.cutoff})" if row is not None else "")),
            explanation=f"Rests on {rests_on}; {proximity_phrase(ctx, with_identity=True)}." + (
                f" {split[1]}" if split else ""))




class NegativeSamples(Rule):
    """Number of sampled-softmax negatives against the original's neg_num x batch_size.

    What it checks:
        neg_num x batch_size (the `num_sampled` of tf.nn.sampled_softmax_loss) against the original's 10 x batch
        (1280 at batch 128 on Book, 2560 at batch 256 on Taobao).

    Why it matters:
        The original draws 10 x batch candidates per step, shared by the batch. A run with that setting matches the
        reference exactly: "only 0.35% of items as negatives" is the paper's setting, not a fault, and raising it
        is an experiment. A different neg_num makes the run not like-for-like.

    Evidence it cites:
        neg_num and batch_size with their sources, and the product.

    Fix:
        None when it matches (listed as not a cause); otherwise set neg_num back to 10.
    """

    id = "neg-samples"
    statement = "Sampled-softmax negatives differ from the original's 10 x batch size."
    family = "settings"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        neg_num, batch = ctx.value("neg_num"), ctx.value("batch_size")
        if neg_num is None or batch is None:
            return None
        reference_neg = int(reference.load()["original_defaults"]["common"]["neg_num"])
        evidence = (ctx.setting_evidence("neg_num"), ctx.setting_evidence("batch_size"),
                    Evidence(f"num_sampled = {neg_num} x {batch} = {neg_num * batch}",
                             values={"num_sampled": neg_num * batch}))
        if neg_num == reference_neg:
            # A "not a cause" must be true of what the run did: with both values only assumed from the original's
            # defaults (a port that never prints them) it is the original's setting, not a fact about this run.
            assumed = ctx.config["neg_num"].is_default and not ctx.trains_as_original
            return NotACause(self.id, f"{neg_num * batch} negative samples per batch ({neg_num} x {batch})",
                             (f"assumed, not read from this run: the original samples neg_num x batch_size = "
                              f"{reference_neg} x {batch} = {reference_neg * batch}; this code's sampler is unknown, "
                              f"so this only clears the original's setting" if assumed else
                              f"matches the reference: the original samples neg_num x batch_size = {reference_neg} x "
                              f"{batch} = {reference_neg * batch} candidates per step; raising it is an experiment, "
                              f"not the fix of a fault"), evidence)
        return Finding(
            id=self.id, title=f"neg_num {neg_num} ({neg_num * batch} samples) differs from the original's "
                              f"{reference_neg} ({reference_neg * batch})",
            severity="low", confidence=Confidence.SETTING_DIFFERS, basis="evidence", evidence=evidence,
            fix=Fix({"neg_num": reference_neg}, "a like-for-like comparison with the paper"),
            explanation="The number of sampled negatives changes the loss; the paper's numbers use 10 x batch.")


class BatchSize(Rule):
    """Batch size differs from the original's for the dataset (Book 128, Taobao 256, other data 128).

    What it checks:
        The run's batch size against the original's default for its dataset: 128 on any dataset but Taobao's
        256. Off Book/Taobao the comparison is with the original's code default, so the confidence scales with how
        close the data is to the paper's.

    Why it matters:
        Batch size changes the number of users per step and of sampled negatives (10 x batch). Issue #22: batch 1024
        instead of 128 gave about +1.5 points Recall@50 for ComiRec-SA on Book, so a larger batch is no reason for a
        shortfall, and a smaller one can be.

    Evidence it cites:
        batch_size with its source (exp name `b128`, argv, run.json) and the reference value.

    Fix:
        Set batch_size to the original's value for a like-for-like run.
    """

    id = "batch-size"
    statement = "The batch size differs from the original's for this dataset."
    family = "settings"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        batch = ctx.value("batch_size")
        if batch is None or ctx.dataset is None:
            return None
        expected = int(dataset_defaults(ctx.dataset)["batch_size"])
        on_paper_data = ctx.dataset in reference.load()["paper"]["table3"]
        evidence = (ctx.setting_evidence("batch_size"),
                    Evidence(f"the original uses batch_size {expected} on {ctx.dataset}" if on_paper_data else
                             f"the original's code uses batch_size {expected} on datasets other than taobao",
                             values={"reference": expected}))
        if batch == expected:
            if ctx.config["batch_size"].is_default:
                return None
            return NotACause(self.id, f"batch_size {batch}", "matches the reference", evidence)
        below = ctx.below_paper()
        smaller = batch < expected
        # Off the paper's data there is no paper number to fall short of: a smaller batch than the original's is
        # still the deviation most likely to cost recall (fewer users and fewer sampled negatives per step).
        severity = "low" if smaller and (below or not on_paper_data) else "info"
        confidence = Confidence.SMALLER_BATCH_BELOW_PAPER if severity == "low" else Confidence.LARGER_BATCH
        if not on_paper_data:
            confidence = clamp(confidence * ctx.proximity)
            evidence = (*evidence, Evidence(proximity_phrase(ctx), values={"proximity": ctx.proximity}))
        fix = Fix({"batch_size": expected}, "a like-for-like comparison with the paper" + (
            "; a smaller batch also samples fewer negatives per step" if smaller else
            "; expect slightly lower recall than this run (issue #22: 1024 gave +1.5 points)"))
        items, negatives = ctx.value("item_count"), ctx.value("neg_num")
        if isinstance(items, int) and isinstance(negatives, int) and items > 0 and negatives > 0:
            # A small catalogue cannot serve the original's neg_num x batch sampled negatives (the trainer refuses
            # the command): propose the largest batch toward the original's that it can serve, if any.
            fitted, _ = sampling_that_fits(items, expected, negatives)
            if fitted != expected and fitted * negatives <= items - 1 and fitted != batch:
                fix = Fix({"batch_size": fitted}, f"the batch closest to the original's {expected} that {items:,} "
                          f"items can serve with neg_num {negatives} ({negatives} x {fitted} sampled negatives)")
            elif fitted != expected:
                fix = Fix({}, f"the original's batch_size {expected}", applicable=False,
                          how=f"the original's batch_size {expected} needs neg_num x batch_size = "
                              f"{negatives * expected} sampled negatives, more than this data's {items:,} items: "
                              "no larger batch fits; compare with the paper on its own data instead")
        return Finding(
            id=self.id, title=f"batch_size {batch} differs from the original's {expected} on {ctx.dataset}",
            severity=severity, basis="evidence", evidence=evidence, confidence=confidence, fix=fix,
            explanation="The paper's numbers were produced with the original's batch size.")


RULES = (LearningRateModelMismatch, NegativeSamples, BatchSize)
