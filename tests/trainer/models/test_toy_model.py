"""Adding a model is one file plus its reference data: a toy model declared in its own file (tests/support/
toy_models/toy_heads.py), found by the registry, is trained, probed and rescored with nothing else changed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from recdoc import model_specs, reference
from support.paths import TESTS

TOY_FOLDER = TESTS / "support" / "toy_models"


# First, before the toy is registered (the fixture below keeps it for the module).
def test_every_model_module_declares_a_spec_that_names_a_builder() -> None:
    folder = Path(model_specs.__file__).parent / "trainer" / "models"
    declared = {p.stem for p in folder.glob("*.py") if "SPEC = ModelSpec(" in p.read_text()}
    assert declared == {"comirec_dr", "comirec_sa", "mind", "youtube_dnn", "gru4rec", "most_popular"}
    assert set(reference.paper_order()) == set(reference.model_types())


@pytest.fixture(scope="module")
def toy_registered() -> Iterator[None]:
    saved = list(model_specs.SEARCH)
    model_specs.SEARCH.append((TOY_FOLDER, ""))
    model_specs.refresh()
    try:
        yield
    finally:
        model_specs.SEARCH[:] = saved
        model_specs.refresh()


def test_the_registry_reads_the_toy_spec_without_importing_it(toy_registered: None) -> None:
    import sys

    spec = model_specs.spec_for("toy_heads")
    assert spec is not None and spec.name == "ToyHeads" and reference.canonical_model_type("TOY-HEADS") == "ToyHeads"
    assert reference.is_multi_interest("ToyHeads") and "ToyHeads" in reference.model_types()
    assert "ToyHeads" not in reference.paper_order() and "ToyHeads" in model_specs.loss_names()
    assert "recdoc_model_toy_heads" not in sys.modules  # read, not imported


@pytest.fixture(scope="module")
def toy_run(toy_registered: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from recdoc.config import RunConfig
    from recdoc.trainer.data.synth import synthesize
    from recdoc.trainer.loop import train

    root = tmp_path_factory.mktemp("toy")
    synthesize("tiny", items=300, users=300, interests=4, seed=3, data_dir=str(root / "data"))
    config = RunConfig.for_dataset("tiny", model_type="ToyHeads", learning_rate=0.01, batch_size=32, neg_num=2,
                                   maxlen=10, embedding_dim=16, hidden_size=16, num_interest=3, topN=20,
                                   metrics_at=(20,), test_iter=100, max_iter=1, patience=0,
                                   data_dir=str(root / "data"), runs_dir=str(root / "runs"), exp="toy")
    return train(config)


@pytest.mark.slow
def test_the_toy_model_trains_probes_and_rescores(toy_run: Path) -> None:
    from recdoc.diagnose.deep_checks import logged_finals
    from recdoc.instruments.probe.measure import probe_any
    from recdoc.instruments.rescore import rescore_checkpoint

    assert (toy_run / "ckpt" / "best" / "checkpoint").is_file()
    probe = probe_any(toy_run)
    assert probe["model_type"] == "ToyHeads" and probe["num_interest"] == 3 and probe["users"] > 0
    data_dir = toy_run.parent.parent / "data"
    rescored = rescore_checkpoint(toy_run, data_dir, logged=logged_finals(toy_run))
    assert rescored["loaded_as"]["model_type"] == "ToyHeads" and rescored["loaded_as"]["num_interest"] == 3
    assert rescored["loaded_as"]["mapped"]["heads"].endswith("heads")  # found by its slot's name
    assert rescored["verdict"] == "reference", rescored["explanation"]
