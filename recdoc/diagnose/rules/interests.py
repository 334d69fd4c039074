"""Rules on what the interest probe saw inside a multi-interest checkpoint: collapsed and dead interests.

The probe (`recdoc probe RUN`, recdoc/instruments/probe/; or `recdoc analyze --deep` on a recdoc run) measures each
interest's share of the retrieved items, of the hits and of the readout wins, its norm, and the cosine between a
user's interests. The engine puts its `probe.json` content in `Run.extra_metrics["probe"]` (and the file in
`Run.extra_metrics["probe_ref"]`). These rules are pure functions of that dict; `judge_probe` applies them to a
probe directly (the `probe` command uses it).
"""

from __future__ import annotations

from typing import Any

from recdoc.diagnose.findings import Evidence, Finding, Fix, NotACause
from recdoc.diagnose.observed_run import SourceRef
from recdoc.diagnose.rules.base import Rule, RuleContext
from recdoc.thresholds import InterestThresholds

PROBE_KEY = "probe"
PROBE_REF_KEY = "probe_ref"


class ProbeRule(Rule):
    """A rule judged on the interest probe alone: silent on a run without one."""

    family = "interests"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        probe, ref = probe_of(ctx)
        return None if probe is None else self.outcome(probe, ref)

    def outcome(self, probe: dict[str, Any], ref: SourceRef | None) -> Finding | NotACause | None:
        raise NotImplementedError


class InterestCollapse(ProbeRule):
    """A multi-interest model whose interests are nearly identical vectors: it is a single-interest model in effect.

    What it checks:
        From the interest probe of the best checkpoint on the validation users: for each pair of interests, the
        share of users whose two interest vectors have cosine above 0.95. A pair collapses when that share is above
        half; all pairs collapsed for over half of the users is a full collapse. Short of that, the interests are
        redundant when two interests' own top-N lists share over half of their items on average (the mean over
        pairs and users).

    Why it matters:
        The point of K interests is K different neighbourhoods of the item space. Interests that coincide retrieve
        the same items, so the model spends K times the compute for one interest's list and loses the diversity the
        paper reports. It comes from wiring (routing softmax over positions instead of interests, identical
        initial weights for all interests, a readout that ignores the target), not from a training setting.

    Evidence it cites:
        The collapsed pairs with their share of users and mean cosine, the mean pairwise cosine and top-N overlap,
        the share of users with every pair above 0.95, and the probe file.

    Fix:
        Not a setting: check that the routing softmax runs over interests (axis K) for each position, that the
        per-interest weights start different, and that the readout is fed the true target; then train again and
        probe. On tiny data a smaller --num_interest can be tried.
    """

    id = "interest-collapse"
    statement = "The model's interests are nearly identical vectors."

    def outcome(self, probe: dict[str, Any], ref: SourceRef | None) -> Finding | NotACause | None:
        return collapse_outcome(probe, ref)


class DeadInterest(ProbeRule):
    """An interest that (almost) never wins the readout or retrieves an item: it carries no signal.

    What it checks:
        From the interest probe of the best checkpoint on the validation users, per interest: its share of the
        readout wins for the true targets (argmax_k <v_k, e_target>), its share of the retrieved items after the
        K-interest merge, and how often its norm is near zero. Dead: wins or retrieved share under a tenth of the
        fair share 1/K (2.5% for K = 4), or near-zero norm for over half of the users. A low retrieval share alone
        (the readout still picks the interest) is reported as low severity: outscored rather than dead. A share is
        judged only with enough targets or items that a zero could not be chance.

    Why it matters:
        In training the readout picks one interest per example, and only that interest gets a gradient. An interest
        that never wins is never trained: its retrievals are noise that push real items out of the merged list. A
        port that feeds the readout a dummy target (item 0) trains one interest and leaves the others dead, and its
        log looks like any other run's.

    Evidence it cites:
        Each dead interest's readout-win, retrieval and hit shares and near-zero share against the line, and the
        probe file.

    Fix:
        Not a setting: check that the readout receives the true target item (not item 0 or a padding id), that the
        routing logits start at zero on every pass, and compare a forward pass with the original's.
    """

    id = "dead-interest"
    statement = "An interest (almost) never wins the readout or retrieves an item."

    def outcome(self, probe: dict[str, Any], ref: SourceRef | None) -> Finding | NotACause | None:
        return dead_outcome(probe, ref)


def probe_of(ctx: RuleContext) -> tuple[dict[str, Any] | None, SourceRef | None]:
    probe = ctx.run.extra_metrics.get(PROBE_KEY)
    if not isinstance(probe, dict):
        return None, None
    where = ctx.run.extra_metrics.get(PROBE_REF_KEY)
    return probe, SourceRef(str(where)) if where else None


def judge_probe(probe: dict[str, Any], ref: str | None = None) -> list[Finding | NotACause]:
    """Both interest rules on one probe (what `recdoc probe` prints)."""
    where = SourceRef(ref) if ref else None
    outcomes = [collapse_outcome(probe, where), dead_outcome(probe, where)]
    return [outcome for outcome in outcomes if outcome is not None]


