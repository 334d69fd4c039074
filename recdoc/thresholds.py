"""recdoc's own judgement, in one place: every decision threshold and every confidence, each with its reason.

Reference numbers (the paper's tables, the original's defaults, the README's advice) are facts about the original
and live in recdoc/reference; the numbers here are recdoc's, reviewed together. Plain constants only (no imports),
so the trainer's probe and the doctor's readers and rules share them without depending on each other.
"""

from __future__ import annotations

from typing import ClassVar


class Thresholds:
    """recdoc's own decision thresholds (not reference numbers), each with the reason for its value."""

    # Trailing evaluations used for trend and jitter: the run's own patience window (patience + 1, the original's
    # 50 + 1 at most), so "still rising" means rising over the span the run itself uses to decide that training
    # has stopped helping; on a short run a fixed 51 would reach back into the initial climb (`trend_window`).
    TREND_WINDOW = 51
    # A fitted rise of >= 2% of the best recall across the trend window counts as "still rising"; a plateau on
    # Book moves well under 1% across 50 evaluations, one evaluation's noise is ~1%.
    STILL_RISING = 0.02
    # A trend counts only beyond the curve's own evaluation-to-evaluation noise: at least this many standard errors
    # of the fitted change (`curve.trend_uncertainty`), the noise estimated from the curve itself (second
    # differences). Two standard errors: a flat curve passes for rising about once in 40 windows. Sampled
    # validation (about 1,000 users: values +-0.02 between neighbours) and MovieLens-100K's 95 test users make
    # single evaluations noisy, and a patience window of 6 evaluations shows a +2% "trend" by chance.
    NOISE_Z = 2.0
    # |trend| below this across the evaluations after the best = "flat": more patience would not have helped.
    FLAT = 0.02
    # Last recall this far (fraction) below the peak, with training loss still falling: overfitting.
    OVERFIT_DECAY = 0.10
    # Last recall this far below the peak together with the loss rising or turning non-finite: divergence.
    DIVERGENCE_DECAY = 0.30
    # Training loss this far (fraction) above its minimum at the end: the optimisation went the wrong way.
    LOSS_RISE = 0.10
    # Median step between evaluations >= 8% of the level, reversing direction on most steps: oscillation.
    # A healthy Book curve moves ~1-2% per evaluation.
    OSCILLATION_JITTER = 0.08
    OSCILLATION_REVERSALS = 0.5
    # Fewer evaluations than this cannot show a trend or a plateau.
    MIN_EVALS_FOR_SHAPE = 5
    # A run's recall within this fraction of a comparable paper value "matches the paper": published numbers
    # are single runs and reproductions scatter by a few percent (issue #28: 0.0607-0.0637 over five seeds).
    PAPER_TOLERANCE = 0.05
    # A multi-interest run this far (fraction) below a single-interest run on the same data is suspicious.
    BELOW_SINGLE_INTEREST = 0.02
    # Data proximity to Book/Taobao by item count: <= SMALL_ITEMS is "small dense" (MovieLens-100K has 1,349),
    # >= LARGE_ITEMS is like the paper's data (hundreds of thousands); log-interpolated between.
    SMALL_ITEMS = 5_000
    LARGE_ITEMS = 100_000
    PROXIMITY_SMALL = 0.25
    PROXIMITY_UNKNOWN = 0.5
    # A constant recall at or below this share of the paper's (or, without a paper number, this absolute recall) is
    # not a weak model but an evaluation that cannot hit (issue #16: 0.000007 with a leave-last-out split).
    NEAR_ZERO_SHARE = 0.01
    NEAR_ZERO_RECALL = 0.001
    # Metrics frozen to their last printed digit while the loss moves (`eval-broken`, evaluation_response.py): two
    # evaluations are the least that can show it (an excerpt). At an ordinary level a frozen curve counts only
    # when one printed digit is at most this share of each value: a plateau moves by about 1% of its level between
    # evaluations, so such digits would move.
    MIN_FROZEN_EVALS = 2
    FROZEN_PRINT_STEP = 0.01
    # Item ids count as "ordered by frequency" when Spearman(id, training count) is at most this. The original's
    # preparation gives ids 1..N by descending count over all splits, so its training split scores about -0.95 to
    # -1.0; a random renumbering scores about 0. Halfway leaves room for data prepared by similar rules.
    ID_FREQUENCY_MAX_SPEARMAN = -0.5
    # The original splits users: a share of valid/test users also in training above this is a leaking split
    # (one user in a hundred can be a stray duplicate id; a leak puts many more there).
    SPLIT_LEAK_SHARE = 0.01
    # A training loss this many times above the loss of a uniform guess (ln of the candidates it chooses among)
    # is not a model learning badly but weights blown up: a healthy run starts at about 1x and falls.
    LOSS_ABOVE_GUESS = 2.0
    # Evaluations that "stopped printing" metrics: at least this many trailing rows without them. One row without
    # metrics at the end is as likely a partial last line (a truncated file, a run cut mid-print) as a fault.
    MIN_STOPPED_EVALS = 2
    # Read coverage: under this share of the input's lines with numbers used (of at least LOW_COVERAGE_MIN_LINES
    # such lines), most of what the run printed was not understood; what the doctor did not read may be what
    # would clear (or explain) a fault, so fault findings are capped (Confidence.LOW_COVERAGE_CAP). A log of the
    # original uses about 1 line in 3 with numbers (`iter:` lines; `time interval` lines are read but unused),
    # hence a line well below that.
    LOW_COVERAGE = 0.25
    LOW_COVERAGE_MIN_LINES = 20
    # Single-target evaluation: recall and hit rate agree within this share (printed values are rounded); an NDCG
    # this share below the single-target bound HitRate/log2(K+1) is below it, not a rounding of it.
    SINGLE_TARGET_TOLERANCE = 0.01
    # Below this hit rate the bound says nothing (a few hits, values printed with few digits).
    MIN_HITRATE_FOR_BOUND = 0.005
    # Severity weights for ranking (severity x confidence).
    SEVERITY_WEIGHT: ClassVar[dict[str, float]] = {"high": 3.0, "medium": 2.0, "low": 1.0, "info": 0.0}


