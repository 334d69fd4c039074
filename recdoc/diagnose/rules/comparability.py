"""Rules about whether the run's numbers can be compared with the paper's at all."""

from __future__ import annotations

from recdoc import reference
from recdoc.diagnose.config_inference import UNKNOWN_NDCG, ndcg_reading
from recdoc.diagnose.curve import best_row
from recdoc.diagnose.findings import Evidence, Finding, Fix, NotACause
from recdoc.diagnose.observed_run import SourceRef
from recdoc.diagnose.paper_comparison import sampled_candidates
from recdoc.diagnose.rules.base import Rule, RuleContext
from recdoc.thresholds import Confidence, Thresholds


def paper_cutoffs() -> list[int]:
    cells = next(iter(next(iter(reference.load()["paper"]["table3"].values())).values()))
    return sorted({int(key.split("@")[1]) for key in cells})


class NdcgDefinition(Rule):
    """The run's NDCG uses another definition than the paper's, so its NDCG gap is not a quality gap.

    What it checks:
        The NDCG definition the run states (run.json) or, when unstated, the one inferred from NDCG/HitRate at the
        same cut-off, placed among the bands of reference.json `ndcg_over_hitrate` for the run's dataset and
        cut-off (on Book @50: master 0.30-0.39, paper 0.75-0.79, the textbook `standard` NDCG about 0.2). A ratio
        in one definition's band names it; a band measured on other data or at another cut-off counts for less; a
        ratio in no band leaves the definition unknown (noted, not asserted); below a hit rate of 0.5% the ratio is
        not used at all. Every definition that is not the paper's (master, standard) is judged "not comparable"
        where the paper has an NDCG to compare (the run's own model's row or, for a model not stated, the paper's
        models' rows on the data); on other data a definition the run states (recdoc's run.json `config.ndcg`) is
        noted (info): no comparison is affected.

    Why it matters:
        The paper's NDCG (branch `paper`) discounts by the position in the target list; the master code discounts
        by rank; the textbook (`standard`) NDCG normalises by min(|targets|, N) and reads lower still. On Book the
        master NDCG is about 0.4x the paper's, so "NDCG far below the paper" (issues #6, #21, #22) is mostly a
        definition difference. Recall and hit rate are unaffected and still compare.

    Evidence it cites:
        The NDCG and hit-rate values and their ratio, the line they came from, the paper's NDCG at the cut-off.

    Fix:
        Evaluate with the paper's definition (recdoc: --ndcg paper; original: the `paper` branch), or compare recall
        and hit rate only.
    """

    id = "ndcg-definition"
    statement = "The run's NDCG uses another definition than the paper's; its NDCG is not comparable."
    family = "comparability"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        setting = ctx.config.get("ndcg")
        paper_kind = reference.load()["paper"]["ndcg_definition"]
        # Rows the run also computed with the paper's definition (recdoc's own runs) compare; only the others count.
        # Only rows with a paper number: where the paper has none (other data), the definition changes no comparison.
        # A definition is the run's whatever its model: rows placing a run of unstated model among the paper's
        # models (ctx.placements) count too.
        rows = ctx.comparisons + ctx.placements
        ndcg_rows = [c for c in rows if c.metric == "ndcg" and c.ndcg_definition not in (None, paper_kind)
                     and c.paper_value is not None]
        if setting is None or setting.value == paper_kind:
            return None
        if not ndcg_rows:
            paper_has_ndcg = any(c.metric == "ndcg" and c.paper_value is not None for c in rows)
            return None if paper_has_ndcg else self._noted_off_paper(ctx, paper_kind)
        evidence = [ctx.setting_evidence("ndcg", "NDCG definition")]
        confidence = Confidence.STATED_DEFINITION
        reading = ndcg_reading(ctx.run, ctx.config) if setting.source.startswith("inferred") else None
        if reading is not None:
            if reading.band is None:
                confidence = Confidence.RATIO_IN_NO_BAND
                text = (f"NDCG/HitRate = {reading.ratio:.2f} lies in no known definition's band "
                        f"({reading.bands_text()}): the definition is unknown, and not shown to be the paper's")
            else:
                confidence = Confidence.RATIO_IN_BAND
                text = (f"NDCG/HitRate = {reading.ratio:.2f} lies in the {reading.band.definition} band "
                        f"{reading.band.low:.2f}-{reading.band.high:.2f} ({reading.band.dataset} "
                        f"@{reading.band.cutoff}; source: {reading.band.source}); all bands consulted: "
                        f"{reading.bands_text()}")
                if not reading.measured_here:
                    confidence *= Confidence.RATIO_OTHER_DATA
                    text += f"; measured on {reading.band.dataset} @{reading.band.cutoff}, not this run's data " \
                            "and cut-off: a weaker guide here"
            evidence.append(Evidence(text, reading.ref, {"ratio": reading.ratio}))
        row = next((c for c in ndcg_rows if c.paper_value is not None), ndcg_rows[0])
        if row.model_unknown:
            values = [c.paper_value for c in ndcg_rows if c.split == row.split and c.cutoff == row.cutoff
                      and c.paper_value is not None]
            evidence.append(Evidence(f"{row.split} ndcg@{row.cutoff} {row.run_value:.2%} vs the paper's models "
                                     f"{min(values):.2%}-{max(values):.2%} on this data (paper definition; the "
                                     "run's model is not stated): a definition difference, not a quality gap",
                                     values={"run": row.run_value, "paper_min": min(values),
                                             "paper_max": max(values)}))
        elif row.paper_value is not None:
            evidence.append(Evidence(f"{row.split} ndcg@{row.cutoff} {row.run_value:.2%} vs paper "
                                     f"{row.paper_value:.2%} "
                                     f"(paper definition): a definition difference, not a quality gap",
                                     values={"run": row.run_value, "paper": row.paper_value}))
        unknown = setting.value == UNKNOWN_NDCG
        title = ("the NDCG definition is unknown (NDCG/HitRate fits no known definition); the paper's NDCG is not "
                 "comparable" if unknown else
                 f"NDCG uses the {setting.value} definition; the paper's NDCG is not comparable")
        return Finding(
            id=self.id, title=title, severity="low" if unknown else "medium", confidence=confidence,
            basis="evidence", evidence=tuple(evidence),
            fix=Fix({"ndcg": "paper"}, "NDCG comparable with the paper's; recall and hit rate unchanged",
                    how="recdoc: --ndcg paper; the original: evaluate with the `paper` branch's metric"),
            explanation="Compare recall and hit rate; the NDCG gap says nothing about the model.")

    def _noted_off_paper(self, ctx: RuleContext, paper_kind: str) -> Finding | None:
        """A stated non-paper NDCG where the paper has no NDCG to compare: a fact to know, not a cause."""
        setting = ctx.config["ndcg"]
        if setting.is_default or setting.source.startswith("inferred"):
            return None
        return Finding(
            id=self.id, title=f"NDCG uses the {setting.value} definition (stated); the paper's is the {paper_kind} "
                              "one, but the paper has no NDCG on this data to compare with",
            severity="info", confidence=Confidence.STATED_DEFINITION, basis="evidence",
            evidence=(ctx.setting_evidence("ndcg", "NDCG definition"),),
            fix=Fix({"ndcg": paper_kind}, f"NDCG comparable with other runs that use the {paper_kind} definition",
                    how=f"recdoc: --ndcg {paper_kind}"),
            explanation="Only a comparison of NDCG values across definitions would be wrong; recall and hit rate "
                        "are unaffected.")


