"""The `recdoc` command line. Thin: parse flags, call one function per command, map errors to exit codes.

Heavy modules (TensorFlow, faiss, matplotlib) are imported inside the commands that need them, so that
`recdoc analyze` never pays for TensorFlow.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from recdoc.errors import RecdocError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train ComiRec faithfully, and diagnose why a run falls short of the paper.")
data_app = typer.Typer(no_args_is_help=True, help="Prepare datasets in the original ComiRec format.")
app.add_typer(data_app, name="data")


# ---------------------------------------------------------------- data
@data_app.command("prepare")
def data_prepare(
    source: str = typer.Option(..., "--source", help="ml-100k | csv | amazon | taobao"),
    input_path: Optional[str] = typer.Option(None, "--input", help="raw file (not needed for ml-100k)"),
    meta: Optional[str] = typer.Option(None, "--meta", help="Amazon metadata file with categories"),
    name: Optional[str] = typer.Option(None, "--name", help="dataset name (ml-100k: ml100k)"),
    data_dir: str = typer.Option("data", "--data_dir", help="folder that holds <name>_data/"),
) -> None:
    """Apply the original's preprocessing rules and write <data_dir>/<name>_data/."""
    from recdoc.trainer.data.prepare import prepare_dataset

    prepare_dataset(source=source, input_path=input_path, meta_path=meta, name=name, data_dir=data_dir)


@data_app.command("synth")
def data_synth(
    name: str = typer.Option(..., "--name"),
    items: int = typer.Option(..., "--items"),
    users: int = typer.Option(..., "--users"),
    interests: int = typer.Option(4, "--interests", help="latent interests mixed per user (at most)"),
    seed: int = typer.Option(0, "--seed"),
    data_dir: str = typer.Option("data", "--data_dir"),
) -> None:
    """A synthetic dataset with planted multi-interest structure, deterministic by seed."""
    from recdoc.trainer.data.synth import synthesize

    synthesize(name=name, items=items, users=users, interests=interests, seed=seed, data_dir=data_dir)


# ---------------------------------------------------------------- train
@app.command("train")
def train(
    dataset: str = typer.Option("book", "--dataset"),
    model_type: str = typer.Option("ComiRec-DR", "--model_type"),
    learning_rate: float = typer.Option(0.001, "--learning_rate"),
    max_iter: int = typer.Option(1000, "--max_iter", help="in thousands of iterations, as the original"),
    patience: int = typer.Option(50, "--patience"),
    topN: int = typer.Option(50, "--topN"),
    embedding_dim: int = typer.Option(64, "--embedding_dim"),
    hidden_size: int = typer.Option(64, "--hidden_size"),
    num_interest: int = typer.Option(4, "--num_interest"),
    random_seed: int = typer.Option(19, "--random_seed"),
    batch_size: Optional[int] = typer.Option(None, "--batch_size", help="default: the dataset's (book 128, taobao 256)"),
    maxlen: Optional[int] = typer.Option(None, "--maxlen", help="default: the dataset's (book 20, taobao 50)"),
    test_iter: Optional[int] = typer.Option(None, "--test_iter", help="default: the dataset's (book 1000, taobao 500)"),
    neg_num: int = typer.Option(10, "--neg_num", help="sampled softmax draws neg_num * batch_size items"),
    item_count: Optional[int] = typer.Option(None, "--item_count"),
    exp: Optional[str] = typer.Option(None, "--exp", help="the free part of the experiment name"),
    data_dir: str = typer.Option("data", "--data_dir"),
    runs_dir: str = typer.Option("runs", "--runs_dir"),
    resume: bool = typer.Option(False, "--resume", help="continue an existing run from its last checkpoint"),
    finetune_lr: Optional[float] = typer.Option(None, "--finetune_lr"),
    ndcg: str = typer.Option("paper", "--ndcg", help="NDCG shown in train.log: paper | master | standard"),
    coef: Optional[float] = typer.Option(None, "--coef", help="controllable aggregation lambda"),
    metrics_at: str = typer.Option("20,50", "--metrics_at", help="extra cut-offs, comma-separated"),
) -> None:
    """Train a model exactly as the original src/train.py does, and write a run folder."""
    from recdoc.config import RunConfig
    from recdoc.errors import UsageError

    try:
        cutoffs = tuple(sorted({int(x) for x in metrics_at.split(",") if x.strip()}))
    except ValueError:
        raise UsageError(f"--metrics_at must be comma-separated integers, got {metrics_at!r}") from None
    config = RunConfig.for_dataset(
        dataset, model_type=model_type, learning_rate=learning_rate, max_iter=max_iter, patience=patience, topN=topN,
        embedding_dim=embedding_dim, hidden_size=hidden_size, num_interest=num_interest, random_seed=random_seed,
        batch_size=batch_size, maxlen=maxlen, test_iter=test_iter, neg_num=neg_num, item_count=item_count, exp=exp,
        data_dir=data_dir, runs_dir=runs_dir, finetune_lr=finetune_lr, ndcg=ndcg, coef=coef, metrics_at=cutoffs,
    )
    from recdoc.trainer.loop import train as run_training

    run_training(config, resume=resume)