class Confidence:
    """How much recdoc trusts each kind of evidence (0..1): recdoc's judgement, reviewed here in one place."""

    # A prior alone (the README's lr advice) on the data it was established on: more likely than not, no more.
    PRIOR = 0.55
    # The run's curve agrees with the prior (slow climb, best late) / contradicts it (early peak, decay).
    CURVE_SUPPORTS = 0.2
    CURVE_CONTRADICTS = 0.3
    # The run is clearly below a comparable paper number: there is a shortfall to explain.
    BELOW_PAPER = 0.1
    # A setting only assumed from a default (nothing in the run states it) is itself uncertain.
    ASSUMED_SETTING = 0.6
    # The NDCG definition stated by the run (run.json): only a mislabelled file would make it wrong.
    STATED_DEFINITION = 0.95
    # Direct observations: a NaN loss, a missing evaluation, an interruption line.
    OBSERVED_FAULT = 0.9
    OBSERVED_STOP = 0.95
    # Not one `iter:` line carries metrics: the evaluation never ran, the root of everything after it.
    NO_EVALUATION_AT_ALL = 0.98
    # Fault findings on a run whose input was mostly not understood (Thresholds.LOW_COVERAGE): at most a medium
    # confidence, whatever the evidence read, since the unread part may contradict it.
    LOW_COVERAGE_CAP = 0.6
    # The evaluation protocol: a sampled-candidate evaluation the run declares (only a mislabelled log makes it
    # wrong); an NDCG below the single-target bound (a fact of arithmetic, given that recall equals hit rate).
    PROTOCOL_STATED = 0.9
    PROTOCOL_BOUND = 0.85
    # Loss rising while recall collapses: divergence, though a bad data shard could look alike.
    LOSS_AND_RECALL = 0.75
    # Loss far above a uniform guess: measured, only a mis-logged loss would make it wrong.
    LOSS_ABOVE_GUESS = 0.85
    # item_count from a checkpoint/run differs from the dataset's constant: data almost surely differ.
    ITEM_COUNT_DIFFERS = 0.85
    # Identical recall at every evaluation: a broken split or a broken evaluation (cannot tell which).
    CONSTANT_RECALL = 0.6
    # ...and near zero against the paper from the first evaluation: the split or the evaluation is broken.
    CONSTANT_NEAR_ZERO = 0.85
    # Metrics frozen near zero while the training loss moves beyond its own noise (five or more evaluations show
    # it): the evaluation measures nothing, as sure as a constant near-zero recall. Over fewer (an excerpt) the
    # loss's moves cannot be told from its noise, and one hit more or less can hide behind the same printed
    # digits: medium.
    UNRESPONSIVE_EVALUATION = 0.85
    UNRESPONSIVE_EXCERPT = 0.6
    # Frozen at an ordinary level, to digits fine enough to show a plateau's moves, while the loss falls beyond its
    # noise: the evaluation almost surely scores something fixed, though a coarsely rounding print could mimic it.
    FROZEN_AT_LEVEL = 0.7
    # A multi-interest run below a single-interest one on Book/Taobao (scaled by data proximity).
    BELOW_SINGLE_INTEREST = 0.7
    # The checkpoint's variables belong to another model family than the run's name says.
    OTHER_FAMILY = 0.6
    # The checkpoint shows dead/collapsed interests.
    DEAD_INTERESTS = 0.9
    # A curve still rising at the stop; more when the stop is also below the Book budget (a prior that agrees).
    RISING_AT_STOP = 0.6
    RISING_IN_PATIENCE_WINDOW = 0.55
    BELOW_BUDGET = 0.15
    # Measured on the run's own split files: the ids' order / the users shared between splits.
    DATA_MEASURED = 0.9
    # A curve still climbing with a patience window too short (< MIN_EVALS_FOR_SHAPE evaluations) to show a plateau.
    SHORT_PATIENCE_WINDOW = 0.5
    # Oscillation / overfitting: base plus the measured size (jitter, decay), so bigger effects are surer.
    CURVE_SHAPE = 0.4
    # A setting that differs from the original's (neg_num, batch): certain it differs, unsure it matters.
    SETTING_DIFFERS = 0.5
    SMALLER_BATCH_BELOW_PAPER = 0.6
    LARGER_BATCH = 0.4
    # A cut-off the paper lacks (certain from the setting) / cut-off sources that disagree.
    CUTOFF_ABSENT = 0.9
    CUTOFF_CONFLICT = 0.6
    CUTOFF_STATED = 0.8
    CUTOFF_ASSUMED = 0.5
    # NDCG inferred from the ratio: inside one definition's band (reference `ndcg_over_hitrate`), measured on the
    # run's dataset at its cut-off; the bands are disjoint and real runs fall inside them, so a ratio in one is
    # a strong sign, short of a stated definition.
    RATIO_IN_BAND = 0.85
    # A ratio in no band: the NDCG is not shown to be the paper's, but which definition it is stays open.
    RATIO_IN_NO_BAND = 0.4
    # A band measured on other data or at another cut-off is a weaker guide.
    RATIO_OTHER_DATA = 0.6