class CutoffMismatch(Rule):
    """The run's cut-off (topN) is not the one its numbers are being judged at.

    What it checks:
        The run's topN (stated, or the tool's default: original 50, PyTorch port 20) against the paper's cut-offs
        (20 and 50), and whether the sources of topN disagree.

    Why it matters:
        Recall@20 is far below Recall@50; a @20 run compared with the paper's @50 column looks broken. recdoc
        compares like for like at the run's own cut-off; a cut-off the paper lacks cannot be compared.

    Evidence it cites:
        topN with its source (exp name `_top20`, argv, run.json, a port's default).

    Fix:
        Evaluate at 50 (the original's default) or compare with the paper's column at the run's cut-off.
    """

    id = "cutoff-mismatch"
    statement = "The run's cut-off differs from the cut-off its numbers are judged at."
    family = "comparability"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        setting = ctx.config.get("topN")
        if setting is None:
            return None
        top_n = int(setting.value)
        cutoffs = paper_cutoffs()
        evidence = (ctx.setting_evidence("topN", "cut-off (topN)"),)
        if top_n not in cutoffs:
            return Finding(
                id=self.id,
                title=f"the run is evaluated @{top_n}; the paper reports @{' and @'.join(map(str, cutoffs))}",
                severity="medium", confidence=Confidence.CUTOFF_ABSENT, basis="evidence", evidence=evidence,
                fix=Fix({"topN": max(cutoffs)}, "numbers comparable with the paper's Table 3"),
                explanation="No paper number exists at this cut-off.")
        if setting.conflicts:
            return Finding(
                id=self.id, title=f"sources disagree on the cut-off: {top_n} ({setting.source}) vs "
                                  + ", ".join(f"{v} ({s})" for v, s in setting.conflicts),
                severity="low", confidence=Confidence.CUTOFF_CONFLICT, basis="evidence", evidence=evidence,
                fix=Fix({"topN": top_n}, "a known cut-off", how="check which cut-off the evaluation used; set it "
                                                                 "with --set topN=N"),
                explanation="The comparison uses the first source; a wrong cut-off makes every gap wrong.")
        default_top_n = int(reference.load()["original_defaults"]["common"]["topN"])
        if top_n != default_top_n:
            return Finding(
                id=self.id, title=f"the run's numbers are @{top_n}: compare with the paper's @{top_n}, "
                                  f"not the usual @{default_top_n}",
                severity="info", basis="evidence",
                confidence=Confidence.CUTOFF_ASSUMED if setting.is_default else Confidence.CUTOFF_STATED,
                evidence=evidence, fix=Fix({}, "like-for-like comparison", how="the comparison table uses "
                                                                             f"the paper's @{top_n} column"),
                explanation="Recall@20 is naturally lower than Recall@50.")
        return None


