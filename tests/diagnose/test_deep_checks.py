"""`recdoc analyze RUN --deep --data_dir DIR` on runs laid out as the original writes them (train.log beside
best_model/<exp>/ in TF1 Saver layout), built at test time: interests forced into one direction are checkpoint
evidence for wiring-suspect; a log whose numbers the reference evaluation of the same weights does not reproduce is
`evaluation-differs`; distinct interests and honest numbers are neither."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recdoc.diagnose.findings import Finding, NotACause
from recdoc.diagnose.rules.interests import collapse_outcome

EXP = "tiny_ComiRec-DR_b128_lr0.005_d8_len5_x"
ITEMS = 1000  # far more than top-50, so distinct interests retrieve distinct lists


def write_dataset(data_dir: Path, seed: int = 0) -> None:
    """ComiRec's format: 60 train, 30 valid, 30 test users with 10 interactions each over items 1..999."""
    rng = np.random.default_rng(seed)
    folder = data_dir / "tiny_data"
    folder.mkdir(parents=True)
    user = 0
    for split, count in (("train", 60), ("valid", 30), ("test", 30)):
        lines = []
        for _ in range(count):
            for rank, item in enumerate(rng.choice(np.arange(1, ITEMS), size=10, replace=False)):
                lines.append(f"{user},{item},{rank}")
            user += 1
        (folder / f"tiny_{split}.txt").write_text("\n".join(lines) + "\n")
    (folder / "tiny_item_cate.txt").write_text("".join(f"{i},{i % 3}\n" for i in range(1, ITEMS)))


def build_dr(collapsed: bool):  # noqa: ANN201
    from recdoc.config import RunConfig
    from recdoc.trainer.models import build_model

    config = RunConfig.for_dataset("tiny", model_type="ComiRec-DR", embedding_dim=8, hidden_size=8, maxlen=5,
                                   num_interest=4, random_seed=5)
    model = build_model(config, ITEMS)
    if collapsed:
        # The same bilinear block for every interest: identical routing, identical interests for every user.
        weights = model.bilinear_weights.numpy()
        model.bilinear_weights.assign(np.tile(weights[:, :, :8, :], (1, 1, 4, 1)))
    return model, config


def original_run(root: Path, model, config, recall_shift: float = 0.0) -> Path:  # noqa: ANN001
    """A run folder as the original leaves it: train.log with its final lines, best_model/<exp>/ (TF1 Saver)."""
    from recdoc.trainer.data.dataset import load_dataset
    from recdoc.trainer.evaluate import evaluate
    from support.export import export_tf1

    export_tf1(model, "ComiRec-DR", root / "best_model" / EXP)
    data = load_dataset(str(root.parent / "data"), "tiny", ITEMS)
    finals = {s: evaluate(model, getattr(data, s), config, data.item_cate) for s in ("valid", "test")}

    def line(split: str) -> str:
        m = finals[split]
        return (f"{split} recall: {m['recall@50'] + recall_shift:.6f}, {split} ndcg: {m['ndcg_master@50']:.6f}, "
                f"{split} hitrate: {m['hitrate@50']:.6f}, {split} diversity: {m['diversity@50']:.6f}")

    valid = finals["valid"]
    (root / "train.log").write_text("\n".join([
        "['src/train.py', '--dataset', 'tiny', '--model_type', 'ComiRec-DR', '--learning_rate', '0.005']",
        "Please input the experiment name: training begin", EXP,
        f"iter: 1000, train loss: 5.1000, valid recall: {valid['recall@50']:.6f}, valid ndcg: "
        f"{valid['ndcg_master@50']:.6f}, valid hitrate: {valid['hitrate@50']:.6f}",
        "time interval: 0.5000 min", f"model restored from best_model/{EXP}/", line("valid"), line("test"), ""]))
    return root


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    write_dataset(tmp_path / "data")
    return tmp_path / "data"


