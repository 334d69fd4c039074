"""Loading checkpoints recdoc did not write: the mapping (pure), the loaders (round trips through every layout),
rescore's comparison (pure), and the original's own checkpoints in ../shared (skipped when absent)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recdoc.errors import InputError
from recdoc.instruments.checkpoints.mapping import Hints, MappingError, Stored, infer_mapping
from recdoc.instruments.rescore import compare_with_log
from support.paths import ORIG_RUNS, SHARED

SPLIT_TOOL = SHARED / "tools" / "ml100k_original_split.py"


def stored(shapes: dict[str, tuple[int, ...]]) -> list[Stored]:
    return [Stored(name, shape) for name, shape in shapes.items()]


# ---------------------------------------------------------------- mapping (pure)
def test_original_dr_layout_maps_by_shape_and_skips_optimizer_state() -> None:
    mapping = infer_mapping(stored({
        "mid_embedding_var": (1350, 64), "mid_embedding_var/Adam": (1350, 64), "bias_lookup_table": (1350,),
        "capsule_network/bilinear/weights": (1, 20, 256, 64), "capsule_network/bilinear/weights/Adam_1":
        (1, 20, 256, 64), "beta1_power": (), "beta2_power": ()}), "tf1")
    assert (mapping.model_type, mapping.item_count, mapping.embedding_dim, mapping.num_interest, mapping.maxlen) == \
        ("ComiRec-DR", 1350, 64, 4, 20)
    assert {a.slot: a.source for a in mapping.assignments} == {
        "item_embeddings": "mid_embedding_var", "bilinear_weights": "capsule_network/bilinear/weights"}
    assert [name for name, _ in mapping.ignored] == ["bias_lookup_table"]


def test_original_sa_layout_takes_k_from_the_score_kernel() -> None:
    mapping = infer_mapping(stored({
        "mid_embedding_var": (500, 16), "position_embedding": (1, 30, 16), "self_atten/dense/kernel": (16, 64),
        "self_atten/dense/bias": (64,), "self_atten/dense_1/kernel": (64, 6), "self_atten/dense_1/bias": (6,)}), "tf1")
    assert (mapping.model_type, mapping.num_interest, mapping.maxlen) == ("ComiRec-SA", 6, 30)
    assert {a.slot: a.source for a in mapping.assignments}["score_layer.bias"] == "self_atten/dense_1/bias"


def test_mind_and_dnn_share_shapes_names_or_the_experiment_name_decide() -> None:
    mind = infer_mapping(stored({"mid_embedding_var": (100, 8), "capsule_network/bilinear/dense/kernel": (8, 8),
                                 "capsule_network/bilinear/dense/bias": (8,)}), "tf1", Hints(maxlen=20))
    assert (mind.model_type, mind.num_interest, mind.maxlen) == ("MIND", 4, 20)
    assert "default" in mind.origins["K"]
    plain = {"mid_embedding_var": (100, 8), "dense/kernel": (8, 8), "dense/bias": (8,)}
    with pytest.raises(MappingError, match="both MIND and YouTube DNN"):
        infer_mapping(stored(plain), "tf1")
    dnn = infer_mapping(stored(plain), "tf1", Hints(model_type="DNN", maxlen=20, source="the experiment name x"))
    assert dnn.model_type == "DNN" and dnn.num_interest == 1


def test_pytorch_port_linear_weights_are_transposed_and_its_unused_relu_ignored() -> None:
    dr = infer_mapping(stored({"embeddings.weight": (100, 8), "capsule_network.w": (1, 5, 24, 8),
                               "capsule_network.relu.0.weight": (8, 8)}), "torch")
    assert (dr.model_type, dr.num_interest, dr.maxlen) == ("ComiRec-DR", 3, 5)
    assert [name for name, _ in dr.ignored] == ["capsule_network.relu.0.weight"]
    sa = infer_mapping(stored({"embeddings.weight": (100, 8), "position_embedding": (1, 5, 8),
                               "linear1.0.weight": (32, 8), "linear2.weight": (2, 32)}), "torch")
    slots = {a.slot: a for a in sa.assignments}
    assert slots["hidden_layer.kernel"].transpose and slots["hidden_layer.kernel"].shape == (8, 32)
    assert slots["hidden_layer.bias"].source is None and sa.num_interest == 2


def test_refuses_what_it_cannot_map_unambiguously() -> None:
    with pytest.raises(MappingError, match="ambiguous item table"):
        infer_mapping(stored({"a": (100, 8), "b": (100, 8), "w": (1, 5, 16, 8)}), "tf2")
    with pytest.raises(MappingError, match="fit no part of ComiRec-DR: extra/proj2 \\[8, 3\\]"):
        infer_mapping(stored({"mid_embedding_var": (100, 8), "w": (1, 5, 16, 8), "extra/proj2": (8, 3)}), "tf1")
    with pytest.raises(MappingError, match="missing tensor: attention score kernel"):
        infer_mapping(stored({"mid_embedding_var": (100, 8), "position_embedding": (1, 5, 8),
                              "self_atten/dense/kernel": (8, 32)}), "tf1")
    with pytest.raises(MappingError, match="ambiguous ComiRec-DR bilinear map"):
        infer_mapping(stored({"emb": (100, 8), "w1": (1, 5, 16, 8), "w2": (1, 5, 16, 8)}), "tf1")


# ---------------------------------------------------------------- rescore's comparison (pure)
OURS = {"recall@50": 0.25, "recall_master@50": 0.24, "ndcg_paper@50": 0.6, "ndcg_master@50": 0.375,
        "ndcg_standard@50": 0.17, "hitrate@50": 0.9, "recall@20": 0.125, "recall_master@20": 0.125,
        "ndcg_paper@20": 0.4, "ndcg_master@20": 0.3, "ndcg_standard@20": 0.1, "hitrate@20": 0.7}


def test_equal_numbers_mean_the_reference_evaluation_and_name_the_ndcg_used() -> None:
    logged = {"test": {"recall": 0.25, "ndcg": 0.375, "hitrate": 0.9}}
    result = compare_with_log({"test": OURS}, logged, 50)
    assert result["verdict"] == "reference" and result["ndcg_kinds"] == ["ndcg_master@50"]
    assert [r["matches"] for r in result["comparison"]] == [["recall@50"], ["ndcg_master@50"], ["hitrate@50"]]


def test_a_number_no_definition_reproduces_is_a_difference_and_a_cutoff_is_named() -> None:
    logged = {"test": {"recall": 0.125, "ndcg": 0.375, "hitrate": 0.9}}  # recall at @20 in a @50 log
    result = compare_with_log({"test": OURS}, logged, 50)
    assert result["verdict"] == "differs"
    row = result["comparison"][0]
    assert row["matches"] == [] and row["closest"] == "recall_master@50"
    assert row["other_cutoff"] == ["recall@20", "recall_master@20"]
    assert compare_with_log({"test": OURS}, None, 50)["verdict"] == "no-log"


def test_a_stochastic_model_matches_within_the_spread_of_its_passes() -> None:
    ours = dict(OURS, spread={"recall@50": [0.29, 0.31], "recall_master@50": [0.29, 0.31]})
    inside = compare_with_log({"test": ours}, {"test": {"recall": 0.301447}}, 50)
    outside = compare_with_log({"test": ours}, {"test": {"recall": 0.32}}, 50)
    assert inside["verdict"] == "reference" and outside["verdict"] == "differs"


# ---------------------------------------------------------------- loaders: round trips through every layout
def small_model(model_type: str):  # noqa: ANN201
    from recdoc.config import RunConfig
    from recdoc.trainer.models import build_model

    config = RunConfig.for_dataset("tiny", model_type=model_type, embedding_dim=8, hidden_size=8, maxlen=5,
                                   num_interest=3, random_seed=3)
    return build_model(config, 40)


@pytest.mark.parametrize("model_type", ["ComiRec-DR", "ComiRec-SA"])
@pytest.mark.parametrize("layout", ["tf1", "tf2"])
def test_export_then_load_gives_the_same_interests(tmp_path: Path, model_type: str, layout: str) -> None:
    from recdoc.instruments.checkpoints import load
    from support.export import export_tf1, export_tf2_port

    model = small_model(model_type)
    exp = f"tiny_{model_type}_b128_lr0.005_d8_len5_x"
    folder = tmp_path / "run" / "best_model" / exp
    (export_tf1 if layout == "tf1" else export_tf2_port)(model, model_type, folder)
    loaded = load(tmp_path / "run")
    assert loaded.source.layout == layout
    assert (loaded.mapping.model_type, loaded.mapping.num_interest, loaded.mapping.maxlen) == (model_type, 3, 5)
    hist = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]], dtype=np.int32)
    mask = (hist > 0).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(loaded.model.interests(hist, mask)), np.asarray(model.interests(hist, mask)))
    assert sorted(p.name for p in folder.rglob("*")) == sorted(p.name for p in folder.rglob("*"))  # nothing added
    files = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    load(tmp_path / "run")
    assert files == {p: p.stat().st_mtime_ns for p in folder.rglob("*")}  # reading never writes


def test_a_pytorch_file_without_torch_is_one_clear_line(tmp_path: Path) -> None:
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed: the message is for machines without it")
    from recdoc.instruments.checkpoints import load

    path = tmp_path / "best_model" / "ml100k_ComiRec-DR_b128_lr0.005_d64_len20_x" / "model.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 not read")
    with pytest.raises(InputError, match="needs torch") as caught:
        load(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_pytorch_state_dict_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from recdoc.instruments.checkpoints import load
    from support.export import export_torch

    model = small_model("ComiRec-DR")
    path = export_torch(model, "ComiRec-DR", tmp_path / "best_model" / "tiny_ComiRec-DR_b128_lr0.005_d8_len5_x" / "model.pt")
    loaded = load(path)
    np.testing.assert_array_equal(loaded.model.bilinear_weights.numpy(), model.bilinear_weights.numpy())


def test_several_checkpoints_under_a_folder_are_refused_with_their_names(tmp_path: Path) -> None:
    from recdoc.instruments.checkpoints import locate
    from support.export import export_tf1

    model = small_model("ComiRec-DR")
    for name in ("a", "b"):
        export_tf1(model, "ComiRec-DR", tmp_path / "best_model" / f"tiny_ComiRec-DR_b128_lr0.005_d8_len5_{name}")
    with pytest.raises(InputError, match="2 checkpoints found"):
        locate(tmp_path)


# ---------------------------------------------------------------- the original's own checkpoints
@pytest.fixture(scope="module")
def original_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not ORIG_RUNS.is_dir() or not SPLIT_TOOL.is_file():
        pytest.skip("../shared/reference/orig-runs is absent (a fresh clone has no ../shared)")
    if importlib.util.find_spec("recbole") is None:
        pytest.skip("MovieLens-100K comes from the recbole wheel (make install)")
    out = tmp_path_factory.mktemp("orig_split")
    subprocess.run([sys.executable, str(SPLIT_TOOL), str(out)], check=True, capture_output=True)
    return out


@pytest.mark.parametrize("run", ["a_dr_lr0.005_p20_s20", "e_sa_lr0.001_p20_s19"])
def test_original_checkpoints_rescore_to_their_logged_numbers(original_split: Path, run: str) -> None:
    from recdoc.diagnose.deep_checks import logged_finals
    from recdoc.instruments.rescore import rescore_checkpoint

    result = rescore_checkpoint(ORIG_RUNS / run, original_split, logged=logged_finals(ORIG_RUNS / run))
    assert result["loaded_as"]["layout"] == "tf1"
    assert result["verdict"] == "reference", result["explanation"]
    log_line = next(line for line in (ORIG_RUNS / run / "train.log").read_text().splitlines()
                    if line.startswith("test recall:"))
    logged_recall = float(log_line.split(",")[0].split(":")[1])
    assert abs(result["ours"]["test"]["recall@50"] - logged_recall) <= 5e-7


def test_original_mind_logged_recall_lies_within_the_spread_of_passes(original_split: Path) -> None:
    from recdoc.diagnose.deep_checks import logged_finals
    from recdoc.instruments.rescore import rescore_checkpoint

    run = ORIG_RUNS / "f_mind_lr0.001_p20_s19"
    result = rescore_checkpoint(run, original_split, passes=8, logged=logged_finals(run))
    low, high = result["ours"]["test"]["spread"]["recall@50"]
    assert low - 5e-7 <= result["logged"]["test"]["recall"] <= high + 5e-7
    assert high - low > 0  # the routing logits are random on every pass, as the original's


def test_original_dr_probes_healthy(original_split: Path) -> None:
    from recdoc.diagnose.rules.interests import judge_probe
    from recdoc.instruments.probe.measure import probe_checkpoint

    probe = probe_checkpoint(ORIG_RUNS / "a_dr_lr0.005_p20_s20", original_split)
    assert probe["users"] == 94 and probe["cosine"]["mean"] < 0.2
    assert all(not hasattr(o, "severity") for o in judge_probe(probe))


def test_analyze_deep_says_what_it_could_not_examine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not ORIG_RUNS.is_dir():
        pytest.skip("../shared/reference/orig-runs is absent (a fresh clone has no ../shared)")
    from recdoc.cli import main

    with pytest.raises(SystemExit):
        main(["analyze", str(ORIG_RUNS / "a_dr_lr0.005_p20_s20"), "--deep", "--no-plots", "--out", str(tmp_path)])
    diagnosis = json.loads((tmp_path / "diagnosis.json").read_text())
    missing = [f for f in diagnosis["findings"] if f["id"] == "checkpoint-not-examined"]
    assert missing and "--data_dir" in json.dumps(missing[0])
    assert any("interest probe not run" in note for note in diagnosis["notes"])


@pytest.mark.parametrize("model_type", ["ComiRec-DR", "ComiRec-SA", "MIND", "DNN", "GRU4REC"])
def test_recdoc_object_graph_checkpoints_of_every_model_load_by_shape_and_name(tmp_path: Path,
                                                                              model_type: str) -> None:
    import tensorflow as tf

    from recdoc.instruments.checkpoints import load

    model = small_model(model_type)
    prefix = tmp_path / "ckpt" / "ckpt-1"
    tf.train.Checkpoint(model=model).write(str(prefix))
    loaded = load(prefix)
    assert loaded.source.layout == "tf2" and loaded.mapping.model_type == model_type
    assert (loaded.mapping.item_count, loaded.mapping.embedding_dim) == (40, 8)
    for variable in model.trainable_variables:
        twin = next(v for v in loaded.model.trainable_variables if v.name == variable.name
                    and v.shape == variable.shape)
        np.testing.assert_array_equal(twin.numpy(), variable.numpy())


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from recdoc.cli import main

    with pytest.raises(SystemExit) as exited:
        main(args)
    return int(exited.value.code), capsys.readouterr().err


def test_rescore_and_probe_refuse_bad_input_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from support.export import export_tf1

    code, err = run_cli(["rescore", str(tmp_path / "nothing"), "--data_dir", str(tmp_path)], capsys)
    assert code == 2 and err.count("\n") == 1 and "no such checkpoint" in err and str(tmp_path / "nothing") in err
    run = tmp_path / "run"
    export_tf1(small_model("ComiRec-DR"), "ComiRec-DR", run / "best_model" / "tiny_ComiRec-DR_b128_lr0.005_d8_len5_x")
    code, err = run_cli(["probe", str(run)], capsys)
    assert code == 2 and err.count("\n") == 1 and "needs --data_dir" in err
    code, err = run_cli(["rescore", str(run), "--data_dir", str(tmp_path / "nodata")], capsys)
    assert code == 2 and err.count("\n") == 1 and "no such data folder" in err
    assert sorted(p.name for p in run.rglob("*")) == sorted(
        ["best_model", "tiny_ComiRec-DR_b128_lr0.005_d8_len5_x", "checkpoint", "model.ckpt.index",
         "model.ckpt.data-00000-of-00001"])  # nothing written beside the checkpoint


def test_a_hit_rate_no_definition_reproduces_points_at_the_data() -> None:
    logged = {"test": {"recall": 0.25, "ndcg": 0.375, "hitrate": 0.8}}
    result = compare_with_log({"test": OURS}, logged, 50)
    assert result["verdict"] == "differs" and result["likely_cause"] == "data"
    shifted = compare_with_log({"test": OURS}, {"test": {"recall": 0.26, "hitrate": 0.9}}, 50)
    assert shifted["likely_cause"] == "evaluation"


@pytest.mark.slow
def test_loading_a_foreign_checkpoint_prints_no_tensorflow_start_up_notices(tmp_path: Path) -> None:
    """`recdoc probe`/`rescore`/`analyze --deep` on another code's checkpoint import TensorFlow through the loader:
    a fresh process must show none of its start-up lines (the cuInit "error" of a CPU machine above all)."""
    from support.export import export_tf1

    folder = tmp_path / "best_model" / "tiny_ComiRec-DR_b128_lr0.005_d8_len5_x"
    export_tf1(small_model("ComiRec-DR"), "ComiRec-DR", folder)
    code = ("import sys\nfrom recdoc.instruments.checkpoints import load\n"
            f"loaded = load({str(folder)!r})\nprint(loaded.mapping.model_type)")
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                          check=True)
    assert done.stdout.strip() == "ComiRec-DR"
    assert not [line for line in done.stderr.splitlines() if "cuInit" in line or "absl::InitializeLog" in line
                or line[:5] in ("I0000", "W0000")], done.stderr
