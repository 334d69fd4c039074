"""The `recdoc` command line. Thin: parse flags, call one function per command, map errors to exit codes.

Heavy modules (TensorFlow, faiss) are imported inside the commands that need them, so that
`recdoc analyze` never pays for TensorFlow.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn, Optional

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

    _refuse_file_as_folder(data_dir, "--data_dir")
    prepare_dataset(source=source, input_path=input_path, meta_path=meta, name=name, data_dir=data_dir)


@data_app.command("synth")
def data_synth(
    name: str = typer.Option(..., "--name", help="dataset name: writes <data_dir>/<name>_data/"),
    items: int = typer.Option(..., "--items", help="number of items (at least 10)"),
    users: int = typer.Option(..., "--users", help="number of users (at least 10), split 80/10/10 train/valid/test"),
    interests: int = typer.Option(4, "--interests", help="latent interests mixed per user (at most)"),
    seed: int = typer.Option(0, "--seed", help="the same seed gives the same files"),
    data_dir: str = typer.Option("data", "--data_dir", help="folder that holds <name>_data/"),
) -> None:
    """A synthetic dataset with planted multi-interest structure, deterministic by seed."""
    from recdoc.trainer.data.synth import synthesize

    _refuse_file_as_folder(data_dir, "--data_dir")
    synthesize(name=name, items=items, users=users, interests=interests, seed=seed, data_dir=data_dir)


# ---------------------------------------------------------------- train
@app.command("train")
def train(
    dataset: str = typer.Option("book", "--dataset", help="reads <data_dir>/<dataset>_data/"),
    model_type: str = typer.Option("ComiRec-DR", "--model_type",
                                   help="ComiRec-DR | ComiRec-SA | MIND | DNN | GRU4REC | MostPopular"),
    learning_rate: float = typer.Option(0.001, "--learning_rate",
                                        help="Adam's learning rate (the original's README: 0.005 for ComiRec-DR)"),
    max_iter: int = typer.Option(1000, "--max_iter", help="in thousands of iterations, as the original"),
    patience: int = typer.Option(50, "--patience", help="stop after this many evaluations without a better recall"),
    topN: int = typer.Option(50, "--topN", help="the cut-off of recall/ndcg/hitrate in train.log"),
    embedding_dim: int = typer.Option(64, "--embedding_dim", help="item embedding size (must equal --hidden_size)"),
    hidden_size: int = typer.Option(64, "--hidden_size", help="interest vector size (must equal --embedding_dim)"),
    num_interest: int = typer.Option(4, "--num_interest", help="interests per user (multi-interest models)"),
    random_seed: int = typer.Option(19, "--random_seed", help="seeds TensorFlow, numpy and the batch sampler"),
    batch_size: Optional[int] = typer.Option(None, "--batch_size", help="default: the dataset's (book 128, taobao 256)"),
    maxlen: Optional[int] = typer.Option(None, "--maxlen", help="default: the dataset's (book 20, taobao 50)"),
    test_iter: Optional[int] = typer.Option(None, "--test_iter", help="default: the dataset's (book 1000, taobao 500)"),
    neg_num: int = typer.Option(10, "--neg_num", help="sampled softmax draws neg_num * batch_size items"),
    item_count: Optional[int] = typer.Option(None, "--item_count", help="ids are 0..item_count-1 (default: book "
                                             "367983, taobao 1708531, else the largest item id + 1)"),
    exp: Optional[str] = typer.Option(None, "--exp", help="the free part of the experiment name"),
    data_dir: str = typer.Option("data", "--data_dir", help="folder that holds <dataset>_data/"),
    runs_dir: str = typer.Option("runs", "--runs_dir", help="the run goes to a new folder <runs_dir>/<exp name>/"),
    resume: bool = typer.Option(False, "--resume", help="continue an existing run from its last checkpoint"),
    finetune_lr: Optional[float] = typer.Option(None, "--finetune_lr",
                                                help="learning rate from now on (default: --learning_rate)"),
    ndcg: str = typer.Option("paper", "--ndcg", help="NDCG shown in train.log: paper | master | standard"),
    coef: Optional[float] = typer.Option(None, "--coef", help="controllable aggregation lambda"),
    metrics_at: str = typer.Option("20,50", "--metrics_at",
                                   help="cut-offs also computed for metrics.jsonl, comma-separated"),
    eval_users: Optional[int] = typer.Option(None, "--eval_users", help="early-stopping evaluations on a fixed "
                                             "seeded subset of this many validation users (a recorded deviation; "
                                             "final valid/test use everyone)"),
    strategy: str = typer.Option("none", "--strategy", help="none | mirrored (local devices) | multi_worker "
                                 "(machines from TF_CONFIG): tf.distribute, the same numbers"),
) -> None:
    """Train a model exactly as the original src/train.py does, and write a run folder."""
    from recdoc.config import RunConfig
    from recdoc.errors import UsageError

    _refuse_file_as_folder(runs_dir, "--runs_dir")
    try:
        cutoffs = tuple(sorted({int(x) for x in metrics_at.split(",") if x.strip()}))
    except ValueError:
        raise UsageError(f"--metrics_at must be comma-separated integers, got {metrics_at!r}") from None
    config = RunConfig.for_dataset(
        dataset, model_type=model_type, learning_rate=learning_rate, max_iter=max_iter, patience=patience, topN=topN,
        embedding_dim=embedding_dim, hidden_size=hidden_size, num_interest=num_interest, random_seed=random_seed,
        batch_size=batch_size, maxlen=maxlen, test_iter=test_iter, neg_num=neg_num, item_count=item_count, exp=exp,
        data_dir=data_dir, runs_dir=runs_dir, finetune_lr=finetune_lr, ndcg=ndcg, coef=coef, metrics_at=cutoffs,
        eval_users=eval_users, strategy=strategy,
    )
    from recdoc.trainer.loop import train as run_training

    run_training(config, resume=resume)


# ---------------------------------------------------------------- doctor
@app.command("analyze")
def analyze(
    paths: list[str] = typer.Argument(..., help="run folder(s) or log file(s) of one run"),
    out: Optional[str] = typer.Option(None, "--out", help="folder for report.md (default: the run folder)"),
    formats: str = typer.Option("md,json", "--format", help="md,json"),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="draw loss and recall charts beside the report"),
    deep: bool = typer.Option(False, "--deep", help="read checkpoint tensors (imports TensorFlow)"),
    set_: list[str] = typer.Option([], "--set", help="override an inferred setting: key=value"),
    compare_with: list[str] = typer.Option([], "--baseline", help="a single-interest run on the same data"),
) -> None:
    """Diagnose a run: compare with the paper like for like, name the causes with evidence, write a report."""
    from recdoc.diagnose.engine import analyze_paths
    from recdoc.reports import write_reports
    from recdoc.reports.console import print_summary

    chosen_formats = _parse_formats(formats)  # flags first: a typo should not cost a whole analysis
    overrides = _parse_sets(set_)
    _refuse_file_as_folder(out, "--out")
    diagnosis = analyze_paths(paths, overrides=overrides, deep=deep, baselines=compare_with)
    written = write_reports(diagnosis, out_dir=out, formats=chosen_formats, plots=plots)
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


def _refuse_file_as_folder(folder: Optional[str], flag: str) -> None:
    """Fail before any work when a folder flag names an existing file (the work would be lost at the end)."""
    from pathlib import Path

    from recdoc.errors import UsageError

    if folder is not None and Path(folder).exists() and not Path(folder).is_dir():
        raise UsageError(f"{flag} must be a folder, got the file {folder}")


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
    data_dir: str = typer.Option("data", "--data_dir", help="folder that holds <dataset>_data/"),
    seeds: int = typer.Option(3, "--seeds", help="runs per model, seeds 19, 20, ..."),
    max_iter: Optional[int] = typer.Option(None, "--max_iter", help="in thousands of iterations (default 1000)"),
    test_iter: Optional[int] = typer.Option(None, "--test_iter", help="default: the dataset's"),
    patience: Optional[int] = typer.Option(None, "--patience", help="default: 50"),
    runs_dir: str = typer.Option("runs", "--runs_dir", help="where each run's folder goes"),
    out: str = typer.Option("out", "--out", help="the table goes to a new folder <out>/table3_<dataset>_<n>/"),
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
    from recdoc.trainer.data.dataset import require_dataset_folder

    _refuse_file_as_folder(out, "--out")
    _refuse_file_as_folder(runs_dir, "--runs_dir")
    require_dataset_folder(data_dir, dataset)  # once, rather than once per model and seed
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

    _refuse_file_as_folder(out, "--out")
    result = probe_run(run, split=split, data_dir=data_dir, max_users=max_users)
    written = write_probe(result, out if out is not None else run)
    outcomes = judge_probe(result, str(written))
    print_probe(result, outcomes, written)
    raise typer.Exit(code=1 if any(hasattr(o, "severity") and o.severity != "info" for o in outcomes) else 0)


INTERRUPTED_EXIT = 130  # what typer returns for a Ctrl-C that no command handled itself (128 + SIGINT)
INTERNAL_ERROR_EXIT = 3  # distinct from analyze's 0 healthy / 1 findings / 2 unusable
TRACEBACK_ENV = "RECDOC_TRACEBACK"


def main(argv: Optional[list[str]] = None) -> None:
    """Run the CLI; every failure becomes one `recdoc: ...` line on stderr and a non-zero exit, never a traceback.

    typer runs non-standalone so that its usage errors (bad flag values, unknown options) come back here and are
    printed on one line like recdoc's own errors, instead of as a multi-line box.
    """
    try:
        exit_code = app(args=argv, prog_name="recdoc", standalone_mode=False)
    except RecdocError as error:
        _fail(str(error), error.exit_code)
    except typer.TyperException as error:  # the vendored click's UsageError/BadParameter/NoSuchOption/...
        message = error.format_message()
        if not message:  # a group called with no sub-command: its help is the answer
            error.show()  # type: ignore[attr-defined]
            sys.exit(error.exit_code)
        command = getattr(getattr(error, "ctx", None), "command_path", None) or "recdoc"
        _fail(f"{message} (see `{command} --help`)", error.exit_code)
    except typer.Abort:
        _fail("aborted", 1)
    except OSError as error:  # the file system refused: a folder not writable, a disk full, a path in the way
        where = f"{error.filename}: " if error.filename is not None else ""
        _fail(f"{where}{error.strerror or error}", 2)
    except Exception as error:  # a bug: one line, and the traceback on request
        if os.environ.get(TRACEBACK_ENV):
            raise
        _fail(f"internal error: {type(error).__name__}: {error} (set {TRACEBACK_ENV}=1 to see the traceback)",
              INTERNAL_ERROR_EXIT)
    if exit_code == INTERRUPTED_EXIT:
        _fail("interrupted", INTERRUPTED_EXIT)
    sys.exit(exit_code if isinstance(exit_code, int) else 0)


def _fail(message: str, exit_code: int) -> NoReturn:
    one_line = " ".join(message.split()) or "failed"
    typer.echo(f"recdoc: {one_line}", err=True)
    sys.exit(exit_code)
