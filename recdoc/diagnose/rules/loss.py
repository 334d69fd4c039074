"""The training loss as evidence about the model: against the uniform-guess level and the original's own loss.

The original logs `train loss` = the mean, over the `test_iter` steps before an evaluation, of
`tf.nn.sampled_softmax_loss` over S = neg_num x batch_size candidates shared by the batch plus the true item
(log-uniform sampler, accidental hits removed, log-Q correction: each logit minus the log of its expected count).
That loss has two fixed points to read a run against:

- **The chance level, ln(S + 1)** (7.155 for 10 x 128 on Book, 7.848 for 10 x 256 on Taobao). With the log-Q
  correction, a model whose scores equal the log of the sampler's expected counts (it knows the sampler's
  popularity prior and nothing about the user) makes every corrected logit equal: its loss is exactly the loss of a
  uniform guess among the S + 1 candidates, ln(S + 1) (a little less with accidental hits removed). At
  initialisation the scores are all about 0, so the correction alone sets the logits apart and the loss starts
  *above* that level (the original's ComiRec-SA on Book averages 7.93 over its first 1000 steps, its ComiRec-DR
  7.95; 7.155 is their chance level); every real original-code run in reference.json falls below it within
  3k-10k iterations on Book/Taobao (within 200 on MovieLens-100K), and the complete ones end at 0.3-0.7 of it.
  So ln(S + 1) is the level compared against: a loss still at or above it late in a run (flat over the run's own
  trend window) means the trained objective learned nothing beyond popularity, and if valid recall meanwhile rose
  far above its first value, the loss being logged is not what the original's model at this setting would log:
  the port's model or loss differs from the original's. Which wiring fault it is the loss cannot say; not every
  fault shows in it (bench/probe_proof.py: DR with its readout fed item 0 logs a loss like the healthy run's on
  MovieLens-100K), so a normal loss clears nothing and an abnormal one calls for the checks that decide.
- **The original's loss at the same setting and iteration** (reference.json `reference_runs`: real logs of the
  original code, same model, data, learning rate, batch and neg_num), interpolated in log(iteration) at the run's
  evaluations. recdoc's trainer tracks the original's loss within 0.2-1.4% on four models, ports with the same
  maths should too; a loss that sits 1.5x or more above the original's over the last evaluations compared is a
  different model (or a different loss).

The comparison is only meaningful where the logged loss is the original's: the original's code and forks of it,
the TF2 port and recdoc (formats `original`, `tf2-port`, `recdoc`), with a paper model. PyTorch ports and unknown
codes log their own losses (full softmax, sums of terms, pairwise losses) whose level means something else; there,
and where batch size, neg_num or the loss are unknown, the check says it does not apply. A loss that diverged is the
divergence rule's; a run above the original's learning rate for the model can hold its loss up by itself; and with
item ids not ordered by frequency (recdoc runs, whose split files the doctor reads) the sampler's log-Q correction no
longer matches the items' popularity, so the level is not the original's either.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import pandas as pd

from recdoc import model_specs, reference
from recdoc.config import advised_learning_rate
from recdoc.diagnose.findings import Comparison, Evidence, Finding, NotACause
from recdoc.diagnose.observed_run import SourceRef
from recdoc.diagnose.rules.base import ORIGINAL_TRAINING_FORMATS, Rule, RuleContext, clamp, trend_window
from recdoc.thresholds import LossThresholds, Thresholds

# Paper models trained with the sampled-softmax loss (MostPopular trains nothing).
LOSS_MODELS = model_specs.loss_names()  # the models trained with the original's sampled softmax (their specs)


@dataclass(frozen=True)
class LossAssessment:
    """What the loss says about the model: whether the check applies, and if so what it found."""

    applies: bool
    reason: str  # why it does not apply, else a one-sentence summary of what was compared
    chance: float | None = None
    candidates: int | None = None
    reference: reference.ReferenceRun | None = None
    at_chance: bool = False
    above_reference: bool = False
    ratio: float | None = None  # median run/original loss over the evaluations compared
    confidence: float = 0.0
    evidence: tuple[Evidence, ...] = ()
    cleared: tuple[Evidence, ...] = ()  # what was checked when nothing was found

    @property
    def anomalous(self) -> bool:
        return self.at_chance or self.above_reference


def decisive_check(ctx: RuleContext) -> str:
    """The check that decides whether the model (not a setting) is at fault, as commands."""
    if not reference.is_multi_interest(ctx.model_type):
        return ("decisive check: train the original code (or `recdoc train`) at this very setting and compare the "
                "two runs (`recdoc compare RUN OTHER_RUN`): the same model at the same setting logs the same loss")
    missing = [c for c in ctx.run.checkpoints if not c.files_ok]
    checkpoint = ("the best checkpoint's tensor files (missing here: " + ", ".join(c.latest or c.path for c in missing)
                  + ")" if missing else "the best checkpoint")
    return (f"decisive check: `recdoc analyze RUN --deep` with {checkpoint} beside the log (the interests' weights: "
            "dead or collapsed interests; for a recdoc run folder also the interest probe on its data, `recdoc probe "
            "RUN --data_dir DIR`), or `recdoc analyze RUN --baseline DNN_RUN` with a YouTube DNN run of the same code "
            "on the same data (a multi-interest model below its own code's DNN is wired wrong)")


def _not_applicable(reason: str) -> LossAssessment:
    return LossAssessment(applies=False, reason=reason)


def _ref(row: pd.Series) -> SourceRef | None:
    file, line = row["file"], row["line"]
    if not isinstance(file, str):
        return None
    return SourceRef(file, None if line != line else int(line))


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


@dataclass(frozen=True)
class _LossSetting:
    """The sampled-softmax setting a run's loss level follows from: the model and its S candidates."""

    model: str
    neg_num: Any
    batch: Any
    candidates: int
    learning_rate: Any

    @property
    def chance(self) -> float:
        return math.log(self.candidates + 1)


