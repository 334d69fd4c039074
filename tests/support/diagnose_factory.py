"""Hand-built `Run` objects for the doctor's tests (infer, baselines, rules, engine), independent of the readers."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from recdoc.diagnose.observed_run import CheckpointInfo, Event, Fact, FinalMetrics, Run, SourceRef, curve_from_rows

LOG = "train.log"


def curve_rows(recalls: Sequence[float], test_iter: int = 1000, losses: Sequence[float] | None = None,
               ndcg_over_hr: float = 0.77, hr_over_recall: float = 2.15, first_line: int = 10) -> list[dict[str, Any]]:
    """One row per evaluation at test_iter, 2000, ...; ndcg/hitrate derived from recall by fixed ratios."""
    rows = []
    for index, recall in enumerate(recalls):
        hitrate = recall * hr_over_recall
        rows.append({"iter": (index + 1) * test_iter, "recall": recall, "hitrate": hitrate,
                     "ndcg": hitrate * ndcg_over_hr,
                     "train_loss": losses[index] if losses is not None else default_loss(index, len(recalls)),
                     "time_min": 0.3 * (index + 1), "file": LOG, "line": first_line + 3 * index})
    return rows


def default_loss(index: int, evaluations: int) -> float:
    """A healthy run's training loss: from about 7.9 (an untrained model under the original's log-Q corrected
    sampled softmax) down to about 0.46 of it by the last evaluation, as the original's runs fall (Book: 7.95 to
    2.82; MovieLens-100K: 6.8 to 3.7), well below the chance level ln(neg_num x batch + 1) late in the run."""
    return 7.9 * (0.45 + 0.55 * math.exp(-4.0 * index / max(1, evaluations)))


def incident_recalls() -> list[float]:
    """284 evaluations: 130 strict improvements, the last at evaluation 233, then 51 flat evaluations below it."""
    improved = set(np.linspace(1, 233, 130).round().astype(int).tolist())
    assert len(improved) == 130
    best, values = 0.0, []
    for i in range(1, 285):
        if i <= 233:
            level = 0.062 * (1 - math.exp(-i / 60))
            if i in improved:
                best = max(level, best + 1e-6)
                values.append(best)
            else:
                values.append(best - 0.0004)
        else:
            values.append(best - 0.0003 - 0.0002 * (i % 3))
    return values


def plateau_recalls(evaluations: int, level: float, rise: int) -> list[float]:
    """Rising over `rise` evaluations, then a plateau with small deterministic noise below the peak."""
    values = []
    for i in range(1, evaluations + 1):
        if i <= rise:
            values.append(level * (1 - math.exp(-5 * i / rise)) + 1e-7 * i)
        else:
            values.append(values[rise - 1] * (1 - 0.004 - 0.003 * (i % 4)))
    return values


def make_run(*, fmt: str = "original", exp_name: str | None = None, argv: list[str] | None = None,
             declared: dict[str, Any] | None = None, recalls: Sequence[float] | None = None,
             test_iter: int = 1000, losses: Sequence[float] | None = None, ndcg_over_hr: float = 0.77,
             hr_over_recall: float = 2.15,
             finals: dict[str, tuple[float | None, float | None, float | None]] | None = None,
             stop_reason: str = "early_stop", checkpoints: list[CheckpointInfo] | None = None,
             events: list[Event] | None = None, rows: list[dict[str, Any]] | None = None) -> Run:
    run = Run(format=fmt, paths=[LOG])
    if argv is not None:
        run.argv = Fact(argv, SourceRef(LOG, 1), str(argv))
    if exp_name is not None:
        run.exp_name = Fact(exp_name, SourceRef(LOG, 3), exp_name)
    for key, value in (declared or {}).items():
        run.declared[key] = Fact(value, SourceRef("run.json" if fmt == "recdoc" else LOG, 2))
    if rows is None and recalls is not None:
        rows = curve_rows(recalls, test_iter, losses, ndcg_over_hr, hr_over_recall)
    if rows:
        run.curve = curve_from_rows(rows)
    last_line = int(run.curve["line"].max()) if run.has_curve else 5
    for offset, (split, (recall, ndcg, hitrate)) in enumerate((finals or {}).items()):
        run.finals[split] = FinalMetrics(split, recall, ndcg, hitrate, 0.22, SourceRef(LOG, last_line + 2 + offset))
    run.stop_reason = stop_reason  # type: ignore[assignment]
    run.stop_ref = SourceRef(LOG, last_line)
    run.checkpoints = list(checkpoints or [])
    run.events = list(events or [])
    return run


INCIDENT_EXP = "book_ComiRec-DR_b128_lr0.001_d64_len20_test79"


def incident_run() -> Run:
    """The incident (reference sections 8-9): TF2 port, DR at lr 0.001, early stop at 284000, ckpt-130."""
    checkpoint = CheckpointInfo(path=f"best_model/{INCIDENT_EXP}/keras_ckpt", kind="tf2-manager", latest="ckpt-130",
                                save_counter=130, files_ok=True,
                                ref=SourceRef(f"best_model/{INCIDENT_EXP}/keras_ckpt/checkpoint", 1))
    return make_run(fmt="tf2-port", exp_name=INCIDENT_EXP,
                    argv=["src/train.py", "--dataset", "book", "--model_type", "ComiRec-DR"],
                    recalls=incident_recalls(), ndcg_over_hr=0.34,
                    losses=[8.1 - 0.76 * (1 - math.exp(-i / 80)) for i in range(284)],
                    finals={"valid": (0.062050, 0.046000, 0.134000), "test": (0.061821, 0.045488, 0.1332)},
                    checkpoints=[checkpoint])


def healthy_run() -> Run:
    """DR on book at the README's lr 0.005: rises to a plateau, early-stops at 391k with paper-like numbers."""
    recalls = plateau_recalls(391, 0.0825, 340)
    return make_run(exp_name="book_ComiRec-DR_b128_lr0.005_d64_len20_good",
                    argv=["src/train.py", "--dataset", "book", "--model_type", "ComiRec-DR",
                          "--learning_rate", "0.005"],
                    recalls=recalls, ndcg_over_hr=0.77,
                    finals={"valid": (0.0826, 0.1370, 0.1780), "test": (0.0815, 0.1355, 0.1760)})