class InterestThresholds:
    """recdoc's judgement on probe statistics, each with the reason for its value."""

    # What the probe measures (`recdoc probe`, over each user's interest vectors). Two interest vectors with cosine
    # above this share over 90% of their direction (cos^2 > 0.9): they retrieve almost the same items. Random
    # directions in d = 64 have |cos| around 0.13, so chance never gets near it.
    COLLAPSE_COSINE = 0.95
    # An interest below 1% of the norm of the user's strongest interest has inner products about 100x smaller: it
    # cannot win the merge or the readout unless every other interest points away from the item.
    NEAR_ZERO_NORM_RATIO = 0.01
    # `recdoc analyze --deep` probes at most this many users when the run has no probe.json: enough to estimate
    # shares of 1/K to about a percent, and bounded time on Book/Taobao-sized validation sets.
    DOCTOR_MAX_USERS = 5_000
    # What the checkpoint reader measures on the weights themselves (no data): an interest whose weights are under
    # this share of the median interest's norm contributes nothing; two interests whose weights point the same way
    # (cosine above WEIGHT_COLLAPSE_COSINE) produce the same vector for every user. Weights, unlike a user's
    # vectors, differ by their random initialisation even in a barely trained model, hence the stricter line.
    DEAD_WEIGHT_NORM_RATIO = 0.01
    WEIGHT_COLLAPSE_COSINE = 0.999
    # A pair of interests counts as collapsed when, for more than half of the users, their cosine is above
    # COLLAPSE_COSINE (they share over 90% of their direction and retrieve nearly the same items). A
    # majority makes it a property of the model, not of a few users whose history is one genre.
    COLLAPSED_USER_SHARE = 0.5
    # Interests that are not identical can still be redundant: when two interests' own top-N lists share over half
    # their items on average, most of what one retrieves another retrieves too, so the K interests are not K
    # neighbourhoods. Distinct interests share little: by chance N / items (under 4% for N = 50 on MovieLens'
    # 1,349 items), and interests that each follow one group of the history share only that group's popular items.
    OVERLAP_SHARE = 0.5
    # Overlap is a graded property (how redundant), unlike near-identical vectors: a medium-sure finding.
    CONFIDENCE_OVERLAP = 0.7
    # ComiRec-DR's K bilinear maps start independent and routing starts from zero logits, so healthy interests
    # point in unrelated directions: mean pairwise cosine 0.07 (the original's own checkpoint on MovieLens-100K,
    # orig-runs/a_dr) and 0.08-0.10 (recdoc's, bench/probe_proof.py). A readout fed item 0 trains every interest
    # toward one general taste: 0.52-0.69 in the original's faulty runs (the issue that started recdoc), 0.68-0.84
    # in recdoc's. Above this line a DR's interests share one direction even when their top-N lists do not yet
    # overlap by half. Not applied to SA and MIND, whose healthy interests are closer (0.30 in the original's
    # checkpoints: attention heads over one history, one shared bilinear map).
    DR_MEAN_COSINE = 0.4
    # "Almost never": an interest that gets under a tenth of its fair share (1/K) of the readout wins, or of the
    # retrieved items, is dead. In a healthy model every interest that learned anything gets a visible share; the
    # readout's choice is also the only way an interest receives a gradient from the loss, so an interest below a
    # tenth of its fair share of wins is barely trained at all. For K = 4 the line is at 2.5%.
    DEAD_FRACTION_OF_FAIR = 0.1
    # An interest near zero norm (below 1% of the user's strongest) for most users is dead whatever its shares.
    NEAR_ZERO_USER_SHARE = 0.5
    # A share is judged only when, at the fair share, the interest would have been credited this many items or
    # targets: below that a share of 0 can be chance (20 expected -> P(0) = e^-20 under Poisson).
    MIN_EXPECTED_COUNT = 20
    # Too few users to call it a property of the model.
    MIN_USERS = 20
    # A direct measurement of the checkpoint: as sure as an observed fault.
    CONFIDENCE = 0.9
    # Retrieval share alone (wins look normal): the interest learned but the others outscore it at retrieval. Real,
    # but weaker evidence of a fault than a readout that never picks it.
    CONFIDENCE_RETRIEVAL_ONLY = 0.5