def _usable(probe: dict[str, Any]) -> bool:
    return (isinstance(probe.get("interests"), list) and int(probe.get("num_interest") or 0) >= 2
            and int(probe.get("users") or 0) >= InterestThresholds.MIN_USERS)


def _scope(probe: dict[str, Any]) -> str:
    return f"{probe.get('users')} {probe.get('split', 'valid')} users, K = {probe.get('num_interest')}"


def collapse_outcome(probe: dict[str, Any], ref: SourceRef | None) -> Finding | NotACause | None:
    if not _usable(probe):
        return None
    k = int(probe["num_interest"])
    cosine = probe["cosine"]
    above, means = cosine["pair_above_share"], cosine["pair_mean"]
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    collapsed = [(i, j) for i, j in pairs if above[i][j] > InterestThresholds.COLLAPSED_USER_SHARE]
    everything = cosine["all_pairs_above_share"] > InterestThresholds.COLLAPSED_USER_SHARE
    overlap = probe.get("overlap") or {}
    overlap_mean = overlap.get("mean")
    summary = (f"mean pairwise cosine {cosine['mean']:.3f}; every pair above {cosine['threshold']} for "
               f"{100 * cosine['all_pairs_above_share']:.1f}% of users; mean top-{probe.get('top_n')} overlap "
               f"{_pct(overlap_mean)} ({_scope(probe)})")
    values = {"cosine_mean": cosine["mean"], "all_pairs_above_share": cosine["all_pairs_above_share"],
              "overlap_mean": overlap_mean}
    if (not collapsed and probe.get("model_type") == "ComiRec-DR"
            and cosine["mean"] > InterestThresholds.DR_MEAN_COSINE
            and not (overlap_mean is not None and overlap_mean > InterestThresholds.OVERLAP_SHARE)):
        return Finding(
            id="interest-collapse",
            title=f"the {k} interests point one way: mean pairwise cosine {cosine['mean']:.2f} (healthy ComiRec-DR: "
                  "about 0.1)",
            severity="medium", confidence=InterestThresholds.CONFIDENCE_OVERLAP, basis="evidence",
            evidence=(Evidence(f"mean pairwise cosine of a user's interests {cosine['mean']:.3f} (line for ComiRec-DR: "
                               f"{InterestThresholds.DR_MEAN_COSINE}; healthy DR checkpoints 0.07-0.10)", ref, values),
                      Evidence(summary, ref, values)),
            fix=_collapse_fix(k, cosine["threshold"]),
            explanation="DR's interests start independent; interests drawn toward one direction are what a readout "
                        "that ignores the target (fed item 0) produces.")
    if not collapsed and overlap_mean is not None and overlap_mean > InterestThresholds.OVERLAP_SHARE:
        shared = overlap["pair_mean"]
        worst = max(pairs, key=lambda p: shared[p[0]][p[1]] + shared[p[1]][p[0]])
        return Finding(
            id="interest-collapse",
            title=f"the {k} interests overlap: two interests share {100 * overlap_mean:.0f}% of their "
                  f"top-{probe.get('top_n')} on average",
            severity="medium", confidence=InterestThresholds.CONFIDENCE_OVERLAP, basis="evidence",
            evidence=(Evidence(f"mean overlap of two interests' own top-{probe.get('top_n')} lists "
                               f"{100 * overlap_mean:.1f}% (line: {100 * InterestThresholds.OVERLAP_SHARE:.0f}%); "
                               f"most: interests {worst[0]} and {worst[1]} "
                               f"({100 * shared[worst[0]][worst[1]]:.1f}%)", ref, values),
                      Evidence(summary, ref, values)),
            fix=_collapse_fix(k, cosine["threshold"]),
            explanation="Interests that retrieve mostly the same items are not separate interests; a readout that "
                        "ignores the target (fed item 0) trains every interest toward the same general taste.")
    if not collapsed:
        # The pair nearest to collapsing: most users above the line, then (all at 0%, the healthy case) the
        # highest mean cosine, as the probe table's "closest" column shows it.
        worst = max(pairs, key=lambda p: (above[p[0]][p[1]], means[p[0]][p[1]]))
        return NotACause("interest-collapse", "interests collapsed onto each other",
                         f"no pair of interests is above cosine {cosine['threshold']} for more than half of the "
                         f"users (closest: {worst[0]} and {worst[1]}, cosine {means[worst[0]][worst[1]]:.2f}, above "
                         f"it for {100 * above[worst[0]][worst[1]]:.1f}% of users), and two interests share "
                         f"{_pct(overlap_mean)} of their top-{probe.get('top_n')} on average (line: "
                         f"{100 * InterestThresholds.OVERLAP_SHARE:.0f}%); mean pairwise cosine "
                         f"{cosine['mean']:.3f} ({_scope(probe)})",
                         (Evidence(summary, ref, values),))
    evidence = [Evidence(f"interests {i} and {j}: cosine above {cosine['threshold']} for "
                         f"{100 * above[i][j]:.1f}% of users (mean cosine {means[i][j]:.3f})", ref,
                         {"pair": [i, j], "above_share": above[i][j], "cosine_mean": means[i][j]})
                for i, j in collapsed]
    evidence.append(Evidence(summary, ref, values))
    distinct = _distinct_interests(k, collapsed)
    title = (f"all {k} interests collapsed into one" if everything or distinct == 1
             else f"{len(collapsed)} pair(s) of interests collapsed: about {distinct} distinct interests of {k}")
    return Finding(
        id="interest-collapse", title=title, severity="high" if distinct == 1 else "medium",
        confidence=InterestThresholds.CONFIDENCE, basis="evidence", evidence=tuple(evidence),
        fix=_collapse_fix(k, cosine["threshold"]),
        explanation="Identical interests retrieve the same items: the model is a single-interest model in effect.")