# ---------------------------------------------------------------- doctor
@app.command("analyze")
def analyze(
    paths: list[str] = typer.Argument(..., help="run folder(s) or log file(s) of one run"),
    out: Optional[str] = typer.Option(None, "--out", help="folder for report.md (default: the run folder)"),
    formats: str = typer.Option("md,json", "--format", help="md,json"),
    plots: bool = typer.Option(True, "--plots/--no-plots"),
    deep: bool = typer.Option(False, "--deep", help="read checkpoint tensors (imports TensorFlow)"),
    set_: list[str] = typer.Option([], "--set", help="override an inferred setting: key=value"),
    compare_with: list[str] = typer.Option([], "--baseline", help="a single-interest run on the same data"),
) -> None:
    """Diagnose a run: compare with the paper like for like, name the causes with evidence, write a report."""
    from recdoc.diagnose.engine import analyze_paths
    from recdoc.reports import write_reports
    from recdoc.reports.console import print_summary

    diagnosis = analyze_paths(paths, overrides=_parse_sets(set_), deep=deep, baselines=compare_with)
    written = write_reports(diagnosis, out_dir=out, formats=_parse_formats(formats), plots=plots)
    print_summary(diagnosis, written)
    raise typer.Exit(code={"healthy": 0, "findings": 1, "unusable": 2}[diagnosis.verdict])


@app.command("explain")
def explain(rule_id: str = typer.Argument(..., help="a rule id, e.g. lr-model-mismatch; 'all' lists them")) -> None:
    """Print a rule's statement, why it matters, the evidence it looks for, and its fix."""
    from recdoc.diagnose.rules import explain_rule

    typer.echo(explain_rule(rule_id))


def _parse_sets(items: list[str]) -> dict[str, str]:
    from recdoc.errors import UsageError

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _parse_formats(text: str) -> tuple[str, ...]:
    from recdoc.errors import UsageError

    chosen = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in chosen if f not in {"md", "json"}]
    if unknown or not chosen:
        raise UsageError(f"--format takes md and/or json, got {text!r}")
    return chosen


# ---------------------------------------------------------------- close the loop
@app.command("rerun")
def rerun(
    paths: list[str] = typer.Argument(..., help="the run folder(s) or log file(s) of one run"),
    apply_fixes: bool = typer.Option(False, "--apply-fixes", help="apply the diagnosis' fixes (required)"),
    only: Optional[str] = typer.Option(None, "--only", help="apply only these finding ids (comma-separated)"),
    skip: Optional[str] = typer.Option(None, "--skip", help="leave out these finding ids (comma-separated)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the diff and the commands; train nothing"),
    data_dir: Optional[str] = typer.Option(None, "--data_dir", help="folder holding <dataset>_data/"),
    runs_dir: Optional[str] = typer.Option(None, "--runs_dir", help="default: the old recdoc run's folder, else runs"),
    resume_best: bool = typer.Option(False, "--resume-best", help="continue from the old recdoc run's best checkpoint"),
    finetune_lr: Optional[float] = typer.Option(None, "--finetune_lr", help="learning rate with --resume-best"),
    max_iter: Optional[int] = typer.Option(None, "--max_iter", help="budget of the new run, in thousands"),
) -> None:
    """Re-analyse a run, apply its fixes, train the corrected run with recdoc, and compare the two."""
    from recdoc.errors import UsageError
    from recdoc.rerun import rerun as run_rerun

    if not apply_fixes:
        raise UsageError("rerun needs --apply-fixes (the only mode so far)")
    outcome = run_rerun(paths, only=_parse_ids(only), skip=_parse_ids(skip) or (), dry_run=dry_run,
                        data_dir=data_dir, runs_dir=runs_dir, resume_best=resume_best, finetune_lr=finetune_lr,
                        max_iter=max_iter)
    raise typer.Exit(code=outcome.exit_code)


@app.command("compare")
def compare(
    runs: list[str] = typer.Argument(..., help="two or more run folders or log files, the reference first"),
    out: Optional[str] = typer.Option(None, "--out", help="folder for compare.md (default: the last run's folder)"),
) -> None:
    """Set runs side by side: curves, final metrics against the paper, findings cleared/appeared/remained."""
    from pathlib import Path

    from recdoc.diagnose.engine import analyze_paths
    from recdoc.errors import UsageError
    from recdoc.reports import output_folder
    from recdoc.reports.compare import write_comparison

    if len(runs) < 2:
        raise UsageError("compare needs at least two runs")
    diagnoses = [analyze_paths([path]) for path in runs]
    folder = Path(out) if out is not None else output_folder(diagnoses[-1], None)
    written = write_comparison(diagnoses, folder)
    typer.echo(f"Comparison: {written[0]}")
    if len(written) > 1:
        typer.echo("Plots: " + ", ".join(str(p) for p in written[1:]))