@dataclass(frozen=True)
class _Reading:
    """One comparison of the loss (against the chance level, or against the original's loss): whether it shows a
    different model, and the evidence either way."""

    anomalous: bool
    evidence: Evidence


def assess_loss(ctx: RuleContext) -> LossAssessment:
    """Compare the run's training loss with the chance level and with the original's loss at its setting."""
    reason = loss_format_problem(ctx.run.format)
    if reason is not None:
        return _not_applicable(reason)
    setting = _loss_setting(ctx)
    if isinstance(setting, str):
        return _not_applicable(setting)
    rows = _loss_rows(ctx.run.curve)
    reason = _curve_reason(ctx, rows, setting.chance) or _level_reason(ctx, setting)
    if reason is not None:
        return _not_applicable(reason)
    window = max(LossThresholds.MIN_EVALS, trend_window(ctx.config))
    chance, late_loss = _against_chance(rows, window, setting, ctx.summary.rising_at_end)
    ref_run = next(iter(reference.reference_runs_for(
        ctx.dataset, setting.model, setting.learning_rate, setting.batch, setting.neg_num,
        maxlen=ctx.value("maxlen"), embedding_dim=ctx.value("embedding_dim"),
        num_interest=ctx.value("num_interest"))), None)
    against_reference, ratio = _against_reference(ctx, rows, window, setting, ref_run)
    readings = (chance, against_reference)
    return LossAssessment(
        applies=True, reason=_summary(setting, late_loss, chance.anomalous, against_reference.anomalous, ratio,
                                      ref_run),
        chance=setting.chance, candidates=setting.candidates, reference=ref_run, at_chance=chance.anomalous,
        above_reference=against_reference.anomalous, ratio=ratio,
        confidence=clamp(_confidence(chance.anomalous, against_reference.anomalous, ratio)),
        evidence=tuple(r.evidence for r in readings if r.anomalous),
        cleared=tuple(r.evidence for r in readings if not r.anomalous))


def loss_format_problem(run_format: str) -> str | None:
    """Why the code that wrote the run does not log the original's sampled-softmax loss, else None."""
    formats = set(run_format.split("+"))
    if "pytorch-port" in formats:
        return ("a PyTorch port logs its own loss (often a full softmax, a sum of terms or another sampler), whose "
                "level is not the original's sampled-softmax loss")
    if not formats & ORIGINAL_TRAINING_FORMATS:
        return (f"the code that wrote this run is not known (format {run_format}): its loss need not be the "
                "original's sampled-softmax loss")
    return None


