"""Checkpoint folders as plain files (TF1 Saver, TF2 CheckpointManager, recdoc, PyTorch) and --deep tensors."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recdoc.diagnose.readers import checkpoint
from recdoc.diagnose.readers.checkpoint import shape_facts
from recdoc.errors import InputError
from support.checkpoints import make_checkpoint

EXP = "book_ComiRec-DR_b128_lr0.001_d64_len20_test79"


def only(run) -> checkpoint.CheckpointInfo:  # type: ignore[no-untyped-def]
    assert len(run.checkpoints) == 1
    return run.checkpoints[0]


def test_tf1_saver(tmp_path: Path) -> None:
    folder = make_checkpoint(tmp_path / "best_model" / EXP, "model.ckpt")
    (folder / "model.ckpt.meta").write_bytes(b"meta")
    info = only(checkpoint.read(folder))
    assert (info.kind, info.latest, info.save_counter, info.files_ok) == ("tf1-saver", "model.ckpt", None, True)
    assert info.ref.path.endswith("checkpoint") and info.ref.line == 1
    assert info.problems == ()


def test_tf2_manager_counter_is_not_an_iteration(tmp_path: Path) -> None:
    folder = make_checkpoint(tmp_path / "best_model" / EXP / "keras_ckpt", "ckpt-130")
    info = only(checkpoint.read(folder / "checkpoint"))
    assert (info.kind, info.latest, info.save_counter, info.files_ok) == ("tf2-manager", "ckpt-130", 130, True)


def test_manager_timestamps_are_not_problems(tmp_path: Path) -> None:
    state = ('model_checkpoint_path: "ckpt-130"\nall_model_checkpoint_paths: "ckpt-130"\n'
             "all_model_checkpoint_timestamps: 1761907302.472\nlast_preserved_timestamp: 1761900000.25\n")
    info = only(checkpoint.read(make_checkpoint(tmp_path / "keras_ckpt", "ckpt-130", state=state)))
    assert info.problems == () and info.save_counter == 130


def test_recdoc_best_folder_is_named_by_iteration(tmp_path: Path) -> None:
    info = only(checkpoint.read(make_checkpoint(tmp_path / "run" / "ckpt" / "best", "ckpt-7000")))
    assert (info.kind, info.save_counter, info.iteration) == ("recdoc", None, 7000)
    meaning = checkpoint.number_meaning(info, improvements=5, best_iter=7000)
    assert "iteration 7,000" in meaning and "saves" not in meaning and "as expected" in meaning


def test_checkpoint_numbers_mean_what_their_writer_means(tmp_path: Path) -> None:
    manager = only(checkpoint.read(make_checkpoint(tmp_path / "keras_ckpt", "ckpt-130")))
    assert checkpoint.number_meaning(manager, improvements=130, best_iter=233000).startswith(
        "ckpt-130 = 130 saves = 130 improvements, not iteration 130,000 (agrees with")
    saver = only(checkpoint.read(make_checkpoint(tmp_path / "best_model" / "exp", "model.ckpt")))
    assert "carries no iteration" in checkpoint.number_meaning(saver, improvements=3, best_iter=3000)


def test_missing_data_file_is_a_problem(tmp_path: Path) -> None:
    info = only(checkpoint.read(make_checkpoint(tmp_path / "k", "ckpt-3", data=False)))
    assert info.files_ok is False
    assert any("ckpt-3.index or its .data-* file is missing" in p for p in info.problems)


def test_absolute_path_from_another_machine(tmp_path: Path) -> None:
    state = 'model_checkpoint_path: "/home/someone/best_model/x/keras_ckpt/ckpt-12"\n'
    info = only(checkpoint.read(make_checkpoint(tmp_path / "keras_ckpt", "ckpt-12", state=state)))
    assert (info.latest, info.save_counter, info.files_ok) == ("ckpt-12", 12, True)
    assert any("absolute path from another machine" in p for p in info.problems)


def test_corrupt_state_file(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "checkpoint").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00garbage")
    info = only(checkpoint.read(folder))
    assert info.latest is None and info.files_ok is False and info.kind == "unknown"
    assert any("names no model_checkpoint_path" in p for p in info.problems)


def test_bare_index_files_pick_the_highest_counter(tmp_path: Path) -> None:
    folder = tmp_path / "copied"
    folder.mkdir()
    for n in (9, 10):
        (folder / f"ckpt-{n}.index").write_bytes(b"i")
        (folder / f"ckpt-{n}.data-00000-of-00001").write_bytes(b"d")
    info = only(checkpoint.read(folder))
    assert (info.latest, info.save_counter, info.files_ok) == ("ckpt-10", 10, True)


def test_torch_model_file(tmp_path: Path) -> None:
    folder = tmp_path / "best_model" / "x"
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"PK\x03\x04torch")
    info = only(checkpoint.read(folder))
    assert (info.kind, info.latest, info.files_ok) == ("torch", "model.pt", True)
    (folder / "model.pt").write_bytes(b"")
    assert only(checkpoint.read(folder / "model.pt")).files_ok is False


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        checkpoint.read(tmp_path / "nope")


def test_shape_facts_tf1_dr_names() -> None:
    facts = shape_facts({"mid_embedding_var": [367983, 64], "bias_lookup_table": [367983],
                         "weights": [1, 20, 256, 64]})
    assert (facts["item_count"], facts["d"], facts["maxlen"], facts["K"], facts["family"]) == (367983, 64, 20, 4, "ComiRec-DR")


def test_shape_facts_tf2_sa_object_paths() -> None:
    facts = shape_facts({
        "model/item_emb/.ATTRIBUTES/VARIABLE_VALUE": [1000, 32],
        "model/position_embedding/.ATTRIBUTES/VARIABLE_VALUE": [1, 50, 32],
        "model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE": [32, 128],
        "model/dense_1/kernel/.ATTRIBUTES/VARIABLE_VALUE": [128, 8],
    })
    assert (facts["item_count"], facts["d"], facts["maxlen"], facts["K"], facts["family"]) == (1000, 32, 50, 8, "ComiRec-SA")


def test_interest_health_finds_dead_and_collapsed_interests() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    d, T, K = 4, 3, 4
    blocks = [rng.normal(size=(T, d, d)) for _ in range(K)]
    blocks[1] = np.zeros((T, d, d))  # dead
    blocks[3] = blocks[2] * 2.0  # same direction as interest 2
    weights = np.concatenate(blocks, axis=1)[None]  # [1, T, K*d, d]
    health = checkpoint.interest_health(weights, K, "ComiRec-DR")
    assert (health["dead_interests"], health["collapsed_interests"]) == (1, 1)
    assert health["interest_weight_norms"][1] == 0.0
    sa_kernel = rng.normal(size=(4 * d, K))
    assert checkpoint.interest_health(sa_kernel, K, "ComiRec-SA")["dead_interests"] == 0


DEEP_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    from pathlib import Path
    from recdoc.diagnose.readers import checkpoint
    folder = Path(sys.argv[1])
    emb = np.ones((50, 8), dtype=np.float32); emb[3, 0] = np.nan; emb[0] = 0.0
    root = tf.train.Checkpoint(item_emb=tf.Variable(emb), weights=tf.Variable(tf.zeros([1, 5, 16, 8])))
    tf.train.CheckpointManager(root, str(folder), max_to_keep=1).save()
    info = checkpoint.read(folder, deep=True).checkpoints[0]
    t = info.tensors
    print(json.dumps({"latest": info.latest, "counter": info.save_counter, "ok": info.files_ok,
                      "item_count": t["item_count"], "d": t["d"], "K": t["K"], "maxlen": t["maxlen"],
                      "nan": t["nan_count"], "zero_rows": t["embedding_zero_rows"], "family": t["family"]}))
""")


@pytest.mark.slow
def test_deep_reads_tensors_of_a_real_tf2_checkpoint(tmp_path: Path) -> None:
    # In a subprocess: the test session itself must never import TensorFlow (the doctor's import-time guarantee).
    out = subprocess.run([sys.executable, "-c", DEEP_SCRIPT, str(tmp_path / "keras_ckpt")], capture_output=True,
                         text=True, timeout=240, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    assert facts == {"latest": "ckpt-1", "counter": 1, "ok": True, "item_count": 50, "d": 8, "K": 2, "maxlen": 5,
                     "nan": 1, "zero_rows": 1, "family": "ComiRec-DR"}