def _collapse_fix(k: int, threshold: float) -> Fix:
    return Fix({}, f"{k} distinct interests (pairwise cosine well below {threshold}, little top-N overlap)",
               applicable=False,
               how="check the readout is fed the true target (not item 0), the routing softmax runs over interests "
                   "for each position, and the per-interest weights start different; then train again and probe")


def _distinct_interests(k: int, collapsed: list[tuple[int, int]]) -> int:
    """Connected groups of interests when collapsed pairs are joined."""
    group = list(range(k))

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for i, j in collapsed:
        group[root(j)] = root(i)
    return len({root(i) for i in range(k)})


def dead_outcome(probe: dict[str, Any], ref: SourceRef | None) -> Finding | NotACause | None:
    if not _usable(probe):
        return None
    t = InterestThresholds
    k = int(probe["num_interest"])
    line = t.DEAD_FRACTION_OF_FAIR / k
    judge_wins = int(probe.get("targets") or 0) / k >= t.MIN_EXPECTED_COUNT
    judge_retrieved = int(probe.get("retrieved_items") or 0) / k >= t.MIN_EXPECTED_COUNT
    if not (judge_wins or judge_retrieved):
        return None
    evidence: list[Evidence] = []
    confidence = 0.0
    dead: list[int] = []
    for row in probe["interests"]:
        wins, retrieved = row.get("readout_win_share"), row.get("retrieved_share")
        reasons: list[str] = []
        if judge_wins and wins is not None and wins < line:
            reasons.append(f"wins {100 * wins:.1f}% of the readouts")
        if judge_retrieved and retrieved is not None and retrieved < line:
            reasons.append(f"contributes {100 * retrieved:.1f}% of the retrieved items")
        if row.get("near_zero_share", 0.0) > t.NEAR_ZERO_USER_SHARE:
            reasons.append(f"is near zero for {100 * row['near_zero_share']:.1f}% of users")
        if not reasons:
            continue
        dead.append(row["index"])
        strong = len(reasons) > 1 or not reasons[0].startswith("contributes")
        confidence = max(confidence, t.CONFIDENCE if strong else t.CONFIDENCE_RETRIEVAL_ONLY)
        hits = row.get("hit_share")
        evidence.append(Evidence(
            f"interest {row['index']} " + " and ".join(reasons) + f" (line: {100 * line:.1f}%, a tenth of 1/{k}); "
            f"its share of the hits {'n/a' if hits is None else f'{100 * hits:.1f}%'}", ref,
            {"interest": row["index"], "readout_win_share": wins, "retrieved_share": retrieved, "hit_share": hits,
             "near_zero_share": row.get("near_zero_share")}))
    shares = "; ".join(f"{row['index']}: wins {_pct(row.get('readout_win_share'))}, retrieved "
                       f"{_pct(row.get('retrieved_share'))}" for row in probe["interests"])
    if not dead:
        return NotACause("dead-interest", "an interest that never wins or retrieves",
                         f"every interest gets at least {100 * line:.1f}% of the readout wins and of the retrieved "
                         f"items ({shares}; {_scope(probe)})",
                         (Evidence(f"per interest: {shares}", ref),))
    evidence.append(Evidence(f"all interests ({_scope(probe)}): {shares}", ref))
    alive = k - len(dead)
    # Only a low retrieval share (the readout still picks it): the interest is trained but outscored, not dead.
    state = "are dead" if confidence >= t.CONFIDENCE else "barely retrieve"
    return Finding(
        id="dead-interest", title=f"{len(dead)} of {k} interests {state} (interest {', '.join(map(str, dead))})",
        severity=("high" if alive <= k // 2 else "medium") if confidence >= t.CONFIDENCE else "low",
        confidence=confidence, basis="evidence", evidence=tuple(evidence),
        fix=Fix({}, "every interest wins a fair part of the readouts and retrieves items", applicable=False,
                how="check the readout receives the true target item (not item 0), the routing logits start at "
                    "zero on every pass, and compare a forward pass with the original's"),
        explanation="An interest the readout never picks gets no gradient; its retrievals are noise in the merge.")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


RULES = (InterestCollapse, DeadInterest)