class EvaluationProtocol(Rule):
    """The run's evaluation protocol is not the paper's: sampled candidates, or an NDCG no standard definition gives.

    What it checks:
        A sampled-candidate evaluation the run declares (the readers' `eval_candidates` fact: e.g. 99 negatives
        per target, or RecBole's `test_all 0`; `full` is a ranking over all items, as the paper's); and, on a
        single-target evaluation (recall equal to hit rate at the same cut-off: one target per user, so a hit is
        the whole recall), an NDCG@K below HitRate@K / log2(K + 1). With one target, a hit at rank r scores
        1 / log2(r + 1) >= 1 / log2(K + 1), so NDCG@K >= HitRate@K / log2(K + 1) under every standard definition
        (and precision@K = HitRate@K / K).

    Why it matters:
        Ranking a target among 100 sampled candidates instead of all items reads many times higher: such numbers
        are not comparable with the paper's Table 3 (recdoc marks those rows not comparable). An NDCG below the
        single-target bound is not an NDCG any standard code computes (a normalisation over the wrong count, a
        log base or a cut-off mixed up), so the run's NDCG compares with nothing.

    Evidence it cites:
        The declared candidate count with its line; the NDCG, hit rate and recall values, the cut-off and the bound,
        with their line.

    Fix:
        Not a training setting: evaluate over all items (full ranking) with the paper's metric definitions, or
        compare only with runs evaluated the same way.
    """

    id = "evaluation-protocol"
    statement = "The run's evaluation protocol is not the paper's (sampled candidates, or an impossible NDCG)."
    family = "comparability"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        evidence: list[Evidence] = []
        symptoms: list[str] = []
        sampled = sampled_candidates(ctx.run)
        if sampled is not None:
            fact = ctx.run.declared["eval_candidates"]
            evidence.append(Evidence(f"each target is ranked among {sampled} sampled candidates"
                                     + (f" ({fact.text.strip()[:100]})" if fact.text else ""), fact.ref,
                                     {"eval_candidates": sampled}))
            symptoms.append(f"sampled-candidate evaluation ({sampled} candidates), not a ranking over all items")
        impossible = _impossible_ndcg(ctx)
        if impossible is not None:
            evidence.append(impossible)
            symptoms.append("an NDCG below HitRate/log2(K+1) on single-target evaluation, which no standard "
                            "definition gives")
        if not evidence:
            return None
        return Finding(
            id=self.id, title="the evaluation protocol is not the paper's: " + "; ".join(symptoms),
            severity="medium", confidence=Confidence.PROTOCOL_STATED if sampled is not None
            else Confidence.PROTOCOL_BOUND, basis="evidence", evidence=tuple(evidence),
            fix=Fix({}, "numbers comparable with the paper's Table 3", applicable=False,
                    how="evaluate over all items (a full ranking) with the paper's metric definitions, or compare "
                        "only with runs evaluated the same way"),
            explanation="The gap to the paper, if any, is then a protocol difference, not model quality.")