def _loss_setting(ctx: RuleContext) -> _LossSetting | str:
    """The run's model and sampled candidates, else why its loss is not the original's sampled softmax."""
    model = reference.canonical_model_type(ctx.value("model_type"))
    if model not in LOSS_MODELS:
        named = ctx.value("model_type")
        return (f"the model ({named if named else 'not stated'}) is not one of the paper's trained models: nothing "
                "says what its loss should be")
    neg_num, batch = ctx.value("neg_num"), ctx.value("batch_size")
    if neg_num is None or batch is None:
        return ("batch size or neg_num unknown: the number of sampled candidates, and so the chance level, cannot "
                "be computed")
    candidates = int(neg_num) * int(batch)
    items = ctx.value("item_count")
    if candidates < 1 or (isinstance(items, int) and items <= candidates):
        return f"{candidates} sampled candidates out of {items} items: not the original's sampled softmax"
    return _LossSetting(model, neg_num, batch, candidates, ctx.value("learning_rate"))


def _loss_rows(curve: pd.DataFrame) -> pd.DataFrame:
    """The evaluations that log a training loss beside their recall."""
    if curve.empty:
        return curve
    return curve[curve["train_loss"].notna() & curve["recall"].notna()]


def _curve_reason(ctx: RuleContext, rows: pd.DataFrame, chance: float) -> str | None:
    """Why the run's losses cannot be read against a level (none, diverged, too few), else None."""
    if ctx.run.curve.empty:
        return "the run has no training curve"
    if rows.empty:
        return "the run logs no training loss with its evaluations"
    if ctx.loss_nonfinite:
        return "the loss went non-finite: that is the divergence rule's"
    losses = [float(v) for v in rows["train_loss"]]
    if max(losses) > Thresholds.LOSS_ABOVE_GUESS * chance or (
            min(losses) > 0 and losses[-1] > min(losses) * (1 + Thresholds.LOSS_RISE)):
        return "the loss rose or blew up (see divergence): the optimisation failed, whatever the wiring"
    if len(rows) < LossThresholds.MIN_EVALS:
        return f"{len(rows)} evaluation(s) with a loss: too few to tell a gap from noise"
    return None


def _level_reason(ctx: RuleContext, setting: _LossSetting) -> str | None:
    """Why the original's loss level does not hold for this run although its loss is the original's, else None."""
    facts = ctx.run.extra_metrics.get("split_facts")
    rho = facts.get("id_frequency_spearman") if isinstance(facts, dict) else None
    if rho is not None and rho > Thresholds.ID_FREQUENCY_MAX_SPEARMAN:
        return (f"item ids are not ordered by frequency (Spearman {rho:+.2f}; see ids-not-by-frequency): the "
                "log-uniform sampler's log-Q correction no longer matches the items' popularity, so the loss level "
                "is not the original's")
    lr = setting.learning_rate
    reference_lr = advised_learning_rate(setting.model)
    if lr is not None and float(lr) > LossThresholds.HIGH_LR * reference_lr:
        return (f"learning_rate {lr} is above the original's {reference_lr} for {setting.model}: a rate that high "
                "can hold the loss up by itself")
    return None


