"""Rules on what `--deep` learned by loading the run's checkpoint: its rescore, and what it could not examine.

The engine's deep step (`recdoc/diagnose/deep_checks.py`) puts the rescore (`recdoc rescore`: recdoc's reference
evaluation of the checkpoint beside the logged numbers) in `Run.extra_metrics["rescore"]`, and the checks it could
not run in `Run.extra_metrics["deep_missing"]`. Pure functions of those dicts.
"""

from __future__ import annotations

from typing import Any

from recdoc.diagnose.findings import Evidence, Finding, Fix, NotACause
from recdoc.diagnose.observed_run import SourceRef
from recdoc.diagnose.rules.base import Rule, RuleContext

# The same weights give the same numbers under the same evaluation: a difference is a measured fact, not a
# prior. Not 1.0: a data folder that is not the split the run evaluated on gives different numbers too.
CONFIDENCE_DIFFERS = 0.8


class EvaluationDiffers(Rule):
    """The run's logged metrics are not what the reference evaluation gives for the same weights.

    What it checks:
        With --deep and the data folder: the best checkpoint is loaded into recdoc's model (the original's TF1
        files, a TF2 or PyTorch port's, recdoc's) and evaluated with the reference evaluation (full catalogue,
        K-interest merge without item 0, recall/NDCG/hit rate at @20 and @50, every NDCG definition). Each final
        valid/test number of the log must equal one of those definitions to the six printed digits (for MIND,
        whose routing logits are random on every pass, lie within the spread of a few passes).

    Why it matters:
        Equal numbers mean the run's evaluation is the reference one and its numbers compare with the paper's
        (given the same NDCG definition). Different numbers from the same weights mean the run's evaluation code
        differs (master vs paper recall on repeated targets, a set-order NDCG, a cut-off, masked history items), or
        the data is not the split the run evaluated on: the gap to the paper is then partly a measuring
        difference, which no training change closes.

    Evidence it cites:
        Each logged number that no definition reproduces, with its log line, recdoc's closest definition and
        value, and a cut-off that reproduces it if one does; the checkpoint rescored.

    Fix:
        Not a setting: evaluate the run with the reference evaluation (`recdoc rescore RUN --data_dir DIR`) and
        compare those numbers with the paper; check the data folder is the run's own split.
    """

    id = "evaluation-differs"
    statement = "The logged metrics differ from the reference evaluation of the same checkpoint."
    family = "comparability"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        rescore = ctx.run.extra_metrics.get("rescore")
        if not isinstance(rescore, dict):
            return None
        where = ctx.run.extra_metrics.get("rescore_ref")
        return evaluation_outcome(rescore, SourceRef(str(where)) if where else None)


def evaluation_outcome(rescore: dict[str, Any], ref: SourceRef | None) -> Finding | NotACause | None:
    verdict = rescore.get("verdict")
    rows = rescore.get("comparison") or []
    if verdict == "reference":
        kinds = ", ".join(rescore.get("ndcg_kinds") or []) or "n/a"
        shown = "; ".join(f"{r['split']} {r['metric']} {r['logged']:.6f} = {', '.join(r['matches'])}" for r in rows
                          if r["metric"] in ("recall", "ndcg"))
        return NotACause("evaluation-differs", "the run's evaluation differs from the reference one",
                         f"recdoc's evaluation of the same checkpoint reproduces every logged number ({shown}); "
                         f"the log's NDCG is {kinds}",
                         (Evidence(rescore.get("explanation", ""), ref, {"verdict": verdict}),))
    if verdict != "differs":
        return None
    evidence = []
    for row in rows:
        if row["matches"]:
            continue
        text = (f"logged {row['split']} {row['metric']} {row['logged']:.6f} ({_log_ref(row)}); recdoc's "
                f"{row['closest']} of the same weights {row['ours']:.6f}")
        if row.get("other_cutoff"):
            text += f"; reproduced by {', '.join(row['other_cutoff'])} (another cut-off)"
        evidence.append(Evidence(text, ref, {"logged": row["logged"], "ours": row["ours"], "closest": row["closest"]}))
    evidence.append(Evidence(rescore.get("explanation", ""), ref, {"verdict": verdict}))
    data = rescore.get("likely_cause") == "data"
    return Finding(
        id="evaluation-differs",
        title="the logged metrics are not what the reference evaluation gives for the same checkpoint"
              + (" (hit rate too: probably not the run's data split)" if data else ""),
        severity="medium", confidence=CONFIDENCE_DIFFERS, basis="evidence", evidence=tuple(evidence),
        fix=Fix({}, "numbers that compare with the paper's", applicable=False,
                how="report the reference evaluation's numbers (recdoc rescore RUN --data_dir DIR); check the run's "
                    "evaluation code (recall on repeated targets, NDCG ranks, cut-off) and that the data folder is "
                    "the run's own split"),
        explanation="Same weights, different numbers: a measuring difference, not a model problem.")


def _log_ref(row: dict[str, Any]) -> str:
    return str(row.get("ref") or "the log")


class CheckpointNotExamined(Rule):
    """--deep was asked for but a checkpoint check could not run: what is missing, and what it would decide.

    What it checks:
        With --deep: whether the interest probe and the rescore ran on the run's checkpoint. Each one that did
        not is listed with what was missing (no checkpoint, no data folder, tensors that map to no recdoc model,
        torch not installed) and what it would have decided.

    Why it matters:
        A wiring fault such as a readout fed item 0 can raise the logged recall on small data; only the inside of
        the checkpoint shows it. A report that says nothing about not having looked reads as a clean bill.

    Evidence it cites:
        The missing piece and the question the check would answer.

    Fix:
        Supply what is missing (usually `--data_dir DIR`, the folder holding the run's <dataset>_data/) and run
        `recdoc analyze RUN --deep --data_dir DIR` again.
    """

    id = "checkpoint-not-examined"
    statement = "--deep could not look inside the checkpoint."
    family = "integrity"

    def check(self, ctx: RuleContext) -> Finding | NotACause | None:
        missing = ctx.run.extra_metrics.get("deep_missing")
        if not missing:
            return None
        evidence = tuple(Evidence(f"{m['check']} not run: {m['missing']}; it would decide {m['would_decide']}",
                                  None, dict(m)) for m in missing)
        checks = ", ".join(dict.fromkeys(m["check"] for m in missing))
        return Finding(
            id=self.id, title=f"--deep did not look inside the checkpoint ({checks} not run)",
            severity="info", confidence=1.0, basis="evidence", evidence=evidence,
            fix=Fix({}, "the checkpoint examined", applicable=False,
                    how="pass --data_dir DIR (the folder holding the run's <dataset>_data/) or point at the "
                        "checkpoint folder, then run analyze --deep again"),
            explanation="Without looking inside, a wiring fault that the log hides cannot be ruled out.")


RULES = (EvaluationDiffers, CheckpointNotExamined)