def _impossible_ndcg(ctx: RuleContext) -> Evidence | None:
    """The first evaluation (finals, then the best validation row) whose NDCG@K is below HitRate@K / log2(K+1)
    while recall equals hit rate (single-target evaluation)."""
    import math

    top_n = ctx.value("topN")
    candidates: list[tuple[str, float | None, float | None, float | None, int | None, SourceRef | None]] = []
    for split, final in ctx.run.finals.items():
        candidates.append((f"final {split}", final.recall, final.ndcg, final.hitrate, final.cutoff or top_n,
                           final.ref))
    best = best_row(ctx.run.curve) if ctx.run.has_curve else None
    if best is not None:
        ref = SourceRef(best["file"], None if best["line"] != best["line"] else int(best["line"])) \
            if isinstance(best["file"], str) else None
        candidates.append(("best valid", best["recall"], best["ndcg"], best["hitrate"], top_n, ref))
    for label, recall, ndcg, hitrate, cutoff, ref in candidates:
        values = [recall, ndcg, hitrate]
        if cutoff is None or int(cutoff) < 1 or any(v is None or v != v for v in values):
            continue
        recall, ndcg, hitrate = float(recall), float(ndcg), float(hitrate)  # type: ignore[arg-type]
        if hitrate < Thresholds.MIN_HITRATE_FOR_BOUND or ndcg < 0:
            continue
        single_target = abs(recall - hitrate) <= Thresholds.SINGLE_TARGET_TOLERANCE * hitrate
        bound = hitrate / math.log2(int(cutoff) + 1)
        if single_target and ndcg < bound * (1 - Thresholds.SINGLE_TARGET_TOLERANCE):
            return Evidence(f"{label} NDCG@{cutoff} {ndcg:.4f} < HitRate@{cutoff} / log2({int(cutoff) + 1}) = "
                            f"{bound:.4f}, with recall {recall:.4f} = hit rate (one target per user)", ref,
                            {"ndcg": ndcg, "hitrate": hitrate, "recall": recall, "bound": bound,
                             "cutoff": int(cutoff)})
    return None


RULES = (NdcgDefinition, CutoffMismatch, EvaluationProtocol)