def _against_chance(rows: pd.DataFrame, window_size: int, setting: _LossSetting,
                    recall_still_rising: bool) -> tuple[_Reading, float]:
    """The late loss against ln(S + 1): at it (flat) while recall rose is a model that learned only popularity,
    once recall has stopped rising; while it still rises at the end, a loss near chance is also what a slow start
    looks like (a low learning rate, an early stop), so it is no evidence yet. Also returns the late loss (the
    median over the trend window)."""
    chance, candidates = setting.chance, setting.candidates
    window = rows.tail(window_size)
    w_loss = [float(v) for v in window["train_loss"]]
    w_recall = [float(v) for v in window["recall"]]
    first, last = rows.iloc[0], window.iloc[-1]
    first_recall = float(first["recall"])
    late_loss, late_recall = _median(w_loss), _median(w_recall)
    head, tail = _median(w_loss[:3]), _median(w_loss[-3:])
    fell = (head - tail) / tail if tail > 0 else 0.0
    rose = late_recall >= LossThresholds.RECALL_RISE * first_recall if first_recall > 0 else late_recall > 0
    near_chance = late_loss >= LossThresholds.AT_CHANCE * chance and fell < LossThresholds.FLAT and rose
    at_chance = near_chance and not recall_still_rising
    span = f"iter {int(window.iloc[0]['iter'])}-{int(last['iter'])}"
    values = {"loss_late_median": late_loss, "chance_level": chance, "candidates_with_target": candidates + 1,
              "loss_fell_in_window": fell, "recall_first": first_recall, "recall_late_median": late_recall}
    if at_chance:
        chance_text = (f"ln({candidates + 1}) = {chance:.3f}, the loss of a uniform guess among the {candidates + 1} "
                       f"candidates ({setting.neg_num} x {setting.batch} sampled and the target; with the log-Q "
                       "correction also the loss of a model that learned only the sampler's popularity prior)")
        text = (f"train loss {late_loss:.4f} (median of the last {len(window)} evaluations, {span}; {fell:+.1%} "
                f"change across them) is at or above the chance level {chance_text}, while valid recall rose from "
                f"{first_recall:.6f} (iter {int(first['iter'])}) to {late_recall:.6f}: the objective learned "
                "nothing beyond popularity while the evaluated model did learn")
    elif near_chance:
        text = (f"train loss {late_loss:.4f} (median of the last {len(window)} evaluations, {span}) is near the "
                f"chance level {chance:.3f} = ln({candidates + 1}), but valid recall was still rising at the end "
                f"(from {first_recall:.6f} to {late_recall:.6f}): a model still early in its training (a low "
                "learning rate, a short budget) shows the same, so the level says nothing of the wiring yet")
    else:
        text = (f"train loss {late_loss:.4f} (median of the last {len(window)} evaluations, {span}) against the "
                f"chance level {chance:.3f} = ln({candidates + 1}): " + (
                    f"{late_loss / chance:.2f}x it" if late_loss < LossThresholds.AT_CHANCE * chance else
                    "near it but still falling or with recall that did not rise"))
    return _Reading(at_chance, Evidence(text, _ref(last), values)), late_loss


def _against_reference(ctx: RuleContext, rows: pd.DataFrame, window_size: int, setting: _LossSetting,
                       ref_run: reference.ReferenceRun | None) -> tuple[_Reading, float | None]:
    """The loss against the original's at the same setting and iterations, over the trend window: far above it on
    most evaluations is a different model. Also returns the median ratio, None where nothing was compared."""
    if ref_run is None:
        return _Reading(False, Evidence(
            f"no reference trajectory of the original's {setting.model} on {ctx.dataset or 'this data'} at "
            f"learning_rate {setting.learning_rate}, batch {setting.batch}, neg_num {setting.neg_num} in recdoc's "
            "reference data: only the chance level was checked")), None
    compared = [(row, ref_run.loss_at(float(row["iter"]))) for row in rows.to_dict("records")]
    compared = [(row, ref) for row, ref in compared if ref is not None and ref > 0][-window_size:]
    if len(compared) < LossThresholds.MIN_EVALS:
        return _Reading(False, Evidence(
            f"the original's loss at this setting ({ref_run.setting}; {ref_run.source}) is known for iter "
            f"{ref_run.first_iter}-{ref_run.loss_last_iter} only: {len(compared)} of the run's evaluations fall "
            "there, too few to compare")), None
    ratios = [float(row["train_loss"]) / ref for row, ref in compared]
    ratio = _median(ratios)
    share = sum(r >= LossThresholds.FAR_ABOVE for r in ratios) / len(ratios)
    row, ref = compared[-1]
    loss = float(row["train_loss"])
    text = (f"at iter {int(row['iter'])} the original code's loss at this setting ({ref_run.setting}) is "
            f"{ref:.2f}, this run's {loss:.4f} ({loss / ref:.2f}x); over the {len(compared)} evaluations compared "
            f"(iter {int(compared[0][0]['iter'])}-{int(row['iter'])}) the run's loss is {ratio:.2f}x the "
            f"original's (median), >= {LossThresholds.FAR_ABOVE}x at {share:.0%} of them; reference: "
            f"{ref_run.code}, {ref_run.source}")
    values = {"reference_loss": ref, "loss": loss, "ratio_median": ratio, "share_far_above": share,
              "reference": ref_run.name}
    return _Reading(share >= LossThresholds.HOLD_SHARE, Evidence(text, _ref(row), values)), ratio


