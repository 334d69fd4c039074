"""`recdoc bench table`: aggregation over seeds, the Markdown/CSV layout, never overwriting, and one real bench
on a tiny synthetic dataset through the CLI."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recdoc.config import RunConfig
from recdoc.errors import UsageError
from recdoc.trainer.bench_table import (
    PAPER_ORDER,
    BenchSpec,
    Cell,
    RunOutcome,
    format_cell,
    render_markdown,
    render_table_csv,
    run_bench,
    summarise,
    write_outputs,
)


def outcome(model: str, seed: int, recall50: float, **extra: float) -> RunOutcome:
    return RunOutcome(model, seed, 0.001, Path(f"runs/{model}_{seed}"), {"recall@50": recall50, **extra},
                      iterations=3000, best_iter=1000, stop_reason="early_stop")


def test_summarise_gives_mean_and_sample_standard_deviation_per_model() -> None:
    cells = summarise([outcome("DNN", 19, 0.10), outcome("DNN", 20, 0.14), outcome("DNN", 21, 0.12),
                       outcome("MIND", 19, 0.05, **{"hitrate@20": 0.2})])
    dnn = cells["DNN"]["recall@50"]
    assert dnn.mean == pytest.approx(0.12) and dnn.std == pytest.approx(0.02) and dnn.count == 3
    assert cells["MIND"]["recall@50"] == Cell(0.05, None, 1)  # one run: no standard deviation
    assert cells["MIND"]["hitrate@20"].mean == pytest.approx(0.2)
    assert "hitrate@20" not in cells["DNN"]


def test_cells_are_percent_with_three_decimals() -> None:
    assert format_cell(Cell(0.04567, 0.00123, 3)) == "4.567 ± 0.123"
    assert format_cell(Cell(0.04567, None, 1)) == "4.567"
    assert format_cell(None) == ""


def test_spec_orders_models_as_the_paper_and_rejects_unknown_ones() -> None:
    spec = BenchSpec(dataset="ml100k", models=("comirec_dr", "mostpopular", "youtube_dnn"))
    assert spec.model_types() == ("MostPopular", "DNN", "ComiRec-DR")
    assert BenchSpec(dataset="x").model_types() == PAPER_ORDER
    with pytest.raises(UsageError, match="unknown model 'SASRec'"):
        BenchSpec(dataset="x", models=("SASRec",)).model_types()
    with pytest.raises(UsageError):
        BenchSpec(dataset="x", seeds=0).seed_values()


def test_run_configs_carry_budget_seed_and_learning_rate() -> None:
    spec = BenchSpec(dataset="ml100k", data_dir="d", runs_dir="r", seeds=2, max_iter=3, test_iter=100,
                     patience=2, overrides={"batch_size": 32})
    assert spec.seed_values() == (19, 20)
    dr = spec.run_config("ComiRec-DR", 20, exp="e")
    assert (dr.learning_rate, dr.random_seed, dr.max_iter, dr.test_iter, dr.patience, dr.batch_size) == \
        (0.005, 20, 3, 100, 2, 32)  # DR at the README's 0.005
    sa = spec.run_config("ComiRec-SA", 19, exp="e")
    assert sa.learning_rate == 0.001 and set(sa.metrics_at) >= {20, 50}
    assert BenchSpec(dataset="x", learning_rate=0.01).run_config("ComiRec-DR", 19, "e").learning_rate == 0.01
    defaults = BenchSpec(dataset="book").run_config("DNN", 19, "e")
    assert (defaults.max_iter, defaults.test_iter, defaults.patience) == (1000, 1000, 50)


def test_markdown_has_the_table3_layout_and_the_papers_row_on_book() -> None:
    spec = BenchSpec(dataset="book", seeds=2, models=("DNN", "ComiRec-SA"))
    runs = [outcome("DNN", 19, 0.07, **{"recall@20": 0.04}), outcome("DNN", 20, 0.08, **{"recall@20": 0.05}),
            outcome("ComiRec-SA", 19, 0.09), RunOutcome("ComiRec-SA", 20, 0.001, None, {}, error="boom")]
    text = render_markdown(spec, runs, command="recdoc bench table --dataset book")
    header = next(line for line in text.splitlines() if line.startswith("| model | lr"))
    assert header.split(" | ")[3:8] == ["Recall@20", "NDCG paper@20", "NDCG master@20", "NDCG std@20",
                                        "HitRate@20"]
    dnn_row = next(line for line in text.splitlines() if line.startswith("| YouTube DNN | 0.001"))
    cells = [c.strip() for c in dnn_row.strip("|").split("|")]
    assert cells[2] == "2/2" and cells[3] == "4.500 ± 0.707" and cells[8] == "7.500 ± 0.707"
    assert "| ComiRec-SA | 0.001 | 1/2 |" in text
    assert "| YouTube DNN | 4.567 | 7.670 | 10.285 | 7.312 | 12.075 | 15.894* |" in text  # the paper's values
    assert "failed: boom" in text


def test_table_csv_is_long_format_in_fractions() -> None:
    spec = BenchSpec(dataset="syn", models=("DNN",))
    rows = list(csv.DictReader(io.StringIO(render_table_csv(spec, [outcome("DNN", 19, 0.1), outcome("DNN", 20, 0.3)]))))
    assert rows == [{"dataset": "syn", "model_type": "DNN", "learning_rate": "0.001", "metric": "recall",
                     "cutoff": "50", "mean": "0.2", "std": repr(math.sqrt(0.02)), "runs": "2"}]


def test_outputs_go_to_a_new_folder_and_never_overwrite(tmp_path: Path) -> None:
    first = write_outputs(tmp_path, "syn", {"table3.md": "one\n"})
    second = write_outputs(tmp_path, "syn", {"table3.md": "two\n"})
    assert (first.name, second.name) == ("table3_syn_1", "table3_syn_2")
    assert (first / "table3.md").read_text() == "one\n" and (second / "table3.md").read_text() == "two\n"


def test_run_bench_reads_each_runs_final_test_metrics_and_keeps_going_after_a_failure(tmp_path: Path) -> None:
    def fake_trainer(config: RunConfig) -> Path:
        if config.model_type == "MIND":
            raise UsageError("no MIND today")
        run = tmp_path / config.exp_name
        run.mkdir()
        (run / "run.json").write_text(json.dumps({"iterations": 2000, "best_iter": 1000, "stop_reason": "max_iter",
                                                  "final": {"test": {"recall@50": config.random_seed / 100}}}))
        return run

    spec = BenchSpec(dataset="syn", seeds=2, models=("DNN", "MIND"))
    outcomes = run_bench(spec, fake_trainer, report=lambda line: None)
    assert [(o.model_type, o.seed, o.metrics.get("recall@50"), o.error) for o in outcomes] == [
        ("DNN", 19, 0.19, None), ("DNN", 20, 0.20, None),
        ("MIND", 19, None, "no MIND today"), ("MIND", 20, None, "no MIND today")]
    assert outcomes[0].iterations == 2000 and outcomes[0].stop_reason == "max_iter"


@pytest.mark.slow
def test_bench_table_cli_on_a_tiny_synthetic_dataset(tmp_path: Path) -> None:
    from recdoc.cli import app
    from recdoc.trainer.data.dataset import load_dataset
    from recdoc.trainer.data.synth import synthesize
    from recdoc.trainer.evaluate import evaluate_most_popular

    data_dir = tmp_path / "data"
    synthesize("tiny", items=300, users=400, interests=2, seed=0, data_dir=str(data_dir))
    result = CliRunner().invoke(app, [
        "bench", "table", "--dataset", "tiny", "--data_dir", str(data_dir), "--seeds", "2", "--max_iter", "1",
        "--test_iter", "40", "--patience", "0", "--runs_dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
        "--models", "MostPopular,DNN", "--batch_size", "16", "--maxlen", "8", "--embedding_dim", "8",
        "--learning_rate", "0.01"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "table3_tiny_1"
    table = list(csv.DictReader((folder / "table3.csv").open()))
    assert {row["model_type"] for row in table} == {"MostPopular", "DNN"}
    assert len(table) == 2 * 2 * 5  # two models, two cut-offs, five metrics
    dataset = load_dataset(str(data_dir), "tiny")
    expected = evaluate_most_popular(dataset.train, dataset.test, (20, 50))
    popular = {(r["metric"], r["cutoff"]): r for r in table if r["model_type"] == "MostPopular"}
    assert float(popular[("recall", "50")]["mean"]) == pytest.approx(expected["recall@50"])
    assert float(popular[("recall", "50")]["std"]) == pytest.approx(0.0)  # deterministic across seeds
    runs = list(csv.DictReader((folder / "runs.csv").open()))
    assert len(runs) == 4 and all(Path(r["run_dir"], "run.json").is_file() for r in runs)
    assert len({r["run_dir"] for r in runs}) == 4  # each run its own folder
    dnn_runs = [r for r in runs if r["model_type"] == "DNN"]
    assert all(int(r["iterations"]) >= 40 for r in dnn_runs)
    assert "| YouTube DNN | 0.01 | 2/2 |" in (folder / "table3.md").read_text()