def _parse_ids(text: Optional[str]) -> Optional[list[str]]:
    if text is None:
        return None
    return [item.strip() for item in text.split(",") if item.strip()]


# ---------------------------------------------------------------- bench
bench_app = typer.Typer(no_args_is_help=True, help="Reproduce the paper's tables with recdoc's trainer.")
app.add_typer(bench_app, name="bench")


@bench_app.command("table")
def bench_table(
    dataset: str = typer.Option(..., "--dataset", help="a prepared dataset name (<data_dir>/<name>_data/)"),
    data_dir: str = typer.Option("data", "--data_dir"),
    seeds: int = typer.Option(3, "--seeds", help="runs per model, seeds 19, 20, ..."),
    max_iter: Optional[int] = typer.Option(None, "--max_iter", help="in thousands of iterations (default 1000)"),
    test_iter: Optional[int] = typer.Option(None, "--test_iter", help="default: the dataset's"),
    patience: Optional[int] = typer.Option(None, "--patience", help="default: 50"),
    runs_dir: str = typer.Option("runs", "--runs_dir", help="where each run's folder goes"),
    out: str = typer.Option("bench", "--out", help="the table goes to a new folder <out>/table3_<dataset>_<n>/"),
    models: list[str] = typer.Option([], "--models", help="comma-separated or repeated (default: all six)"),
    learning_rate: Optional[float] = typer.Option(
        None, "--learning_rate", help="for every model (default: 0.001, ComiRec-DR 0.005 as the README)"),
    batch_size: Optional[int] = typer.Option(None, "--batch_size", help="default: the dataset's"),
    maxlen: Optional[int] = typer.Option(None, "--maxlen", help="default: the dataset's"),
    embedding_dim: Optional[int] = typer.Option(None, "--embedding_dim", help="also the hidden size (default 64)"),
) -> None:
    """Train all six models over seeds and write the paper's Table 3 layout (Markdown and CSV)."""
    import shlex

    from recdoc.trainer.bench_table import PAPER_ORDER, BenchSpec
    from recdoc.trainer.bench_table import bench_table as run_bench_table

    chosen = tuple(name.strip() for item in models for name in item.split(",") if name.strip()) or PAPER_ORDER
    overrides = {key: value for key, value in dict(
        batch_size=batch_size, maxlen=maxlen, embedding_dim=embedding_dim, hidden_size=embedding_dim).items()
        if value is not None}
    spec = BenchSpec(dataset=dataset, data_dir=data_dir, seeds=seeds, max_iter=max_iter, test_iter=test_iter,
                     patience=patience, runs_dir=runs_dir, out_dir=out, models=chosen,
                     learning_rate=learning_rate, overrides=overrides)
    command = "recdoc " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
    folder = run_bench_table(spec, command=command, report=typer.echo)
    typer.echo(f"table written to {folder}/table3.md (and table3.csv, runs.csv)")


# ---------------------------------------------------------------- look inside a checkpoint
@app.command("probe")
def probe(
    run: str = typer.Argument(..., help="a recdoc run folder (run.json and ckpt/best)"),
    split: str = typer.Option("valid", "--split", help="the users to probe: valid | test"),
    out: Optional[str] = typer.Option(None, "--out", help="folder for probe.json (default: the run folder)"),
    data_dir: Optional[str] = typer.Option(None, "--data_dir", help="folder holding <dataset>_data/ "
                                                                   "(default: run.json's data_dir)"),
    max_users: Optional[int] = typer.Option(None, "--max_users", help="probe only the split's first N users"),
) -> None:
    """Look inside the best checkpoint: interests that collapse into one, interests that never retrieve or win."""
    from recdoc.diagnose.rules.interests import judge_probe
    from recdoc.trainer.probe import print_probe, probe_run, write_probe

    result = probe_run(run, split=split, data_dir=data_dir, max_users=max_users)
    written = write_probe(result, out if out is not None else run)
    outcomes = judge_probe(result, str(written))
    print_probe(result, outcomes, written)
    raise typer.Exit(code=1 if any(hasattr(o, "severity") and o.severity != "info" for o in outcomes) else 0)


def main() -> None:
    try:
        app()
    except RecdocError as error:
        typer.echo(f"recdoc: {error}", err=True)
        sys.exit(error.exit_code)