def _confidence(at_chance: bool, above_reference: bool, ratio: float | None) -> float:
    """How sure the loss alone makes recdoc that the model differs: more the further above the original's, more
    still when it is also at chance (two independent signs), never as sure as a checkpoint."""
    confidence = LossThresholds.AT_CHANCE_CONFIDENCE if at_chance else 0.0
    if not above_reference or ratio is None:
        return confidence
    low, high = LossThresholds.ABOVE_REFERENCE_CONFIDENCE
    strength = clamp((ratio - LossThresholds.FAR_ABOVE) / (LossThresholds.STRONG_ABOVE - LossThresholds.FAR_ABOVE))
    scaled = low + (high - low) * strength
    return min(LossThresholds.CAP, max(confidence, scaled) + (LossThresholds.BOTH_BONUS if at_chance else 0.0))


def _summary(setting: _LossSetting, late_loss: float, at_chance: bool, above: bool, ratio: float | None,
             ref_run: reference.ReferenceRun | None) -> str:
    """One sentence: what the loss shows, or what it was compared with and why that clears it."""
    chance, candidates = setting.chance, setting.candidates
    parts = [part for part, on in (
        (f"stays at the chance level ln({candidates + 1}) = {chance:.2f} while recall rose", at_chance),
        (f"is {ratio or 0:.1f}x the original's at equal iterations", above)) if on]
    if parts:
        return "the training loss " + ", and ".join(parts)
    if ratio is not None and ref_run is not None:
        where = ("where the original code's is at this setting" if ratio <= LossThresholds.NEAR_REFERENCE else
                 "above the original code's at this setting, but not far enough to say the model differs")
        return (f"the training loss is {where} ({ratio:.2f}x its loss at equal iterations, median over the "
                f"evaluations compared; {ref_run.name})")
    without = ("no reference trajectory at this setting" if ref_run is None else
               "the reference trajectory covers too few of its evaluations")
    if late_loss < LossThresholds.AT_CHANCE * chance:
        return (f"the training loss fell to {late_loss / chance:.2f}x the chance level ln({candidates + 1}): the "
                f"model learned beyond popularity ({without} to compare further)")
    return ("the training loss is still near the chance level but falling, or recall has not risen: too early to "
            f"read anything into it ({without})")


def original_at_setting(ctx: RuleContext, row: Comparison) -> tuple[float, reference.ReferenceRun] | None:
    """What the original code reaches at the run's own setting, for the metric of a paper comparison row.

    The reference runs' metrics are master-branch ones: recall is only like for like where the paper's recall is
    master's (Book), hit rate everywhere. None without a reference run at this setting that recorded it.
    """
    if row.run_value is None or row.paper_value is None or not row.comparable:
        return None
    if row.metric == "recall" and reference.load()["paper"]["recall_definition"].get(ctx.dataset) != "master":
        return None
    if row.metric not in ("recall", "hitrate"):
        return None
    split = "valid" if row.split.endswith("valid") else "test"
    for ref_run in reference.reference_runs_for(
            ctx.dataset, ctx.model_type, ctx.value("learning_rate"), ctx.value("batch_size"), ctx.value("neg_num"),
            maxlen=ctx.value("maxlen"), embedding_dim=ctx.value("embedding_dim"),
            num_interest=ctx.value("num_interest")):
        value = ref_run.final_value(split, row.metric, row.cutoff)
        if value is not None:
            return value, ref_run
    return None


