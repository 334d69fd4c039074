"""A default is one line: what `recdoc train --help` shows, what a run left at its defaults records in run.json, and
what the doctor infers for a run that states nothing are the same values (all read from reference.json through
RunConfig)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer.main

from recdoc.cli import app, main
from recdoc.config import RunConfig
from recdoc.diagnose.config_inference import infer_config
from recdoc.diagnose.observed_run import Run


def shown_defaults() -> dict[str, str]:
    """`recdoc train --help`'s `[default: …]` of every option that shows one, keyed by setting."""
    command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    return {param.name: str(param.show_default) for param in command.params
            if isinstance(param.show_default, str)}


def as_shown(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def test_train_help_shows_runconfigs_defaults_and_the_options_are_not_given_by_default(
        capsys: pytest.CaptureFixture[str]) -> None:
    shown = shown_defaults()
    assert {"learning_rate", "max_iter", "patience", "topN", "embedding_dim", "num_interest", "random_seed",
            "neg_num", "ndcg", "metrics_at", "data_dir", "runs_dir", "dataset", "model_type"} <= set(shown)
    defaults = RunConfig.for_dataset(None).to_dict()
    assert {key: as_shown(defaults[key]) for key in shown} == shown
    command = typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]
    assert all(param.default is None for param in command.params if param.name in shown)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "0.001" in capsys.readouterr().out


def test_run_json_and_the_doctors_defaults_agree_with_help(synthetic_data: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    with pytest.raises(SystemExit) as stopped:
        main(["train", "--dataset", "syn", "--data_dir", str(synthetic_data), "--runs_dir", str(runs),
              "--model_type", "MostPopular"])
    assert stopped.value.code in (0, None), capsys.readouterr().err
    (folder,) = runs.iterdir()
    recorded = json.loads((folder / "run.json").read_text(encoding="utf-8"))["config"]
    shown = shown_defaults()
    given = {"dataset", "data_dir", "runs_dir", "model_type"}
    assert {key: as_shown(recorded[key]) for key in shown if key not in given} == \
        {key: value for key, value in shown.items() if key not in given}

    inferred = infer_config(Run(format="original"), {"dataset": "syn"})
    from_defaults = {key: setting.value for key, setting in inferred.items() if setting.source.startswith("default")}
    assert {"learning_rate", "max_iter", "patience", "batch_size", "maxlen", "test_iter", "neg_num"} <= \
        set(from_defaults)
    assert from_defaults == {key: recorded[key] for key in from_defaults}
