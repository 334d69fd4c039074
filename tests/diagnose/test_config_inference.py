"""Configuration inference: every value with its source, conflicts recorded, overrides typed, NDCG inferred."""

from __future__ import annotations

import pytest

from recdoc import reference
from recdoc.diagnose.config_inference import bands_for, infer_config, ndcg_bands, parse_argv, read_ndcg_ratio
from recdoc.diagnose.observed_run import CheckpointInfo, SourceRef
from recdoc.errors import UsageError
from support.diagnose_factory import INCIDENT_EXP, curve_rows, incident_run, make_run


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
    master = infer_config(make_run(exp_name=INCIDENT_EXP, finals={"test": (0.0618, 0.0455, 0.1332)}), {})["ndcg"]
    assert master.value == "master" and master.source == "inferred (NDCG/HitRate = 0.34)"
    paper = infer_config(make_run(exp_name=INCIDENT_EXP, finals={"test": (0.0805, 0.1272, 0.1617)}), {})["ndcg"]
    assert paper.value == "paper"
    # Without finals the best evaluation decides.
    curve_only = make_run(exp_name=INCIDENT_EXP, recalls=[0.01, 0.02, 0.03], ndcg_over_hr=0.33)
    assert infer_config(curve_only, {})["ndcg"].value == "master"


def _ratio_run(dataset: str, top_n: int, ratio: float, hitrate: float = 0.15):
    return make_run(argv=["src/train.py", "--dataset", dataset, "--model_type", "DNN", "--topN", str(top_n)],
                    finals={"test": (hitrate / 2.2, ratio * hitrate, hitrate)})


@pytest.mark.parametrize(("dataset", "top_n", "ratio", "expected"), [
    # Book @50: master 0.30-0.39 (ComiRec-SA's 0.30 included), paper 0.75-0.79, the textbook NDCG about 0.2.
    ("book", 50, 0.30, "master"), ("book", 50, 0.39, "master"), ("book", 50, 0.77, "paper"),
    ("book", 50, 0.21, "standard"),
    # Book @20: master reads higher (0.36-0.47).
    ("book", 20, 0.45, "master"), ("book", 20, 0.76, "paper"),
    # Taobao @50: master 0.42-0.49; the paper's own Table 3 gives 0.52-0.64 there.
    ("taobao", 50, 0.45, "master"), ("taobao", 50, 0.60, "paper"),
    # In no band: unknown, never forced into the nearest definition.
    ("book", 50, 0.55, "unknown"), ("book", 50, 0.45, "unknown"), ("book", 50, 0.10, "unknown"),
    ("book", 50, 0.95, "unknown"), ("taobao", 50, 0.30, "unknown"),
])
def test_ndcg_definition_is_read_three_ways_from_bands_per_dataset_and_cutoff(dataset: str, top_n: int, ratio: float,
                                                                           expected: str) -> None:
    setting = infer_config(_ratio_run(dataset, top_n, ratio), {})["ndcg"]
    assert setting.value == expected
    assert setting.source.startswith(f"inferred (NDCG/HitRate = {ratio:.2f}")
    if expected == "unknown":
        assert "no known definition's band" in setting.source


def test_ndcg_bands_are_disjoint_sourced_and_cover_every_definition() -> None:
    bands = ndcg_bands()
    assert {b.definition for b in bands} == {"paper", "master", "standard"}
    assert all(b.source and 0 < b.low <= b.high < 1 for b in bands)
    for dataset in ("book", "taobao", "rocket", None):
        for cutoff in (20, 50, 100):
            guide = bands_for(dataset, cutoff)
            assert set(guide) == {"paper", "master", "standard"}
            spans = sorted((b.low, b.high, d) for d, (chosen, _) in guide.items() for b in chosen)
            for (_, high, first), (low, _, second) in zip(spans, spans[1:]):
                assert first == second or high < low, (dataset, cutoff, spans)


def test_paper_bands_agree_with_the_papers_own_table() -> None:
    table = reference.load()["paper"]["table3"]
    for band in (b for b in ndcg_bands() if b.definition == "paper"):
        rows = table[band.dataset]
        for model, cells in rows.items():
            if model == "MostPopular":
                continue
            ratio = cells[f"ndcg@{band.cutoff}"][0] / cells[f"hitrate@{band.cutoff}"][0]
            assert band.holds(ratio), (band, model, ratio)


def test_bands_measured_elsewhere_guide_other_data_as_a_weaker_reading() -> None:
    reading = read_ndcg_ratio(0.36, None, "elec14", 50)
    assert reading.definition == "master" and not reading.measured_here
    assert read_ndcg_ratio(0.36, None, "book", 50).measured_here


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


@pytest.mark.parametrize("shown_from", [1, 9, 51])
def test_patience_is_read_off_an_early_stop_only_when_the_curve_is_shown_from_its_start(shown_from: int) -> None:
    # Made-up curve: a best at evaluation 6, then 3 evaluations without a new best and an early stop.
    recalls = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.059, 0.058, 0.0585]
    rows = curve_rows(recalls)
    shift = (shown_from - 1) * 1000
    for row in rows:
        row["iter"] += shift
    config = infer_config(make_run(exp_name=INCIDENT_EXP, rows=rows), {})
    assert config["test_iter"].value == 1000
    if shown_from == 1:
        assert config["patience"].value == 2 and config["patience"].source.startswith("inferred (early stop 3")
    else:
        # An excerpt (its first evaluation is not the run's first): the best may lie before it, patience unknown.
        assert config["patience"].is_default and config["patience"].value == 50