def gap_split(ctx: RuleContext, row: Comparison, setting: str | None = None) -> tuple[Evidence, str] | None:
    """Split the gap to the paper into the setting's part and this code's part, with the original at this setting.

    (paper - original at this setting) is what the setting costs the original itself; (original at this setting -
    run) is what this code loses on top. `setting` names the deviation the caller blames (e.g. "learning_rate
    0.001"). Returns the evidence and a sentence for the explanation.
    """
    named = f" ({setting})" if setting else ""
    found = original_at_setting(ctx, row)
    if found is None:
        return None
    original, ref_run = found
    run_value, paper = float(row.run_value), float(row.paper_value)
    gap = paper - run_value
    setting_part = paper - original
    code_part = original - run_value
    label = f"{row.split} {row.metric}@{row.cutoff}"
    head = (f"the original code at this very setting ({ref_run.setting}) reaches {label} {original:.2%} "
            f"({ref_run.code}; {ref_run.source})")
    values = {"original_at_setting": original, "setting_part": setting_part, "code_part": code_part,
              "paper": paper, "run": run_value, "reference": ref_run.name}
    if gap <= 0:
        return None
    if code_part <= 0:
        text = (f"{head}: this run is at or above it ({run_value:.2%}), so the whole {gap * 100:.2f}-point gap to "
                f"the paper's {paper:.2%} is the setting's")
        sentence = "At this setting the original itself falls as short: the gap is the setting's."
    elif setting_part <= 0:
        text = (f"{head}, at or above the paper's {paper:.2%}: the setting costs the original nothing, the whole "
                f"{gap * 100:.2f}-point gap is this code's")
        sentence = "The original reaches the paper at this setting: the gap is this code's, not the setting's."
    else:
        text = (f"{head}: of the {gap * 100:.2f}-point gap to the paper's {paper:.2%}, {setting_part * 100:.2f} "
                f"points are the setting's{named} (paper {paper:.2%} - original here {original:.2%}) and "
                f"{code_part * 100:.2f} this code's (original here {original:.2%} - run {run_value:.2%})")
        sentence = (f"The original itself reaches {original:.2%} at this setting: about {setting_part * 100:.1f} of "
                    f"the {gap * 100:.1f} points are the setting's{named}, the other {code_part * 100:.1f} this "
                    "code's.")
    return Evidence(text, values=values), sentence


class LossLevel(Rule):
    """The training loss against a uniform guess and against the original code's loss at the same setting.

    What it checks:
        Where the logged loss is the original's sampled-softmax loss (the original's code and its forks, the TF2
        port, recdoc; a paper model; batch size and neg_num known): (1) the late loss against the chance level
        ln(neg_num x batch + 1), the loss of a uniform guess among the sampled candidates and the target (with the
        original's log-Q correction also the loss of a model that learned only the sampler's popularity prior;
        an untrained model starts above it, every original run falls below it within 3k-10k iterations on Book);
        (2) the loss against the original's own loss at the same model, data, learning rate, batch and neg_num
        (real original-code logs stored as figures in recdoc's reference data), interpolated at the run's
        iterations, over the run's trend window. Elsewhere (PyTorch ports, unknown codes, a fork's own model,
        unknown batch/neg_num, a diverging loss, a learning rate above the original's, item ids not ordered by
        frequency) it says it does not apply.

    Why it matters:
        A loss that stays at chance while recall rises, or sits far above the original's at equal iterations, is
        log-only evidence that the port's model is not the original's (the incident: 7.35 at iter 284000 against
        ln 1281 = 7.16 and the original's ~3.5 at that iteration); no learning rate explains that.

    Evidence it cites:
        When the loss is anomalous the evidence goes to `wiring-suspect` (with the decisive check); this rule
        lists, as checked and not a cause, a loss that is where the original's would be (the chance level, the
        ratio to the original's loss and the reference's source), or why the check does not apply.

    Fix:
        None of its own: see `wiring-suspect`.
    """

    id = "loss-level"
    statement = "The training loss against a uniform guess and the original code's loss at the same setting."
    family = "integrity"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        assessment = assess_loss(ctx)
        title = "the training loss as evidence about the model"
        if not assessment.applies:
            return NotACause(self.id, title, "does not apply: " + assessment.reason)
        if assessment.anomalous:
            return None  # wiring-suspect carries the evidence and the decisive check
        return NotACause(self.id, title, assessment.reason + " (not every wiring fault shows in the loss: this "
                         "clears only what the loss can show)", assessment.cleared)


RULES = (LossLevel,)