def analyze(run: Path, data_dir: Path | None, out: Path) -> dict:
    from recdoc.cli import main

    args = ["analyze", str(run), "--deep", "--no-plots", "--out", str(out)]
    with pytest.raises(SystemExit):
        main(args + (["--data_dir", str(data_dir)] if data_dir else []))
    return json.loads((out / "diagnosis.json").read_text())


def ids(diagnosis: dict) -> set[str]:
    return {f["id"] for f in diagnosis["findings"]}


def test_collapsed_interests_in_an_original_checkpoint_make_wiring_suspect(data_dir: Path, tmp_path: Path) -> None:
    model, config = build_dr(collapsed=True)
    run = original_run(tmp_path / "faulty", model, config)
    diagnosis = analyze(run, data_dir, tmp_path / "out_faulty")
    assert {"wiring-suspect", "interest-collapse"} <= ids(diagnosis)
    wiring = next(f for f in diagnosis["findings"] if f["id"] == "wiring-suspect")
    assert wiring["severity"] == "high"
    assert any("interest probe" in e["text"] for e in wiring["evidence"])
    assert "evaluation-differs" in {n["id"] for n in diagnosis["not_causes"]}  # honest log: the reference numbers


def test_distinct_interests_and_honest_numbers_raise_neither(data_dir: Path, tmp_path: Path) -> None:
    model, config = build_dr(collapsed=False)
    run = original_run(tmp_path / "healthy", model, config)
    diagnosis = analyze(run, data_dir, tmp_path / "out_healthy")
    assert not {"wiring-suspect", "interest-collapse", "evaluation-differs", "checkpoint-not-examined"} & ids(diagnosis)
    assert {"interest-collapse", "evaluation-differs"} <= {n["id"] for n in diagnosis["not_causes"]}


def test_a_log_the_reference_evaluation_does_not_reproduce_is_evaluation_differs(data_dir: Path,
                                                                                  tmp_path: Path) -> None:
    model, config = build_dr(collapsed=False)
    run = original_run(tmp_path / "other_eval", model, config, recall_shift=0.01)
    diagnosis = analyze(run, data_dir, tmp_path / "out_other")
    finding = next(f for f in diagnosis["findings"] if f["id"] == "evaluation-differs")
    assert any("logged test recall" in e["text"] and "train.log" in e["text"] for e in finding["evidence"])


def test_without_a_data_folder_the_report_says_what_is_missing(tmp_path: Path, data_dir: Path) -> None:
    model, config = build_dr(collapsed=True)
    run = original_run(tmp_path / "nodata", model, config)
    diagnosis = analyze(run, None, tmp_path / "out_nodata")
    finding = next(f for f in diagnosis["findings"] if f["id"] == "checkpoint-not-examined")
    assert finding["severity"] == "info"
    assert {e["values"]["check"] for e in finding["evidence"]} == {"interest probe", "rescore"}


def probe_with(model_type: str, cosine_mean: float, overlap_mean: float) -> dict:
    k = 4
    flat = [[cosine_mean] * k for _ in range(k)]
    return {"model_type": model_type, "num_interest": k, "users": 90, "top_n": 50, "split": "valid",
            "interests": [{"index": i} for i in range(k)],
            "cosine": {"threshold": 0.95, "mean": cosine_mean, "all_pairs_above_share": 0.0,
                       "pair_mean": flat, "pair_above_share": [[0.0] * k for _ in range(k)]},
            "overlap": {"mean": overlap_mean, "pair_mean": [[overlap_mean] * k for _ in range(k)]}}


def test_dr_interests_pointing_one_way_are_a_collapse_even_below_half_overlap() -> None:
    # The original's faulty DR runs: mean pairwise cosine 0.52-0.69; healthy DR about 0.07-0.10.
    assert isinstance(collapse_outcome(probe_with("ComiRec-DR", 0.52, 0.30), None), Finding)
    assert isinstance(collapse_outcome(probe_with("ComiRec-DR", 0.10, 0.08), None), NotACause)
    # SA's and MIND's healthy interests are closer (0.30 in the original's checkpoints): no DR line for them.
    assert isinstance(collapse_outcome(probe_with("ComiRec-SA", 0.52, 0.30), None), NotACause)