class IdentityThresholds:
    """Which paper dataset a run's data is (`diagnose/identity.py`): how close is close, and how sure each kind of
    evidence makes recdoc."""

    # A hit rate within this factor of the paper's row for the model is consistent with that data; outside the wider
    # band it contradicts it. Runs of one model on one dataset spread by about +-30% across codes and budgets.
    CONSISTENT = (0.6, 1.6)
    CONTRADICTS = (0.4, 2.2)
    # Hit rates below this say nothing about the data (a broken or diverged run scores near zero anywhere).
    MIN_HITRATE = 0.01
    # A stated count within this share of a paper dataset's is that dataset's (users: the script's count may differ
    # by the users a filter drops).
    COUNT_TOLERANCE = 0.01

    # The stated user/item counts match a paper dataset's; its name and hit-rate magnitude agree; its name alone.
    CONFIDENCE_COUNT = 0.95
    CONFIDENCE_NAME_AND_MAGNITUDE = 0.8
    CONFIDENCE_NAME_ONLY = 0.55


class LossThresholds:
    """The training loss as evidence about the model (`diagnose/rules/loss.py`): how far from the chance level and
    from the original's loss is a different model, and how sure that makes recdoc."""

    # Evaluations a gap must hold over: one evaluation's loss is a mean over test_iter steps (noise ~0.5%), but a
    # gap at one or two points can be a restart or a logging glitch.
    MIN_EVALS = 5
    # "At chance": the late loss at or above 97% of ln(S + 1). The original's runs cross that level early and end
    # at 30-70% of it; 3% leaves room for accidental hits removed and for noise, not for learning.
    AT_CHANCE = 0.97
    # "Flat": the loss fell by less than 2% across the trend window. The original's loss falls about 10% over its
    # first ten evaluations while still near chance (DR on Book, 1k-10k: 7.95 to 7.13), and still about 3% over
    # 51 evaluations at 500k.
    FLAT = 0.02
    # "Recall rose": the late validation recall at least twice the first evaluation's: the model learned
    # something the loss does not show.
    RECALL_RISE = 2.0
    # "Far above the original's": the run's loss at least 1.5x the original's at the same iteration on 80% of
    # the evaluations compared. Runs of the same model and code at the same setting agree within a few % (recdoc's
    # trainer against the original: 0.2-1.4%; on MovieLens-100K with its own split order 0.98-1.00x), while
    # another model at the same setting can differ a lot (on Book at lr 0.001, DNN vs DR at 150k: 2.44 vs 4.42),
    # so the reference is always the same model, and a model variant (MIND without its ReLU) is never used as
    # one. 10% above is nothing.
    FAR_ABOVE = 1.5
    STRONG_ABOVE = 2.0
    # Up to 15% above the original's (median) reads "where the original's is": seeds, data orderings and a
    # reconstructed split move the loss by a few %, and one model of the paper against another by up to ~25%.
    NEAR_REFERENCE = 1.15
    HOLD_SHARE = 0.8
    # A learning rate this many times the original's for the model can hold the loss up by itself.
    HIGH_LR = 1.5
    # Confidence in "the model is wired differently" from the loss alone: meaningful, below what a checkpoint
    # shows (dead interests 0.9). At chance with rising recall: 0.6; far above the original's: 0.45 at 1.5x
    # to 0.6 at 2x; both: +0.15, at most 0.75.
    AT_CHANCE_CONFIDENCE = 0.6
    ABOVE_REFERENCE_CONFIDENCE = (0.45, 0.6)
    BOTH_BONUS = 0.15
    CAP = 0.75

