"""The reporting parts of bench/fidelity_ml100k.py and bench/scale.py (no training: fast, no TensorFlow)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from support.paths import BENCH


def load_bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


fidelity = load_bench("fidelity_ml100k")
scale = load_bench("scale")


def write_run(folder: Path, recall: float, best_iter: int | None, stop_reason: str = "early_stop") -> Path:
    folder.mkdir(parents=True)
    test = {"recall@50": recall, "ndcg_paper@50": 0.5, "ndcg_master@50": 0.4, "ndcg_standard@50": 0.2,
            "hitrate@50": 0.9, "recall@20": 0.1}
    record = {"stop_reason": stop_reason, "best_iter": best_iter, "iterations": 7400, "final": {"test": test}}
    (folder / "run.json").write_text(json.dumps(record), encoding="utf-8")
    return folder


def test_table_has_mean_sample_sd_and_every_seed(tmp_path: Path) -> None:
    results = [fidelity.read_seed_result(seed, write_run(tmp_path / str(seed), recall, 3200), 240.0)
               for seed, recall in ((19, 0.2), (20, 0.3), (21, 0.4))]
    table = fidelity.markdown_table(results)
    # mean 0.3; sample sd of (0.2, 0.3, 0.4) = 0.1 (the population sd would be 0.0816)
    assert "| Recall@50 | 0.3000 ± 0.1000 | 0.2000 | 0.3000 | 0.4000 |" in table
    assert "| NDCG@50 (master) | 0.4000 ± 0.0000 |" in table
    assert "| 19 | 3,200 | 7,400 | early_stop | 4.0 min |" in table
    assert table.splitlines()[0] == "| Test metric | mean ± sd | seed 19 | seed 20 | seed 21 |"


def test_single_seed_has_no_deviation_and_no_best_shows_none(tmp_path: Path) -> None:
    result = fidelity.read_seed_result(19, write_run(tmp_path / "r", 0.25, None, "max_iter"), 60.0)
    table = fidelity.markdown_table([result])
    assert "| Recall@50 | 0.2500 | 0.2500 |" in table
    assert "| 19 | none | 7,400 | max_iter | 1.0 min |" in table


def test_run_without_final_metrics_is_reported_not_tabulated(tmp_path: Path) -> None:
    folder = tmp_path / "crashed"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps({"stop_reason": "crashed"}), encoding="utf-8")
    with pytest.raises(RuntimeError, match="no final test metrics.*crashed"):
        fidelity.read_seed_result(19, folder, 1.0)


def scale_report(peaks_mib: list[int]) -> dict[str, Any]:
    names = ["import", "build the model", "first step", "evaluate"]
    return {"table_rows": scale.ITEM_COUNT, "train_users": 100, "valid_users": 10, "steps": 300,
            "first_loss": 12.4, "last_loss": 11.8, "load_average": [2.0, 3.0],
            "phases": [{"phase": n, "rss": p * scale.MIB, "hwm": p * scale.MIB, "seconds": 1.0}
                       for n, p in zip(names, peaks_mib)]}


STATS = {"items": 6569, "item_count": 6570}


def test_scale_verdict_met_at_the_target_and_missed_above_it() -> None:
    met = scale.format_report(scale.TARGET_BYTES, scale_report([600, 1900, 2500, 3400]), STATS, 10.0)
    assert "target <= 4 GiB: met" in met and "largest rises" not in met
    missed = scale.format_report(scale.TARGET_BYTES + 1, scale_report([600, 1900, 2500, 4200]), STATS, 10.0)
    assert "target <= 4 GiB: NOT met" in missed and "suggestions:" in missed
    # rises: build +1300, evaluate +1700, first step +600: the largest first
    assert "largest rises of the peak: evaluate +1,700 MiB, build the model +1,300 MiB, first step +600 MiB" in missed


def test_computed_buffer_sizes_are_the_float32_table_multiples() -> None:
    table = 1_708_531 * 64 * 4
    assert dict(scale.expected_sizes()) == {
        "item table [1,708,531 x 64] float32": table,
        "Adam first and second moments (dense, TF1 semantics)": 2 * table,
    }
