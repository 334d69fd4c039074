"""Configuration inference: every value with its source, conflicts recorded, overrides typed, NDCG inferred."""

from __future__ import annotations

import pytest

from recdoc.diagnose.config_inference import infer_config, ndcg_ratio_boundary, parse_argv
from recdoc.diagnose.observed_run import CheckpointInfo, SourceRef
from recdoc.errors import UsageError
from support.diagnose_factory import INCIDENT_EXP, incident_run, make_run


def test_incident_settings_come_from_the_exp_name_and_the_book_defaults() -> None:
    config = infer_config(incident_run(), {})
    assert config["learning_rate"].value == 0.001 and config["learning_rate"].source == "exp name"
    assert config["learning_rate"].ref == SourceRef("train.log", 3)
    assert config["model_type"].value == "ComiRec-DR"
    assert config["batch_size"].value == 128 and config["batch_size"].source == "exp name"
    assert config["exp"].value == "test79"
    assert config["patience"].value == 50 and config["patience"].source.startswith("default (book)")
    assert config["test_iter"].value == 1000 and config["topN"].value == 50
    assert config["neg_num"].value == 10 and config["neg_num"].is_default
    assert config["item_count"].value == 367983


def test_exp_name_and_argv_disagreeing_is_a_conflict() -> None:
    run = make_run(exp_name=INCIDENT_EXP, argv=["src/train.py", "--learning_rate", "0.005", "--dataset", "book"])
    setting = infer_config(run, {})["learning_rate"]
    assert setting.value == 0.001 and setting.source == "exp name"
    assert setting.conflicts == ((0.005, "argv"),)
    # Agreeing sources are not conflicts.
    assert infer_config(run, {})["dataset"].conflicts == ()


def test_argv_alone_gives_values_and_dataset_defaults_follow_the_dataset() -> None:
    run = make_run(argv=["src/train.py", "--dataset=taobao", "--model_type", "comirec_sa", "--patience", "80"])
    config = infer_config(run, {})
    assert config["dataset"].value == "taobao" and config["dataset"].source == "argv"
    assert config["model_type"].value == "ComiRec-SA"
    assert config["patience"].value == 80
    assert config["batch_size"].value == 256 and config["batch_size"].source == "default (taobao)"
    assert config["test_iter"].value == 500 and config["maxlen"].value == 50


def test_overrides_are_typed_and_win() -> None:
    config = infer_config(incident_run(), {"learning_rate": "0.005", "patience": "100", "ndcg": "paper"})
    assert config["learning_rate"].value == 0.005 and isinstance(config["learning_rate"].value, float)
    assert config["learning_rate"].source == "--set"
    assert config["learning_rate"].conflicts == ((0.001, "exp name"),)
    assert config["patience"].value == 100 and isinstance(config["patience"].value, int)
    assert config["ndcg"].value == "paper" and config["ndcg"].source == "--set"


@pytest.mark.parametrize("overrides", [{"no_such_key": "1"}, {"patience": "ten"}, {"patience": "2.5"},
                                       {"ndcg": "bogus"}])
def test_bad_overrides_are_usage_errors(overrides: dict[str, str]) -> None:
    with pytest.raises(UsageError):
        infer_config(incident_run(), overrides)


def test_unknown_override_lists_the_known_keys() -> None:
    with pytest.raises(UsageError, match="learning_rate"):
        infer_config(incident_run(), {"lrate": "0.1"})


def test_pytorch_port_name_and_default_cutoff() -> None:
    named = make_run(fmt="pytorch-port", exp_name="book_ComiRec-SA_b128_lr0.001_d64_len20_in6_top50_x")
    config = infer_config(named, {})
    assert config["num_interest"].value == 6 and config["topN"].value == 50
    assert config["topN"].source == "exp name"
    unnamed = make_run(fmt="pytorch-port", argv=["train.py", "--dataset", "book"])
    assert infer_config(unnamed, {})["topN"].value == 20
    assert infer_config(unnamed, {})["topN"].source.startswith("default (pytorch-port)")


def test_declared_values_win_and_port_spellings_are_understood() -> None:
    run = make_run(fmt="pytorch-port", exp_name=INCIDENT_EXP, declared={"interest_num": 8, "hidden_size": 64})
    config = infer_config(run, {})
    assert config["num_interest"].value == 8 and config["num_interest"].source == "log"


def test_checkpoint_facts_fill_what_names_do_not_state() -> None:
    checkpoint = CheckpointInfo(path="ckpt", kind="tf1-saver", latest="model.ckpt", save_counter=None, files_ok=True,
                                ref=SourceRef("ckpt/checkpoint"), tensors={"item_count": 1350, "K": 4, "d": 32})
    run = make_run(argv=["src/train.py", "--dataset", "ml100k"], checkpoints=[checkpoint])
    config = infer_config(run, {})
    assert config["item_count"].value == 1350 and config["item_count"].source == "checkpoint"
    assert config["embedding_dim"].value == 32
    assert config["batch_size"].source == "default (other)"


def test_ndcg_definition_is_inferred_from_the_ratio_at_the_cutoff() -> None:
    assert ndcg_ratio_boundary() == pytest.approx((0.37 + 0.75) / 2)
    master = infer_config(make_run(exp_name=INCIDENT_EXP, finals={"test": (0.0618, 0.0455, 0.1332)}), {})["ndcg"]
    assert master.value == "master" and master.source == "inferred (NDCG/HitRate = 0.34)"
    paper = infer_config(make_run(exp_name=INCIDENT_EXP, finals={"test": (0.0805, 0.1272, 0.1617)}), {})["ndcg"]
    assert paper.value == "paper"
    # Without finals the best evaluation decides.
    curve_only = make_run(exp_name=INCIDENT_EXP, recalls=[0.01, 0.02, 0.03], ndcg_over_hr=0.33)
    assert infer_config(curve_only, {})["ndcg"].value == "master"


def test_stated_ndcg_is_not_inferred_and_nothing_to_infer_from_leaves_it_unset() -> None:
    stated = make_run(fmt="recdoc", declared={"dataset": "book", "ndcg": "standard"},
                      finals={"test": (0.08, 0.13, 0.17)})
    assert infer_config(stated, {})["ndcg"].value == "standard"
    assert infer_config(stated, {})["ndcg"].source == "run.json"
    assert "ndcg" not in infer_config(make_run(exp_name=INCIDENT_EXP), {})


def test_unknown_dataset_is_not_assumed() -> None:
    config = infer_config(make_run(), {})
    assert "dataset" not in config
    assert config["batch_size"].source == "default (other)"


def test_parse_argv_handles_both_spellings() -> None:
    assert parse_argv(["src/train.py", "-p", "train", "--dataset", "book", "--learning_rate=0.005"]) == {
        "dataset": "book", "learning_rate": "0.005"}
