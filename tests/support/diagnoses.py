"""Hand-built `Diagnosis`es for the reports: with findings, healthy, unusable (independent of the engine)."""

from __future__ import annotations

from recdoc.diagnose.findings import Comparison, Diagnosis, Evidence, Finding, Fix, NotACause, Setting
from recdoc.diagnose.observed_run import CheckpointInfo, Fact, FinalMetrics, Run, SourceRef, curve_from_rows

LOG = "runs/x/train.log"
TOP_N = Setting(50, "default (book)")


def _curve() -> list[dict]:
    # Six evaluations: improvements at 1000, 2000, 4000 (best 0.05 at 4000), then two non-improving.
    recalls = [0.02, 0.04, 0.035, 0.05, 0.049, 0.05]
    return [{"iter": 1000 * (i + 1), "train_loss": 8.0 - 0.1 * i, "recall": r, "ndcg": r * 0.7,
             "hitrate": r * 2.1, "file": LOG, "line": 2 * i + 2} for i, r in enumerate(recalls)]


def make_run(with_curve: bool = True) -> Run:
    run = Run(format="original", paths=[LOG])
    run.exp_name = Fact("book_ComiRec-DR_b128_lr0.001_d64_len20_x", SourceRef(LOG, 1))
    if with_curve:
        run.curve = curve_from_rows(_curve())
        run.stop_reason, run.stop_ref = "early_stop", SourceRef(LOG, 12)
        run.finals["test"] = FinalMetrics("test", 0.061821, 0.045488, 0.1332, 0.22, SourceRef(LOG, 15))
    return run


def recall_row(run_value: float = 0.061821) -> Comparison:
    return Comparison("recall", 50, "test", run_value, 0.08106, True, True)


def findings_diagnosis(run: Run | None = None) -> Diagnosis:
    run = run or make_run()
    run.checkpoints.append(CheckpointInfo("runs/x/keras_ckpt", "tf2-manager", "ckpt-3", 3, False,
                                          SourceRef("runs/x/keras_ckpt/checkpoint", 1)))
    return Diagnosis(
        verdict="findings", run=run,
        config={"learning_rate": Setting(0.001, "exp name", SourceRef(LOG, 1)),
                "neg_num": Setting(10, "default (book)", conflicts=((20, "argv"),)), "topN": TOP_N},
        metrics=engine_metrics(),
        comparisons=[recall_row(),
                     Comparison("ndcg", 50, "test", 0.045488, 0.1352, True, False,
                                "ndcg-definition: the run's NDCG is master, the paper's is paper", "master"),
                     Comparison("hitrate", 50, "test", 0.1332, 0.17583, False, True)],
        findings=[Finding("lr-model-mismatch", "ComiRec-DR trained at lr 0.001", "high", 0.8, "both",
                          (Evidence("lr 0.001 in the exp name", SourceRef(LOG, 1), {"learning_rate": 0.001}),),
                          Fix({"learning_rate": 0.005}, "recall up by about a point")),
                  Finding("readout-wiring", "DR below the single-interest DNN", "medium", 0.5, "evidence", (),
                          Fix({}, "DR above DNN", "check the readout's target input", applicable=False))],
        not_causes=[NotACause("neg-samples", "1280 sampled negatives", "equals the original's 10 x batch 128")],
        rerun={"recdoc": "recdoc train --dataset book --model_type ComiRec-DR --learning_rate 0.005"},
        notes=["the NDCG definition was inferred from NDCG/HitRate"],
    )


def engine_metrics() -> dict:
    """`Diagnosis.metrics` as the engine summarizes `_curve()` (checkpoint ckpt-3 in runs/x/keras_ckpt)."""
    return {"evaluations": 6, "improvements": 3, "evaluations_since_best": 2,
            "stop": {"iter": 6000, "reason": "early_stop", "ref": f"{LOG}:12"},
            "best_valid": {"iter": 4000, "recall": 0.05, "ndcg": 0.035, "hitrate": 0.105, "ref": f"{LOG}:8"},
            "final": {"test": {"recall": 0.061821, "ndcg": 0.045488, "hitrate": 0.1332, "diversity": 0.22,
                               "ref": f"{LOG}:15"}},
            "checkpoints": [{"path": "runs/x/keras_ckpt", "kind": "tf2-manager", "latest": "ckpt-3",
                             "save_counter": 3, "files_ok": False}],
            "facts": ["with patience 1 and test_iter 1000 the last improvement was at about 6000 - 2*1000 = 4000"]}


def healthy_diagnosis() -> Diagnosis:
    return Diagnosis(verdict="healthy", run=make_run(), config={"topN": TOP_N}, metrics={},
                     comparisons=[recall_row(0.0805)], findings=[], not_causes=[], rerun={})


def unusable_diagnosis() -> Diagnosis:
    run = make_run(with_curve=False)
    run.unreadable.append(f"{LOG}:3: no iter: line and no final metrics")
    return Diagnosis(verdict="unusable", run=run, config={}, metrics={}, comparisons=[], findings=[],
                     not_causes=[], rerun={})
